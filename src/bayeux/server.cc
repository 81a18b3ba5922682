#include "bayeux/server.h"

#include <boost/json.hpp>

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <variant>

namespace tally::bayeux {

namespace json = boost::json;

namespace {

constexpr std::string_view kUpdates = "/statistics/v3/updates";

std::string RandomToken(size_t bytes, std::string_view alphabet) {
  static thread_local std::random_device device;
  std::string out;
  // Rejection-free: each output character takes one 32-bit draw (≥ 5 bits of entropy each).
  for (size_t i = 0; i < bytes; ++i) out.push_back(alphabet[device() % alphabet.size()]);
  return out;
}

std::string NewClientId() {
  // 32 hexadecimal characters from the system's random source: 128 bits.
  return RandomToken(32, "0123456789abcdef");
}

std::string NewBrowserId() { return RandomToken(16, "0123456789abcdefghijklmnopqrstuvwxyz"); }

bool ValidSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '!' || c == '~' || c == '(' || c == ')' || c == '$' || c == '@' ||
         c == '.';
}

const json::string* StringField(const json::object& m, std::string_view key) {
  const json::value* v = m.if_contains(key);
  return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

// A message ready to go out: its JSON text, serialized once and shared by every session it goes
// to.
struct Queued {
  std::shared_ptr<const std::string> text;
  bool update = false;  // on /statistics/v3/updates (coalescable)
};

Queued MakeQueued(std::string_view channel, const json::value& data) {
  json::object m;
  m["channel"] = channel;
  m["data"] = data;
  return Queued{std::make_shared<const std::string>(json::serialize(m)), channel == kUpdates};
}

// The messages of one reply, in order: protocol replies (serialized when the reply is assembled,
// outside the lock) and queued messages (already text).
using Piece = std::variant<json::object, std::shared_ptr<const std::string>>;

std::string Assemble(const std::vector<Piece>& pieces) {
  std::string out = "[";
  for (const Piece& p : pieces) {
    if (out.size() > 1) out += ',';
    if (const auto* o = std::get_if<json::object>(&p)) {
      out += json::serialize(*o);
    } else {
      out += *std::get<std::shared_ptr<const std::string>>(p);
    }
  }
  out += ']';
  return out;
}

}  // namespace

bool ValidChannel(std::string_view channel) {
  if (channel.size() < 2 || channel.front() != '/' || channel.size() > 256) return false;
  size_t start = 1;
  while (start <= channel.size()) {
    size_t end = channel.find('/', start);
    if (end == std::string_view::npos) end = channel.size();
    const std::string_view seg = channel.substr(start, end - start);
    if (seg.empty()) return false;
    if (seg != "*" && seg != "**") {
      for (char c : seg) {
        if (!ValidSegmentChar(c)) return false;
      }
    } else if (end != channel.size()) {
      return false;  // wildcards only at the end
    }
    start = end + 1;
  }
  return true;
}

bool ChannelMatches(std::string_view pattern, std::string_view channel) {
  if (pattern == channel) return true;
  if (pattern.size() >= 3 && pattern.substr(pattern.size() - 3) == "/**") {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 2);  // keeps the '/'
    return channel.size() > prefix.size() && channel.substr(0, prefix.size()) == prefix;
  }
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return channel.size() > prefix.size() && channel.substr(0, prefix.size()) == prefix &&
           channel.find('/', prefix.size()) == std::string_view::npos;
  }
  return false;
}

std::string PrincipalKey(const Principal& p) { return p.tenant + "\\" + p.subject; }

struct Server::Impl {
  struct Held {
    Reply reply;
    json::object connect_reply;
    TimeMs deadline = 0;
  };
  struct Session {
    std::string id;
    Principal principal;
    std::string key;  // PrincipalKey
    std::string browser;
    Transport transport = Transport::kLongPolling;
    std::set<std::string> subscriptions;
    std::deque<Queued> queue;
    bool connected = false;
    bool restored = false;  // restored after a restart; not yet connected again
    TimeMs expires = 0;     // 0: never (a connect is held)
    std::optional<Held> held;
    Reply push;  // WebSocket without ack: events go out at once
    bool ack = false;
    std::int64_t batch = 0;
    std::map<std::int64_t, std::vector<Queued>> unacked;
  };

  Impl(const Options& o, const Clock& c) : options(o), clock(c) {}

  const Options& options;
  const Clock& clock;
  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions;
  std::unordered_map<std::string, std::set<std::string>> by_principal;  // key → client ids
  std::unordered_map<std::string, int> held_by_browser;                 // browser → held connects
  // Channel pattern → sessions subscribed to it (publish fan-out without scanning sessions).
  std::unordered_map<std::string, std::set<Session*>> subscribers;
  TokenVerifier verify;
  std::function<void(const SessionInfo&)> closed;
  std::function<void(const SessionInfo&)> resumed;
  std::function<void(const Identity&, bool)> identity_changed;
  ServerStats stats;

  // Work to run after the lock is released (callbacks into the application, replies).
  std::vector<std::function<void()>> after;

  // Answers `reply` with `pieces` once the lock is released.
  void ReplyLater(Reply reply, std::vector<Piece> pieces) {
    after.push_back(
        [reply = std::move(reply), pieces = std::move(pieces)] { reply(Assemble(pieces)); });
  }

  json::object Advice(std::int64_t interval) const {
    return json::object{{"reconnect", "retry"},
                        {"interval", interval},
                        {"timeout", options.timeout_ms},
                        {"maxInterval", options.max_interval_ms}};
  }

  static json::object Base(const json::object& m, std::string_view channel) {
    json::object r;
    r["channel"] = channel;
    if (const json::value* id = m.if_contains("id"); id != nullptr && !id->is_null()) {
      r["id"] = *id;
    }
    return r;
  }

  static json::object Failure(const json::object& m, std::string_view channel,
                              std::string_view error) {
    json::object r = Base(m, channel);
    r["successful"] = false;
    r["error"] = error;
    return r;
  }

  json::object UnknownSession(const json::object& m, std::string_view channel) {
    ++stats.unknown_session_replies;
    json::object r = Failure(m, channel, "402::session_unknown");
    r["advice"] = json::object{{"reconnect", "handshake"}, {"interval", 0}};
    return r;
  }

  Identity IdentityOf(const Session& s) const {
    return Identity{s.id, s.principal, s.browser,
                    std::vector<std::string>(s.subscriptions.begin(), s.subscriptions.end())};
  }

  void NotifyIdentity(const Session& s, bool removed) {
    if (identity_changed) {
      after.push_back([f = identity_changed, id = IdentityOf(s), removed] { f(id, removed); });
    }
  }

  void Remove(const std::string& id) {
    auto it = sessions.find(id);
    if (it == sessions.end()) return;
    auto s = it->second;
    if (s->held) {
      ReplyLater(std::move(s->held->reply), {std::move(s->held->connect_reply)});
      Unhold(*s);
    }
    for (const auto& pattern : s->subscriptions) Unsubscribe(*s, pattern);
    auto p = by_principal.find(s->key);
    if (p != by_principal.end()) {
      p->second.erase(id);
      if (p->second.empty()) by_principal.erase(p);
    }
    sessions.erase(it);
    NotifyIdentity(*s, true);
    if (closed) after.push_back([f = closed, info = SessionInfo{s->id, s->principal}] { f(info); });
  }

  void RunAfter() {
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(mu);
      work.swap(after);
    }
    for (auto& w : work) w();
  }

  // Moves queued messages into `out`; with ack, they are remembered under a new batch number
  // that goes into the connect reply's ext.
  void Drain(Session& s, std::vector<Piece>& out, json::object* connect_reply) {
    if (s.ack && connect_reply != nullptr) {
      if (!s.queue.empty()) {
        ++s.batch;
        auto& kept = s.unacked[s.batch];
        for (auto& m : s.queue) kept.push_back(m);
      }
      (*connect_reply)["ext"] = json::object{{"ack", s.batch}};
    }
    stats.messages_delivered += s.queue.size();
    for (auto& m : s.queue) out.emplace_back(std::move(m.text));
    s.queue.clear();
  }

  // Completes the held connect with the queued messages (events first, then the reply).
  void Unhold(Session& s) {
    if (!s.held) return;
    s.held.reset();
    auto it = held_by_browser.find(s.browser);
    if (it != held_by_browser.end() && --it->second <= 0) held_by_browser.erase(it);
  }

  void Wake(Session& s) {
    if (!s.held) return;
    Held held = std::move(*s.held);
    Unhold(s);
    std::vector<Piece> out;
    Drain(s, out, &held.connect_reply);
    out.emplace_back(std::move(held.connect_reply));
    s.expires = clock.NowMs() + options.interval_ms + options.max_interval_ms;
    ReplyLater(std::move(held.reply), std::move(out));
  }

  // Keeps the newest value per (subscriptionId, statisticId) in one update message (the queued
  // texts are read back: this runs only when a queue overflows).
  void Coalesce(Session& s) {
    std::vector<Queued> others;
    std::map<std::pair<std::string, std::string>, json::value> newest;
    std::vector<std::pair<std::string, std::string>> order;
    size_t entries = 0;
    for (auto& q : s.queue) {
      const json::value* stats_array = nullptr;
      json::value parsed;
      if (q.update) {
        boost::system::error_code ec;
        parsed = json::parse(*q.text, ec);
        const json::value* data =
            !ec && parsed.is_object() ? parsed.as_object().if_contains("data") : nullptr;
        if (data != nullptr && data->is_object()) {
          const json::value* inner = data->as_object().if_contains("data");
          if (inner != nullptr && inner->is_object()) {
            stats_array = inner->as_object().if_contains("statistics");
          }
        }
      }
      if (stats_array == nullptr || !stats_array->is_array()) {
        others.push_back(std::move(q));
        continue;
      }
      for (const auto& st : stats_array->as_array()) {
        ++entries;
        std::pair<std::string, std::string> k;
        if (st.is_object()) {
          const auto& o = st.as_object();
          if (auto* a = StringField(o, "subscriptionId")) k.first = std::string(*a);
          if (auto* b = StringField(o, "statisticId")) k.second = std::string(*b);
        }
        if (newest.find(k) == newest.end()) order.push_back(k);
        newest[k] = st;
      }
    }
    s.queue.clear();
    for (auto& m : others) s.queue.push_back(std::move(m));
    if (!order.empty()) {
      json::array merged;
      for (const auto& k : order) merged.push_back(std::move(newest[k]));
      stats.messages_coalesced += entries - order.size();
      const json::object m = UpdateMessage(std::move(merged));
      s.queue.push_back(MakeQueued(kUpdates, m.at("data")));
    }
  }

  static json::object UpdateMessage(json::array statistics) {
    return json::object{
        {"channel", kUpdates},
        {"data", json::object{{"name", "StatisticUpdate"},
                              {"topic", kUpdates},
                              {"data", json::object{{"statistics", std::move(statistics)}}}}}};
  }

  void Enqueue(Session& s, const std::string& channel, const Queued& message) {
    bool subscribed = false;
    for (const auto& pattern : s.subscriptions) {
      if (ChannelMatches(pattern, channel)) {
        subscribed = true;
        break;
      }
    }
    if (!subscribed) return;
    if (s.push && !s.ack) {
      // WebSocket: out at once, under the lock, so pushes keep their order on the socket.
      ++stats.messages_delivered;
      std::string text;
      text.reserve(message.text->size() + 2);
      text += '[';
      text += *message.text;
      text += ']';
      s.push(std::move(text));
      return;
    }
    s.queue.push_back(message);
    if (s.queue.size() > options.max_queue) Coalesce(s);
    Wake(s);
  }

  void Subscribe(Session& s, const std::string& pattern) {
    if (s.subscriptions.insert(pattern).second) subscribers[pattern].insert(&s);
  }
  void Unsubscribe(Session& s, const std::string& pattern) {
    auto it = subscribers.find(pattern);
    if (it == subscribers.end()) return;
    it->second.erase(&s);
    if (it->second.empty()) subscribers.erase(it);
  }

  // Every session subscribed to `channel` directly or through a wildcard, once each.
  std::vector<Session*> SubscribersOf(const std::string& channel) {
    std::set<Session*> found;
    auto add = [&](const std::string& pattern) {
      auto it = subscribers.find(pattern);
      if (it != subscribers.end()) found.insert(it->second.begin(), it->second.end());
    };
    add(channel);
    size_t slash = channel.rfind('/');
    if (slash != std::string::npos) add(channel.substr(0, slash) + "/*");
    while (slash != std::string::npos && slash > 0) {
      add(channel.substr(0, slash) + "/**");
      slash = channel.rfind('/', slash - 1);
    }
    add("/**");
    return {found.begin(), found.end()};
  }

  bool MaySubscribe(std::string_view channel) const {
    if (!ValidChannel(channel)) return false;
    if (options.bench_channels && channel.substr(0, 7) == "/bench/") return true;
    for (const auto& c : options.channels) {
      if (c == channel) return true;
    }
    return false;
  }

  // Returns the session for a non-handshake message, or null (the caller replies 402).
  std::shared_ptr<Session> Find(const json::object& m, const Context& ctx) {
    const json::string* id = StringField(m, "clientId");
    if (id == nullptr) return nullptr;
    auto it = sessions.find(std::string(*id));
    if (it == sessions.end()) return nullptr;
    auto& s = it->second;
    // HTTP sessions are found only through their browser cookie; WebSocket ones by clientId.
    if (ctx.transport != Transport::kWebSocket && s->browser != ctx.browser) return nullptr;
    // A clientId presented with another principal's credentials is refused.
    if (ctx.principal && PrincipalKey(*ctx.principal) != s->key) return nullptr;
    return s;
  }
};

Server::Server(Options options, const Clock& clock) : impl_(nullptr), options_(std::move(options)) {
  impl_ = std::make_unique<Impl>(options_, clock);
}

Server::~Server() = default;

void Server::SetTokenVerifier(TokenVerifier verify) { impl_->verify = std::move(verify); }
void Server::SetSessionClosed(std::function<void(const SessionInfo&)> closed) {
  impl_->closed = std::move(closed);
}
void Server::SetSessionResumed(std::function<void(const SessionInfo&)> resumed) {
  impl_->resumed = std::move(resumed);
}
void Server::SetIdentityChanged(std::function<void(const Identity&, bool)> changed) {
  impl_->identity_changed = std::move(changed);
}

HandleResult Server::Handle(json::array messages, const Context& ctx, Reply reply) {
  auto& I = *impl_;
  HandleResult result;
  std::vector<Piece> out;
  std::optional<Impl::Held> hold;
  std::shared_ptr<Impl::Session> hold_session;
  {
    std::lock_guard lock(I.mu);
    const TimeMs now = I.clock.NowMs();
    json::array handshake_replies;
    std::vector<json::object> replies;
    std::shared_ptr<Impl::Session> touched;
    for (auto& item : messages) {
      if (!item.is_object()) {
        replies.push_back(json::object{{"successful", false}, {"error", "400::message_invalid"}});
        continue;
      }
      const json::object& m = item.as_object();
      const json::string* channel_field = StringField(m, "channel");
      if (channel_field == nullptr) {
        replies.push_back(Impl::Failure(m, "", "400::channel_missing"));
        continue;
      }
      const std::string channel(*channel_field);
      if (channel == "/meta/handshake") {
        ++I.stats.handshakes;
        Result<Principal> who = ctx.principal;
        if (!who && I.verify) {
          // WebSocket clients cannot send headers: a token may come in the handshake's ext.
          const json::value* ext = m.if_contains("ext");
          if (ext != nullptr && ext->is_object()) {
            if (auto* auth = StringField(ext->as_object(), "authorization")) who = I.verify(*auth);
          }
        }
        if (who && !who->HasRole("statistics:read")) {
          who = Error{Errc::kPermissionDenied, "role statistics:read is required"};
        }
        if (!who) {
          ++I.stats.handshakes_denied;
          json::object r = Impl::Failure(m, channel, "403::handshake_denied");
          r["advice"] = json::object{{"reconnect", "none"}};
          r["ext"] = json::object{{"reason", who.error().message}};
          handshake_replies.push_back(std::move(r));
          continue;
        }
        auto s = std::make_shared<Impl::Session>();
        s->id = NewClientId();
        s->principal = *who;
        s->key = PrincipalKey(*who);
        s->transport = ctx.transport;
        s->browser = ctx.browser;
        if (ctx.transport != Transport::kWebSocket && s->browser.empty()) {
          s->browser = NewBrowserId();
          result.set_cookies.push_back("BAYEUX_BROWSER=" + s->browser + "; Path=/; HttpOnly" +
                                       (ctx.secure ? "; Secure" : ""));
        }
        result.set_cookies.push_back("STATISTICS_SESSIONID=" + s->id + "; Path=/; HttpOnly" +
                                     (ctx.secure ? "; Secure" : ""));
        s->expires = now + I.options.interval_ms + I.options.max_interval_ms;
        const json::value* ext = m.if_contains("ext");
        s->ack = ext != nullptr && ext->is_object() && ext->as_object().contains("ack") &&
                 ext->as_object().at("ack").is_bool() && ext->as_object().at("ack").as_bool();
        json::object r = Impl::Base(m, channel);
        r["successful"] = true;
        r["clientId"] = s->id;
        r["version"] = "1.0";
        r["minimumVersion"] = "1.0";
        r["supportedConnectionTypes"] =
            json::array{"websocket", "long-polling", "callback-polling"};
        r["advice"] = I.Advice(I.options.interval_ms);
        if (s->ack) r["ext"] = json::object{{"ack", json::object{{"enabled", true}, {"batch", 0}}}};
        I.sessions.emplace(s->id, s);
        I.by_principal[s->key].insert(s->id);
        result.client_ids.push_back(s->id);
        I.NotifyIdentity(*s, false);
        handshake_replies.push_back(std::move(r));
        continue;
      }
      auto s = I.Find(m, ctx);
      if (!s) {
        replies.push_back(I.UnknownSession(m, channel));
        continue;
      }
      touched = s;
      result.client_ids.push_back(s->id);
      if (channel == "/meta/connect") {
        if (s->ack) {
          const json::value* ext = m.if_contains("ext");
          const json::value* acked =
              ext != nullptr && ext->is_object() ? ext->as_object().if_contains("ack") : nullptr;
          if (acked != nullptr && acked->is_number()) {
            const auto n = acked->to_number<std::int64_t>();
            // Batches up to n arrived; later ones were lost with their response: redeliver.
            std::deque<Queued> again;
            for (auto it = s->unacked.begin(); it != s->unacked.end();) {
              if (it->first > n) {
                for (auto& msg : it->second) again.push_back(std::move(msg));
                I.stats.messages_redelivered += it->second.size();
              }
              it = s->unacked.erase(it);
            }
            for (auto& msg : s->queue) again.push_back(std::move(msg));
            s->queue.swap(again);
          }
        }
        const bool first = !s->connected;
        s->connected = true;
        if (s->restored) {
          s->restored = false;
          if (I.resumed) {
            I.after.push_back(
                [f = I.resumed, info = SessionInfo{s->id, s->principal}] { f(info); });
          }
        }
        json::object r = Impl::Base(m, channel);
        r["successful"] = true;
        std::int64_t timeout = I.options.timeout_ms;
        const json::value* advice = m.if_contains("advice");
        if (advice != nullptr && advice->is_object()) {
          const json::value* t = advice->as_object().if_contains("timeout");
          if (t != nullptr && t->is_number()) timeout = t->to_number<std::int64_t>();
        }
        const bool alone = messages.size() == 1;
        bool other_held = false;
        if (ctx.transport != Transport::kWebSocket) {
          auto h = I.held_by_browser.find(s->browser);
          other_held = h != I.held_by_browser.end() && h->second > (s->held ? 1 : 0);
        }
        if (s->held) I.Wake(*s);  // a newer connect ends the held one
        if (other_held) {
          json::object adv = I.Advice(I.options.multi_session_interval_ms);
          adv["multiple-clients"] = true;
          r["advice"] = std::move(adv);
          s->expires = now + I.options.multi_session_interval_ms + I.options.max_interval_ms;
          replies.push_back(std::move(r));
        } else if (alone && !first && timeout > 0 && s->queue.empty()) {
          hold = Impl::Held{nullptr, std::move(r), now + std::min(timeout, I.options.timeout_ms)};
          hold_session = s;
          s->expires = 0;
        } else {
          r["advice"] = I.Advice(I.options.interval_ms);
          I.Drain(*s, out, &r);
          s->expires = now + I.options.interval_ms + I.options.max_interval_ms;
          replies.push_back(std::move(r));
        }
        continue;
      }
      if (s->expires != 0) s->expires = std::max(s->expires, now + I.options.max_interval_ms);
      if (channel == "/meta/subscribe" || channel == "/meta/unsubscribe") {
        const bool sub = channel == "/meta/subscribe";
        const json::value* what = m.if_contains("subscription");
        std::vector<std::string> wanted;
        if (what != nullptr && what->is_string()) wanted.emplace_back(what->as_string());
        if (what != nullptr && what->is_array()) {
          for (const auto& w : what->as_array()) {
            if (w.is_string()) wanted.emplace_back(w.as_string());
          }
        }
        if (wanted.empty()) {
          replies.push_back(Impl::Failure(m, channel, "403::subscription_missing"));
          continue;
        }
        json::object r = Impl::Base(m, channel);
        r["subscription"] = *what;
        bool ok = true;
        for (const auto& w : wanted) {
          if (sub && !I.MaySubscribe(w)) {
            ok = false;
            r["successful"] = false;
            r["error"] = ValidChannel(w) ? "403::subscribe_denied" : "403::subscription_invalid";
            break;
          }
        }
        if (ok) {
          for (const auto& w : wanted) {
            if (sub) {
              I.Subscribe(*s, w);
            } else {
              I.Unsubscribe(*s, w);
              s->subscriptions.erase(w);
            }
          }
          r["successful"] = true;
          I.NotifyIdentity(*s, false);
        }
        replies.push_back(std::move(r));
        continue;
      }
      if (channel == "/meta/disconnect") {
        json::object r = Impl::Base(m, channel);
        r["successful"] = true;
        replies.push_back(std::move(r));
        I.Remove(s->id);
        touched.reset();
        continue;
      }
      if (channel.rfind("/meta/", 0) == 0 || !ValidChannel(channel) ||
          channel.find('*') != std::string::npos) {
        replies.push_back(Impl::Failure(m, channel, "405::channel_invalid"));
        continue;
      }
      // A publish. Only the benchmark channels accept them; statistics channels are the
      // server's alone.
      if (I.options.bench_channels && channel.rfind("/bench/", 0) == 0) {
        const json::value* data = m.if_contains("data");
        // Serialized once for every subscriber.
        const Queued message = MakeQueued(channel, data != nullptr ? *data : json::value(nullptr));
        for (Impl::Session* other : I.SubscribersOf(channel)) I.Enqueue(*other, channel, message);
        json::object r = Impl::Base(m, channel);
        r["successful"] = true;
        replies.push_back(std::move(r));
      } else {
        replies.push_back(Impl::Failure(m, channel, "403::publish_denied"));
      }
    }
    // Order: handshake replies, queued events of the session, then the other replies.
    std::vector<Piece> ordered;
    for (auto& r : handshake_replies) ordered.emplace_back(std::move(r.as_object()));
    for (auto& e : out) ordered.push_back(std::move(e));
    if (touched && !hold && !touched->held && ctx.transport != Transport::kWebSocket) {
      I.Drain(*touched, ordered, nullptr);
    }
    for (auto& r : replies) ordered.emplace_back(std::move(r));
    if (hold) {
      hold->reply = std::move(reply);
      hold_session->held = std::move(*hold);
      ++I.held_by_browser[hold_session->browser];
      ++I.stats.held_connects;
    } else {
      if (ordered.empty()) {
        ordered.emplace_back(json::object{{"successful", false}, {"error", "400::empty"}});
      }
      I.ReplyLater(std::move(reply), std::move(ordered));
    }
  }
  I.RunAfter();
  return result;
}

void Server::Attach(const std::string& client_id, Reply push) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->sessions.find(client_id);
  if (it != impl_->sessions.end()) it->second->push = std::move(push);
}

void Server::Detach(const std::string& client_id) {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    auto it = I.sessions.find(client_id);
    if (it == I.sessions.end()) return;
    auto& s = *it->second;
    s.push = nullptr;
    I.Unhold(s);  // its socket is gone
    // Arm expiry: a session whose socket closed must not live forever.
    s.expires = I.clock.NowMs() + I.options.max_interval_ms;
  }
}

void Server::DeliverToSession(const std::string& client_id, const std::string& channel,
                              json::value data) {
  auto& I = *impl_;
  const Queued message = MakeQueued(channel, data);  // before taking the lock
  {
    std::lock_guard lock(I.mu);
    auto it = I.sessions.find(client_id);
    if (it != I.sessions.end()) I.Enqueue(*it->second, channel, message);
  }
  I.RunAfter();
}

void Server::DeliverToPrincipal(const std::string& principal_key, const std::string& channel,
                                json::value data) {
  auto& I = *impl_;
  const Queued message = MakeQueued(channel, data);
  {
    std::lock_guard lock(I.mu);
    auto p = I.by_principal.find(principal_key);
    if (p == I.by_principal.end()) return;
    for (const auto& id : p->second) {
      auto it = I.sessions.find(id);
      if (it != I.sessions.end()) I.Enqueue(*it->second, channel, message);
    }
  }
  I.RunAfter();
}

void Server::DeliverToTenant(const std::string& tenant, const std::string& channel,
                             json::value data) {
  auto& I = *impl_;
  const Queued message = MakeQueued(channel, data);
  {
    std::lock_guard lock(I.mu);
    for (auto& [id, s] : I.sessions) {
      if (s->principal.tenant == tenant) I.Enqueue(*s, channel, message);
    }
  }
  I.RunAfter();
}

void Server::Sweep() {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    const TimeMs now = I.clock.NowMs();
    std::vector<std::string> expired;
    for (auto& [id, s] : I.sessions) {
      if (s->held && now >= s->held->deadline) I.Wake(*s);
      if (!s->held && s->expires != 0 && now >= s->expires) expired.push_back(id);
    }
    for (const auto& id : expired) {
      ++I.stats.sessions_expired;
      I.Remove(id);
    }
  }
  I.RunAfter();
}

void Server::Restore(const std::string& client_id, const Principal& principal,
                     const std::string& browser, const std::vector<std::string>& subscriptions) {
  auto& I = *impl_;
  std::lock_guard lock(I.mu);
  auto s = std::make_shared<Impl::Session>();
  s->id = client_id;
  s->principal = principal;
  s->key = PrincipalKey(principal);
  s->browser = browser;
  for (const auto& c : subscriptions) I.Subscribe(*s, c);
  s->connected = true;
  s->restored = true;
  s->expires = I.clock.NowMs() + I.options.timeout_ms + I.options.max_interval_ms;
  I.sessions[client_id] = s;
  I.by_principal[s->key].insert(client_id);
}

bool Server::HasSession(const std::string& client_id) const {
  std::lock_guard lock(impl_->mu);
  return impl_->sessions.count(client_id) != 0;
}

bool Server::SessionOwnedBy(const std::string& client_id, const std::string& principal_key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->sessions.find(client_id);
  return it != impl_->sessions.end() && it->second->key == principal_key;
}

void Server::ReleaseAll() {
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, s] : impl_->sessions) impl_->Wake(*s);
  }
  impl_->RunAfter();
}

ServerStats Server::Stats() const {
  std::lock_guard lock(impl_->mu);
  ServerStats s = impl_->stats;
  s.sessions = impl_->sessions.size();
  s.held_connects = 0;
  for (const auto& [id, session] : impl_->sessions) s.held_connects += session->held ? 1 : 0;
  return s;
}

}  // namespace tally::bayeux
