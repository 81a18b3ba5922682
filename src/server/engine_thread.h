// EngineThread: the engine's single owner thread (DESIGN.md §1). Work is posted to it; before
// each piece of work, and every 100 ms, it moves the engine to the wall clock so peeks are
// current and periodic notifications and window resets happen on time.
// Threading: Post() from any thread; the engine is touched only on the engine thread (and by
// the caller of EngineForSetup() before Start()).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "api/statistics_api.h"
#include "common/clock.h"
#include "stats/engine.h"

namespace tally::server {

class EngineThread final : public api::EngineAccess {
 public:
  explicit EngineThread(const Clock& clock);
  ~EngineThread() override;

  [[nodiscard]] stats::Engine& EngineForSetup() { return engine_; }
  void Start();
  void Stop();
  void Post(std::function<void(stats::Engine&)> work) override;

  [[nodiscard]] std::uint64_t NotificationsDropped() const;

 private:
  void Run();

  const Clock& clock_;
  stats::Engine engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(stats::Engine&)>> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace tally::server
