// Engine: the statistics engine of DESIGN.md §4. Objects per tenant (agents, places, DNs, groups,
// queues, routing points), actions and statuses derived from events, propagation to every object
// that sees them, catalog statistics maintained for every applicable object from the moment it
// exists, ad-hoc statistics opened on demand, and the notification policy (Immediate,
// Periodical, Reset, NoNotification) as an output list of (handle, value).
// Pure: no I/O (except the system time-zone database, read once), no JSON, no clock reads, no
// threads. Time comes with the calls, per tenant, and never goes back (older times are clamped).
// Threading: single-threaded; the server owns one engine on its engine thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"
#include "stats/event.h"
#include "stats/types.h"
#include "stats/value.h"

namespace tally::stats {

struct TenantSetup {
  std::string name;
  std::string time_zone;  // IANA name; empty means UTC
  struct Place {
    std::string id;
    std::vector<std::string> dns;  // "7001" or "7001@Switch"
    bool operator==(const Place&) const = default;
  };
  struct Group {
    ObjectType type = ObjectType::kGroupAgents;  // GroupAgents, GroupPlaces or GroupQueues
    std::string name;
    std::vector<std::string> members;
    bool operator==(const Group&) const = default;
  };
  std::vector<std::string> agents;
  std::vector<Place> places;
  std::vector<Group> groups;
  std::vector<std::string> queues;          // "8001" or "8001@Switch"
  std::vector<std::string> routing_points;  // likewise
  bool operator==(const TenantSetup&) const = default;
};

// A named (catalog) statistic definition, with its fields as given in the catalog file.
struct CatalogEntry {
  std::string name;
  KeyValues fields;
  bool operator==(const CatalogEntry&) const = default;
};

struct ObjectRef {
  ObjectType type = ObjectType::kAgent;
  std::string id;
};

struct Notification {
  std::uint64_t handle = 0;
  StatValue value;
};

struct EngineCounters {
  std::uint64_t events_applied = 0;
  std::uint64_t events_ignored =
      0;  // well-formed but meaningless here (e.g. release of an unknown call)
  std::uint64_t objects = 0;
  std::uint64_t catalog_statistics = 0;
  // Catalog statistics of groups read from their members' (no state of their own).
  std::uint64_t derived_statistics = 0;
  std::uint64_t open_statistics = 0;  // ad-hoc + subscribed handles
  std::uint64_t notifications = 0;
};

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and installs the catalog; call before adding tenants. Errors name the statistic.
  [[nodiscard]] Result<void> SetCatalog(const std::vector<CatalogEntry>& entries);
  [[nodiscard]] Result<void> AddTenant(const TenantSetup& setup, TimeMs now);
  // After Load(): adds what the configuration has and the restored tenant lacks (agents, places,
  // DNs, queues, routing points, groups), or the whole tenant. Returns notes on what it could not
  // apply to restored state (a changed time zone, new members of an existing group).
  [[nodiscard]] Result<std::vector<std::string>> MergeTenant(const TenantSetup& setup, TimeMs now);
  [[nodiscard]] bool HasTenant(std::string_view name) const;
  // A live reload (a journaled record, applied at the same point by recovery and every replica):
  // installs `catalog` if it differs — statistics kept by name and fields, changed and new ones
  // start now, subscribers of vanished ones are closed — then merges `setup` (MergeTenant: new
  // objects, new group members from now on). All or nothing for the catalog; notes say what
  // changed and what could not apply.
  [[nodiscard]] Result<std::vector<std::string>> Reconfigure(
      const std::vector<CatalogEntry>& catalog, const TenantSetup& setup, TimeMs now);

  // Snapshots: Save() is the whole state (objects, ongoing actions, statuses, every statistic's
  // accumulator, subscribers with their notification state, timers) as bytes. Load() replaces
  // the state with a snapshot, after SetCatalog(): catalog statistics are matched by name and
  // fields (a changed or new one starts accumulating at the snapshot's time; subscribers of a
  // vanished one are closed), handles are kept. All or nothing: on error the engine is
  // unchanged. Returns notes on what changed against the current catalog. `adopt_catalog`:
  // the catalog the snapshot was taken under replaces the current one instead (recovery).
  [[nodiscard]] std::string Save() const;
  [[nodiscard]] Result<std::vector<std::string>> Load(std::string_view data,
                                                      bool adopt_catalog = false);
  // The catalog in use.
  [[nodiscard]] const std::vector<CatalogEntry>& Catalog() const;

  // Applies one event at its time (clamped to the engine's time). Notifications due until then
  // and caused by the event are appended to `out`. Errors: kOutOfOrder (older than the last event
  // of its DN), kInvalidArgument (missing field for the type, or `time` outside
  // [kMinEventTime, kMaxEventTime]). Nothing is applied on error.
  [[nodiscard]] Result<void> Apply(const Event& event, std::vector<Notification>& out);
  // Moves time forward: window resets and sliding steps, periodic notifications. Refuses
  // (kInvalidArgument) a time outside [kMinEventTime, kMaxEventTime]; AddTenant and MergeTenant
  // likewise. The work of a move is bounded whatever the time it skips.
  // Every tenant moves (the wall clock); Apply() moves only the event's tenant.
  [[nodiscard]] Result<void> AdvanceTo(TimeMs now, std::vector<Notification>& out);
  // Each tenant has its own time: the newest of its events and of AdvanceTo() (issue 18: with the
  // event clock, one tenant's events never move another's statistics). Peek, Get and the Open*
  // calls compute at the tenant's time. An unknown tenant answers LatestNow(), where a tenant
  // created now would start.
  [[nodiscard]] TimeMs Now(std::string_view tenant) const;
  // The latest time of any tenant (for logs and recovery); kMinEventTime with no tenant.
  [[nodiscard]] TimeMs LatestNow() const;

  // Current value of a catalog statistic for an object (no subscription).
  [[nodiscard]] Result<StatValue> Peek(std::string_view tenant, std::string_view name,
                                       const ObjectRef& object);

  struct Opened {
    std::uint64_t handle = 0;
    StatValue value;
  };
  // Subscribes to a catalog statistic (shared accumulator, own notification state).
  [[nodiscard]] Result<Opened> OpenCatalog(std::string_view tenant, std::string_view name,
                                           const ObjectRef& object);
  // Opens an ad-hoc statistic; it accumulates from now on (Stat Server semantics).
  [[nodiscard]] Result<Opened> OpenDefinition(std::string_view tenant, const KeyValues& definition,
                                              const ObjectRef& object);
  void Close(std::uint64_t handle);
  [[nodiscard]] Result<StatValue> Get(std::uint64_t handle);
  // Exact on open (server/exact_open.h): the accumulator of an ad-hoc statistic (with its Reset
  // memo) as bytes, and back into an open ad-hoc statistic of the same definition — the state
  // computed by another engine from the same log. Load is all or nothing (kInvalidArgument when
  // the bytes do not fit the definition); the new value goes to Immediate subscribers in `out`.
  // kNotFound for an unknown handle, kInvalidArgument for a catalog statistic.
  [[nodiscard]] Result<std::string> SaveStatistic(std::uint64_t handle);
  [[nodiscard]] Result<void> LoadStatistic(std::uint64_t handle, std::string_view bytes,
                                           std::vector<Notification>& out);

  // Called when an object comes into being (configured, or first seen in an event), after its
  // catalog statistics start and before the event that made it has any effect: the hook may
  // open statistics on it (a replay opening ad-hoc statistics on objects the log creates later,
  // exact_open.h). Not kept across Load().
  void SetObjectCreatedHook(std::function<void()> hook);

  [[nodiscard]] bool HasCatalogStatistic(std::string_view name) const;
  [[nodiscard]] EngineCounters Counters() const;
  // Approximate bytes held by statistic accumulators (memory benchmark).
  [[nodiscard]] size_t ApproxStatisticBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::stats
