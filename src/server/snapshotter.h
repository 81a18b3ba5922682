// Snapshotter: when the engine thread takes a snapshot (after `interval_ms` or `every_records`
// applied records, whichever comes first, and only when something was applied since the last
// one), what it holds (the engine, the application state, the write path's ordering and link
// state: server/snapshot.h), and, at recovery, loading the newest usable one. The engine pauses
// while the state is serialized; encoding, checksum and storing happen on the journal writer.
// Threading: Applied/MaybeTake on the engine thread; Stats() from any thread; LoadNewest before
// the engine thread starts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "server/application_state.h"
#include "server/snapshot.h"
#include "stats/engine.h"
#include "storage/journal.h"

namespace tally::server {

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

// The write path's own section of a snapshot (ordering gate, link state, stamps), and the log
// positions the engine state covers.
struct PipelineSection {
  std::function<std::string()> save;
  std::function<bool(std::string_view)> load;
  // A JetStream journal: the last applied seq per tenant (engine thread); empty otherwise.
  std::function<std::map<std::string, std::uint64_t>()> positions;
};

// Where snapshots are kept: the SQLite journal's table, or a JetStream bucket readable by every
// node of a group.
class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;
  struct Listed {
    std::string id;         // the store's name for it
    std::uint64_t seq = 0;  // SQLite: the journal seq it covers (0 in a cluster)
    TimeMs taken_at = 0;
  };
  // Encodes and stores off the engine thread; `done` on the store's thread.
  virtual void Store(std::shared_ptr<const SnapshotParts> parts,
                     std::function<void(Result<void>)> done) = 0;
  // Newest first.
  [[nodiscard]] virtual Result<std::vector<Listed>> List() = 0;
  [[nodiscard]] virtual Result<std::string> Read(const Listed& snapshot) = 0;
};

// The SQLite journal's snapshots table (stored by the writer thread, pruned by retention there).
class JournalSnapshots final : public SnapshotStore {
 public:
  JournalSnapshots(storage::Journal& journal, storage::JournalWriter& writer)
      : journal_(journal), writer_(writer) {}
  void Store(std::shared_ptr<const SnapshotParts> parts,
             std::function<void(Result<void>)> done) override;
  [[nodiscard]] Result<std::vector<Listed>> List() override;
  [[nodiscard]] Result<std::string> Read(const Listed& snapshot) override;

 private:
  storage::Journal& journal_;
  storage::JournalWriter& writer_;
};

class Snapshotter final {
 public:
  explicit Snapshotter(const Clock& clock) : clock_(clock) {}

  // Before recovery: what goes into snapshots, where they are kept, and when; `take` false
  // takes none (a journal that does not survive the process).
  void Configure(ApplicationState& app, PipelineSection pipeline, SnapshotStore& store,
                 SnapshotPolicy policy, bool take);

  // Engine thread: records up to `seq` are applied.
  void Applied(std::uint64_t seq, std::uint64_t records);
  // Engine thread: takes a snapshot when the policy says so (or `force`) and records were
  // applied since the last one.
  void MaybeTake(stats::Engine& engine, bool force);
  [[nodiscard]] SnapshotStats Stats() const;

  // Recovery: loads the newest usable snapshot into `engine` and `app` (a refused one is
  // reported and an older one, or none, is used instead). `by_records` (one node: the
  // configuration comes in journaled records): the snapshot keeps the catalog it was taken
  // under and its objects, and the records after it change them at their points; otherwise (a
  // cluster node) the configured tenants are merged into it. Returns what it covers: the journal
  // seq, and the positions per tenant in a cluster (0/empty: none), and whether one was loaded.
  struct Loaded {
    std::uint64_t seq = 0;
    std::map<std::string, std::uint64_t> positions;
    bool loaded = false;
  };
  [[nodiscard]] Loaded LoadNewest(stats::Engine& engine,
                                  const std::vector<stats::TenantSetup>& tenants,
                                  bool by_records = false);
  // Recovery is done: `from` was the snapshot's seq; records up to `applied` are in the engine.
  void Recovered(std::uint64_t from, std::uint64_t applied, std::uint64_t records);

 private:
  const Clock& clock_;
  ApplicationState* app_ = nullptr;
  SnapshotStore* store_ = nullptr;
  PipelineSection pipeline_;
  SnapshotPolicy policy_;
  bool take_ = false;
  // Engine thread.
  std::uint64_t applied_seq_ = 0;
  std::uint64_t snapshot_seq_ = 0;
  std::uint64_t since_snapshot_ = 0;
  TimeMs last_snapshot_at_ = 0;
  mutable std::mutex mu_;  // guards stats_
  SnapshotStats stats_;
};

}  // namespace tally::server
