// Inside bayeux::Server (internal header): the session state, the per-request state the meta
// handlers share, and Server::Impl. Files: channel.cc (names, wildcards, the subscriber index),
// session.cc (queues, held connects, coalescing), meta_handlers.cc (one handler per /meta
// channel and publish), server.cc (the public methods and the Handle() loop).
// Threading: everything here runs under Impl::mu, except what is queued in Impl::after, which
// runs once the lock is released.
#pragma once

#include <boost/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "bayeux/errors.h"
#include "bayeux/server.h"
#include "common/errc.h"
#include "common/string_hash.h"

namespace tally::bayeux {

namespace json = boost::json;

// The messages of one reply, in order: protocol replies (serialized when the reply is assembled,
// outside the lock) and queued messages (already text).
using Piece = std::variant<json::object, MessagePtr>;

std::string Assemble(const std::vector<Piece>& pieces);

const json::string* StringField(const json::object& m, std::string_view key);
// A number from the wire as an integer: saturated to the int64 range, truncated; nullopt for a
// non-number or a non-finite one.
std::optional<std::int64_t> WireInteger(const json::value& v);

struct Server::Impl {
  struct Held {
    Reply reply;
    json::object connect_reply;
    TimeMs deadline = 0;
    std::uint64_t id = 0;
    // The transport the held connect came on: a closing WebSocket drops only its own hold, never
    // a long-poll's (whose HTTP request must still be answered).
    Transport transport = Transport::kLongPolling;
  };
  struct Session {
    std::string id;
    Principal principal;
    std::string key;  // PrincipalKey
    std::string browser;
    Transport transport = Transport::kLongPolling;
    std::set<std::string> subscriptions;
    std::vector<MessagePtr> queue;  // a vector: nothing allocated while empty
    // Messages delivered to the session for channels it has not subscribed to (yet): kept, in
    // order, until a subscription to their channel arrives (a client may create a REST
    // subscription before its /meta/subscribe is answered); counted as undelivered if the
    // session ends first.
    std::vector<MessagePtr> parked;
    bool connected = false;
    // Restored after a restart, or cut off with pushes lost: the next connect refreshes its
    // values (the resumed callback).
    bool restored = false;
    TimeMs expires = 0;  // 0: never (a connect is held)
    std::optional<Held> held;
    Push push;  // WebSocket without ack: events go out at once
    bool ack = false;
    std::int64_t batch = 0;
    std::map<std::int64_t, std::vector<MessagePtr>> unacked;
    // The newest expiry of the credentials presented for this session (0: unknown): past it,
    // the session ends.
    TimeMs credentials_expire = 0;
    // When the sweeper looks at this session next (its earliest entry in Impl::due; 0: none).
    TimeMs due_at = 0;
  };

  // What one Handle() call builds up while its messages are handled in order.
  struct Request {
    Request(const Context& c, size_t n, TimeMs t, HandleResult& r)
        : ctx(c), messages(n), now(t), result(r), principal(c.principal) {}
    const Context& ctx;
    size_t messages = 0;  // in the request
    TimeMs now = 0;
    HandleResult& result;
    // The transport's principal: the request's, or once a message authenticated, that one.
    Result<Principal> principal;
    int handshakes = 0;
    std::vector<json::object> handshake_replies;
    std::vector<json::object> replies;
    std::vector<Piece> out;  // queued events drained by a connect
    std::optional<Held> hold;
    std::shared_ptr<Session> hold_session;
    std::shared_ptr<Session> touched;
  };

  Impl(const Options& o, const Clock& c) : options(o), clock(c) {}

  const Options& options;
  const Clock& clock;
  // Looked up by std::string or std::string_view alike (no key copied for a lookup).
  template <typename V>
  using ByText = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  mutable std::mutex mu;
  ByText<std::shared_ptr<Session>> sessions;
  ByText<std::set<std::string>> by_principal;            // key → client ids
  std::unordered_map<std::string, int> held_by_browser;  // browser → held connects
  // Channel pattern → sessions subscribed to it (publish fan-out without scanning sessions).
  std::unordered_map<std::string, std::set<Session*>> subscribers;
  TokenVerifier verify;
  std::function<void(const SessionInfo&)> closed;
  std::function<void(const SessionInfo&)> resumed;
  std::function<void(const Identity&, bool)> identity_changed;
  std::function<std::optional<Identity>(const std::string&)> lookup;
  ServerStats stats;
  std::uint64_t next_held_id = 0;

  // The sweeper's agenda: sessions by the time one of their deadlines (held connect, expiry,
  // credentials) falls due, so that a sweep touches only those, never every session under the
  // lock (16 ms per sweep at 9 000 sessions when it scanned them all). Kept lazily: an entry is
  // pushed only when a deadline comes earlier than the session's entry; one that fires re-arms
  // from the session's deadlines then; entries of ended sessions, or superseded ones, are skipped.
  struct DueEntry {
    TimeMs at = 0;
    std::string id;
  };
  struct LaterFirst {
    bool operator()(const DueEntry& a, const DueEntry& b) const { return a.at > b.at; }
  };
  std::priority_queue<DueEntry, std::vector<DueEntry>, LaterFirst> due;

  // Work to run after the lock is released (callbacks into the application, replies).
  std::vector<std::function<void()>> after;

  // server.cc
  void ReplyLater(Reply reply, std::vector<Piece> pieces);
  json::object Advice(std::int64_t interval) const;
  static json::object Base(const json::object& m, std::string_view channel);
  static json::object Failure(const json::object& m, std::string_view channel, Reason reason);
  json::object UnknownSession(const json::object& m, std::string_view channel);
  Identity IdentityOf(const Session& s) const;
  void NotifyIdentity(const Session& s, bool removed);
  void Remove(const std::string& id, bool expired = false);
  std::shared_ptr<Session> RestoreLocked(const Identity& identity);
  void RunAfter();
  // The principal a message presents: its ext.authorization when it has one, else the
  // transport's (the request's token, or what the WebSocket connection authenticated as).
  Result<Principal> Presented(const json::object& m, Request& q);
  // The session of a non-handshake message when `who` may use it, else null: the caller answers
  // 402 (unknown: no such session, not this browser, not this principal, no credentials) or,
  // when `expired` is set, the session has ended because its credentials expired.
  std::shared_ptr<Session> Find(const json::object& m, const Result<Principal>& who,
                                const Context& ctx, TimeMs now, bool& expired);
  json::object Expired(const json::object& m, std::string_view channel);
  // Ends sessions whose credentials expired (Sweep).
  void EndExpired(Session& s);
  // Call after setting one of the session's deadlines to `at` (0: none): the sweeper looks at
  // the session by then.
  void Due(Session& s, TimeMs at);
  // After the sweeper looked at the session: its next look, at its earliest deadline.
  void Rearm(Session& s, TimeMs now);

  // session.cc
  void Drain(Session& s, std::vector<Piece>& out, json::object* connect_reply);
  void Unhold(Session& s);
  void Wake(Session& s);
  static size_t Coalesce(std::vector<MessagePtr>& queue);
  // `subscribed`: the caller found the session through the subscriber index (no check again).
  void Enqueue(Session& s, const MessagePtr& message, bool subscribed = false);
  // Moves the parked messages a new subscription `pattern` matches into the queue.
  void Unpark(Session& s, const std::string& pattern);
  [[nodiscard]] static bool Subscribed(const Session& s, std::string_view channel);

  // channel.cc
  void Subscribe(Session& s, const std::string& pattern);
  void Unsubscribe(Session& s, const std::string& pattern);
  std::vector<Session*> SubscribersOf(const std::string& channel);
  bool MaySubscribe(std::string_view channel) const;

  // meta_handlers.cc: one per meta channel, and publish.
  void MetaHandshake(const json::object& m, Request& q);
  void MetaConnect(const json::object& m, Session& s, const std::shared_ptr<Session>& ptr,
                   Request& q);
  void MetaSubscribe(const json::object& m, std::string_view channel, Session& s, Request& q);
  void MetaDisconnect(const json::object& m, Session& s, Request& q);
  void Publish(const json::object& m, const std::string& channel, Request& q);
};

}  // namespace tally::bayeux
