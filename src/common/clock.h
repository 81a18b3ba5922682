// Clock: the only source of "now" in Tally. Production code receives a Clock and never reads the
// system clock itself, so tests can move a ManualClock and replays can run on event time.
// Threading: SystemClock is stateless and thread-safe; ManualClock is thread-safe (atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tally {

// Milliseconds since the Unix epoch: the unit of every timestamp on Tally's wire and in its engine.
using TimeMs = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in epoch milliseconds.
  [[nodiscard]] virtual TimeMs NowMs() const = 0;
  // Monotonic time for measuring durations; never goes back.
  [[nodiscard]] virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimeMs NowMs() const override;
  [[nodiscard]] std::chrono::steady_clock::time_point SteadyNow() const override;
};

// A clock that moves only when told to. Steady time follows wall time, starting at the epoch of
// steady_clock, and is never moved backwards even if wall time is set back.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start_ms = 0) : now_ms_(start_ms), steady_ms_(0) {}

  [[nodiscard]] TimeMs NowMs() const override { return now_ms_.load(std::memory_order_acquire); }
  [[nodiscard]] std::chrono::steady_clock::time_point SteadyNow() const override;

  // Sets wall time; steady time advances by the forward part of the move only.
  void SetMs(TimeMs ms);
  void AdvanceMs(TimeMs delta_ms);

 private:
  std::atomic<TimeMs> now_ms_;
  std::atomic<std::int64_t> steady_ms_;
};

// The process-wide system clock (a stateless singleton).
[[nodiscard]] const Clock& DefaultClock();

}  // namespace tally
