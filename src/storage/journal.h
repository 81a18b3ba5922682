// Journal: the durable, ordered log of everything that changes the engine (DESIGN.md §1, §6):
// ingested events and API commands (subscription create/delete), one SQLite database in WAL
// mode. Records are bytes to this module; each carries a sequence number, a kind, a tenant, a
// stamp time and a CRC-32 over all of them, so a damaged record is found on replay.
// JournalWriter is the dedicated writer thread with group commit: every submission waiting while
// a commit runs shares the next transaction (one fsync), and is acknowledged only after it.
// Format: docs/on_disk_format.md.
// Threading: Journal is not thread-safe (one owner: recovery, then the writer thread).
// JournalWriter::Submit may be called from any thread; callbacks run on the writer thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"

struct sqlite3;

namespace tally::storage {

inline constexpr int kFormatVersion = 1;

enum class RecordKind : std::uint8_t { kEvent = 1, kCommand = 2 };

struct Record {
  std::uint64_t seq = 0;  // assigned by Append
  RecordKind kind = RecordKind::kEvent;
  std::string tenant;
  TimeMs time = 0;  // stamp time (when the record was accepted)
  std::string body;
};

enum class Durability { kFull, kNormal, kOff };  // SQLite synchronous=FULL|NORMAL|OFF

struct JournalOptions {
  std::string path;
  Durability durability = Durability::kFull;
  // A cap on the database size (0: none). Past it, commits fail like on a full disk: ingest
  // answers 503 and nothing of the failing batch is acknowledged.
  std::uint64_t max_bytes = 0;
};

// The outcome of an idempotent batch: the sequence range it was stored under.
struct BatchRange {
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t count = 0;
  bool duplicate = false;  // the key was already stored: nothing was appended
  std::string body_hash;   // of a duplicate: the fingerprint stored with the key ("" unknown)
};

struct ScanResult {
  std::uint64_t records = 0;
  std::uint64_t last_good_seq = 0;
  std::optional<std::uint64_t> damaged_seq;  // first record whose checksum did not match
  std::string damage;                        // what was wrong with it
};

// A stored engine snapshot (the bytes are opaque here; server/snapshot.h reads them).
struct SnapshotInfo {
  std::uint64_t seq = 0;  // the last journal record it covers
  TimeMs taken_at = 0;
  std::uint64_t bytes = 0;
};

struct PruneResult {
  std::uint64_t records = 0;         // journal records deleted
  std::uint64_t pruned_through = 0;  // every record up to this seq is gone
};

struct JournalStats {
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  TimeMs first_time = 0;
  TimeMs last_time = 0;
  std::uint64_t events = 0;
  std::uint64_t commands = 0;
  std::uint64_t batches = 0;
  std::uint64_t damaged = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t pruned_through = 0;  // records up to this seq were removed by retention
  std::uint64_t snapshots = 0;
  std::uint64_t newest_snapshot_seq = 0;
  std::uint64_t snapshot_bytes = 0;
};

// CRC-32 (IEEE) of a record's fields, as stored in the `crc` column.
[[nodiscard]] std::uint32_t RecordCrc(const Record& r);

class Journal {
 public:
  // Opens or creates the database; refuses a file written by another format version.
  [[nodiscard]] static Result<std::unique_ptr<Journal>> Open(const JournalOptions& options);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends records in one transaction, assigning consecutive sequence numbers. With a batch key,
  // the range is remembered (FindBatch) in the same transaction.
  struct Batch {
    std::vector<Record>* records = nullptr;
    std::string key;        // idempotency key, may be empty
    std::string body_hash;  // fingerprint of what the key was sent with
  };
  [[nodiscard]] Result<void> AppendBatches(std::vector<Batch>& batches);

  // Visits records with seq > after in order, checking each checksum; stops before the first
  // damaged record (reported in the result). `visit` returning false stops early.
  [[nodiscard]] Result<ScanResult> Scan(std::uint64_t after,
                                        const std::function<bool(const Record&)>& visit);
  // Moves records from `seq` on into journal_damaged (kept for inspection), so appends continue
  // after the last good record.
  [[nodiscard]] Result<std::uint64_t> QuarantineFrom(std::uint64_t seq, TimeMs now);

  [[nodiscard]] Result<std::optional<BatchRange>> FindBatch(const std::string& key);
  [[nodiscard]] std::uint64_t LastSeq() const { return last_seq_; }
  [[nodiscard]] Result<JournalStats> Stats();

  // Durable key/value state next to the journal (e.g. CometD session identities).
  // Puts (value set) or deletes (no value) state keys in one transaction.
  using StateChange = std::pair<std::string, std::optional<std::string>>;
  [[nodiscard]] Result<void> ApplyStates(const std::vector<StateChange>& changes);
  [[nodiscard]] Result<void> PutState(const std::string& key, const std::string& value);
  [[nodiscard]] Result<void> DeleteState(const std::string& key);
  [[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> States(
      const std::string& prefix);

  // Snapshots: stored with the sequence they cover; the newest `keep` are kept.
  [[nodiscard]] Result<void> PutSnapshot(std::uint64_t seq, TimeMs taken_at,
                                         const std::string& data, int keep);
  // Newest first.
  [[nodiscard]] Result<std::vector<SnapshotInfo>> Snapshots();
  [[nodiscard]] Result<std::string> ReadSnapshot(std::uint64_t seq);

  // Retention: deletes the oldest records stamped before `older_than`, never past `max_seq` (the
  // oldest kept snapshot) and at most `limit` records per call (so the writer never stalls long),
  // with the batch keys of their range.
  [[nodiscard]] Result<PruneResult> Prune(TimeMs older_than, std::uint64_t max_seq,
                                          std::uint64_t limit);
  // Records up to this seq were pruned (0: the journal is complete from seq 1).
  [[nodiscard]] std::uint64_t PrunedThrough() const { return pruned_through_; }

  [[nodiscard]] const std::string& Path() const { return path_; }

  // Fuzzing and damage tests: a journal row exactly as given (any kind, any checksum), as a
  // damaged or foreign file could hold it.
  [[nodiscard]] Result<void> InsertRowForTest(std::uint64_t seq, std::int64_t kind,
                                              const std::string& tenant, TimeMs time,
                                              const std::string& body, std::int64_t crc);

 private:
  Journal() = default;
  Result<void> Exec(const char* sql);
  Error SqlError(const std::string& what) const;

  sqlite3* db_ = nullptr;
  std::string path_;
  std::uint64_t last_seq_ = 0;
  std::uint64_t pruned_through_ = 0;
};

struct WriterStats {
  std::uint64_t commits = 0;
  std::uint64_t records = 0;
  std::uint64_t submissions = 0;
  std::uint64_t failures = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t pruned_records = 0;
};

class JournalWriter {
 public:
  using Done = std::function<void(Result<BatchRange>)>;

  explicit JournalWriter(Journal& journal);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  void Start();
  // Commits what is queued, then stops the thread.
  void Stop();

  // Queues records; `done` runs on the writer thread after the commit (or the failure), in
  // submission order. A batch with a key already stored answers its stored range (count, seqs,
  // the fingerprint stored with it) without appending again.
  void Submit(std::vector<Record> records, std::string key, Done done, std::string body_hash = "");
  // Queues a durable state change (put, or delete without a value); written with the next
  // commit, fire and forget (failures are counted).
  void SubmitState(std::string key, std::optional<std::string> value);
  // Stores a snapshot in its own transaction after the queued records, then prunes the journal
  // by retention (records older than `retention_ms` before `taken_at`, covered by the oldest
  // kept snapshot). `done` runs on the writer thread.
  // `data` is called on the writer thread (the caller's encoding and checksum run there, not on
  // the caller's thread).
  void SubmitSnapshot(std::uint64_t seq, TimeMs taken_at, std::function<std::string()> data,
                      std::function<void(Result<void>)> done);
  // Before Start(): snapshots kept, and the retention (0: prune everything covered; <0: never).
  void SetRetention(std::int64_t retention_ms, int keep_snapshots);

  [[nodiscard]] WriterStats Stats() const;

 private:
  struct Pending {
    std::vector<Record> records;
    std::string key;
    Done done;
    std::string body_hash;
  };
  void Run();
  static constexpr std::uint64_t kPruneBatch = 200'000;

  Journal& journal_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::vector<Journal::StateChange> states_;
  struct PendingSnapshot {
    std::uint64_t seq;
    TimeMs taken_at;
    std::function<std::string()> data;
    std::function<void(Result<void>)> done;
  };
  std::deque<PendingSnapshot> snapshots_;
  void StoreSnapshot(PendingSnapshot& s);
  std::int64_t retention_ms_ = -1;
  int keep_snapshots_ = 2;
  bool stopping_ = false;
  std::thread thread_;
  WriterStats stats_;
};

}  // namespace tally::storage
