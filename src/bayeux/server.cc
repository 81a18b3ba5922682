// The public side of bayeux::Server: the Handle() loop that dispatches each message to its
// handler (meta_handlers.cc), deliveries, the sweeper, restored identities.
#include "bayeux/server.h"

#include <cmath>

#include "bayeux/server_impl.h"

namespace tally::bayeux {

std::string PrincipalKey(const Principal& p) { return p.tenant + "\\" + p.subject; }

const json::string* StringField(const json::object& m, std::string_view key) {
  const json::value* v = m.if_contains(key);
  return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

std::string Assemble(const std::vector<Piece>& pieces) {
  std::string out = "[";
  for (const Piece& p : pieces) {
    if (out.size() > 1) out += ',';
    if (const auto* o = std::get_if<json::object>(&p)) {
      out += json::serialize(*o);
    } else {
      out += std::get<MessagePtr>(p)->text;
    }
  }
  out += ']';
  return out;
}

void Server::Impl::ReplyLater(Reply reply, std::vector<Piece> pieces) {
  after.push_back(
      [reply = std::move(reply), pieces = std::move(pieces)] { reply(Assemble(pieces)); });
}

json::object Server::Impl::Advice(std::int64_t interval) const {
  return json::object{{"reconnect", "retry"},
                      {"interval", interval},
                      {"timeout", options.timeout_ms},
                      {"maxInterval", options.max_interval_ms}};
}

json::object Server::Impl::Base(const json::object& m, std::string_view channel) {
  json::object r(8);  // a reply has at most a handful of members: no rehash as they go in
  r["channel"] = channel;
  if (const json::value* id = m.if_contains("id"); id != nullptr && !id->is_null()) {
    r["id"] = *id;
  }
  return r;
}

json::object Server::Impl::Failure(const json::object& m, std::string_view channel, Reason reason) {
  json::object r = Base(m, channel);
  r["successful"] = false;
  r["error"] = ErrorText(reason);
  return r;
}

json::object Server::Impl::UnknownSession(const json::object& m, std::string_view channel) {
  ++stats.unknown_session_replies;
  json::object r = Failure(m, channel, Reason::kSessionUnknown);
  r["advice"] = json::object{{"reconnect", "handshake"}, {"interval", 0}};
  return r;
}

Server::Identity Server::Impl::IdentityOf(const Session& s) const {
  return Identity{s.id, s.principal, s.browser,
                  std::vector<std::string>(s.subscriptions.begin(), s.subscriptions.end())};
}

void Server::Impl::NotifyIdentity(const Session& s, bool removed) {
  if (identity_changed) {
    after.push_back([f = identity_changed, id = IdentityOf(s), removed] { f(id, removed); });
  }
}

void Server::Impl::Remove(const std::string& id, bool expired) {
  auto it = sessions.find(id);
  if (it == sessions.end()) return;
  auto s = it->second;
  if (s->held) {
    ReplyLater(std::move(s->held->reply), {std::move(s->held->connect_reply)});
    Unhold(*s);
  }
  for (const auto& pattern : s->subscriptions) Unsubscribe(*s, pattern);
  stats.dropped_unsubscribed += s->parked.size();
  auto p = by_principal.find(s->key);
  if (p != by_principal.end()) {
    p->second.erase(id);
    if (p->second.empty()) by_principal.erase(p);
  }
  sessions.erase(it);
  NotifyIdentity(*s, true);
  if (closed) {
    after.push_back([f = closed, info = SessionInfo{s->id, s->principal, expired}] { f(info); });
  }
}

void Server::Impl::RunAfter() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(mu);
    work.swap(after);
  }
  for (auto& w : work) w();
}

Result<Principal> Server::Impl::Presented(const json::object& m, Request& q) {
  const json::value* ext = m.if_contains("ext");
  if (ext != nullptr && ext->is_object()) {
    if (const json::string* auth = StringField(ext->as_object(), "authorization")) {
      if (!verify) return Error{Errc::kUnauthenticated, "tokens in ext are not accepted here"};
      Result<Principal> who = verify(*auth);
      if (who) {
        q.result.authenticated = *who;
        q.principal = *who;
      }
      return who;
    }
  }
  return q.principal;
}

std::shared_ptr<Server::Impl::Session> Server::Impl::Find(const json::object& m,
                                                          const Result<Principal>& who,
                                                          const Context& ctx, TimeMs now,
                                                          bool& expired) {
  expired = false;
  const json::string* id = StringField(m, "clientId");
  if (id == nullptr) return nullptr;
  auto it = sessions.find(std::string(*id));
  std::shared_ptr<Session> s;
  if (it != sessions.end()) {
    s = it->second;
  } else if (lookup) {
    // A session from before a restart, or from another node: restored, then checked like any.
    auto identity = lookup(std::string(*id));
    if (!identity) return nullptr;
    s = RestoreLocked(*identity);
  } else {
    return nullptr;
  }
  // HTTP sessions are found only through their browser cookie; WebSocket ones by clientId.
  if (ctx.transport != Transport::kWebSocket && s->browser != ctx.browser) return nullptr;
  if (!who) {
    // Over HTTP the browser cookie ties an expired token to this session: it ends. No
    // credentials, or bad ones, are answered like an unknown session (never weaker than
    // another principal's valid token).
    if (who.error().code == Errc::kCredentialsExpired && ctx.transport != Transport::kWebSocket) {
      expired = true;
      EndExpired(*s);
    }
    return nullptr;
  }
  // A clientId presented with another principal's credentials is refused.
  if (PrincipalKey(*who) != s->key) return nullptr;
  if (who->expires_at_ms != 0 && now >= who->expires_at_ms) {
    expired = true;  // e.g. a WebSocket connection that outlived the token it authenticated with
    EndExpired(*s);
    return nullptr;
  }
  s->credentials_expire = std::max(s->credentials_expire, who->expires_at_ms);
  Due(*s, s->credentials_expire);
  return s;
}

json::object Server::Impl::Expired(const json::object& m, std::string_view channel) {
  json::object r = Failure(m, channel, Reason::kCredentialsExpired);
  r["advice"] = json::object{{"reconnect", "handshake"}, {"interval", 0}};
  r["ext"] = json::object{{"reason",
                           "the credentials of this session expired: handshake again "
                           "with a fresh token"}};
  return r;
}

void Server::Impl::EndExpired(Session& s) {
  ++stats.sessions_token_expired;
  if (s.held) {
    ReplyLater(std::move(s.held->reply), {Expired(json::object{}, "/meta/connect")});
    Unhold(s);
  }
  const std::string id = s.id;  // Remove() destroys the session
  Remove(id);
}

namespace {

// Echoed ids must be JSON a client can read back: a string of sane length or a finite number.
bool ValidId(const json::object& m) {
  const json::value* id = m.if_contains("id");
  if (id == nullptr || id->is_null() || id->is_int64() || id->is_uint64()) return true;
  if (id->is_string()) return id->as_string().size() <= 256;
  if (id->is_double()) return std::isfinite(id->as_double());
  return false;
}

}  // namespace

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
  {
    std::lock_guard lock(I.mu);
    Impl::Request q(ctx, messages.size(), I.clock.NowMs(), result);
    for (auto& item : messages) {
      if (!item.is_object() || !ValidId(item.as_object())) {
        ++I.stats.invalid_messages;
        q.replies.push_back(
            json::object{{"successful", false}, {"error", ErrorText(Reason::kMessageInvalid)}});
        continue;
      }
      const json::object& m = item.as_object();
      const json::string* channel_field = StringField(m, "channel");
      if (channel_field == nullptr) {
        q.replies.push_back(Impl::Failure(m, "", Reason::kChannelMissing));
        continue;
      }
      const std::string channel(*channel_field);
      // Handlers read fields with checks; this is the last line against a throwing accessor.
      try {
        if (channel == "/meta/handshake") {
          I.MetaHandshake(m, q);
          continue;
        }
        const Result<Principal> who = I.Presented(m, q);
        bool expired = false;
        auto s = I.Find(m, who, ctx, q.now, expired);
        if (!s) {
          q.replies.push_back(expired ? I.Expired(m, channel) : I.UnknownSession(m, channel));
          continue;
        }
        q.touched = s;
        result.client_ids.push_back(s->id);
        if (channel == "/meta/connect") {
          I.MetaConnect(m, *s, s, q);
          continue;
        }
        if (s->expires != 0) s->expires = std::max(s->expires, q.now + I.options.max_interval_ms);
        // (a later expiry: the session's entry in the sweeper's agenda comes first and re-arms)
        if (channel == "/meta/subscribe" || channel == "/meta/unsubscribe") {
          I.MetaSubscribe(m, channel, *s, q);
        } else if (channel == "/meta/disconnect") {
          I.MetaDisconnect(m, *s, q);
        } else {
          I.Publish(m, channel, q);
        }
      } catch (const std::exception&) {
        ++I.stats.invalid_messages;
        q.replies.push_back(Impl::Failure(m, channel, Reason::kMessageInvalid));
      }
    }
    // Order: handshake replies, queued events of the session, then the other replies.
    std::vector<Piece> ordered;
    for (auto& r : q.handshake_replies) ordered.emplace_back(std::move(r));
    for (auto& e : q.out) ordered.push_back(std::move(e));
    if (q.touched && !q.hold && !q.touched->held && ctx.transport != Transport::kWebSocket) {
      I.Drain(*q.touched, ordered, nullptr);
    }
    for (auto& r : q.replies) ordered.emplace_back(std::move(r));
    if (q.hold) {
      q.hold->reply = std::move(reply);
      q.hold->id = ++I.next_held_id;
      result.held_client_id = q.hold_session->id;
      result.held_id = q.hold->id;
      q.hold_session->held = std::move(*q.hold);
      I.Due(*q.hold_session, q.hold_session->held->deadline);
      ++I.held_by_browser[q.hold_session->browser];
      ++I.stats.held_connects;
    } else {
      if (ordered.empty()) {
        ordered.emplace_back(
            json::object{{"successful", false}, {"error", ErrorText(Reason::kEmpty)}});
      }
      I.ReplyLater(std::move(reply), std::move(ordered));
    }
  }
  I.RunAfter();
  return result;
}

void Server::Attach(const std::string& client_id, Push push) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->sessions.find(client_id);
  if (it != impl_->sessions.end()) it->second->push = std::move(push);
}

void Server::Detach(const std::string& client_id, bool lost) {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    auto it = I.sessions.find(client_id);
    if (it == I.sessions.end()) return;
    auto& s = *it->second;
    s.push = nullptr;
    // A connect held on this socket has nobody to answer. One held by a long-poll of the same
    // session (a client that fell back from WebSocket) is still waited for: dropping it dropped
    // that HTTP request without an answer (issue 18, found by the bayeux fuzz target).
    if (s.held && s.held->transport == Transport::kWebSocket) I.Unhold(s);
    // Arm expiry: a session whose socket closed must not live forever.
    s.expires = I.clock.NowMs() + I.options.max_interval_ms;
    I.Due(s, s.expires);
    if (lost) s.restored = true;
  }
}

void Server::DeliverToSession(const std::string& client_id, MessagePtr message) {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    auto it = I.sessions.find(client_id);
    if (it == I.sessions.end()) {
      ++I.stats.dropped_no_session;
    } else {
      I.Enqueue(*it->second, message);
    }
  }
  I.RunAfter();
}

void Server::Deliver(const std::vector<Delivery>& deliveries) {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    for (const Delivery& d : deliveries) {
      if (!d.principal) {
        auto it = I.sessions.find(d.to);
        if (it == I.sessions.end()) {
          ++I.stats.dropped_no_session;
        } else {
          I.Enqueue(*it->second, d.message);
        }
        continue;
      }
      auto p = I.by_principal.find(d.to);
      if (p == I.by_principal.end()) {
        ++I.stats.dropped_no_session;
        continue;
      }
      for (const auto& id : p->second) {
        auto it = I.sessions.find(id);
        if (it != I.sessions.end()) I.Enqueue(*it->second, d.message);
      }
    }
  }
  I.RunAfter();
}

void Server::DeliverToPrincipal(const std::string& principal_key, MessagePtr message) {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    auto p = I.by_principal.find(principal_key);
    if (p == I.by_principal.end()) {
      ++I.stats.dropped_no_session;
    } else {
      for (const auto& id : p->second) {
        auto it = I.sessions.find(id);
        if (it != I.sessions.end()) I.Enqueue(*it->second, message);
      }
    }
  }
  I.RunAfter();
}

void Server::DeliverToTenant(const std::string& tenant, MessagePtr message) {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    for (auto& [id, s] : I.sessions) {
      if (s->principal.tenant == tenant) I.Enqueue(*s, message);
    }
  }
  I.RunAfter();
}

void Server::DeliverToSession(const std::string& client_id, const std::string& channel,
                              const json::value& data) {
  DeliverToSession(client_id, MakeMessage(channel, json::serialize(data)));
}

void Server::DeliverToPrincipal(const std::string& principal_key, const std::string& channel,
                                const json::value& data) {
  DeliverToPrincipal(principal_key, MakeMessage(channel, json::serialize(data)));
}

void Server::DeliverToTenant(const std::string& tenant, const std::string& channel,
                             const json::value& data) {
  DeliverToTenant(tenant, MakeMessage(channel, json::serialize(data)));
}

void Server::Abandon(const std::string& client_id, std::uint64_t held_id) {
  auto& I = *impl_;
  std::optional<Reply> dropped;  // destroyed outside the lock
  {
    std::lock_guard lock(I.mu);
    auto it = I.sessions.find(client_id);
    if (it == I.sessions.end()) return;
    Impl::Session& s = *it->second;
    if (!s.held || s.held->id != held_id) return;  // answered, or a newer connect holds
    dropped = std::move(s.held->reply);
    I.Unhold(s);
    ++I.stats.held_abandoned;
    s.expires = I.clock.NowMs() + I.options.max_interval_ms;
    I.Due(s, s.expires);
  }
}

void Server::Sweep() {
  auto& I = *impl_;
  {
    std::lock_guard lock(I.mu);
    const TimeMs now = I.clock.NowMs();
    std::vector<std::string> expired;
    std::vector<std::string> credentials_expired;
    // Only the sessions with a deadline due (Impl::due), each looked at once per sweep.
    while (!I.due.empty() && I.due.top().at <= now) {
      // Moved out (top() is const only so that the order cannot be broken; it is popped next).
      const Impl::DueEntry entry = std::move(const_cast<Impl::DueEntry&>(I.due.top()));
      I.due.pop();
      auto it = I.sessions.find(entry.id);
      if (it == I.sessions.end()) continue;  // ended since
      Impl::Session& s = *it->second;
      if (s.due_at != entry.at) continue;  // superseded by an earlier entry, which came first
      s.due_at = 0;
      if (s.credentials_expire != 0 && now >= s.credentials_expire) {
        credentials_expired.push_back(entry.id);
        continue;
      }
      if (s.held && now >= s.held->deadline) I.Wake(s);
      if (!s.held && s.expires != 0 && now >= s.expires) {
        expired.push_back(entry.id);
        continue;
      }
      I.Rearm(s, now);
    }
    for (const auto& id : expired) {
      ++I.stats.sessions_expired;
      I.Remove(id, true);
    }
    for (const auto& id : credentials_expired) {
      auto it = I.sessions.find(id);
      if (it != I.sessions.end()) I.EndExpired(*it->second);
    }
  }
  I.RunAfter();
}

void Server::Impl::Due(Session& s, TimeMs at) {
  if (at == 0 || (s.due_at != 0 && s.due_at <= at)) return;  // it is looked at by then already
  s.due_at = at;
  due.push(DueEntry{at, s.id});
}

void Server::Impl::Rearm(Session& s, TimeMs now) {
  TimeMs next = 0;
  auto earliest = [&next](TimeMs t) {
    if (t != 0 && (next == 0 || t < next)) next = t;
  };
  earliest(s.credentials_expire);
  earliest(s.held ? s.held->deadline : s.expires);
  // Never again in the same sweep (a deadline already past is looked at by the next one).
  if (next != 0) Due(s, std::max(next, now + 1));
}

std::shared_ptr<Server::Impl::Session> Server::Impl::RestoreLocked(const Identity& identity) {
  auto s = std::make_shared<Session>();
  s->id = identity.client_id;
  s->principal = identity.principal;
  s->key = PrincipalKey(identity.principal);
  s->browser = identity.browser;
  for (const auto& c : identity.subscriptions) Subscribe(*s, c);
  s->connected = true;
  s->restored = true;
  s->expires = clock.NowMs() + options.timeout_ms + options.max_interval_ms;
  Due(*s, s->expires);
  sessions[identity.client_id] = s;
  by_principal[s->key].insert(identity.client_id);
  return s;
}

void Server::Restore(const std::string& client_id, const Principal& principal,
                     const std::string& browser, const std::vector<std::string>& subscriptions) {
  auto& I = *impl_;
  std::lock_guard lock(I.mu);
  (void)I.RestoreLocked(Identity{client_id, principal, browser, subscriptions});
}

void Server::SetIdentityLookup(std::function<std::optional<Identity>(const std::string&)> lookup) {
  impl_->lookup = std::move(lookup);
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

QueuedStats Server::Queued() const {
  std::lock_guard lock(impl_->mu);
  QueuedStats q;
  auto count = [&q](const std::vector<MessagePtr>& messages) {
    q.messages += messages.size();
    for (const auto& m : messages) {
      q.bytes += m->channel.size() + m->text.size() + m->head.size() + m->tail.size();
      for (const auto& part : m->parts) q.bytes += part.key.size() + part.text.size();
    }
  };
  for (const auto& [id, session] : impl_->sessions) {
    count(session->queue);
    count(session->parked);
    for (const auto& [batch, messages] : session->unacked) count(messages);
  }
  return q;
}

}  // namespace tally::bayeux
