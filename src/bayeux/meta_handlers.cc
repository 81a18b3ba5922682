// One handler per meta channel (/meta/handshake, /meta/connect, /meta/subscribe and
// /meta/unsubscribe, /meta/disconnect) and one for publishes; Handle() (server.cc) dispatches.
#include <algorithm>
#include <cmath>
#include <random>

#include "bayeux/server_impl.h"

namespace tally::bayeux {
namespace {

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

}  // namespace

std::optional<std::int64_t> WireInteger(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) {
    return v.as_uint64() > static_cast<std::uint64_t>(INT64_MAX)
               ? INT64_MAX
               : static_cast<std::int64_t>(v.as_uint64());
  }
  if (v.is_double()) {
    const double d = v.as_double();
    if (!std::isfinite(d)) return std::nullopt;
    if (d >= 9.2e18) return INT64_MAX;
    if (d <= -9.2e18) return INT64_MIN;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

void Server::Impl::MetaHandshake(const json::object& m, Request& q) {
  const std::string_view channel = "/meta/handshake";
  ++stats.handshakes;
  Result<Principal> who = Presented(m, q);
  if (who && !options.required_role.empty() && !who->HasRole(options.required_role)) {
    who = Error{Errc::kPermissionDenied, "role " + options.required_role + " is required"};
  }
  if (who && ++q.handshakes > 1) {
    who = Error{Errc::kInvalidArgument, "one handshake per request"};
  }
  if (who) {
    auto mine = by_principal.find(PrincipalKey(*who));
    if (mine != by_principal.end() && mine->second.size() >= options.max_sessions_per_principal) {
      who = Error{Errc::kRateLimited, "this principal already has " +
                                          std::to_string(mine->second.size()) +
                                          " sessions (the limit): disconnect one first"};
    }
  }
  if (!who) {
    ++stats.handshakes_denied;
    json::object r = Failure(m, channel, Reason::kHandshakeDenied);
    // Over the session cap, a handshake may succeed once idle sessions have expired.
    r["advice"] =
        who.error().code == Errc::kRateLimited
            ? json::object{{"reconnect", "handshake"}, {"interval", options.max_interval_ms}}
            : json::object{{"reconnect", "none"}};
    r["ext"] = json::object{{"reason", who.error().message}};
    q.handshake_replies.push_back(std::move(r));
    return;
  }
  auto s = std::make_shared<Session>();
  s->id = NewClientId();
  s->principal = *who;
  s->key = PrincipalKey(*who);
  s->transport = q.ctx.transport;
  s->browser = q.ctx.browser;
  s->credentials_expire = who->expires_at_ms;
  const std::string attributes = options.cookie_attributes.empty()
                                     ? std::string(q.ctx.secure ? "Secure" : "")
                                     : options.cookie_attributes + (q.ctx.secure ? "; Secure" : "");
  auto cookie = [&](std::string_view name, const std::string& value) {
    return std::string(name) + "=" + value + (attributes.empty() ? "" : "; " + attributes);
  };
  if (q.ctx.transport != Transport::kWebSocket && s->browser.empty()) {
    s->browser = NewBrowserId();
    q.result.set_cookies.push_back(cookie("BAYEUX_BROWSER", s->browser));
  }
  if (!options.session_cookie.empty()) {
    q.result.set_cookies.push_back(cookie(options.session_cookie, s->id));
  }
  s->expires = q.now + options.interval_ms + options.max_interval_ms;
  // The expiry first: the credentials' (usually later) adds no entry to the agenda then.
  Due(*s, s->expires);
  Due(*s, s->credentials_expire);
  const json::value* ext = m.if_contains("ext");
  s->ack = ext != nullptr && ext->is_object() && ext->as_object().contains("ack") &&
           ext->as_object().at("ack").is_bool() && ext->as_object().at("ack").as_bool();
  json::object r = Base(m, channel);
  r["successful"] = true;
  r["clientId"] = s->id;
  r["version"] = "1.0";
  r["minimumVersion"] = "1.0";
  r["supportedConnectionTypes"] = json::array{"websocket", "long-polling", "callback-polling"};
  r["advice"] = Advice(options.interval_ms);
  if (s->ack) r["ext"] = json::object{{"ack", json::object{{"enabled", true}, {"batch", 0}}}};
  sessions.emplace(s->id, s);
  by_principal[s->key].insert(s->id);
  q.result.client_ids.push_back(s->id);
  q.result.authenticated = *who;
  q.principal = *who;
  NotifyIdentity(*s, false);
  q.handshake_replies.push_back(std::move(r));
}

void Server::Impl::MetaConnect(const json::object& m, Session& s,
                               const std::shared_ptr<Session>& ptr, Request& q) {
  const std::string_view channel = "/meta/connect";
  if (s.ack) {
    const json::value* ext = m.if_contains("ext");
    const json::value* acked =
        ext != nullptr && ext->is_object() ? ext->as_object().if_contains("ack") : nullptr;
    const auto acked_batch = acked != nullptr ? WireInteger(*acked) : std::nullopt;
    if (acked_batch) {
      const std::int64_t n = *acked_batch;
      // Batches up to n arrived; later ones were lost with their response: redeliver.
      std::vector<MessagePtr> again;
      for (auto it = s.unacked.begin(); it != s.unacked.end();) {
        if (it->first > n) {
          for (auto& msg : it->second) again.push_back(std::move(msg));
          stats.messages_redelivered += it->second.size();
        }
        it = s.unacked.erase(it);
      }
      for (auto& msg : s.queue) again.push_back(std::move(msg));
      s.queue.swap(again);
    }
  }
  const bool first = !s.connected;
  s.connected = true;
  if (s.restored) {
    s.restored = false;
    if (resumed) {
      after.push_back([f = resumed, info = SessionInfo{s.id, s.principal}] { f(info); });
    }
  }
  json::object r = Base(m, channel);
  r["successful"] = true;
  std::int64_t timeout = options.timeout_ms;
  const json::value* advice = m.if_contains("advice");
  if (advice != nullptr && advice->is_object()) {
    const json::value* t = advice->as_object().if_contains("timeout");
    // Any number is accepted and brought into [0, options.timeout_ms] (1e19 included).
    if (auto n = t != nullptr ? WireInteger(*t) : std::nullopt) {
      timeout = std::clamp<std::int64_t>(*n, 0, options.timeout_ms);
    }
  }
  const bool alone = q.messages == 1;
  bool other_held = false;
  if (q.ctx.transport != Transport::kWebSocket) {
    auto h = held_by_browser.find(s.browser);
    other_held = h != held_by_browser.end() && h->second > (s.held ? 1 : 0);
  }
  if (s.held) Wake(s);  // a newer connect ends the held one
  if (other_held) {
    json::object adv = Advice(options.multi_session_interval_ms);
    adv["multiple-clients"] = true;
    r["advice"] = std::move(adv);
    s.expires = q.now + options.multi_session_interval_ms + options.max_interval_ms;
    Due(s, s.expires);
    q.replies.push_back(std::move(r));
  } else if (alone && !first && timeout > 0 && s.queue.empty()) {
    q.hold = Held{nullptr, std::move(r), q.now + timeout, 0, q.ctx.transport};
    q.hold_session = ptr;
    s.expires = 0;
  } else {
    r["advice"] = Advice(options.interval_ms);
    Drain(s, q.out, &r);
    s.expires = q.now + options.interval_ms + options.max_interval_ms;
    Due(s, s.expires);
    q.replies.push_back(std::move(r));
  }
}

void Server::Impl::MetaSubscribe(const json::object& m, std::string_view channel, Session& s,
                                 Request& q) {
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
    q.replies.push_back(Failure(m, channel, Reason::kSubscriptionMissing));
    return;
  }
  json::object r = Base(m, channel);
  r["subscription"] = *what;
  bool ok = true;
  for (const auto& w : wanted) {
    if (sub && !MaySubscribe(w)) {
      ok = false;
      r["successful"] = false;
      r["error"] =
          ErrorText(ValidChannel(w) ? Reason::kSubscribeDenied : Reason::kSubscriptionInvalid);
      break;
    }
  }
  if (ok) {
    for (const auto& w : wanted) {
      if (sub) {
        Subscribe(s, w);
      } else {
        Unsubscribe(s, w);
        s.subscriptions.erase(w);
      }
    }
    r["successful"] = true;
    NotifyIdentity(s, false);
  }
  q.replies.push_back(std::move(r));
}

void Server::Impl::MetaDisconnect(const json::object& m, Session& s, Request& q) {
  json::object r = Base(m, "/meta/disconnect");
  r["successful"] = true;
  q.replies.push_back(std::move(r));
  Remove(s.id);
  q.touched.reset();
}

void Server::Impl::Publish(const json::object& m, const std::string& channel, Request& q) {
  if (channel.rfind("/meta/", 0) == 0 || !ValidChannel(channel) ||
      channel.find('*') != std::string::npos) {
    q.replies.push_back(Failure(m, channel, Reason::kChannelInvalid));
    return;
  }
  // Only the benchmark channels accept publishes; statistics channels are the server's alone.
  if (options.bench_channels && channel.rfind("/bench/", 0) == 0) {
    const json::value* data = m.if_contains("data");
    // Serialized once for every subscriber.
    const MessagePtr message =
        MakeMessage(channel, data != nullptr ? json::serialize(*data) : std::string("null"));
    for (Session* other : SubscribersOf(channel)) Enqueue(*other, message, true);
    json::object r = Base(m, channel);
    r["successful"] = true;
    q.replies.push_back(std::move(r));
  } else {
    q.replies.push_back(Failure(m, channel, Reason::kPublishDenied));
  }
}

}  // namespace tally::bayeux
