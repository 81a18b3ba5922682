// IngestApi: POST /ingest/v1/events (DESIGN.md §3, docs/events.md). Authenticates (role
// events:write), validates the whole batch first (NDJSON or a JSON array; the first bad event
// rejects the batch naming its line and field), checks tenants, then hands the batch to an
// EventSink that answers only once the batch is durable. An `Idempotency-Key` header makes a
// retried batch answer its first result instead of being applied twice.
// Threading: handlers run on I/O threads; the sink's callback may run on any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/statistics_api.h"
#include "common/clock.h"
#include "common/errc.h"
#include "stats/event.h"

namespace tally::api {

struct IngestResult {
  std::uint64_t accepted = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  bool duplicate = false;  // an earlier batch with the same Idempotency-Key
};

// Where validated batches go: the server journals them, then applies them in sequence order.
class EventSink {
 public:
  virtual ~EventSink() = default;
  using Done = std::function<void(Result<IngestResult>)>;
  virtual void Submit(std::vector<stats::Event> events, std::string key, Done done) = 0;
};

struct IngestLimits {
  std::uint32_t events_per_batch = 10000;
};

class IngestApi final {
 public:
  IngestApi(EventSink& sink, Authenticator authenticate, IngestLimits limits,
            std::set<std::string> tenants, const Clock& clock);
  ~IngestApi();

  [[nodiscard]] std::vector<Route> Routes();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tally::api
