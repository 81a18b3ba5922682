// Pipeline: the write path of DESIGN.md §1. Ingested batches and API commands are ordered (a
// per-DN time gate refuses an event older than the last accepted one of its DN), stamped with the
// server time, journaled by the writer thread (group commit), acknowledged after the commit, and
// applied by the engine thread in sequence order. Recover() replays the journal into the engine
// before the doors open, so the state after a restart equals the state before it.
// Threading: Submit/Durable/Post from any thread; Recover() before the engine thread starts.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/ingest_api.h"
#include "api/statistics_api.h"
#include "common/clock.h"
#include "server/engine_thread.h"
#include "storage/journal.h"

namespace tally::server {

enum class ClockMode { kWall, kEvent };

// When the engine thread takes a snapshot: after `interval_ms` or `every_records` applied records,
// whichever comes first (and only when something was applied since the last one).
struct SnapshotPolicy {
  std::int64_t interval_ms = 60'000;
  std::uint64_t every_records = 1'000'000;
};

struct SnapshotStats {
  std::uint64_t taken = 0;
  std::uint64_t stored = 0;
  std::uint64_t failed = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t last_bytes = 0;
  double last_pause_ms = 0;              // the engine thread was busy serializing for this long
  std::uint64_t recovered_from_seq = 0;  // the snapshot recovery started from (0: none)
};

struct PipelineStats {
  std::uint64_t batches = 0;
  std::uint64_t events = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t commands = 0;
  std::uint64_t refused_out_of_order = 0;
  std::uint64_t storage_failures = 0;
  std::uint64_t apply_failures = 0;  // journaled events the engine refused (a bug if not zero)
  std::uint64_t recovered_records = 0;
};

class Pipeline final : public api::EngineAccess, public api::EventSink {
 public:
  Pipeline(EngineThread& engine, storage::JournalWriter& writer, const Clock& clock,
           ClockMode mode);

  // api::EngineAccess
  void Post(std::function<void(stats::Engine&)> work) override;
  void Durable(std::string tenant, std::string command,
               std::function<void(Result<stats::Engine*>)> then) override;
  [[nodiscard]] Result<void> Available(const std::string& tenant) const override;

  // Engine thread: an EventLinkConnected/Disconnected was applied. Returns true when the
  // tenant's service state changed (all links up ↔ some link down).
  bool OnLink(const stats::Event& e);

  // Source heartbeat: a tenant that sent no event for `timeout` gets an EventLinkDisconnected
  // (switch "heartbeat") through the journal; its next batch brings EventLinkConnected first.
  // Call periodically (any thread); `tenants` are the configured ones.
  void CheckHeartbeats(const std::vector<std::string>& tenants, TimeMs timeout);
  [[nodiscard]] bool TenantUp(const std::string& tenant) const;

  // api::EventSink
  void Submit(std::vector<stats::Event> events, std::string key, Done done) override;

  // Before Recover(): where the subscription registry comes from for snapshots, and when to take
  // them.
  void SetSnapshots(api::StatisticsApi* api, SnapshotPolicy policy);
  // Engine thread: takes a snapshot when the policy says so (or `force`) and records were applied
  // since the last one. The engine pauses while the state is serialized; the bytes are stored by
  // the writer thread.
  void MaybeSnapshot(stats::Engine& engine, bool force);
  [[nodiscard]] SnapshotStats Snapshots() const;

  // Loads the newest usable snapshot (a refused one is reported and an older one, or the whole
  // journal, is used instead), merges the configured tenants into it, then replays every good
  // journal record after it (events applied, commands re-run through the API). A damaged tail is
  // reported and moved aside; recovery continues from the last good record. Progress is logged.
  // Refuses to start when the journal was pruned and no snapshot covers the pruned part.
  // Call before the engine thread and the writer start.
  [[nodiscard]] Result<void> Recover(storage::Journal& journal, api::StatisticsApi& api,
                                     const std::vector<stats::TenantSetup>& tenants);

  void SetReady(bool ready) { ready_.store(ready); }
  [[nodiscard]] bool Ready() const { return ready_.load(); }
  [[nodiscard]] PipelineStats Stats() const;

 private:
  static std::string DnKey(const stats::Event& e);
  TimeMs Stamp();
  std::string SaveState() const;
  bool LoadState(std::string_view data);
  // Engine thread: records up to `seq` are applied.
  void Applied(std::uint64_t seq, std::uint64_t records);
  std::uint64_t LoadNewestSnapshot(storage::Journal& journal, api::StatisticsApi& api,
                                   const std::vector<stats::TenantSetup>& tenants);

  EngineThread& engine_;
  storage::JournalWriter& writer_;
  const Clock& clock_;
  ClockMode mode_;
  std::atomic<bool> ready_{false};

  mutable std::mutex mu_;  // orders the gate check and the hand-off to the writer
  std::unordered_map<std::string, TimeMs> last_time_;       // per DN key: newest accepted event
  std::unordered_map<std::string, TimeMs> committed_time_;  // per DN key: newest stored event
  TimeMs last_stamp_ = 0;
  std::unordered_map<std::string, std::vector<std::string>> links_down_;  // tenant → switches
  std::unordered_map<std::string, TimeMs> last_event_at_;  // tenant → server time of last batch
  std::unordered_map<std::string, bool> heartbeat_down_;   // tenant → silent too long
  PipelineStats stats_;

  // Snapshots (engine thread, except the stats under snap_mu_).
  api::StatisticsApi* api_ = nullptr;
  SnapshotPolicy policy_;
  std::uint64_t applied_seq_ = 0;
  std::uint64_t snapshot_seq_ = 0;
  std::uint64_t since_snapshot_ = 0;
  TimeMs last_snapshot_at_ = 0;
  mutable std::mutex snap_mu_;
  SnapshotStats snap_stats_;
};

}  // namespace tally::server
