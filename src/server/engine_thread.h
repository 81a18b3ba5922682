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
  void Start();
  void Stop();
  void Post(std::function<void(stats::Engine&)> work);

  // Engine thread: the buffer applied work appends notifications to.
  [[nodiscard]] std::vector<stats::Notification>& Notifications() { return out_; }
  // Engine thread: every applied event passes here (link state).
  void OnApplied(const stats::Event& e);

  [[nodiscard]] std::uint64_t NotificationsUndelivered() const { return undelivered_.load(); }

 private:
  void Run();

  const Clock& clock_;
  const bool wall_clock_;
  stats::Engine engine_;
  Sink sink_;
  LinkObserver link_observer_;
  std::vector<stats::Notification> out_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(stats::Engine&)>> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> undelivered_{0};
};

}  // namespace tally::server
