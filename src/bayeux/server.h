// Bayeux (CometD) server protocol without sockets (DESIGN.md §2, spec/cometd.md): sessions with
// random clientIds, channels with trailing wildcards, the /meta handlers, advice, id echo,
// per-session bounded queues that coalesce statistics updates, the ack extension, held
// /meta/connect requests, the multiple-clients rule per browser, and a sweeper that expires
// sessions. Transports (long-polling, callback-polling, WebSocket) live in the API/net layers
// and hand each request's messages to Handle() with a Reply to call exactly once.
// Threading: every public method may be called from any thread (one mutex inside). Replies and
// pushes are called with the mutex held: they must only hand the text to an I/O thread.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <memory>
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
  size_t max_queue = 1000;      // queued messages per session before updates are coalesced
  bool bench_channels = false;  // clients may publish/subscribe on /bench/**
  // Channels clients may subscribe to (besides /bench/** when enabled).
  std::vector<std::string> channels = {"/statistics/v3/updates", "/statistics/v3/service"};
};

// What the transport knows about the request.
struct Context {
  Transport transport = Transport::kLongPolling;
  std::string browser;  // BAYEUX_BROWSER cookie ("" when absent)
  Result<Principal> principal = Error{Errc::kUnauthenticated, "no credentials"};
  bool secure = false;  // TLS: cookies get Secure
};

// Completes one request (or one WebSocket frame) with its reply messages: the text of a JSON
// array. Called outside the server's lock (so serialization and I/O never hold it up), except
// for WebSocket pushes, which keep their order by going out under it.
using Reply = std::function<void(std::string messages)>;

struct HandleResult {
  std::vector<std::string> set_cookies;  // Set-Cookie values for the HTTP response
  std::vector<std::string> client_ids;   // sessions this request touched (WebSocket bookkeeping)
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
  std::uint64_t unknown_session_replies = 0;
};

struct SessionInfo {
  std::string client_id;
  Principal principal;
};

// Verifies a token found in a handshake's ext ({"authorization":"Bearer …"}), for WebSocket.
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
  // extension is on); Detach() when the socket closes arms their expiry.
  void Attach(const std::string& client_id, Reply push);
  void Detach(const std::string& client_id);

  // Queues `data` on `channel` for one session (if it subscribed to the channel).
  void DeliverToSession(const std::string& client_id, const std::string& channel,
                        boost::json::value data);
  // ... for every session of a principal ("tenant\\subject") subscribed to the channel.
  void DeliverToPrincipal(const std::string& principal_key, const std::string& channel,
                          boost::json::value data);
  // ... for every session of a tenant subscribed to the channel.
  void DeliverToTenant(const std::string& tenant, const std::string& channel,
                       boost::json::value data);

  // Completes held connects whose time is up and expires idle sessions.
  void Sweep();

  // Restores a session identity (after a restart): the client may reconnect with it.
  void Restore(const std::string& client_id, const Principal& principal, const std::string& browser,
               const std::vector<std::string>& subscriptions);
  struct Identity {
    std::string client_id;
    Principal principal;
    std::string browser;
    std::vector<std::string> subscriptions;
  };
  // Called (under no lock) whenever the set of durable identities changes: a session handshook,
  // subscribed/unsubscribed, or ended. `removed` is true when it ended.
  void SetIdentityChanged(std::function<void(const Identity&, bool removed)> changed);

  [[nodiscard]] bool HasSession(const std::string& client_id) const;
  [[nodiscard]] bool SessionOwnedBy(const std::string& client_id,
                                    const std::string& principal_key) const;
  // Shutdown: answers every held connect now (clients reconnect after the restart).
  void ReleaseAll();
  [[nodiscard]] ServerStats Stats() const;
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
