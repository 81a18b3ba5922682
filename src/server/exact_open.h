// Exact on open (docs/statistics.md "Exact on open"): an ad-hoc statistic opened at any time gets,
// from its first value on, the value it would have had had it been open since its window began
// (the last reset, the sliding span, the last N items, the agent's login) — Stat Server counts
// from the open instead, which a definition asks for with accumulateFrom=open.
//
// How: the live engine opens the statistic as Stat Server does, and a job off the engine thread
// replays the tenant's log (log_replay.h) into a scratch engine in which the same definition was
// opened before the first record. The job starts a tap at the open's log position: everything the
// live engine applies from then on is handed to it (ApplyObserver), with the engine's time, so
// the scratch engine follows the live one exactly once it has read the log up to that position.
// When the tap is nearly drained, the last few records are applied on the engine thread and the
// scratch accumulator replaces the live one (Engine::LoadStatistic); Immediate subscribers are
// notified. Before that, a twin — the definition opened in the scratch engine at the live open's
// position and time — must equal the live statistic byte for byte: where the two engines do not
// agree (a configuration the log does not hold), the statistic keeps Stat Server's semantics and
// the answer says so. The statistics one request opens on a tenant share one job.
// Threading: Start(), Watching(), Applying(), Reconfigured() on the engine thread; Begin() and
// Stop() on any thread. Jobs run on `parallel` threads of their own.
#pragma once

#include <atomic>
#include <climits>
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

#include "api/statistics_api.h"
#include "server/engine_thread.h"
#include "server/log_replay.h"
#include "server/pipeline.h"

namespace tally::server {

struct ExactOpenOptions {
  int parallel = 1;  // jobs replaying at once (each reads the log and holds a scratch engine)
  // How long an answer waits for its exact values; after it, the answer carries the value so far
  // (exact: false) and the exact value follows as a notification.
  std::int64_t wait_ms = 10'000;
  // A job whose tap holds more events than this gives up (the statistic keeps Stat Server's
  // semantics): ingest outran the replay for too long.
  size_t max_tap_events = 4'000'000;
};

struct ExactOpenStats {
  std::uint64_t exact = 0;      // statistics made exact
  std::uint64_t not_exact = 0;  // statistics left with Stat Server's semantics (see the log)
  std::uint64_t late = 0;       // answers sent before their value was exact (the wait bound)
  std::uint64_t running = 0;    // jobs not finished
};

class ExactOpener final : public api::ExactOpen, public ApplyObserver {
 public:
  ExactOpener(LogSource source, EngineThread& engine, Pipeline& pipeline, ExactOpenOptions options);
  ~ExactOpener() override;
  ExactOpener(const ExactOpener&) = delete;
  ExactOpener& operator=(const ExactOpener&) = delete;

  // api::ExactOpen (engine thread). Before Begin() (recovery replaying subscriptions) the job
  // waits; its twin still opens where the live statistic did.
  void Start(const std::string& tenant, std::uint64_t handle, const stats::KeyValues& definition,
             const stats::ObjectRef& object,
             std::function<void(stats::Engine&, bool, const std::string&)> done) override;

  // ApplyObserver (engine thread).
  // (Also while opens wait for Begin(): the snapshot hold covers them too.)
  [[nodiscard]] bool Watching() const override {
    return !tapping_.empty() || !deferred_.empty() || !forming_.empty();
  }
  void Applying(stats::Engine& engine,
                const std::shared_ptr<const std::vector<stats::Event>>& events) override;
  void Reconfigured(const std::string& tenant) override;

  // The log can be read (recovery is done): jobs run from now on; the opens recovery replayed
  // are made exact (one job per tenant).
  void Begin();
  // Waits until no job is left (true), or `ms` passed (false): the server is ready once the
  // statistics recovery reopened are exact again.
  // `stopping` (may be empty) ends the wait early.
  [[nodiscard]] bool WaitIdle(std::int64_t ms, const std::function<bool()>& stopping = {});
  void Stop();
  [[nodiscard]] ExactOpenStats Stats() const;

  struct Job;

 private:
  void Run();                                  // a worker thread
  void Work(const std::shared_ptr<Job>& job);  // a worker thread
  void Finish(stats::Engine& live, Job& job);  // engine thread: install or fall back
  // Engine thread: the live engine's records go to the job's tap from now on.
  void Tap(const std::shared_ptr<Job>& job, stats::Engine& live);

  const LogSource source_;
  EngineThread& engine_;
  Pipeline& pipeline_;
  const ExactOpenOptions options_;

  // Engine thread.
  std::vector<std::shared_ptr<Job>> tapping_;            // jobs the live engine's records go to
  std::map<std::string, std::shared_ptr<Job>> forming_;  // per tenant: takes this round's opens
  std::vector<std::shared_ptr<Job>> deferred_;           // asked for before Begin()

  mutable std::mutex mu_;  // guards queue_, live_, begun_, stopping_, stats_
  std::condition_variable cv_;
  std::condition_variable idle_cv_;  // a job finished
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::shared_ptr<Job>> live_;  // jobs a worker runs
  bool begun_ = false;
  bool stopping_ = false;
  ExactOpenStats stats_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> begun_flag_{false};  // engine thread reads it in Start()
  std::vector<std::thread> workers_;
};

}  // namespace tally::server
