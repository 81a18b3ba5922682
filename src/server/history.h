// Statistic history (POST /statistics/v3/operations/get-statistic-history, a Tally extension):
// the journal (SQLite, or a cluster's JetStream stream) replayed into a scratch engine of the
// same code, off the engine thread. A bucket's value is what the definition, with its growing
// window reset at each bucket start, showed at the bucket's end — the engine's own Reset
// notification at each boundary (buckets 15m, 30m, 1h are growing windows "00:00+0:15" …, 1d
// "00:00", in the tenant's time zone, so DST-correct); current categories give their value at
// the bucket's end. docs/api.md "Statistic history".
// Threading: Compute() on any thread (a request's own); it opens its own read of the journal.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"
#include "common/http.h"
#include "common/principal.h"
#include "server/log_replay.h"
#include "stats/engine.h"

namespace tally::server {

struct HistoryAsk {
  std::string statistic_id;
  std::string name;             // a catalog statistic, or empty with `definition`
  stats::KeyValues definition;  // an ad-hoc definition
  stats::ObjectRef object;
};

struct HistoryRequest {
  std::string tenant;
  std::vector<HistoryAsk> asks;
  TimeMs from = 0;  // [from, to)
  TimeMs to = 0;
  std::string bucket;  // 15m | 30m | 1h | 1d
};

struct HistoryBucket {
  TimeMs start = 0;
  TimeMs end = 0;
  stats::StatValue value;
  bool complete = true;  // false: the journal ends inside it (its value so far)
};

struct HistorySeries {
  std::vector<HistoryBucket> buckets;
  std::string error;  // this statistic could not be computed (unknown name, bad definition…)
};

struct HistorySource : LogSource {
  std::uint64_t max_buckets = 20'000;  // statistics × buckets per request
};

// The bucket length in ms of "15m" … "1d" (nominal; a day may be 23 or 25 h); 0 when unknown.
[[nodiscard]] std::int64_t BucketMs(const std::string& bucket);

// The bucket boundaries covering [from, to) in `zone` (IANA; empty: UTC): local midnight plus
// whole buckets, so an hour bucket is a local hour and a day bucket 23 or 25 h across DST. At
// most `max_buckets` buckets (else 400 naming data.to).
[[nodiscard]] Result<std::vector<TimeMs>> BucketBounds(const std::string& bucket,
                                                       const std::string& zone, TimeMs from,
                                                       TimeMs to, size_t max_buckets);

// Errors name the field: from/to/bucket (kInvalidArgument), a journal or stream that does not
// reach back to `from` (kInvalidArgument, naming `from`), no journal (kUnavailable).
// `stop` (may be null) ends the replay early (the server is stopping): kUnavailable.
[[nodiscard]] Result<std::vector<HistorySeries>> ComputeHistory(
    const HistorySource& source, const HistoryRequest& request,
    const std::atomic<bool>* stop = nullptr);

// Runs history requests on threads of their own (at most `parallel` at once: more answer 503),
// joined at Stop(). The route: POST /statistics/v3/operations/get-statistic-history.
class HistoryRunner final {
 public:
  HistoryRunner(HistorySource source, int parallel)
      : source_(std::move(source)), parallel_(parallel) {}
  ~HistoryRunner() { Stop(); }
  // The handler (role statistics:read; the principal's tenant). `authenticate` checks the request.
  [[nodiscard]] HttpHandler Handler(
      std::function<Result<Principal>(const HttpRequest&)> authenticate);
  void Stop();

 private:
  HistorySource source_;
  const int parallel_;
  std::mutex mu_;
  int running_ = 0;
  bool stopping_ = false;
  std::atomic<bool> stop_{false};  // ends replays in progress at Stop()
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;  // finished ones are joined at the next request
};

}  // namespace tally::server
