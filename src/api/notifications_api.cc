#include "api/notifications_api.h"

#include <boost/json.hpp>

#include "bayeux/errors.h"

#include <mutex>
#include <set>

namespace tally::api {

namespace json = boost::json;

std::string Cookie(const HttpRequest& req, std::string_view name) {
  for (const auto& [k, v] : req.headers) {
    if (k != "cookie") continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      std::string_view part = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      const size_t eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name) {
        return std::string(part.substr(eq + 1));
      }
    }
  }
  return {};
}

namespace {

bool ValidCallback(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && (digit || c == '.')))) return false;
  }
  return true;
}

// A JSON array of messages (a single object is accepted as an array of one).
Result<json::array> ParseMessages(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Fail(Errc::kInvalidArgument, "the body is not JSON: " + ec.message());
  if (v.is_object()) return json::array{std::move(v)};
  if (!v.is_array())
    return Fail(Errc::kInvalidArgument, "the body must be a JSON array of messages");
  if (v.as_array().empty()) return Fail(Errc::kInvalidArgument, "the message array is empty");
  return std::move(v.as_array());
}

// Every text Tally sends on a Bayeux WebSocket is a JSON array of messages; those that queued
// up behind a frame being written go out as one array (one frame, one write).
// A pushed message (shared by every session it goes to) is one message object: it joins the
// array as it is.
std::string JoinMessageArrays(const std::vector<std::string_view>& texts) {
  std::size_t total = 2;
  for (const auto t : texts) total += t.size() + 1;
  std::string out;
  out.reserve(total);
  out += '[';
  for (const auto t : texts) {
    std::string_view inner(t);
    if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']') {
      inner = inner.substr(1, inner.size() - 2);
    }
    if (inner.empty()) continue;
    if (out.size() > 1) out += ',';
    out += inner;
  }
  out += ']';
  return out;
}

class WsEndpoint final : public WsHandler {
 public:
  WsEndpoint(bayeux::Server& server, std::shared_ptr<WsPeer> peer, bayeux::Context context)
      : server_(server), peer_(std::move(peer)), context_(std::move(context)) {}

  void OnText(std::string text) override {
    auto messages = ParseMessages(text);
    if (!messages) {
      peer_->Send(json::serialize(json::array{json::object{
          {"successful", false}, {"error", bayeux::ErrorText(bayeux::Reason::kMessageInvalid)}}}));
      return;
    }
    std::weak_ptr<WsPeer> weak = peer_;
    auto reply = [weak](std::string out) {
      if (auto p = weak.lock()) p->Send(std::move(out));
    };
    auto result = server_.Handle(std::move(*messages), context_, reply);
    // The connection is authenticated from now on as whoever handshook (or presented a token)
    // on it: later messages on this socket need not carry the token again.
    if (result.authenticated) context_.principal = *result.authenticated;
    for (const auto& id : result.client_ids) {
      if (!attached_.insert(id).second) continue;
      server_.Attach(id, [weak](const bayeux::MessagePtr& message) {
        // Aliasing: the peer keeps the message alive until its frame is built (no copy per
        // session; the frame is built from the shared texts once, by the writer).
        if (auto p = weak.lock()) p->SendShared({message, &message->text});
      });
    }
  }

  void OnClose() override {
    // Cut off for not reading (net: websocket_max_buffered_bytes): its dropped pushes are made
    // good by a refresh of every value at the session's next connect.
    const bool lost = peer_->Overflowed();
    for (const auto& id : attached_) server_.Detach(id, lost);
    attached_.clear();
  }

 private:
  bayeux::Server& server_;
  std::shared_ptr<WsPeer> peer_;
  bayeux::Context context_;
  std::set<std::string> attached_;
};

}  // namespace

struct NotificationsApi::Impl {
  Impl(bayeux::Server& s, Authenticator a) : server(s), authenticate(std::move(a)) {}
  bayeux::Server& server;
  Authenticator authenticate;

  bayeux::Context ContextOf(const HttpRequest& req, bayeux::Transport transport) {
    bayeux::Context ctx;
    ctx.transport = transport;
    ctx.browser = Cookie(req, "BAYEUX_BROWSER");
    ctx.secure = req.tls;
    ctx.principal = authenticate(req);
    return ctx;
  }

  static HttpResponse Answer(const std::string& body, const std::vector<std::string>& cookies,
                             const char* content_type) {
    HttpResponse r;
    r.status = 200;
    r.content_type = content_type;
    r.body = body;
    for (const auto& c : cookies) r.headers.emplace_back("Set-Cookie", c);
    return r;
  }

  void Post(HttpRequest& req, Responder r) {
    std::string_view body = req.body;
    std::string decoded;
    const std::string type(req.Header("content-type"));
    if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
      bool ok = true;
      const auto form = ParseQuery(req.body, &ok);
      for (const auto& [k, v] : form) {
        if (k == "message") decoded = v;
      }
      body = decoded;
    }
    auto messages = ParseMessages(body);
    if (!messages) return r.Send(ErrorResponse(400, messages.error().message, req.path));
    Dispatch(req, std::move(*messages), bayeux::Transport::kLongPolling, std::move(r), "");
  }

  void Get(HttpRequest& req, Responder r) {
    bool ok = true;
    const auto q = ParseQuery(req.query, &ok);
    std::string callback;
    std::string message;
    for (const auto& [k, v] : q) {
      if (k == "jsonp") callback = v;
      if (k == "message") message = v;
    }
    if (callback.empty()) {
      return r.Send(ErrorResponse(
          400, "GET is only for callback-polling (query 'jsonp' and 'message'); use POST",
          req.path));
    }
    if (!ValidCallback(callback)) {
      return r.Send(ErrorResponse(400, "query 'jsonp': not a valid callback name", req.path));
    }
    auto messages = ParseMessages(message);
    if (!messages) {
      return r.Send(ErrorResponse(400, "query 'message': " + messages.error().message, req.path));
    }
    Dispatch(req, std::move(*messages), bayeux::Transport::kCallbackPolling, std::move(r),
             callback);
  }

  void Dispatch(HttpRequest& req, json::array messages, bayeux::Transport transport, Responder r,
                const std::string& callback) {
    const bayeux::Context ctx = ContextOf(req, transport);
    // Cookies are known only after Handle(); the reply may come before it returns (at once)
    // or later (a held connect), so both wait on this shared state.
    struct State {
      std::mutex mu;
      std::optional<std::string> body;
      std::optional<std::vector<std::string>> cookies;
      Responder responder;
      std::string callback;
    };
    auto state = std::make_shared<State>();
    state->responder = std::move(r);
    state->callback = callback;
    auto finish = [](State& s) {
      const bool jsonp = !s.callback.empty();
      std::string body = jsonp ? s.callback + "(" + *s.body + ")" : *s.body;
      s.responder.Send(
          Answer(body, *s.cookies, jsonp ? "text/javascript;charset=UTF-8" : "application/json"));
    };
    auto result = server.Handle(std::move(messages), ctx, [state, finish](std::string out) {
      std::lock_guard lock(state->mu);
      state->body = std::move(out);
      if (state->cookies) finish(*state);
    });
    std::lock_guard lock(state->mu);
    state->cookies = std::move(result.set_cookies);
    if (state->body) {
      finish(*state);
    } else if (result.held_id != 0) {
      // A held connect: if the client leaves before it is answered, the hold is dropped now.
      state->responder.OnAbandoned([&server = server, id = result.held_client_id,
                                    held = result.held_id] { server.Abandon(id, held); });
    }
  }
};

NotificationsApi::NotificationsApi(bayeux::Server& server, Authenticator authenticate)
    : impl_(std::make_shared<Impl>(server, std::move(authenticate))) {}

std::vector<Route> NotificationsApi::Routes() {
  auto impl = impl_;
  const std::string base = kBase;
  auto post = [impl](HttpRequest& q, const RouteParams&, Responder r) {
    impl->Post(q, std::move(r));
  };
  auto get = [impl](HttpRequest& q, const RouteParams&, Responder r) {
    impl->Get(q, std::move(r));
  };
  return {{HttpMethod::kPost, base, post},
          {HttpMethod::kPost, base + "/*", post},
          {HttpMethod::kGet, base, get},
          {HttpMethod::kGet, base + "/*", get}};
}

WsAcceptor NotificationsApi::WebSocket() {
  auto impl = impl_;
  return [impl](const HttpRequest& upgrade,
                std::shared_ptr<WsPeer> peer) -> std::shared_ptr<WsHandler> {
    bayeux::Context ctx = impl->ContextOf(upgrade, bayeux::Transport::kWebSocket);
    peer->SetFrameMerger(JoinMessageArrays);
    return std::make_shared<WsEndpoint>(impl->server, std::move(peer), std::move(ctx));
  };
}

}  // namespace tally::api
