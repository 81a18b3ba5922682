#include "common/clock.h"

namespace tally {

TimeMs SystemClock::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::steady_clock::time_point SystemClock::SteadyNow() const {
  return std::chrono::steady_clock::now();
}

std::chrono::steady_clock::time_point ManualClock::SteadyNow() const {
  return std::chrono::steady_clock::time_point(
      std::chrono::milliseconds(steady_ms_.load(std::memory_order_acquire)));
}

void ManualClock::SetMs(TimeMs ms) {
  const TimeMs old = now_ms_.exchange(ms, std::memory_order_acq_rel);
  if (ms > old) steady_ms_.fetch_add(ms - old, std::memory_order_acq_rel);
}

void ManualClock::AdvanceMs(TimeMs delta_ms) {
  if (delta_ms <= 0) return;
  now_ms_.fetch_add(delta_ms, std::memory_order_acq_rel);
  steady_ms_.fetch_add(delta_ms, std::memory_order_acq_rel);
}

const Clock& DefaultClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace tally
