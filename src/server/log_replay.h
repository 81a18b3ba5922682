// Log replay: a tenant's log — the SQLite journal of one node, or a cluster's JetStream stream —
// read in the order the live engine applied it, into a scratch engine of the same code built as
// recovery builds it. History (history.h) and exact-on-open (exact_open.h) both compute from it,
// so their values are what the live engine showed or would have shown.
// Threading: any thread (a request's or a job's own); each reader opens its own read of the log.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"
#include "server/order_gate.h"
#include "stats/engine.h"
#include "storage/journal.h"

namespace tally::storage {
class JetStream;
}  // namespace tally::storage

namespace tally::server {

// Where a tenant's log is and how the live engine was configured.
struct LogSource {
  std::string journal_path;  // the SQLite journal of one node (empty: none, or a cluster)
  // A cluster: the node's stream once connected (null before); the tenant's messages are read
  // from the stream's start.
  std::function<storage::JetStream*()> stream;
  std::vector<stats::CatalogEntry> catalog;  // the configured catalog (names → fields)
  std::vector<stats::TenantSetup> tenants;   // the configured tenants
  bool wall_clock = true;                    // as the live engine moves time
};

// One unit of a tenant's log as the live engine applied it: an SQLite record, or a stream message
// (one batch of one kind).
struct LogUnit {
  storage::RecordKind kind = storage::RecordKind::kEvent;
  TimeMs time = 0;  // the stamp
  const std::string* bodies = nullptr;
  size_t count = 0;
  // The stream decides (docs/cluster.md): a batch behind a stored event of one of its DNs is
  // skipped whole, on every replica, so a replay skips it too.
  bool gated = false;
  std::uint64_t position = 0;  // the journal seq, or the stream seq
};
using OnLogUnit = std::function<bool(const LogUnit&)>;

// What a replay reads: a tenant's records, in the order the live engine applied them.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // The first unit recovery looks at (whether the log starts with configuration records).
  [[nodiscard]] virtual Result<void> First(const OnLogUnit& on) = 0;
  // The tenant's units after position `after` and up to `until`; `on` returns false to stop.
  [[nodiscard]] virtual Result<void> Scan(std::uint64_t after, std::uint64_t until,
                                          const OnLogUnit& on) = 0;
};

// The tenant's log. Errors when its start is gone (retention: kInvalidArgument naming
// `data.from`), it cannot be read here (kUnavailable).
[[nodiscard]] Result<std::unique_ptr<LogReader>> OpenLog(const LogSource& source,
                                                         const std::string& tenant,
                                                         const std::atomic<bool>* stop);

// A scratch engine for `tenant`, built as recovery builds it: from the log's own configuration
// records when it starts with them, else from the configured catalog and tenant. `first_time`
// receives the first record's stamp. `with_catalog` false: no catalog statistics (an engine for
// ad-hoc statistics only: objects, actions and keys are the same without them).
[[nodiscard]] Result<void> BuildScratch(const LogSource& source, const stats::TenantSetup& setup,
                                        LogReader& log, stats::Engine& engine, TimeMs& first_time,
                                        bool with_catalog = true);

// Decodes a unit's events as the live engine got them, and the stream's verdict on them.
class UnitDecoder {
 public:
  explicit UnitDecoder(std::string tenant) : tenant_(std::move(tenant)) {}
  // The unit's events in `batch`; false when the stream skipped the batch (gated and behind a
  // stored event of one of its DNs). What recovery quarantines is left out.
  bool Decode(const LogUnit& unit, std::vector<stats::Event>& batch);

 private:
  std::string tenant_;
  OrderGate gate_;
};

}  // namespace tally::server
