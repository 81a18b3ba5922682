#include "storage/journal.h"

#include <sqlite3.h>

#include <boost/crc.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace tally::storage {

namespace {

// RAII for prepared statements.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  [[nodiscard]] bool Ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void Bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  // Bound without a copy (SQLITE_STATIC): `v` must live until the statement has run.
  void BindText(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  int Step() { return sqlite3_step(stmt_); }
  std::int64_t Int(int i) { return sqlite3_column_int64(stmt_, i); }
  std::string Text(int i) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, i));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

void PutInt(boost::crc_32_type& crc, std::uint64_t v) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(v >> (8 * i));
  crc.process_bytes(bytes, sizeof bytes);
}

}  // namespace

std::uint32_t RecordCrc(const Record& r) {
  boost::crc_32_type crc;
  PutInt(crc, r.seq);
  PutInt(crc, static_cast<std::uint64_t>(r.kind));
  PutInt(crc, r.tenant.size());
  crc.process_bytes(r.tenant.data(), r.tenant.size());
  PutInt(crc, static_cast<std::uint64_t>(r.time));
  PutInt(crc, r.body.size());
  crc.process_bytes(r.body.data(), r.body.size());
  return crc.checksum();
}

Error Journal::SqlError(const std::string& what) const {
  return Error{Errc::kUnavailable,
               path_ + ": " + what + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "no database")};
}

Result<void> Journal::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return Error{Errc::kUnavailable, path_ + ": " + text};
  }
  return {};
}

Result<std::unique_ptr<Journal>> Journal::Open(const JournalOptions& options) {
  std::unique_ptr<Journal> j(new Journal());
  j->path_ = options.path;
  if (sqlite3_open_v2(options.path.c_str(), &j->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    return j->SqlError("cannot open the journal");
  }
  sqlite3_busy_timeout(j->db_, 5000);
  if (auto r = j->Exec("PRAGMA journal_mode=WAL"); !r) return r.error();
  const char* sync = options.durability == Durability::kFull     ? "PRAGMA synchronous=FULL"
                     : options.durability == Durability::kNormal ? "PRAGMA synchronous=NORMAL"
                                                                 : "PRAGMA synchronous=OFF";
  if (auto r = j->Exec(sync); !r) return r.error();
  if (options.max_bytes > 0) {
    Stmt size(j->db_, "PRAGMA page_size");
    if (!size.Ok() || size.Step() != SQLITE_ROW) return j->SqlError("cannot read the page size");
    const auto pages = std::max<std::uint64_t>(options.max_bytes / size.Int(0), 16);
    if (auto r = j->Exec(("PRAGMA max_page_count=" + std::to_string(pages)).c_str()); !r) {
      return r.error();
    }
  }
  if (auto r = j->Exec(
          "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
          "CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL,"
          " tenant TEXT NOT NULL, time INTEGER NOT NULL, body BLOB NOT NULL,"
          " crc INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS batches(key TEXT PRIMARY KEY, first_seq INTEGER NOT NULL,"
          " last_seq INTEGER NOT NULL, count INTEGER NOT NULL);"
          "CREATE TABLE IF NOT EXISTS journal_damaged(seq INTEGER, kind INTEGER, tenant TEXT,"
          " time INTEGER, body BLOB, crc INTEGER, quarantined_at INTEGER);"
          "CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
          "CREATE TABLE IF NOT EXISTS snapshots(seq INTEGER PRIMARY KEY,"
          " taken_at INTEGER NOT NULL, data BLOB NOT NULL);");
      !r) {
    return r.error();
  }
  {
    // Batch keys gained their body fingerprint (a reused key with another body is refused);
    // older databases get the column, their keys an unknown fingerprint.
    Stmt cols(j->db_, "SELECT COUNT(*) FROM pragma_table_info('batches') WHERE name='body_hash'");
    if (!cols.Ok() || cols.Step() != SQLITE_ROW) return j->SqlError("cannot read the schema");
    if (cols.Int(0) == 0) {
      if (auto r = j->Exec("ALTER TABLE batches ADD COLUMN body_hash TEXT"); !r) return r.error();
    }
  }
  {
    Stmt get(j->db_, "SELECT value FROM meta WHERE key='format'");
    if (!get.Ok()) return j->SqlError("cannot read the format version");
    if (get.Step() == SQLITE_ROW) {
      const std::string version = get.Text(0);
      if (version != std::to_string(kFormatVersion)) {
        return Error{Errc::kUnsupported, options.path + ": journal format version " + version +
                                             " is not supported by this build (it reads version " +
                                             std::to_string(kFormatVersion) + ")"};
      }
    } else {
      Stmt put(j->db_, "INSERT INTO meta(key, value) VALUES('format', ?)");
      const std::string version = std::to_string(kFormatVersion);  // bound without a copy
      put.BindText(1, version);
      if (put.Step() != SQLITE_DONE) return j->SqlError("cannot write the format version");
    }
  }
  // The last seq survives pruning: the pruned mark and the snapshots remember it too.
  Stmt last(j->db_,
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM journal),"
            " (SELECT COALESCE(MAX(CAST(value AS INTEGER)), 0) FROM meta"
            "  WHERE key = 'pruned_through'),"
            " (SELECT COALESCE(MAX(seq), 0) FROM snapshots)");
  if (!last.Ok() || last.Step() != SQLITE_ROW) return j->SqlError("cannot read the last seq");
  j->pruned_through_ = static_cast<std::uint64_t>(last.Int(1));
  j->last_seq_ = std::max({static_cast<std::uint64_t>(last.Int(0)), j->pruned_through_,
                           static_cast<std::uint64_t>(last.Int(2))});
  return j;
}

Journal::~Journal() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Result<void> Journal::AppendBatches(std::vector<Batch>& batches) {
  if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r;
  Stmt insert(db_, "INSERT INTO journal(seq, kind, tenant, time, body, crc) VALUES(?,?,?,?,?,?)");
  Stmt key(db_,
           "INSERT INTO batches(key, first_seq, last_seq, count, body_hash) VALUES(?,?,?,?,?)");
  if (!insert.Ok() || !key.Ok()) {
    auto e = SqlError("cannot prepare the append");
    (void)Exec("ROLLBACK");
    return e;
  }
  std::uint64_t seq = last_seq_;
  for (auto& b : batches) {
    const std::uint64_t first = seq + 1;
    for (Record& r : *b.records) {
      r.seq = ++seq;
      insert.Reset();
      insert.Bind(1, static_cast<std::int64_t>(r.seq));
      insert.Bind(2, static_cast<std::int64_t>(r.kind));
      insert.BindText(3, r.tenant);
      insert.Bind(4, r.time);
      insert.BindBlob(5, r.body);
      insert.Bind(6, RecordCrc(r));
      if (insert.Step() != SQLITE_DONE) {
        auto e = SqlError("cannot append to the journal");
        (void)Exec("ROLLBACK");
        return e;
      }
    }
    if (!b.key.empty()) {
      key.Reset();
      key.BindText(1, b.key);
      key.Bind(2, static_cast<std::int64_t>(first));
      key.Bind(3, static_cast<std::int64_t>(seq));
      key.Bind(4, static_cast<std::int64_t>(b.records->size()));
      key.BindText(5, b.body_hash);
      if (key.Step() != SQLITE_DONE) {
        auto e = SqlError("cannot store the batch key");
        (void)Exec("ROLLBACK");
        return e;
      }
    }
  }
  if (auto r = Exec("COMMIT"); !r) {
    (void)Exec("ROLLBACK");
    return r;
  }
  last_seq_ = seq;
  return {};
}

Result<void> Journal::InsertRowForTest(std::uint64_t seq, std::int64_t kind,
                                       const std::string& tenant, TimeMs time,
                                       const std::string& body, std::int64_t crc) {
  Stmt insert(db_,
              "INSERT OR REPLACE INTO journal(seq, kind, tenant, time, body, crc) "
              "VALUES(?,?,?,?,?,?)");
  insert.Bind(1, static_cast<std::int64_t>(seq));
  insert.Bind(2, kind);
  insert.BindText(3, tenant);
  insert.Bind(4, time);
  insert.BindBlob(5, body);
  insert.Bind(6, crc);
  if (!insert.Ok() || insert.Step() != SQLITE_DONE) return SqlError("cannot insert the row");
  last_seq_ = std::max(last_seq_, seq);
  return {};
}

Result<ScanResult> Journal::Scan(std::uint64_t after,
                                 const std::function<bool(const Record&)>& visit) {
  Stmt q(db_, "SELECT seq, kind, tenant, time, body, crc FROM journal WHERE seq > ? ORDER BY seq");
  if (!q.Ok()) return SqlError("cannot read the journal");
  q.Bind(1, static_cast<std::int64_t>(after));
  ScanResult result;
  result.last_good_seq = after;
  Record r;
  for (;;) {
    const int rc = q.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW)
      return SqlError("reading the journal after seq " + std::to_string(result.last_good_seq));
    r.seq = static_cast<std::uint64_t>(q.Int(0));
    const auto kind = q.Int(1);
    r.kind = static_cast<RecordKind>(kind);
    r.tenant = q.Text(2);
    r.time = q.Int(3);
    r.body = q.Text(4);
    const auto crc = static_cast<std::uint32_t>(q.Int(5));
    std::string damage;
    if (r.seq != result.last_good_seq + 1 && (result.records > 0 || after > 0)) {
      damage = "sequence gap: expected " + std::to_string(result.last_good_seq + 1);
    } else if (kind != 1 && kind != 2) {
      damage = "unknown record kind " + std::to_string(kind);
    } else if (RecordCrc(r) != crc) {
      damage = "checksum mismatch";
    }
    if (!damage.empty()) {
      result.damaged_seq = r.seq;
      result.damage = std::move(damage);
      break;
    }
    ++result.records;
    result.last_good_seq = r.seq;
    if (!visit(r)) break;
  }
  return result;
}

Result<std::uint64_t> Journal::QuarantineFrom(std::uint64_t seq, TimeMs now) {
  if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r.error();
  Stmt copy(db_,
            "INSERT INTO journal_damaged SELECT seq, kind, tenant, time, body, crc, ? FROM journal"
            " WHERE seq >= ?");
  Stmt del(db_, "DELETE FROM journal WHERE seq >= ?");
  Stmt keys(db_, "DELETE FROM batches WHERE last_seq >= ?");
  copy.Bind(1, now);
  copy.Bind(2, static_cast<std::int64_t>(seq));
  del.Bind(1, static_cast<std::int64_t>(seq));
  keys.Bind(1, static_cast<std::int64_t>(seq));
  if (copy.Step() != SQLITE_DONE || del.Step() != SQLITE_DONE || keys.Step() != SQLITE_DONE) {
    auto e = SqlError("cannot quarantine the damaged tail");
    (void)Exec("ROLLBACK");
    return e;
  }
  if (auto r = Exec("COMMIT"); !r) return r.error();
  last_seq_ = seq - 1;
  Stmt count(db_, "SELECT COUNT(*) FROM journal_damaged WHERE quarantined_at = ?");
  count.Bind(1, now);
  if (count.Step() != SQLITE_ROW) return SqlError("cannot count quarantined records");
  return static_cast<std::uint64_t>(count.Int(0));
}

Result<std::optional<BatchRange>> Journal::FindBatch(const std::string& key) {
  Stmt q(db_,
         "SELECT first_seq, last_seq, count, COALESCE(body_hash, '') FROM batches WHERE key = ?");
  if (!q.Ok()) return SqlError("cannot read batch keys");
  q.BindText(1, key);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<BatchRange>();
  if (rc != SQLITE_ROW) return SqlError("cannot read batch keys");
  return std::optional<BatchRange>(
      BatchRange{static_cast<std::uint64_t>(q.Int(0)), static_cast<std::uint64_t>(q.Int(1)),
                 static_cast<std::uint64_t>(q.Int(2)), true, q.Text(3)});
}

Result<JournalStats> Journal::Stats() {
  JournalStats s;
  Stmt q(db_,
         "SELECT COUNT(*), COALESCE(MIN(seq),0), COALESCE(MAX(seq),0), COALESCE(MIN(time),0),"
         " COALESCE(MAX(time),0), COALESCE(SUM(kind=1),0), COALESCE(SUM(kind=2),0) FROM journal");
  if (!q.Ok() || q.Step() != SQLITE_ROW) return SqlError("cannot read journal statistics");
  s.records = static_cast<std::uint64_t>(q.Int(0));
  s.first_seq = static_cast<std::uint64_t>(q.Int(1));
  s.last_seq = static_cast<std::uint64_t>(q.Int(2));
  s.first_time = q.Int(3);
  s.last_time = q.Int(4);
  s.events = static_cast<std::uint64_t>(q.Int(5));
  s.commands = static_cast<std::uint64_t>(q.Int(6));
  Stmt b(db_, "SELECT (SELECT COUNT(*) FROM batches), (SELECT COUNT(*) FROM journal_damaged)");
  if (!b.Ok() || b.Step() != SQLITE_ROW) return SqlError("cannot read journal statistics");
  s.batches = static_cast<std::uint64_t>(b.Int(0));
  s.damaged = static_cast<std::uint64_t>(b.Int(1));
  s.last_seq = std::max(s.last_seq, last_seq_);  // also when everything was pruned
  s.pruned_through = pruned_through_;
  Stmt snap(
      db_, "SELECT COUNT(*), COALESCE(MAX(seq), 0), COALESCE(SUM(length(data)), 0) FROM snapshots");
  if (!snap.Ok() || snap.Step() != SQLITE_ROW) return SqlError("cannot read snapshot statistics");
  s.snapshots = static_cast<std::uint64_t>(snap.Int(0));
  s.newest_snapshot_seq = static_cast<std::uint64_t>(snap.Int(1));
  s.snapshot_bytes = static_cast<std::uint64_t>(snap.Int(2));
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) s.file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (::stat((path_ + "-wal").c_str(), &st) == 0) {
    s.file_bytes += static_cast<std::uint64_t>(st.st_size);
  }
  return s;
}

Result<void> Journal::ApplyStates(const std::vector<StateChange>& changes) {
  if (changes.empty()) return {};
  if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r;
  for (const auto& [key, value] : changes) {
    auto r = value ? PutState(key, *value) : DeleteState(key);
    if (!r) {
      (void)Exec("ROLLBACK");
      return r;
    }
  }
  return Exec("COMMIT");
}

Result<void> Journal::PutState(const std::string& key, const std::string& value) {
  Stmt q(db_,
         "INSERT INTO state(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET "
         "value = excluded.value");
  q.BindText(1, key);
  q.BindBlob(2, value);
  if (q.Step() != SQLITE_DONE) return SqlError("cannot write state '" + key + "'");
  return {};
}

Result<void> Journal::DeleteState(const std::string& key) {
  Stmt q(db_, "DELETE FROM state WHERE key = ?");
  q.BindText(1, key);
  if (q.Step() != SQLITE_DONE) return SqlError("cannot delete state '" + key + "'");
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> Journal::States(
    const std::string& prefix) {
  Stmt q(db_, "SELECT key, value FROM state WHERE substr(key, 1, ?) = ? ORDER BY key");
  q.Bind(1, static_cast<std::int64_t>(prefix.size()));
  q.BindText(2, prefix);
  std::vector<std::pair<std::string, std::string>> out;
  for (;;) {
    const int rc = q.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqlError("cannot read state");
    out.emplace_back(q.Text(0), q.Text(1));
  }
  return out;
}

Result<void> Journal::PutSnapshot(std::uint64_t seq, TimeMs taken_at, const std::string& data,
                                  int keep) {
  if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r;
  Stmt put(db_, "INSERT OR REPLACE INTO snapshots(seq, taken_at, data) VALUES(?, ?, ?)");
  Stmt trim(db_,
            "DELETE FROM snapshots WHERE seq NOT IN"
            " (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)");
  put.Bind(1, static_cast<std::int64_t>(seq));
  put.Bind(2, taken_at);
  put.BindBlob(3, data);
  trim.Bind(1, std::max(keep, 1));
  if (put.Step() != SQLITE_DONE || trim.Step() != SQLITE_DONE) {
    auto e = SqlError("cannot store the snapshot at seq " + std::to_string(seq));
    (void)Exec("ROLLBACK");
    return e;
  }
  if (auto r = Exec("COMMIT"); !r) {
    (void)Exec("ROLLBACK");
    return r;
  }
  last_seq_ = std::max(last_seq_, seq);
  return {};
}

Result<std::vector<SnapshotInfo>> Journal::Snapshots() {
  Stmt q(db_, "SELECT seq, taken_at, length(data) FROM snapshots ORDER BY seq DESC");
  if (!q.Ok()) return SqlError("cannot list snapshots");
  std::vector<SnapshotInfo> out;
  for (;;) {
    const int rc = q.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqlError("cannot list snapshots");
    out.push_back(SnapshotInfo{static_cast<std::uint64_t>(q.Int(0)), q.Int(1),
                               static_cast<std::uint64_t>(q.Int(2))});
  }
  return out;
}

Result<std::string> Journal::ReadSnapshot(std::uint64_t seq) {
  Stmt q(db_, "SELECT data FROM snapshots WHERE seq = ?");
  if (!q.Ok()) return SqlError("cannot read snapshots");
  q.Bind(1, static_cast<std::int64_t>(seq));
  const int rc = q.Step();
  if (rc == SQLITE_DONE) {
    return Error{Errc::kNotFound, path_ + ": no snapshot at seq " + std::to_string(seq)};
  }
  if (rc != SQLITE_ROW) return SqlError("cannot read the snapshot at seq " + std::to_string(seq));
  return q.Text(0);
}

Result<PruneResult> Journal::Prune(TimeMs older_than, std::uint64_t max_seq, std::uint64_t limit) {
  PruneResult result;
  result.pruned_through = pruned_through_;
  // Stamps never go back along the journal, so "older than" is a prefix of it.
  Stmt bound(db_,
             "SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM (SELECT seq FROM journal"
             " WHERE seq <= ? AND time < ? ORDER BY seq LIMIT ?)");
  if (!bound.Ok()) return SqlError("cannot plan pruning");
  bound.Bind(1, static_cast<std::int64_t>(max_seq));
  bound.Bind(2, older_than);
  bound.Bind(3, static_cast<std::int64_t>(std::max<std::uint64_t>(limit, 1)));
  if (bound.Step() != SQLITE_ROW) return SqlError("cannot plan pruning");
  const auto through = static_cast<std::uint64_t>(bound.Int(0));
  if (through == 0 || through <= pruned_through_) return result;
  if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r.error();
  Stmt del(db_, "DELETE FROM journal WHERE seq <= ?");
  Stmt keys(db_, "DELETE FROM batches WHERE last_seq <= ?");
  Stmt mark(db_,
            "INSERT INTO meta(key, value) VALUES('pruned_through', ?) ON CONFLICT(key)"
            " DO UPDATE SET value = excluded.value");
  const std::string text = std::to_string(through);  // bound without a copy
  del.Bind(1, static_cast<std::int64_t>(through));
  keys.Bind(1, static_cast<std::int64_t>(through));
  mark.BindText(1, text);
  if (del.Step() != SQLITE_DONE) {
    auto e = SqlError("cannot prune the journal");
    (void)Exec("ROLLBACK");
    return e;
  }
  result.records = static_cast<std::uint64_t>(sqlite3_changes(db_));
  if (keys.Step() != SQLITE_DONE || mark.Step() != SQLITE_DONE) {
    auto e = SqlError("cannot prune the journal");
    (void)Exec("ROLLBACK");
    return e;
  }
  if (auto r = Exec("COMMIT"); !r) {
    (void)Exec("ROLLBACK");
    return r.error();
  }
  pruned_through_ = through;
  result.pruned_through = through;
  return result;
}

// --- JournalWriter ---------------------------------------------------------------------------

JournalWriter::JournalWriter(Journal& journal) : journal_(journal) {}

JournalWriter::~JournalWriter() { Stop(); }

void JournalWriter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void JournalWriter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JournalWriter::SubmitState(std::string key, std::optional<std::string> value) {
  {
    std::lock_guard lock(mu_);
    states_.emplace_back(std::move(key), std::move(value));
  }
  cv_.notify_one();
}

void JournalWriter::Submit(std::vector<Record> records, std::string key, Done done,
                           std::string body_hash) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(
        Pending{std::move(records), std::move(key), std::move(done), std::move(body_hash)});
    ++stats_.submissions;
  }
  cv_.notify_one();
}

void JournalWriter::SubmitSnapshot(std::uint64_t seq, TimeMs taken_at,
                                   std::function<std::string()> data,
                                   std::function<void(Result<void>)> done) {
  {
    std::lock_guard lock(mu_);
    snapshots_.push_back(PendingSnapshot{seq, taken_at, std::move(data), std::move(done)});
  }
  cv_.notify_one();
}

void JournalWriter::SetRetention(std::int64_t retention_ms, int keep_snapshots) {
  std::lock_guard lock(mu_);
  retention_ms_ = retention_ms;
  keep_snapshots_ = std::max(keep_snapshots, 1);
}

void JournalWriter::StoreSnapshot(PendingSnapshot& s) {
  auto stored = journal_.PutSnapshot(s.seq, s.taken_at, s.data(), keep_snapshots_);
  if (stored && retention_ms_ >= 0) {
    // Prune only what the oldest kept snapshot covers: recovery can fall back to it.
    auto kept = journal_.Snapshots();
    if (kept && !kept->empty()) {
      auto pruned = journal_.Prune(s.taken_at - retention_ms_, kept->back().seq, kPruneBatch);
      std::lock_guard lock(mu_);
      if (pruned) {
        stats_.pruned_records += pruned->records;
      } else {
        ++stats_.failures;
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    if (stored) {
      ++stats_.snapshots;
    } else {
      ++stats_.failures;
    }
  }
  if (s.done) s.done(stored);
}

WriterStats JournalWriter::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void JournalWriter::Run() {
  for (;;) {
    std::deque<Pending> group;
    std::vector<Journal::StateChange> states;
    std::deque<PendingSnapshot> snapshots;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] {
        return stopping_ || !queue_.empty() || !states_.empty() || !snapshots_.empty();
      });
      if (queue_.empty() && states_.empty() && snapshots_.empty() && stopping_) return;
      group.swap(queue_);
      states.swap(states_);
      snapshots.swap(snapshots_);
    }
    // A snapshot covers records committed before it was taken: store it first, then the group.
    for (auto& snapshot : snapshots) StoreSnapshot(snapshot);
    if (!states.empty() && !journal_.ApplyStates(states)) {
      std::lock_guard lock(mu_);
      ++stats_.failures;
    }
    // Keys already stored (a client retrying an acknowledged batch) are answered, not appended.
    std::vector<std::optional<BatchRange>> known(group.size());
    std::vector<Journal::Batch> batches;
    std::vector<std::string> keys_in_group;
    for (size_t i = 0; i < group.size(); ++i) {
      Pending& p = group[i];
      if (!p.key.empty()) {
        auto found = journal_.FindBatch(p.key);
        if (found && *found) {
          known[i] = **found;
          continue;
        }
        bool repeated = false;
        for (const auto& k : keys_in_group) repeated = repeated || k == p.key;
        if (repeated) {
          known[i] = BatchRange{0, 0, p.records.size(), true, {}};  // resolved after the commit
          continue;
        }
        keys_in_group.push_back(p.key);
      }
      batches.push_back(Journal::Batch{&p.records, p.key, p.body_hash});
    }
    Result<void> committed;
    if (!batches.empty()) committed = journal_.AppendBatches(batches);
    {
      std::lock_guard lock(mu_);
      if (committed) {
        ++stats_.commits;
        for (const auto& b : batches) stats_.records += b.records->size();
      } else {
        ++stats_.failures;
      }
    }
    for (size_t i = 0; i < group.size(); ++i) {
      Pending& p = group[i];
      if (known[i]) {
        BatchRange range = *known[i];
        if (range.first_seq == 0) {  // same key twice in one group: answer the stored range
          auto found = journal_.FindBatch(p.key);
          if (found && *found) range = **found;
        }
        p.done(range);
        continue;
      }
      if (!committed) {
        p.done(committed.error());
        continue;
      }
      BatchRange range;
      range.count = p.records.size();
      if (!p.records.empty()) {
        range.first_seq = p.records.front().seq;
        range.last_seq = p.records.back().seq;
      }
      // The records travel on with the callback through the caller's capture if it needs them.
      p.done(range);
    }
  }
}

}  // namespace tally::storage
