// ClusterLog: the write path's side of the JetStream journal (DESIGN.md §7, docs/cluster.md).
// Appends go out per tenant in order — one message of a tenant in flight at a time, on a small
// pool of publisher threads, so a tenant's records keep the order they were submitted in while
// tenants proceed in parallel. An ordered append (ingest events) carries the sequence of the
// tenant's events subject this node last saw: if another node appended meanwhile the publish
// fails, and that batch and every batch of the tenant queued behind it answer a conflict — the
// caller waits (AfterCatchUp) until its view of the tenant includes what the other node wrote,
// checks the order again and resubmits. Snapshot and retention work runs on the same pool.
// Threading: every method from any thread; callbacks run on a publisher thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "server/snapshotter.h"
#include "storage/jetstream.h"

namespace tally::server {

class ClusterLog final {
 public:
  ClusterLog(storage::JetStream& js, int publishers);
  ~ClusterLog();
  ClusterLog(const ClusterLog&) = delete;
  ClusterLog& operator=(const ClusterLog&) = delete;

  void Start();
  void Stop();

  using Done = std::function<void(Result<storage::PublishAck>)>;
  // Queues a tenant's batch; `done` runs after the acknowledgment (or the failure). Errors:
  // kAlreadyExists for a conflict (ordered appends), kUnavailable when the stream cannot take it.
  // An ordered append names `basis`: the tenant's newest events seq the caller's order check had
  // seen. Should a batch of another node be followed after it before this one goes out, the
  // check did not see it: this batch answers a conflict without being published.
  void Append(storage::StreamBatch batch, bool ordered, Done done, std::uint64_t basis = 0);
  // Background work (snapshots, retention) on the publisher pool.
  void Run(std::function<void()> work);
  // Runs `work` on the publisher pool once `ms` have passed (a bound on a wait for the stream).
  void After(std::int64_t ms, std::function<void()> work);

  // The consumer delivered (and the caller's order gate observed) the tenant's events up to
  // `seq`; `foreign`: published by another node.
  void Followed(const std::string& tenant, std::uint64_t seq, bool foreign);
  // Runs `then(true)` once everything the tenant's events subject held at the time of this call
  // has been Followed (after a conflict: the other node's batch is in this node's view), or
  // `then(false)` when that has not happened within `bound_ms` (the stream lost its quorum: it
  // still answers reads but delivers nothing).
  void AfterCatchUp(const std::string& tenant, std::int64_t bound_ms,
                    std::function<void(bool caught_up)> then);

  [[nodiscard]] storage::JetStream& Stream() { return js_; }

  struct Stats {
    std::uint64_t published = 0;
    std::uint64_t conflicts = 0;
    std::uint64_t failures = 0;
  };
  [[nodiscard]] Stats stats() const;

 private:
  struct Item {
    storage::StreamBatch batch;
    bool ordered = false;
    Done done;
    std::uint64_t basis = 0;
  };
  struct Tenant {
    std::deque<Item> queue;
    bool busy = false;               // a publisher is on its head
    std::uint64_t events_seen = 0;   // the newest events seq acknowledged or followed
    std::uint64_t followed = 0;      // the newest events seq the consumer delivered
    std::uint64_t last_foreign = 0;  // the newest followed events seq another node published
    struct Waiter {
      std::uint64_t id = 0;
      std::uint64_t target = 0;
      std::function<void(bool)> then;
    };
    std::vector<Waiter> waiters;
  };
  void Work();

  storage::JetStream& js_;
  const int publishers_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Tenant> tenants_;
  std::deque<std::string> ready_;             // tenants with a head to publish, not busy
  std::deque<std::function<void()>> chores_;  // background work
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers_;
  std::uint64_t next_waiter_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  Stats stats_;
};

// The snapshots of a group of nodes (the same tenants) in the stream's bucket, readable by every
// node, so an empty node starts from the newest one plus the stream after it. After each store,
// retention purges the stream: a tenant's records older than `retention_ms` go, but never one a
// kept snapshot of any group still needs (hourly marks in the bucket say which sequence a tenant
// had reached at what time).
class ClusterSnapshots final : public SnapshotStore {
 public:
  ClusterSnapshots(ClusterLog& log, std::string group, std::string node, int keep,
                   std::int64_t retention_ms, const Clock& clock);
  void Store(std::shared_ptr<const SnapshotParts> parts,
             std::function<void(Result<void>)> done) override;
  [[nodiscard]] Result<std::vector<Listed>> List() override;
  [[nodiscard]] Result<std::string> Read(const Listed& snapshot) override;
  [[nodiscard]] std::uint64_t Purged() const { return purged_.load(); }

 private:
  void Retain(const SnapshotParts& parts);

  ClusterLog& log_;
  std::string group_;
  std::string node_;
  int keep_;
  std::int64_t retention_ms_;
  const Clock& clock_;
  std::atomic<std::uint64_t> purged_{0};
};

// The bucket key where retention notes the last stream sequence it removed of `tenant` (history
// reads it: a tenant whose first records are gone has no complete history).
[[nodiscard]] std::string PurgedKey(const std::string& tenant);

// The name of the snapshot group of nodes carrying `tenants` (any order).
[[nodiscard]] std::string SnapshotGroup(std::vector<std::string> tenants);

}  // namespace tally::server
