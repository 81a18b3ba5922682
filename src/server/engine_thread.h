// EngineThread: the engine's single owner thread (DESIGN.md §1). Work is posted to it. In the
// `wall` clock mode it moves the engine to the wall clock before each piece of work and every
// 50 ms, so peeks are current and periodic notifications and window resets happen on time; in
// the `event` mode time moves only with applied events. Notifications produced by a round of
// work go to the sink in one call.
// Threading: Post() from any thread; the engine, Notifications() and OnApplied() only on the
// engine thread (or by the caller of EngineForSetup() before Start()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "stats/engine.h"

namespace tally::server {

class EngineThread final {
 public:
  using Sink = std::function<void(std::vector<stats::Notification>&)>;
  using LinkObserver = std::function<void(const stats::Event&, stats::Engine&)>;

  EngineThread(const Clock& clock, bool wall_clock);
  ~EngineThread();

  [[nodiscard]] stats::Engine& EngineForSetup() { return engine_; }
  // Before Start(): where notifications go (default: counted as undelivered).
  void SetSink(Sink sink) { sink_ = std::move(sink); }
  // Before Start(): called for every applied EventLinkConnected/Disconnected.
  void SetLinkObserver(LinkObserver observer) { link_observer_ = std::move(observer); }
  // Before recovery: called at the end of every round of work (at least every 50 ms while the
  // thread runs, and after each record recovery replays), never while a round is stuck: the
  // systemd watchdog's ping.
  void SetAliveHook(std::function<void()> hook) { alive_ = std::move(hook); }
  void Start();  // a second call does nothing
  void Stop();
  // The wall clock, in the `wall` mode: while held (a cluster node catching up applies records at
  // their stamps) the engine is not moved to it; `lag_ms` keeps the engine that much behind it
  // (a cluster: records reaching this node within the lag apply exactly at their stamps).
  void HoldWallClock(bool hold) { hold_wall_.store(hold); }
  void SetWallClockLag(std::int64_t lag_ms) { wall_lag_ms_.store(lag_ms); }
  void Post(std::function<void(stats::Engine&)> work);
  // Single node, wall clock: a batch is stamped before the journal commits it, and the engine
  // applies it at that stamp, as recovery and a replay will. HoldStamp() returns a stamp of at
  // least `at_least` (and not behind where the wall tick has moved the engine) and keeps the wall
  // tick at or below it until ReleaseStamp(stamp). Any thread. A stamp held for longer than
  // kMaxStampHoldMs (a lost release) no longer holds the clock.
  static constexpr std::int64_t kMaxStampHoldMs = 30'000;
  [[nodiscard]] std::int64_t HoldStamp(std::int64_t at_least);
  void ReleaseStamp(std::int64_t stamp);

  // Engine thread: the buffer applied work appends notifications to.
  [[nodiscard]] std::vector<stats::Notification>& Notifications() { return out_; }
  // Engine thread: hands what is in the buffer to the sink now (before a message that must not
  // overtake it).
  void FlushNotifications();
  // Engine thread: every applied event passes here (link state).
  void OnApplied(const stats::Event& e);

  [[nodiscard]] std::uint64_t NotificationsUndelivered() const { return undelivered_.load(); }
  // Any thread: pieces of work posted and not yet started (they wait for the current round).
  [[nodiscard]] std::size_t QueueDepth() const;

  // Liveness: while the engine works on one round (or recovery replays one record), for how
  // long; 0 when idle. /healthz fails when a round takes far longer than any should.
  void BeginWork() { busy_since_ms_.store(SteadyMs()); }
  void EndWork();
  [[nodiscard]] std::int64_t BusyForMs() const {
    const std::int64_t since = busy_since_ms_.load();
    return since == 0 ? 0 : SteadyMs() - since;
  }

 private:
  void Run();
  // Where the wall tick may move the engine now: the wall clock, but not past a held stamp.
  std::int64_t WallTarget();
  std::int64_t SteadyMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.SteadyNow().time_since_epoch())
               .count() +
           1;  // never 0 (0 means idle)
  }

  const Clock& clock_;
  const bool wall_clock_;
  stats::Engine engine_;
  Sink sink_;
  LinkObserver link_observer_;
  std::function<void()> alive_;
  std::vector<stats::Notification> out_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(stats::Engine&)>> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> undelivered_{0};
  std::atomic<std::int64_t> busy_since_ms_{0};
  std::atomic<bool> hold_wall_{false};
  std::atomic<std::int64_t> wall_lag_ms_{0};
  std::mutex stamps_mu_;              // guards held_ and reached_
  std::multiset<std::int64_t> held_;  // stamps of batches not yet applied
  std::int64_t reached_ = 0;          // the newest time the wall tick moved the engine to
};

}  // namespace tally::server
