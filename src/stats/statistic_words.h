// Internal to the accumulator (statistic.cc, statistic_read.cc): how the parts of a state are
// kept in its 64-bit words — pointers to owned parts, doubles, the interval fields, the
// sentinels — and the range check of times read from snapshots.
// Threading: constants and pure functions only.
#pragma once

#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/binary.h"
#include "stats/event.h"
#include "stats/statistic.h"

namespace tally::stats::words {

// No open item (one-unit episodes).
inline constexpr TimeMs kNoStart = INT64_MIN;

// Window boundaries may lie a little past the last valid time (the next reset or sliding step
// after it): a sliding step is at most 7 days, a day has at most 25 hours.
inline constexpr TimeMs kMaxBoundary = kMaxEventTime + 8 * 86'400'000LL;

// A time read from a snapshot; outside the valid range the input is malformed.
inline TimeMs GetTime(BinaryReader& r, TimeMs max = kMaxEventTime) {
  const TimeMs t = r.I64();
  if (t < kMinEventTime || t > max) {
    r.Fail();
    return kMinEventTime;
  }
  return t;
}

// Interval fields in words: the four counts, then (wide) the rest.
enum AggField : int {
  kStarted = 0,
  kClosed,
  kClosedTime,
  kAdjTime,
  kMaxDur,
  kMinDur,
  kRange,
  kRangeTime,
  kMaxCurrent,
  kMinCurrent,
  kIntegralX2,     // double
  kCountIntegral,  // double
  kWideWords,
};

// The two integrals are doubles kept in words (copied, never aliased).
inline double AsDouble(const std::int64_t& w) {
  double d = 0;
  std::memcpy(&d, &w, sizeof d);
  return d;
}
inline void SetDouble(std::int64_t& w, double d) { std::memcpy(&w, &d, sizeof d); }
inline void AddDouble(std::int64_t& w, double d) { SetDouble(w, AsDouble(w) + d); }

struct PendingClose {
  std::uint64_t unit;
  TimeMs start;
  TimeMs end;
};
using PendingList = std::vector<PendingClose>;

struct SelectionRing {
  std::vector<SelectedItem> items;
  size_t next = 0;
  std::int64_t count = 0;
};

// Owned parts are kept as pointers in words.
template <typename T>
T* Ptr(std::uint64_t w) {
  return reinterpret_cast<T*>(static_cast<std::uintptr_t>(w));
}
template <typename T>
std::uint64_t Word(T* p) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
}

}  // namespace tally::stats::words
