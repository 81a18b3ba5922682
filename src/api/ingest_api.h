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

// How a refusal names an event of the batch.
enum class EventNaming {
  kOrdinal,  // "event 3 of the batch" (1-based)
  kLine,     // "line 3" (NDJSON, 1-based)
  kIndex,    // "event 2" (a JSON array, 0-based)
};
[[nodiscard]] std::string NameEvent(EventNaming naming, size_t index);

struct IngestBatch {
  std::vector<stats::Event> events;
  // Idempotency-Key ("" = none), scoped to the client that sent it: "tenant\\client" + 0x1f +
  // the header's value, so one client's keys never answer another's batches.
  std::string key;
  EventNaming naming = EventNaming::kOrdinal;
  std::string body_hash;  // Fingerprint() of the request body, kept with the key
};

// Where validated batches go: the server journals them, then applies them in sequence order.
class EventSink {
 public:
  virtual ~EventSink() = default;
  using Done = std::function<void(Result<IngestResult>)>;
  virtual void Submit(IngestBatch batch, Done done) = 0;
};

struct IngestLimits {
  std::uint32_t events_per_batch = 10000;
  std::int64_t max_future_ms = 0;  // an event further ahead of the server clock is refused
};

class IngestApi final {
 public:
  IngestApi(EventSink& sink, Authenticator authenticate, IngestLimits limits,
            std::set<std::string> tenants, const Clock& clock);
  ~IngestApi();

  [[nodiscard]] std::vector<Route> Routes();
  // A live reload: the limits of batches from now on (any thread).
  void SetLimits(const IngestLimits& limits);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tally::api
