// The engine's input: one normalized contact-center event (DESIGN.md §3). The `events` module
// builds these from JSON; tests build them directly.
// Threading: plain value.
#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "stats/types.h"

namespace tally::stats {

// The valid range of event times and engine times, inclusive: 1970-01-01T00:00:00.000Z to
// 9999-12-31T23:59:59.999Z (docs/statistics.md §10). The engine refuses anything outside it
// (kInvalidArgument naming `time`), and ingest refuses the same range, so every time the engine
// adds to (timers, windows, resets, time zones) stays far from the limits of 64 bits.
inline constexpr TimeMs kMinEventTime = 0;
inline constexpr TimeMs kMaxEventTime = 253'402'300'799'999;
[[nodiscard]] constexpr bool IsValidEventTime(TimeMs t) {
  return t >= kMinEventTime && t <= kMaxEventTime;
}
// t + delta, saturated at the limits of TimeMs (never wraps, whatever the operands).
[[nodiscard]] constexpr TimeMs AddTime(TimeMs t, std::int64_t delta) {
  TimeMs sum = 0;
  if (__builtin_add_overflow(t, delta, &sum)) return delta > 0 ? INT64_MAX : INT64_MIN;
  return sum;
}

enum class EventType : std::uint8_t {
  kAgentLogin,
  kAgentLogout,
  kAgentReady,
  kAgentNotReady,
  kOffHook,
  kOnHook,
  kDialing,
  kRinging,
  kEstablished,
  kReleased,
  kHeld,
  kRetrieved,
  kQueued,
  kDiverted,
  kAbandoned,
  kAttachedDataChanged,
  kLinkDisconnected,
  kLinkConnected,
  kTick,
};
[[nodiscard]] std::string_view EventTypeName(EventType t);

struct Event;
// The DN an event's ordering rule applies to (DESIGN.md §3), as the engine names it: "7001@sw"
// ("7001" on the event's switch, "default" when none), or thisDN as given when it names its
// switch itself ("7001@sw"). Empty for events without thisDN.
[[nodiscard]] std::string OrderKey(const Event& e);
// The same key written into `out` (its buffer is reused: no allocation once it is large enough).
void OrderKeyInto(const Event& e, std::string& out);
[[nodiscard]] bool ParseEventType(std::string_view name, EventType& out);

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Filter results remembered on an Attributes record (Filter::MatchesRecord): up to three
// filters, each id with its result, in place (no allocation). A copy starts empty: a copy is made
// to be changed. Written by the thread that evaluates the filters (an engine thread), like the
// record it is part of; a record that every engine of the process shares (the plain-voice record,
// the empty one) is Disable()d before it is shared and remembers nothing.
class FilterMemo {
 public:
  FilterMemo() = default;
  FilterMemo(const FilterMemo& /*other*/) {}
  FilterMemo& operator=(const FilterMemo& /*other*/) {
    count_ = 0;
    return *this;
  }
  ~FilterMemo() = default;
  void Disable() { disabled_ = true; }
  // `filter` is a Filter's id (never 0, below 2^63).
  [[nodiscard]] std::optional<bool> Find(std::uint64_t filter) const {
    for (std::uint8_t i = 0; i < count_; ++i) {
      if (entries_[i] >> 1 == filter) return (entries_[i] & 1u) != 0;
    }
    return std::nullopt;
  }
  void Put(std::uint64_t filter, bool matches) const {
    if (disabled_ || count_ == kEntries) return;
    entries_[count_++] = filter << 1 | static_cast<std::uint64_t>(matches);
  }

 private:
  static constexpr std::uint8_t kEntries = 3;  // distinct filters per record are few
  mutable std::uint64_t entries_[kEntries] = {};
  mutable std::uint8_t count_ = 0;
  bool disabled_ = false;
};

// Data attached to actions and statuses: what filters look at.
struct Attributes {
  std::string media_type = "voice";
  CallType call_type = CallType::kUnknown;
  std::string this_queue;
  std::string ani;
  std::string dnis;
  KeyValues reasons;
  KeyValues user_data;
  FilterMemo filter_memo;
};
using AttributesPtr = std::shared_ptr<const Attributes>;

struct Event {
  EventType type = EventType::kTick;
  TimeMs time = 0;
  std::string tenant;
  std::string switch_id = "default";
  std::string this_dn;
  std::string agent_id;
  std::string place_id;
  std::string conn_id;
  std::string other_dn;
  std::string this_queue;
  CallType call_type = CallType::kUnknown;
  std::string media_type = "voice";
  std::string work_mode;  // "AfterCallWork" means ACW on EventAgentNotReady
  std::string call_state;  // on EventReleased: "Transferred", "Redirected", … (T-Library CallState)
  std::string ani;
  std::string dnis;
  KeyValues reasons;
  KeyValues user_data;
  // The number of tenant + OrderKey (KeyInterner), given by the decoder; 0: none (the engine
  // looks the key up by its string). Code that changes tenant, this_dn or switch_id of a decoded
  // event must reset it to 0.
  std::uint32_t key_id = 0;
};

}  // namespace tally::stats
