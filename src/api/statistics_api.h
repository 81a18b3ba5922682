// StatisticsApi: the REST endpoints of the Genesys Statistics API v3 (/statistics/v3) on the
// transport-neutral HTTP types: get-statistic-ex, statistic-values, subscriptions (create, peek,
// delete). Requests are authenticated and parsed on the I/O thread, then the engine work runs on
// the engine's thread through EngineAccess; the subscription registry lives on that thread.
// Contract and decisions: docs/api.md.
// Threading: Routes() handlers may run on any I/O thread; registry state is touched only inside
// EngineAccess::Post work.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/identity_store.h"
#include "bayeux/server.h"
#include "common/clock.h"
#include "common/errc.h"
#include "common/http.h"
#include "common/principal.h"
#include "stats/engine.h"

namespace tally::api {

// Runs work on the engine's thread.
class EngineAccess {
 public:
  virtual ~EngineAccess() = default;
  virtual void Post(std::function<void(stats::Engine&)> work) = 0;
  // Journals `command` (a JSON text the API understands, see StatisticsApi::Replay), then runs
  // `then` on the engine's thread in journal order; an error (and no engine) when it could not
  // be stored.
  virtual void Durable(std::string tenant, std::string command,
                       std::function<void(Result<stats::Engine*>)> then) = 0;
  // kUnavailable while recovering or while an event source of the tenant is down.
  [[nodiscard]] virtual Result<void> Available(const std::string& tenant) const {
    (void)tenant;
    return {};
  }
};

// Exact on open (server/exact_open.h; docs/statistics.md "Exact on open"): an ad-hoc statistic
// just opened gets the value it would have had, had it been open since its window began.
class ExactOpen {
 public:
  virtual ~ExactOpen() = default;
  // Engine thread: `handle` was opened with `definition` (without kAccumulateFromKey) on
  // `object`. `done` runs once on the engine thread: exact=true once the exact state is in the
  // statistic; false with a note when it will not be, or when the wait bound passed (the work
  // goes on; the value becomes exact later and is notified).
  virtual void Start(
      const std::string& tenant, std::uint64_t handle, const stats::KeyValues& definition,
      const stats::ObjectRef& object,
      std::function<void(stats::Engine&, bool exact, const std::string& note)> done) = 0;
};

// The definition key that chooses Stat Server's own behaviour: "open" (accumulate from the
// open) instead of "window" (the default: exact from the window's start).
inline constexpr const char* kAccumulateFromKey = "accumulateFrom";

using Authenticator = std::function<Result<Principal>(const HttpRequest&)>;

struct Limits {
  std::uint32_t statistics_per_request = 500;
  std::uint32_t statistics_per_subscription = 1000;
  std::uint32_t subscriptions_per_principal = 100;
  std::uint32_t requests_per_second = 200;
};

struct Route {
  HttpMethod method;
  std::string pattern;
  HttpHandler handler;
};

class StatisticsApi final {
 public:
  // `notifications` (may be null) receives the updates of subscriptions; a subscription created
  // with a STATISTICS_SESSIONID cookie of a live CometD session of the same principal is bound
  // to that session (updates go there; it ends with the session), else to the principal.
  StatisticsApi(EngineAccess& engine, Authenticator authenticate, Limits limits, const Clock& clock,
                bayeux::Server* notifications = nullptr);
  ~StatisticsApi();

  [[nodiscard]] std::vector<Route> Routes();
  // Before requests: where ad-hoc statistics are made exact on open (null: Stat Server's
  // semantics, accumulating from the open).
  void SetExactOpen(ExactOpen* exact);
  // A live reload: the limits of requests from now on (any thread).
  void SetLimits(const Limits& limits);

  // Re-executes a journaled command on the engine during recovery (same effect as when it was
  // first accepted: same handles, same owner). Returns false for a command it cannot read.
  bool Replay(std::string_view command, stats::Engine& engine);
  // Snapshots (engine thread): the subscription registry (owners, ids, bound sessions, the
  // statistics with their engine handles) as bytes, and back; LoadState is all or nothing.
  [[nodiscard]] std::string SaveState() const;
  [[nodiscard]] bool LoadState(std::string_view data);
  // Drops every subscription of a tenant (its event source went down); engine thread.
  void DropTenant(stats::Engine& engine, const std::string& tenant);

  // Before serving: where notification messages are built and handed to CometD — an ordered
  // executor (a strand), so the engine thread only looks up destinations. Default: inline.
  void SetDeliveryExecutor(std::function<void(std::function<void()>)> post);
  // Engine thread: turns engine notifications into /statistics/v3/updates messages (values are
  // moved out of `notifications`).
  void Deliver(std::vector<stats::Notification>& notifications);
  // Engine thread: a tenant's service state changed; goes out behind every update delivered
  // before it (one ordered path, api/updates.h).
  void ServiceState(const std::string& tenant, bool available);
  // A CometD session ended: its bound subscriptions are closed (a journaled command).
  void SessionClosed(const bayeux::SessionInfo& session);
  // A session restored after a restart (or moved from another node) connected again: it gets
  // the current values once, and becomes this node's (a journaled command).
  void SessionResumed(const bayeux::SessionInfo& session);
  // A session started or changed its channels: its identity is journaled (session-open).
  void SessionOpened(const bayeux::Server::Identity& identity);
  // The durable session identities (replicated with the subscription registry).
  [[nodiscard]] IdentityStore& Identities();
  // Before serving: this node's name, recorded as the home of the sessions it holds.
  void SetNode(std::string node);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tally::api
