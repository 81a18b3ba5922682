// Definition parsing (definition.h): masks, time profiles with their resets in IANA zones, time
// ranges, notification settings, and which object types a definition applies to.
// Threading: pure functions (the zone database is read-only after its first load).
#include "stats/definition.h"

#include <date/tz.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace tally::stats {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(sep, pos);
    out.push_back(Trim(s.substr(pos, next == std::string_view::npos ? s.npos : next - pos)));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

bool ParseInt(std::string_view s, std::int64_t& out) {
  s = Trim(s);
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double& out) {
  s = Trim(s);
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

Error Bad(std::string_view field, const std::string& what) {
  return Error{Errc::kInvalidArgument, std::string(field) + ": " + what};
}

// "HH:MM" or "H:MM" → minutes.
bool ParseClock(std::string_view s, int& minutes) {
  s = Trim(s);
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::int64_t h = 0;
  std::int64_t m = 0;
  if (!ParseInt(s.substr(0, colon), h) || !ParseInt(s.substr(colon + 1), m)) return false;
  if (s.size() - colon - 1 != 2) return false;
  if (h < 0 || h > 100'000 || m < 0 || m > 59) return false;  // no overflow below
  minutes = static_cast<int>(h * 60 + m);
  return true;
}

date::sys_time<std::chrono::milliseconds> ToSys(TimeMs t) {
  return date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(t));
}

// Local midnight (as sys time) of the local day containing `day`, in `zone` (null: UTC).
TimeMs LocalToSys(const date::time_zone* zone, date::local_days day, int minutes) {
  const auto local = day + std::chrono::minutes(minutes);
  if (zone == nullptr) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(local.time_since_epoch()).count();
  }
  const date::local_info info = zone->get_info(local);
  std::chrono::seconds offset = info.first.offset;
  if (info.result == date::local_info::nonexistent) {
    // A reset inside a spring-forward gap happens at the end of the gap.
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               (info.second.begin).time_since_epoch())
        .count();
  }
  // Ambiguous (fall back): the first occurrence.
  const auto sys = local.time_since_epoch() - offset;
  return std::chrono::duration_cast<std::chrono::milliseconds>(sys).count();
}

date::local_days LocalDay(const date::time_zone* zone, TimeMs t) {
  if (zone == nullptr)
    return date::local_days(date::floor<date::days>(ToSys(t)).time_since_epoch());
  const auto local = zone->to_local(ToSys(t));
  return date::floor<date::days>(local);
}

// All resets of the local day `day`, ascending.
std::vector<TimeMs> ResetsOfDay(const GrowingProfile& p, date::local_days day) {
  std::vector<TimeMs> out;
  if (p.period_minutes > 0) {
    for (int m = p.daily_minutes[0]; m < 24 * 60; m += p.period_minutes) {
      out.push_back(LocalToSys(p.zone, day, m));
    }
  } else {
    for (int m : p.daily_minutes) out.push_back(LocalToSys(p.zone, day, m));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string_view> Get(const KeyValues& fields, std::string_view key) {
  for (const auto& [k, v] : fields) {
    if (EqualsIgnoreCase(k, key)) return std::string_view(v);
  }
  return std::nullopt;
}

}  // namespace

const date::time_zone* FindZone(std::string_view name) {
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::exception&) {
    return nullptr;
  }
}

Result<Mask> ParseMask(std::string_view text, Subject subject, std::string_view field) {
  Mask mask;
  text = Trim(text);
  if (text.empty()) return Bad(field, "empty mask");
  const bool actions = subject == Subject::kDNAction;
  for (std::string_view item : Split(text, ',')) {
    if (item.empty()) return Bad(field, "empty entry in '" + std::string(text) + "'");
    bool exclude = false;
    if (item.front() == '~') {
      exclude = true;
      item = Trim(item.substr(1));
    }
    std::uint32_t bits = 0;
    if (item == "*" || (item.size() > 1 && item.back() == '*')) {
      const std::string_view prefix = item.substr(0, item.size() - 1);
      auto prefix_of = [&](std::string_view name) {
        return name.size() >= prefix.size() &&
               EqualsIgnoreCase(name.substr(0, prefix.size()), prefix);
      };
      if (actions) {
        for (int i = 0; i < kActionCount; ++i) {
          if (prefix_of(ActionName(static_cast<Action>(i)))) bits |= 1u << i;
        }
      } else {
        for (int code = 0; code <= 23; ++code) {
          const std::string_view name = StatusName(static_cast<Status>(code));
          if (name != "?" && prefix_of(name)) bits |= 1u << code;
        }
      }
      if (bits == 0) return Bad(field, "'" + std::string(item) + "' matches nothing");
    } else if (actions) {
      const auto a = ParseAction(item);
      if (!a) return Bad(field, "unknown action '" + std::string(item) + "'");
      bits = 1u << static_cast<int>(*a);
    } else {
      const auto s = ParseStatus(item);
      if (!s) return Bad(field, "unknown status '" + std::string(item) + "'");
      bits = 1u << static_cast<int>(*s);
    }
    std::uint32_t& target = actions ? mask.actions : mask.statuses;
    if (exclude) {
      target &= ~bits;
    } else {
      target |= bits;
    }
  }
  return mask;
}

Result<TimeRange> ParseTimeRange(std::string_view text, std::string_view field) {
  text = Trim(text);
  const size_t dash = text.find('-');
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  if (dash == std::string_view::npos || !ParseInt(text.substr(0, dash), lo) ||
      !ParseInt(text.substr(dash + 1), hi)) {
    return Bad(field, "expected \"a-b\" in seconds, got '" + std::string(text) + "'");
  }
  if (lo < 0 || hi <= lo) return Bad(field, "needs 0 <= a < b, got '" + std::string(text) + "'");
  // No duration is longer than the range of event times: a larger bound means "no bound" and
  // must not overflow when turned into milliseconds (issue 18, found by fuzzing).
  constexpr std::int64_t kMaxSeconds = kMaxEventTime / 1000 + 1;
  if (hi > kMaxSeconds) {
    return Bad(field, "b must be at most " + std::to_string(kMaxSeconds) + " seconds, got '" +
                          std::string(text) + "'");
  }
  return TimeRange{lo * 1000, hi * 1000};
}

Result<GrowingProfile> ParseGrowingProfile(std::string_view text, std::string_view field) {
  GrowingProfile p;
  text = Trim(text);
  p.text = std::string(text);
  if (text.empty() || EqualsIgnoreCase(text, "Default")) {
    p.daily_minutes = {0};
    return p;
  }
  const size_t plus = text.find('+');
  if (plus != std::string_view::npos) {
    int start = 0;
    int period = 0;
    if (!ParseClock(text.substr(0, plus), start) || !ParseClock(text.substr(plus + 1), period) ||
        start >= 24 * 60) {
      return Bad(field, "expected \"HH:MM+H:MM\" (start and period), got '" + p.text + "'");
    }
    if (period < 1) return Bad(field, "period must be at least 0:01");
    p.daily_minutes = {start};
    p.period_minutes = period;
    return p;
  }
  for (std::string_view part : Split(text, ',')) {
    int m = 0;
    if (!ParseClock(part, m) || m >= 24 * 60) {
      return Bad(field, "expected reset times \"HH:MM[,HH:MM…]\", got '" + p.text + "'");
    }
    p.daily_minutes.push_back(m);
  }
  std::sort(p.daily_minutes.begin(), p.daily_minutes.end());
  p.daily_minutes.erase(std::unique(p.daily_minutes.begin(), p.daily_minutes.end()),
                        p.daily_minutes.end());
  return p;
}

TimeMs NextReset(const GrowingProfile& p, TimeMs t) {
  const date::local_days day = LocalDay(p.zone, t);
  for (int d = -1; d <= 2; ++d) {
    for (TimeMs r : ResetsOfDay(p, day + date::days(d))) {
      if (r > t) return r;
    }
  }
  return t + 86'400'000;  // unreachable for valid profiles
}

TimeMs LastReset(const GrowingProfile& p, TimeMs t) {
  const date::local_days day = LocalDay(p.zone, t);
  TimeMs best = t - 2 * 86'400'000;
  for (int d = -2; d <= 1; ++d) {
    for (TimeMs r : ResetsOfDay(p, day + date::days(d))) {
      if (r <= t && r > best) best = r;
    }
  }
  return best;
}

bool Definition::IsCurrent() const {
  switch (category) {
    case Category::kCurrentNumber:
    case Category::kCurrentTime:
    case Category::kCurrentMaxTime:
    case Category::kCurrentMinTime:
    case Category::kCurrentAverageTime:
    case Category::kCurrentRelativeNumberPercentage:
    case Category::kCurrentRelativeTimePercentage:
    case Category::kCurrentContinuousTime:
    case Category::kCurrentNumberInTimeRange:
    case Category::kCurrentNumberInTimeRangePercentage:
    case Category::kCurrentState:
    case Category::kCurrentStateReasons: return true;
    default: return false;
  }
}

bool Definition::IsStateTree() const {
  return category == Category::kCurrentState || category == Category::kCurrentStateReasons;
}

bool Definition::NeedsRelMask() const {
  switch (category) {
    case Category::kCurrentRelativeNumberPercentage:
    case Category::kCurrentRelativeTimePercentage:
    case Category::kRelativeTimePercentage:
    case Category::kRelativeNumberPercentage:
    case Category::kRelativeNumber:
    case Category::kAverageNumberPerRelativeHour: return true;
    default: return false;
  }
}

Result<Definition> ParseDefinition(const KeyValues& fields, const date::time_zone* default_zone) {
  Definition def;
  const auto category = Get(fields, "category");
  if (!category || Trim(*category).empty()) return Bad("category", "is required");
  if (const auto c = ParseCategory(Trim(*category))) {
    def.category = *c;
  } else if (IsKnownUnsupportedCategory(Trim(*category))) {
    return Error{Errc::kUnsupported,
                 "category: '" + std::string(*category) +
                     "' is a Stat Server category that Tally does not compute (no documented "
                     "formula); see docs/statistics.md"};
  } else {
    return Bad("category", "unknown category '" + std::string(*category) + "'");
  }

  const auto subject = Get(fields, "subject");
  if (!subject || Trim(*subject).empty()) {
    def.subject = Subject::kDNAction;
  } else if (const auto s = ParseSubject(Trim(*subject))) {
    def.subject = *s;
  } else {
    return Bad("subject", "unknown subject '" + std::string(*subject) +
                              "' (DNAction, DNStatus, AgentStatus, PlaceStatus, GroupStatus)");
  }

  if (const auto mt = Get(fields, "maskType"); mt && !Trim(*mt).empty()) {
    if (!EqualsIgnoreCase(Trim(*mt), "DN") && !EqualsIgnoreCase(Trim(*mt), "DNAction") &&
        !EqualsIgnoreCase(Trim(*mt), "Status")) {
      return Bad("maskType", "only DN masks are supported, got '" + std::string(*mt) + "'");
    }
  }

  const auto main = Get(fields, "mainMask");
  if (!def.IsStateTree()) {
    if (!main) return Bad("mainMask", "is required");
    auto m = ParseMask(*main, def.subject, "mainMask");
    if (!m) return m.error();
    def.main = *m;
  } else {
    def.main.actions = ~0u;
    def.main.statuses = ~0u;
  }
  auto rel = Get(fields, "relMask");
  if (!rel) rel = Get(fields, "relativeMask");
  if (rel && !Trim(*rel).empty()) {
    auto m = ParseMask(*rel, def.subject, "relMask");
    if (!m) return m.error();
    def.rel = *m;
  }
  if (def.NeedsRelMask() && !def.rel) {
    return Bad("relMask", "is required by category " + std::string(CategoryName(def.category)));
  }

  const date::time_zone* zone = default_zone;
  if (const auto tz = Get(fields, "timeZone"); tz && !Trim(*tz).empty()) {
    zone = FindZone(Trim(*tz));
    if (zone == nullptr)
      return Bad("timeZone", "unknown IANA time zone '" + std::string(*tz) + "'");
  }

  if (const auto it = Get(fields, "intervalType"); it && !Trim(*it).empty()) {
    const auto t = ParseIntervalType(Trim(*it));
    if (!t) {
      return Bad("intervalType", "unknown interval type '" + std::string(*it) +
                                     "' (GrowingWindow, SlidingWindow, Selection, SinceLogin)");
    }
    def.interval = *t;
  }
  auto profile = Get(fields, "dynamicTimeProfile");
  if (!profile) profile = Get(fields, "timeProfile");
  const auto length = Get(fields, "intervalLength");
  switch (def.interval) {
    case IntervalType::kGrowingWindow: {
      auto g = ParseGrowingProfile(profile.value_or(""), "dynamicTimeProfile");
      if (!g) return g.error();
      def.growing = std::move(*g);
      def.growing.zone = zone;
      break;
    }
    case IntervalType::kSlidingWindow: {
      std::int64_t len = 0;
      std::int64_t step = 0;
      if (profile && !Trim(*profile).empty()) {
        const auto parts = Split(*profile, ',');
        if (parts.size() > 2 || !ParseInt(parts[0], len) ||
            (parts.size() == 2 && !ParseInt(parts[1], step))) {
          return Bad("dynamicTimeProfile",
                     "a sliding window is \"L,S\" (length and step in seconds), got '" +
                         std::string(*profile) + "'");
        }
      } else if (length) {
        if (!ParseInt(*length, len)) {
          return Bad("intervalLength", "expected seconds, got '" + std::string(*length) + "'");
        }
      } else {
        return Bad("dynamicTimeProfile", "a sliding window needs \"L,S\" or intervalLength");
      }
      if (len <= 0 || len > 7 * 86400)
        return Bad("dynamicTimeProfile", "length must be 1..604800 s");
      if (step == 0) step = std::max<std::int64_t>(1, len / 30);
      if (step < 0 || step > len) return Bad("dynamicTimeProfile", "step must be 1..length s");
      if ((len + step - 1) / step > 3600) {
        return Bad("dynamicTimeProfile", "at most 3600 steps per window (raise the step)");
      }
      def.sliding_length_ms = len * 1000;
      def.sliding_step_ms = step * 1000;
      break;
    }
    case IntervalType::kSelection: {
      std::int64_t n = 0;
      const std::string_view text = profile && !Trim(*profile).empty() ? *profile
                                    : length                           ? *length
                                                                       : std::string_view();
      if (!ParseInt(text, n) || n < 1 || n > 10000) {
        return Bad("dynamicTimeProfile",
                   "a selection window is the number of last items (1..10000), got '" +
                       std::string(text) + "'");
      }
      def.selection_size = static_cast<int>(n);
      break;
    }
    case IntervalType::kSinceLogin: break;
  }

  auto range = Get(fields, "dynamicTimeRange");
  if (!range) range = Get(fields, "timeRange");
  if (range && !Trim(*range).empty()) {
    auto r = ParseTimeRange(*range, "dynamicTimeRange");
    if (!r) return r.error();
    def.range = *r;
  }
  auto range2 = Get(fields, "dynamicTimeRange2");
  if (!range2) range2 = Get(fields, "timeRange2");
  if (range2 && !Trim(*range2).empty()) {
    auto r = ParseTimeRange(*range2, "dynamicTimeRange2");
    if (!r) return r.error();
    def.range2 = *r;
  }

  if (const auto f = Get(fields, "dynamicFilter"); f && !Trim(*f).empty()) {
    auto parsed = ParseFilter(*f);
    if (!parsed) return parsed.error();
    def.filter = *parsed;
    def.filter_text = std::string(*f);
  } else if (const auto f2 = Get(fields, "filter"); f2 && !Trim(*f2).empty()) {
    auto parsed = ParseFilter(*f2);
    if (!parsed) return parsed.error();
    def.filter = *parsed;
    def.filter_text = std::string(*f2);
  }

  if (const auto m = Get(fields, "notificationMode"); m && !Trim(*m).empty()) {
    const auto mode = ParseNotificationMode(Trim(*m));
    if (!mode) {
      return Bad("notificationMode",
                 "unknown mode '" + std::string(*m) +
                     "' (Immediate, Changes, Periodical, Reset, NoNotification)");
    }
    def.mode = *mode;
  }
  if (const auto f = Get(fields, "notificationFrequency"); f && !Trim(*f).empty()) {
    if (!ParseInt(*f, def.frequency_s) || def.frequency_s < 1 || def.frequency_s > 86400) {
      return Bad("notificationFrequency",
                 "expected whole seconds 1..86400, got '" + std::string(*f) + "'");
    }
  }
  if (const auto ins = Get(fields, "insensitivity"); ins && !Trim(*ins).empty()) {
    if (!ParseDouble(*ins, def.insensitivity) || def.insensitivity < 0) {
      return Bad("insensitivity", "expected a number >= 0, got '" + std::string(*ins) + "'");
    }
  }
  if (def.mode == NotificationMode::kReset && def.interval != IntervalType::kGrowingWindow) {
    return Bad("notificationMode", "Reset needs intervalType GrowingWindow");
  }
  if (def.mode == NotificationMode::kReset && def.IsCurrent()) {
    return Bad("notificationMode", "Reset applies to historical categories only");
  }

  auto objects = Get(fields, "objects");
  if (!objects) objects = Get(fields, "objectTypes");
  if (objects && !Trim(*objects).empty()) {
    for (std::string_view o : Split(*objects, ',')) {
      const auto t = ParseObjectType(o);
      if (!t) return Bad("objects", "unknown object type '" + std::string(o) + "'");
      def.objects.push_back(*t);
    }
  }
  if (def.category == Category::kServiceFactor1 && def.subject != Subject::kDNAction) {
    return Bad("subject", "ServiceFactor1 needs subject DNAction");
  }
  return def;
}

Result<void> CheckApplicable(const Definition& def, ObjectType type) {
  auto refuse = [&](const std::string& why) -> Result<void> {
    return Error{Errc::kInvalidArgument, "definition: " + std::string(CategoryName(def.category)) +
                                             "/" + std::string(SubjectName(def.subject)) +
                                             " cannot be computed for " +
                                             std::string(ObjectTypeName(type)) + ": " + why};
  };
  const bool mediation = type == ObjectType::kQueue || type == ObjectType::kRoutePoint ||
                         type == ObjectType::kGroupQueues;
  switch (def.subject) {
    case Subject::kDNAction: break;
    case Subject::kDNStatus:
      if (mediation) return refuse("queues and routing points have no DN status statistics");
      break;
    case Subject::kAgentStatus:
      if (type != ObjectType::kAgent && type != ObjectType::kGroupAgents &&
          type != ObjectType::kTenant) {
        return refuse("AgentStatus applies to Agent, GroupAgents and Tenant");
      }
      break;
    case Subject::kPlaceStatus:
      if (type != ObjectType::kPlace && type != ObjectType::kGroupPlaces &&
          type != ObjectType::kTenant) {
        return refuse("PlaceStatus applies to Place, GroupPlaces and Tenant");
      }
      break;
    case Subject::kGroupStatus:
      if (type != ObjectType::kGroupAgents && type != ObjectType::kGroupPlaces) {
        return refuse("GroupStatus applies to GroupAgents and GroupPlaces");
      }
      break;
  }
  if (def.IsStateTree() && type != ObjectType::kAgent && type != ObjectType::kPlace &&
      type != ObjectType::kGroupAgents && type != ObjectType::kGroupPlaces &&
      type != ObjectType::kRegDN) {
    return refuse("state trees exist for Agent, Place, RegDN, GroupAgents and GroupPlaces");
  }
  if (def.category == Category::kCurrentContinuousTime) {
    const bool ok = (type == ObjectType::kAgent && def.subject == Subject::kAgentStatus) ||
                    (type == ObjectType::kPlace && def.subject == Subject::kPlaceStatus) ||
                    (type == ObjectType::kRegDN && def.subject == Subject::kDNStatus);
    if (!ok) {
      return refuse(
          "CurrentContinuousTime needs one status: Agent+AgentStatus, Place+PlaceStatus or "
          "RegDN+DNStatus");
    }
  }
  if (def.interval == IntervalType::kSinceLogin && type != ObjectType::kAgent) {
    return refuse("SinceLogin windows exist for agents only");
  }
  return {};
}

}  // namespace tally::stats
