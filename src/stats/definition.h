// Statistic definitions: category, subject, masks, time profile, time ranges, filter and
// notification settings, parsed from the key/value form used by both the REST API (ad-hoc
// `definition` objects) and the catalog file. Numbers may be given as strings, enum values in any
// case, unknown keys are ignored (Genesys' own definitions carry keys such as `location`).
// Threading: a parsed Definition is an immutable value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"
#include "stats/event.h"
#include "stats/filter.h"
#include "stats/types.h"

namespace date {
class time_zone;
}

namespace tally::stats {

// A set of actions (DNAction subject) or statuses (status subjects), as bits.
struct Mask {
  std::uint32_t actions = 0;   // bit i: Action(i)
  std::uint32_t statuses = 0;  // bit i: Status with code i
  [[nodiscard]] bool HasAction(Action a) const { return (actions >> static_cast<int>(a)) & 1u; }
  [[nodiscard]] bool HasStatus(Status s) const { return (statuses >> static_cast<int>(s)) & 1u; }
  [[nodiscard]] bool Empty() const { return actions == 0 && statuses == 0; }
};

// Parses "*", "A,B", "*,~LoggedOut", "Call*" (prefix) for the given subject. `field` names the
// key in errors.
[[nodiscard]] Result<Mask> ParseMask(std::string_view text, Subject subject,
                                     std::string_view field);

// [lo, hi) in milliseconds; durations are truncated to whole seconds before the test (spec §8).
struct TimeRange {
  std::int64_t lo_ms = 0;
  std::int64_t hi_ms = 20'000;
  [[nodiscard]] bool Contains(std::int64_t duration_ms) const {
    const std::int64_t d = duration_ms / 1000 * 1000;
    return d >= lo_ms && d < hi_ms;
  }
};
[[nodiscard]] Result<TimeRange> ParseTimeRange(std::string_view text, std::string_view field);

// Growing-window resets: daily times, or a start and a period, in a time zone.
struct GrowingProfile {
  std::vector<int> daily_minutes;  // minutes after local midnight, sorted
  int period_minutes = 0;          // > 0: resets at daily_minutes[0] + k*period within the day
  const date::time_zone* zone = nullptr;  // null: UTC
  std::string text;                       // as given, for display
};
[[nodiscard]] Result<GrowingProfile> ParseGrowingProfile(std::string_view text,
                                                         std::string_view field);
// The first reset strictly after `t`.
[[nodiscard]] TimeMs NextReset(const GrowingProfile& p, TimeMs t);
// The last reset at or before `t`.
[[nodiscard]] TimeMs LastReset(const GrowingProfile& p, TimeMs t);

// Resolves an IANA zone name ("Europe/Paris", "UTC"); null if unknown.
[[nodiscard]] const date::time_zone* FindZone(std::string_view name);

struct Definition {
  Category category = Category::kCurrentNumber;
  Subject subject = Subject::kDNAction;
  Mask main;
  std::optional<Mask> rel;
  IntervalType interval = IntervalType::kGrowingWindow;
  GrowingProfile growing;              // GrowingWindow
  std::int64_t sliding_length_ms = 0;  // SlidingWindow
  std::int64_t sliding_step_ms = 0;
  int selection_size = 0;           // Selection
  TimeRange range;                  // time-range categories and ServiceFactor1
  std::optional<TimeRange> range2;  // ServiceFactor1: abandoned calls not counted
  FilterPtr filter;
  std::string filter_text;
  NotificationMode mode = NotificationMode::kImmediate;
  std::int64_t frequency_s = 10;
  double insensitivity = 0;
  std::vector<ObjectType> objects;  // catalog: object types the statistic applies to

  [[nodiscard]] bool IsCurrent() const;    // instantaneous category (no window)
  [[nodiscard]] bool IsStateTree() const;  // CurrentState / CurrentStateReasons
  [[nodiscard]] bool NeedsRelMask() const;
};

// Parses a definition. `default_zone` is used when the definition has no `timeZone` (the
// tenant's zone); null means UTC.
[[nodiscard]] Result<Definition> ParseDefinition(const KeyValues& fields,
                                                 const date::time_zone* default_zone);

// Checks that the definition can be computed for an object of this type; the error says why not.
[[nodiscard]] Result<void> CheckApplicable(const Definition& def, ObjectType type);

}  // namespace tally::stats
