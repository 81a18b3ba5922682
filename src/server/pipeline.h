// Pipeline: the write path of DESIGN.md §1. Ingested batches and API commands pass the ordering
// gate (order_gate.h), are stamped with the server time, made durable, acknowledged, and applied
// by the engine thread in log order; the tenants' link and heartbeat state is service_state.h,
// snapshots snapshotter.h. Two journals: the SQLite journal (its writer thread commits in groups;
// a batch is applied right after its commit; Recover() in recovery.cc replays it at start) and a
// JetStream stream shared by a cluster (pipeline_cluster.cc: a batch is acknowledged after the
// stream's quorum ack, and applied — on every node, this one included — only when it comes back
// from the stream; RecoverCluster() loads the group's newest snapshot and follows the stream
// from there). Either way the state after a restart equals the state before it.
// Threading: Submit/Durable/Post from any thread; Recover() before the engine thread starts.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/ingest_api.h"
#include "api/statistics_api.h"
#include "common/clock.h"
#include "server/application_state.h"
#include "server/cluster_log.h"
#include "server/engine_thread.h"
#include "server/order_gate.h"
#include "server/service_state.h"
#include "server/snapshotter.h"
#include "storage/journal.h"

namespace tally::server {

enum class ClockMode { kWall, kEvent };

struct PipelineStats {
  std::uint64_t batches = 0;
  std::uint64_t events = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t key_conflicts = 0;  // a stored Idempotency-Key sent with another body
  std::uint64_t commands = 0;
  std::uint64_t refused_out_of_order = 0;
  // A cluster's records skipped as they came back from the stream (another node's newer event of
  // a DN got in first): the same count on every replica of the tenants.
  std::uint64_t skipped_in_stream = 0;
  std::uint64_t storage_failures = 0;
  std::uint64_t apply_failures = 0;  // journaled events the engine refused (a bug if not zero)
  std::uint64_t recovered_records = 0;
  std::uint64_t quarantined_skipped = 0;  // quarantined records recovery did not apply again
};

// The state key under which a journal record the engine could not apply is listed (its value:
// why). Recovery skips such records: one bad record is never a reason not to start.
[[nodiscard]] std::string QuarantineKey(std::uint64_t seq);

// Sees what the engine applies, on the engine thread (exact-on-open follows the live engine
// through it: exact_open.h).
class ApplyObserver {
 public:
  virtual ~ApplyObserver() = default;
  // Is anything following? (Checked before every applied record: keep it cheap.)
  [[nodiscard]] virtual bool Watching() const = 0;
  // `events` are about to be applied, at the engine's current time of their tenants.
  virtual void Applying(stats::Engine& engine,
                        const std::shared_ptr<const std::vector<stats::Event>>& events) = 0;
  // A reload (a reconfigure record) of `tenant` was applied.
  virtual void Reconfigured(const std::string& tenant) = 0;
};

class Pipeline final : public api::EngineAccess, public api::EventSink {
 public:
  // `writer`: the SQLite journal's writer (null with a JetStream journal: UseCluster()).
  Pipeline(EngineThread& engine, storage::JournalWriter* writer, const Clock& clock,
           ClockMode mode);

  // api::EngineAccess
  void Post(std::function<void(stats::Engine&)> work) override;
  void Durable(std::string tenant, std::string command,
               std::function<void(Result<stats::Engine*>)> then) override;
  [[nodiscard]] Result<void> Available(const std::string& tenant) const override;
  // Durable without the readiness check: the configuration records journaled once recovery is
  // done, before ingest and the APIs open (nothing may come before them in the journal).
  void DurableBeforeReady(std::string tenant, std::string command,
                          std::function<void(Result<stats::Engine*>)> then);

  // api::EventSink
  void Submit(api::IngestBatch batch, Done done) override;

  // Engine thread: an EventLinkConnected/Disconnected was applied. Returns true when the
  // tenant's service state changed (all links up ↔ some link down).
  bool OnLink(const stats::Event& e) { return service_.OnLink(e); }
  [[nodiscard]] bool TenantUp(const std::string& tenant) const { return service_.TenantUp(tenant); }

  // Source heartbeat: a tenant that sent no event for `timeout` gets an EventLinkDisconnected
  // (switch "heartbeat") through the journal; its next batch brings EventLinkConnected first.
  // Call periodically (any thread); `tenants` are the configured ones.
  void CheckHeartbeats(const std::vector<std::string>& tenants, TimeMs timeout);

  // Before Recover(): the application state snapshots hold and commands replay into, where
  // snapshots are kept and when to take them (`take` false: never, for a journal that does not
  // outlive the process).
  void SetApplicationState(ApplicationState& app, SnapshotStore& store, SnapshotPolicy policy,
                           bool take);
  // Engine thread: a snapshot when the policy says so (or `force`). While the apply observer
  // watches (statistics being made exact on open, exact_open.h) it waits — such a statistic
  // would be saved with its value since the open, and nothing would make it exact after a
  // restart from that snapshot — for at most a minute; a forced one (at shutdown) is skipped
  // then: recovery replays the opens from the journal and makes them exact again.
  void MaybeSnapshot(stats::Engine& engine, bool force);
  [[nodiscard]] SnapshotStats Snapshots() const { return snapshots_.Stats(); }

  // Loads the newest usable snapshot (a refused one is reported and an older one, or the whole
  // journal, is used instead), merges the configured tenants into it, then replays every good
  // journal record after it (events applied, commands re-run through the application state). A
  // damaged tail is reported and moved aside; recovery continues from the last good record.
  // Progress is logged. Refuses to start when the journal was pruned and no snapshot covers the
  // pruned part. Call before the engine thread and the writer start.
  [[nodiscard]] Result<void> Recover(storage::Journal& journal,
                                     const std::vector<stats::TenantSetup>& tenants);

  // A JetStream journal (a cluster): before SetApplicationState and RecoverCluster.
  struct ClusterSetup {
    ClusterLog* log = nullptr;
    std::string node;                  // this node's name; its records carry it
    std::vector<std::string> tenants;  // the tenants this node carries
    // With the wall clock, the engine's time trails the wall clock by this much, so a record
    // that reaches this node within it is applied exactly at its stamp, as on every replica.
    std::int64_t apply_delay_ms = 0;
    int max_conflict_retries = 50;
    // How long a request waits for the stream to deliver what it needs (its own record, or what
    // another node appended) before it answers 503: without a quorum the stream still answers
    // reads but delivers nothing, and a client must not wait for ever.
    std::int64_t wait_bound_ms = 10'000;
  };
  void UseCluster(ClusterSetup setup);
  [[nodiscard]] bool Clustered() const { return cluster_.log != nullptr; }
  // Cluster: the newest stream sequence this node has applied (0 before the first): nodes of a
  // group that are caught up show the same figure.
  [[nodiscard]] std::uint64_t StreamApplied() const;
  // Loads the group's newest usable snapshot, starts the engine thread, follows every carried
  // tenant from the snapshot's positions and returns once everything the stream held at the
  // start is applied (progress is logged), or with an error; `stopping` ends the wait early.
  [[nodiscard]] Result<void> RecoverCluster(const std::vector<stats::TenantSetup>& tenants,
                                            const std::function<bool()>& stopping);

  // Before Recover()/RecoverCluster(): receives each progress line recovery logs (systemd's
  // STATUS=), on the recovering thread.
  void SetRecoveryProgress(std::function<void(const std::string&)> observer) {
    progress_ = std::move(observer);
  }

  // Before the engine thread starts: who sees what the engine applies (null: nobody).
  void SetApplyObserver(ApplyObserver* observer) { observer_ = observer; }
  // Engine thread (or the recovering thread): the position of the log the engine has applied
  // for `tenant` — the SQLite journal's seq (one sequence for every tenant), or the tenant's
  // stream seq in a cluster.
  [[nodiscard]] std::uint64_t AppliedPosition(const std::string& tenant) const;

  void SetReady(bool ready) { ready_.store(ready); }
  [[nodiscard]] bool Ready() const { return ready_.load(); }
  [[nodiscard]] PipelineStats Stats() const;
  // The write path's snapshot section as a snapshot would hold it (seed snapshots for fuzzing).
  [[nodiscard]] std::string SaveStateForTest() const { return SaveState(); }

 private:
  TimeMs Stamp();
  // Single node: the stamp of a batch about to be journaled; with the wall clock it holds the
  // engine's wall tick until ReleaseStamp(), and the engine applies the batch at it
  // (ApplyAtStamp(), engine thread, releases it), as recovery and the exact-on-open replay apply
  // it. ReleaseStamp(): a batch that will not be applied.
  TimeMs HeldStamp();
  void ApplyAtStamp(stats::Engine& engine, TimeMs stamp);
  void ReleaseStamp(TimeMs stamp);
  // Applies one journaled event; the reason when the engine refused it (or threw).
  std::optional<std::string> ApplyEvent(stats::Engine& engine, const stats::Event& e,
                                        std::vector<stats::Notification>& out);
  // Logs a recovery progress line and hands it to the progress observer.
  void Progress(const std::string& line);
  // A journaled record the engine cannot apply: logged, counted, listed for recovery to skip.
  void Quarantine(std::uint64_t seq, const std::string& reason);

  // pipeline_cluster.cc
  void SubmitCluster(api::IngestBatch batch, Done done, int attempt);
  void DurableCluster(std::string tenant, std::string command,
                      std::function<void(Result<stats::Engine*>)> then);
  // A consumer delivered a message of `tenant` (its delivery thread, in stream order).
  void OnDelivered(const std::string& tenant, storage::JetStream::Delivered&& d);
  // Engine thread: the tenant's records up to `seq` are applied.
  void Reached(const std::string& tenant, std::uint64_t seq);
  // Runs `then(true)` on the engine thread once the tenant's records up to `seq` are applied
  // here, or `then(false)` when they are not within the wait bound.
  void AfterApplied(const std::string& tenant, std::uint64_t seq,
                    std::function<void(bool applied)> then);
  // Engine thread: decides a delivered events record against the stored order level (the same on
  // every replica), applies it or skips it whole, and answers this node's client if it is its.
  void ApplyDelivered(stats::Engine& engine, const std::string& tenant, std::uint64_t seq,
                      const storage::StreamBatch& b, const std::vector<stats::Event>& batch);
  Result<api::IngestResult> Duplicate(const storage::BatchRange& stored,
                                      const std::string& body_hash);
  // The write path's snapshot section: stamp, ordering gate, links down.
  std::string SaveState() const;
  bool LoadState(std::string_view data);

  // The observer, when watching, gets `events` before they are applied.
  void Observe(stats::Engine& engine,
               const std::shared_ptr<const std::vector<stats::Event>>& events) {
    if (observer_ != nullptr && observer_->Watching()) observer_->Applying(engine, events);
  }

  EngineThread& engine_;
  storage::JournalWriter* writer_;
  ApplyObserver* observer_ = nullptr;
  std::uint64_t applied_seq_ = 0;  // engine thread: the SQLite journal's applied seq
  std::chrono::steady_clock::time_point held_since_{};  // engine thread: snapshot waiting since
  const Clock& clock_;
  ClockMode mode_;
  std::atomic<bool> ready_{false};
  ApplicationState* app_ = nullptr;
  std::function<void(const std::string&)> progress_;

  mutable std::mutex mu_;  // orders the gate check and the hand-off to the writer
  OrderGate gate_;
  TimeMs last_stamp_ = 0;
  PipelineStats stats_;
  ServiceState service_;
  Snapshotter snapshots_;

  // Cluster state.
  ClusterSetup cluster_;
  std::atomic<std::uint64_t> next_request_{0};
  // The continuation of this node's command `request`, taken out (null: answered already).
  std::function<void(Result<stats::Engine*>)> TakePending(std::uint64_t request);
  std::mutex pending_mu_;  // guards pending_
  std::unordered_map<std::uint64_t, std::function<void(Result<stats::Engine*>)>> pending_;
  std::map<std::string, std::uint64_t> positions_;  // engine thread: last seq applied per tenant
  std::map<std::string, std::uint64_t> gate_seen_;  // under mu_: newest events seq the gate saw
  // Ingest batches this node published, by request, waiting for their record to be decided.
  using Decided = std::function<void(std::uint64_t seq, const std::optional<OrderGate::Refusal>&)>;
  struct Awaiting {
    Decided decided;
    Decided late;                               // replaces `decided` once the answer expired
    std::function<void(std::uint64_t)> expire;  // the answer when it does not come back in time
  };
  std::unordered_map<std::uint64_t, Awaiting> awaiting_;  // under pending_mu_
  // Engine thread: continuations waiting for a tenant's position.
  struct AppliedWaiter {
    std::uint64_t id = 0;
    std::function<void(bool)> then;
  };
  std::map<std::string, std::multimap<std::uint64_t, AppliedWaiter>> applied_waiters_;
  std::uint64_t next_applied_waiter_ = 0;  // engine thread
  mutable std::mutex catch_mu_;            // guards reached_
  std::condition_variable catch_cv_;
  std::map<std::string, std::uint64_t> reached_;
  // Keys of recent batches of the carried tenants, as applied (under mu_): a refused retry
  // answers what its first attempt stored.
  struct StoredKey {
    std::uint64_t seq = 0;
    std::uint64_t count = 0;
    std::string body_hash;
    std::optional<OrderGate::Refusal> refused;  // a cluster record refused as it came back
  };
  std::unordered_map<std::string, StoredKey> recent_keys_;
  std::deque<std::pair<TimeMs, std::string>> key_order_;
};

}  // namespace tally::server
