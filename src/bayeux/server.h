// Bayeux (CometD) server protocol without sockets (DESIGN.md §2, spec/cometd.md): sessions with
// random clientIds bound to the principal that created them, channels with trailing wildcards,
// the /meta handlers, advice, id echo, per-session bounded queues that coalesce keyed messages,
// the ack extension, held /meta/connect requests, the multiple-clients rule per browser, and a
// sweeper that expires sessions. It knows no application: the role a handshake needs, the
// session cookie, the channels clients may subscribe to and what may be coalesced come in
// through Options and Message. Transports (long-polling, callback-polling, WebSocket) live in the
// API/net layers and hand each request's messages to Handle() with a Reply to call exactly once.
// Threading: every public method may be called from any thread (one mutex inside). WebSocket
// pushes are called with the mutex held: they must only hand the text to an I/O thread.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"
#include "common/principal.h"

namespace tally::bayeux {

enum class Transport { kLongPolling, kCallbackPolling, kWebSocket };

struct Options {
  std::int64_t timeout_ms = 30000;       // how long a connect is held
  std::int64_t interval_ms = 0;          // client pause between connects
  std::int64_t max_interval_ms = 10000;  // a session without a connect for this long expires
  std::int64_t multi_session_interval_ms = 2000;
  size_t max_queue = 1000;      // queued messages per session before keyed messages coalesce
  bool bench_channels = false;  // clients may publish/subscribe on /bench/**
  // Channels clients may subscribe to (besides /bench/** when enabled).
  std::vector<std::string> channels;
  // Policy of the application.
  std::string required_role;   // a handshake's principal must have it ("" = any principal)
  std::string session_cookie;  // set to the clientId on handshake ("" = none)
  std::string cookie_attributes = "Path=/; HttpOnly; SameSite=Lax";  // + "; Secure" over TLS
  size_t max_sessions_per_principal = 1000;  // further handshakes are denied
};

// A message for sessions, serialized once and shared by every session it goes to. A keyed
// message's data is `head` + its parts joined by ',' + `tail` (e.g. a JSON array of entries):
// when a session's queue overflows, its queued keyed messages with the same channel, head and
// tail merge into one that keeps the newest part of each key, in first-seen order.
struct Message {
  struct Part {
    std::string key;
    std::string text;
  };
  std::string channel;
  std::string text;  // the whole Bayeux message: {"channel":…,"data":…}
  bool keyed = false;
  std::string head;
  std::vector<Part> parts;
  std::string tail;
};
using MessagePtr = std::shared_ptr<const Message>;
// `data` is JSON text.
[[nodiscard]] MessagePtr MakeMessage(std::string_view channel, std::string_view data);
[[nodiscard]] MessagePtr MakeKeyedMessage(std::string_view channel, std::string head,
                                          std::vector<Message::Part> parts, std::string tail);

// What the transport knows about the request.
struct Context {
  Transport transport = Transport::kLongPolling;
  std::string browser;  // BAYEUX_BROWSER cookie ("" when absent)
  Result<Principal> principal = Error{Errc::kUnauthenticated, "no credentials"};
  bool secure = false;  // TLS: cookies get Secure
};

// Completes one request (or one WebSocket frame) with its reply messages: the text of a JSON
// array. Called outside the server's lock (so serialization and I/O never hold it up).
using Reply = std::function<void(std::string messages)>;
// A WebSocket push of one message, shared by every session it goes to (its `text` is one
// Bayeux message object, not an array: the transport frames it). Called with the lock held, so
// that pushes keep their order on the socket.
using Push = std::function<void(const MessagePtr& message)>;

// One message of a batch (Server::Deliver): to one session, or to every session of a principal.
struct Delivery {
  std::string_view to;     // a clientId, or with `principal` a principal key (a view: valid
                           // until Deliver() returns)
  bool principal = false;  // ("tenant\\subject")
  MessagePtr message;
};

struct HandleResult {
  std::vector<std::string> set_cookies;  // Set-Cookie values for the HTTP response
  std::vector<std::string> client_ids;   // sessions this request touched (WebSocket bookkeeping)
  // A principal that authenticated on this request (a handshake's, or a message's
  // ext.authorization): a WebSocket connection keeps it for its next messages.
  std::optional<Principal> authenticated;
  // A connect of this request is held (its reply comes later): the session and the hold's id,
  // for Abandon() when the client goes away meanwhile.
  std::string held_client_id;
  std::uint64_t held_id = 0;
};

struct ServerStats {
  std::uint64_t sessions = 0;
  std::uint64_t held_connects = 0;
  std::uint64_t handshakes = 0;
  std::uint64_t handshakes_denied = 0;
  std::uint64_t messages_delivered = 0;
  std::uint64_t messages_coalesced = 0;
  std::uint64_t messages_redelivered = 0;
  std::uint64_t sessions_expired = 0;
  std::uint64_t sessions_token_expired = 0;  // ended because their credentials expired
  std::uint64_t unknown_session_replies = 0;
  std::uint64_t dropped_no_session = 0;  // deliveries to a session that no longer exists
  // Messages for a channel the session never subscribed to: kept until it does, dropped when
  // the session ends first or past max_queue of them.
  std::uint64_t dropped_unsubscribed = 0;
  std::uint64_t invalid_messages = 0;  // messages refused as malformed (400::…)
  std::uint64_t held_abandoned = 0;    // held connects whose client went away
};

// Messages waiting in sessions (queued, parked for a channel not yet subscribed, unacknowledged)
// and the bytes of their texts (a keyed message's parts included): what slow and vanished
// clients cost. A text shared by several sessions counts once per session.
struct QueuedStats {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
};

struct SessionInfo {
  std::string client_id;
  Principal principal;
  bool expired = false;  // ended by the sweeper (no connect within maxInterval), not by the client
};

// Verifies a token found in a message's ext ({"authorization":"Bearer …"}): WebSocket clients
// cannot send headers.
using TokenVerifier = std::function<Result<Principal>(std::string_view bearer)>;

class Server {
 public:
  Server(Options options, const Clock& clock);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void SetTokenVerifier(TokenVerifier verify);
  // Called (outside the lock) when a session ends: disconnect or expiry.
  void SetSessionClosed(std::function<void(const SessionInfo&)> closed);
  // Called (outside the lock) on the first connect of a session restored after a restart.
  void SetSessionResumed(std::function<void(const SessionInfo&)> resumed);

  // Handles one request's messages; `reply` is called exactly once (now, or later for a held
  // connect). Malformed input gets Bayeux error replies, never an exception.
  HandleResult Handle(boost::json::array messages, const Context& context, Reply reply);

  // WebSocket: events for these sessions are pushed at once through `push` (unless the ack
  // extension is on); Detach() when the socket closes arms their expiry. `lost`: the socket was
  // cut with pushes it had not taken — the session's next connect refreshes every value it
  // follows, as a restored session's does (SetSessionResumed).
  void Attach(const std::string& client_id, Push push);
  void Detach(const std::string& client_id, bool lost = false);

  // Queues a message for one session. A message for a channel the session has not subscribed
  // to (yet) is kept until it does (a client may create a subscription bound to its session
  // before its /meta/subscribe is answered), never dropped silently; a session that no longer
  // exists is counted.
  void DeliverToSession(const std::string& client_id, MessagePtr message);
  // Many deliveries in one hold of the lock, in order (as DeliverToSession/DeliverToPrincipal
  // one after the other).
  void Deliver(const std::vector<Delivery>& deliveries);
  // ... for every session of a principal ("tenant\\subject").
  void DeliverToPrincipal(const std::string& principal_key, MessagePtr message);
  // ... for every session of a tenant.
  void DeliverToTenant(const std::string& tenant, MessagePtr message);
  // Conveniences: `data` is serialized into a (not keyed) message.
  void DeliverToSession(const std::string& client_id, const std::string& channel,
                        const boost::json::value& data);
  void DeliverToPrincipal(const std::string& principal_key, const std::string& channel,
                          const boost::json::value& data);
  void DeliverToTenant(const std::string& tenant, const std::string& channel,
                       const boost::json::value& data);

  // The client of a held connect went away (its connection closed): the hold is dropped without
  // a reply and the session's expiry armed, as for a closed WebSocket.
  void Abandon(const std::string& client_id, std::uint64_t held_id);

  // Completes held connects whose time is up and expires idle sessions.
  void Sweep();

  struct Identity {
    std::string client_id;
    Principal principal;
    std::string browser;
    std::vector<std::string> subscriptions;
  };
  // Where a clientId this server does not hold is looked up (a session from before a restart,
  // or from another node of a cluster): found, it is restored as with Restore() and the
  // request goes on. Called under the server's lock: it must not call back into the server.
  void SetIdentityLookup(std::function<std::optional<Identity>(const std::string&)> lookup);

  // Restores a session identity (after a restart): the client may reconnect with it.
  void Restore(const std::string& client_id, const Principal& principal, const std::string& browser,
               const std::vector<std::string>& subscriptions);
  // Called (under no lock) whenever the set of durable identities changes: a session handshook,
  // subscribed/unsubscribed, or ended. `removed` is true when it ended.
  void SetIdentityChanged(std::function<void(const Identity&, bool removed)> changed);

  [[nodiscard]] bool HasSession(const std::string& client_id) const;
  [[nodiscard]] bool SessionOwnedBy(const std::string& client_id,
                                    const std::string& principal_key) const;
  // Shutdown: answers every held connect now (clients reconnect after the restart).
  void ReleaseAll();
  [[nodiscard]] ServerStats Stats() const;
  // One pass over every waiting message, under the lock (Stats() does not walk the queues).
  [[nodiscard]] QueuedStats Queued() const;
  [[nodiscard]] const Options& options() const { return options_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Options options_;
};

// Trailing-wildcard match: "/a/*" matches one more segment, "/a/**" any depth (not "/a").
[[nodiscard]] bool ChannelMatches(std::string_view pattern, std::string_view channel);
// A valid channel name: "/seg/seg", segments of alphanumerics and -_!~()$@ (or * / **).
[[nodiscard]] bool ValidChannel(std::string_view channel);
// "tenant\\subject"
[[nodiscard]] std::string PrincipalKey(const Principal& p);

}  // namespace tally::bayeux
