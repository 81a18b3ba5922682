// The CometD endpoint end to end without sockets: api::NotificationsApi (long-polling POST,
// JSONP GET, WebSocket frames) over a bayeux::Server with the server's options and the real
// token checks, driven by a script of requests so that state is exercised — handshakes,
// connects held and released, subscriptions, deliveries that overflow and coalesce, acks,
// expiry by a manual clock, sweeps. The input is parts, each a "> " line and a body:
//   > post B WHO [PATH] [form]   POST (JSON or form-encoded body) from browser B (0-3)
//   > get B WHO                  callback-polling; the body is the query string
//   > ws C WHO                   a text frame on WebSocket connection C (0-3; opened on first use)
//   > close C                    the WebSocket closes
//   > deliver session N|principal WHO|tenant T [keyed]   a message (the body is its data)
//   > time MS | sweep | abandon | release
// WHO is A (alice), B (bob), N (no role), E (expired), - (no token); in bodies, $0..$9 are the
// clientIds handed out so far and $A, $B, ... tokens (fuzz_support.h). Every answer must be
// JSON (or JSONP around JSON), and every request gets exactly one answer.
#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "api/notifications_api.h"
#include "api/updates.h"
#include "auth/service.h"
#include "bayeux/server.h"
#include "fuzz/fuzz_support.h"
#include "net/router.h"

namespace tally::fuzz {
namespace {

namespace json = boost::json;

struct Jar {
  std::string browser;
  std::string session;
};

class Peer final : public WsPeer {
 public:
  explicit Peer(std::function<void(std::string)> sent) : sent_(std::move(sent)) {}
  void Send(std::string text) override { sent_(std::move(text)); }
  // As the server's peer: a shared text is framed by the merger even alone.
  void SendShared(std::shared_ptr<const std::string> text) override {
    sent_(merger_ ? merger_({*text}) : *text);
  }
  void SetFrameMerger(FrameMerger merger) override { merger_ = std::move(merger); }
  void Close() override { closed = true; }
  bool closed = false;

 private:
  std::function<void(std::string)> sent_;
  FrameMerger merger_;
};

Who WhoOf(std::string_view w) {
  if (w == "B") return Who::kBob;
  if (w == "N") return Who::kNoRole;
  if (w == "E") return Who::kExpired;
  return Who::kAlice;
}

class Script {
 public:
  Script()
      : server_(Options(), Clock()),
        api_(server_, [](const HttpRequest& r) { return Auth().Authenticate(r); }) {
    Clock().SetMs(kT0);
    server_.SetTokenVerifier([](std::string_view bearer) {
      HttpRequest r;
      r.headers.emplace_back("authorization", std::string(bearer));
      return Auth().Authenticate(r);
    });
    server_.SetSessionClosed([this](const bayeux::SessionInfo&) { ++closed_; });
    server_.SetIdentityChanged([this](const bayeux::Server::Identity&, bool) { ++identities_; });
    for (auto& route : api_.Routes()) router_.Add(route.method, route.pattern, route.handler);
    router_.AddWebSocket(api::NotificationsApi::kBase, api_.WebSocket());
  }

  ~Script() {
    for (auto& [c, h] : sockets_) h->OnClose();
  }

  void Run(const Part& part) {
    const auto w = Words(part.header);
    if (w.empty()) return;
    const std::string body = Substitute(part.body);
    if (w[0] == "post" || w[0] == "get") {
      Http(w, body);
    } else if (w[0] == "ws" && w.size() >= 2) {
      Frame(static_cast<int>(Number(w[1], 0) & 3), w.size() > 2 ? w[2] : "A", body);
    } else if (w[0] == "close" && w.size() >= 2) {
      auto it = sockets_.find(static_cast<int>(Number(w[1], 0) & 3));
      if (it != sockets_.end()) {
        it->second->OnClose();
        sockets_.erase(it);
      }
    } else if (w[0] == "deliver" && w.size() >= 3) {
      Deliver(w, body);
    } else if (w[0] == "time" && w.size() >= 2) {
      Clock().AdvanceMs(std::clamp<std::int64_t>(Number(w[1], 0), 0, 10'000'000));
    } else if (w[0] == "sweep") {
      server_.Sweep();
    } else if (w[0] == "abandon") {
      for (auto& [id, r] : held_) {
        abandoned_.insert(id);
        r.Abandon();
      }
    } else if (w[0] == "release") {
      server_.ReleaseAll();
    }
  }

  // Every request answered once (abandoned ones need not be), every answer readable.
  void Finish() {
    server_.ReleaseAll();
    held_.clear();
    for (const auto& [id, n] : answers_) {
      if (abandoned_.count(id) != 0) continue;
      TALLY_FUZZ_CHECK(
          n == 1, "request " + std::to_string(id) + " answered " + std::to_string(n) + " times");
    }
    TALLY_FUZZ_CHECK(answers_.size() == requests_, "a request was never answered");
  }

 private:
  static ManualClock& Clock() {
    static ManualClock clock(kT0);
    return clock;
  }
  // One for every input (its only state is a cache of verified tokens and login failures).
  static auth::AuthService& Auth() {
    static auth::AuthService auth(GetWorld().config.auth, Clock());
    return auth;
  }

  static bayeux::Options Options() {
    const config::Config& c = GetWorld().config;
    bayeux::Options o;
    o.timeout_ms = c.notifications.timeout_ms;
    o.max_interval_ms = c.notifications.max_interval_ms;
    o.max_queue = c.notifications.max_queue;
    o.bench_channels = true;
    o.channels = {std::string(api::kUpdatesChannel), std::string(api::kServiceChannel)};
    o.required_role = "statistics:read";
    o.session_cookie = std::string(api::kSessionCookie);
    o.max_sessions_per_principal = c.notifications.max_sessions_per_principal;
    return o;
  }

  std::string Substitute(std::string_view text) const {
    const std::string tokens = WithTokens(text);
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] == '$' && i + 1 < tokens.size() && tokens[i + 1] >= '0' &&
          tokens[i + 1] <= '9') {
        const size_t n = static_cast<size_t>(tokens[i + 1] - '0');
        out += n < client_ids_.size() ? client_ids_[n] : "0123456789abcdef0123456789abcdef";
        ++i;
        continue;
      }
      out += tokens[i];
    }
    return out;
  }

  // A reply of the server: JSON messages; the clientIds of successful handshakes are kept.
  void Read(std::string_view text, std::string_view callback) {
    if (!callback.empty()) {
      TALLY_FUZZ_CHECK(text.substr(0, callback.size() + 1) == std::string(callback) + "(" &&
                           !text.empty() && text.back() == ')',
                       text);
      text = text.substr(callback.size() + 1, text.size() - callback.size() - 2);
    }
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    TALLY_FUZZ_CHECK(!ec && v.is_array(), text);
    for (const auto& m : v.as_array()) {
      TALLY_FUZZ_CHECK(m.is_object(), text);
      const auto& o = m.as_object();
      const auto* channel = o.if_contains("channel");
      const auto* id = o.if_contains("clientId");
      const auto* ok = o.if_contains("successful");
      if (channel != nullptr && channel->is_string() && channel->as_string() == "/meta/handshake" &&
          id != nullptr && id->is_string() && ok != nullptr && ok->is_bool() && ok->as_bool()) {
        client_ids_.emplace_back(id->as_string());
      }
    }
  }

  void Answered(std::uint64_t id, const HttpResponse& r, const std::string& callback, int jar) {
    ++answers_[id];
    held_.erase(id);
    if (abandoned_.count(id) != 0) return;
    TALLY_FUZZ_CHECK(r.status == 200 || r.status == 400, std::to_string(r.status) + " " + r.body);
    if (r.status == 200) {
      Read(r.body, callback);
    } else {
      boost::system::error_code ec;
      TALLY_FUZZ_CHECK(json::parse(r.body, ec).is_object() && !ec, r.body);
    }
    for (const auto& [name, value] : r.headers) {
      if (name != "Set-Cookie") continue;
      const size_t eq = value.find('=');
      const size_t semi = value.find(';');
      if (eq == std::string::npos) continue;
      const std::string key = value.substr(0, eq);
      const std::string val =
          value.substr(eq + 1, semi == std::string::npos ? semi : semi - eq - 1);
      if (key == "BAYEUX_BROWSER") jars_[jar].browser = val;
      if (key == api::kSessionCookie) jars_[jar].session = val;
    }
  }

  HttpRequest Request(int jar, std::string_view who) const {
    HttpRequest req;
    if (who != "-") {
      req.headers.emplace_back("authorization", "Bearer " + TokenOf(WhoOf(who)));
    }
    std::string cookie;
    if (!jars_[jar].browser.empty()) cookie += "BAYEUX_BROWSER=" + jars_[jar].browser;
    if (!jars_[jar].session.empty()) {
      cookie += "; " + std::string(api::kSessionCookie) + "=" + jars_[jar].session;
    }
    if (!cookie.empty()) req.headers.emplace_back("cookie", cookie);
    req.remote = "192.0.2.1:40000";
    return req;
  }

  void Http(const std::vector<std::string_view>& w, const std::string& body) {
    const int jar = w.size() > 1 ? static_cast<int>(Number(w[1], 0) & 3) : 0;
    HttpRequest req = Request(jar, w.size() > 2 ? w[2] : "A");
    const bool post = w[0] == "post";
    req.method = post ? HttpMethod::kPost : HttpMethod::kGet;
    req.path = std::string(api::NotificationsApi::kBase);
    if (post && w.size() > 3 && w[3] != "form") req.path += "/" + std::string(w[3]);
    req.target = req.path;
    std::string callback;
    if (post) {
      const bool form = w.back() == "form";
      req.headers.emplace_back("content-type",
                               form ? "application/x-www-form-urlencoded" : "application/json");
      req.body = body;
    } else {
      req.query = body;
      req.target += "?" + body;
      bool ok = true;
      for (const auto& [k, v] : ParseQuery(body, &ok)) {
        if (k == "jsonp") callback = v;
      }
    }
    const auto match = router_.Find(req.method, req.path);
    if (match.handler == nullptr) return;  // a path the script made up: no CometD endpoint
    const std::uint64_t id = ++requests_;
    Responder responder(
        [this, id, callback, jar](HttpResponse&& r) { Answered(id, r, callback, jar); });
    held_.emplace(id, responder);
    (*match.handler)(req, match.params, std::move(responder));
  }

  void Frame(int c, std::string_view who, const std::string& text) {
    auto it = sockets_.find(c);
    if (it == sockets_.end()) {
      HttpRequest upgrade = Request(c, who);
      upgrade.path = upgrade.target = std::string(api::NotificationsApi::kBase);
      const WsAcceptor* accept = router_.FindWebSocket(upgrade.path);
      TALLY_FUZZ_CHECK(accept != nullptr, "no WebSocket endpoint");
      auto peer = std::make_shared<Peer>([this](std::string sent) { Read(sent, ""); });
      it = sockets_.emplace(c, (*accept)(upgrade, peer)).first;
      peers_.push_back(peer);
    }
    it->second->OnText(text);
  }

  void Deliver(const std::vector<std::string_view>& w, const std::string& body) {
    boost::system::error_code ec;
    const json::value data = json::parse(body, ec);
    const std::string text = ec ? std::string("null") : json::serialize(data);
    const bool keyed = w.back() == "keyed";
    bayeux::MessagePtr message =
        keyed ? bayeux::MakeKeyedMessage(api::kUpdatesChannel, "{\"statistics\":[",
                                         {{std::string(w[2]), text}, {"k", "1"}}, "]}")
              : bayeux::MakeMessage(api::kUpdatesChannel, text);
    if (w[1] == "session") {
      const size_t n = static_cast<size_t>(Number(w[2], 0));
      server_.DeliverToSession(n < client_ids_.size() ? client_ids_[n] : "gone", message);
    } else if (w[1] == "principal") {
      server_.DeliverToPrincipal(bayeux::PrincipalKey(PrincipalOf(WhoOf(w[2]))), message);
    } else {
      server_.DeliverToTenant(std::string(w[2]), message);
    }
  }

  // The bookkeeping outlives the server: replies it drops at destruction still come here.
  Jar jars_[4];
  std::vector<std::string> client_ids_;
  std::uint64_t requests_ = 0;
  std::map<std::uint64_t, int> answers_;
  std::map<std::uint64_t, Responder> held_;  // not answered yet
  std::set<std::uint64_t> abandoned_;
  int closed_ = 0;
  int identities_ = 0;
  bayeux::Server server_;
  api::NotificationsApi api_;
  net::Router router_;
  std::map<int, std::shared_ptr<WsHandler>> sockets_;
  std::vector<std::shared_ptr<Peer>> peers_;
};

}  // namespace
}  // namespace tally::fuzz

TALLY_FUZZ_TARGET(bayeux) {
  using namespace tally;
  const auto parts = fuzz::SplitParts(input, "> ");
  if (parts.size() > 64) return 0;
  fuzz::Script script;
  for (const auto& part : parts) script.Run(part);
  script.Finish();
  return 0;
}
