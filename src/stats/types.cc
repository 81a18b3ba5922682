// Names of the engine vocabulary (types.h) as they appear on the wire, and their parsers.
// Threading: pure functions.
#include "stats/types.h"

#include <array>
#include <utility>

namespace tally::stats {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a == b) return true;  // the common case (the canonical spelling), one memcmp
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

namespace {

template <typename E, size_t N>
std::optional<E> Lookup(const std::array<std::pair<std::string_view, E>, N>& table,
                        std::string_view name) {
  for (const auto& [n, e] : table) {
    if (EqualsIgnoreCase(n, name)) return e;
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<std::string_view, E>, N>& table, E e) {
  for (const auto& [n, v] : table) {
    if (v == e) return n;
  }
  return "?";
}

constexpr std::array<std::pair<std::string_view, ObjectType>, 13> kObjectTypes = {{
    {"Agent", ObjectType::kAgent},
    {"Place", ObjectType::kPlace},
    {"RegDN", ObjectType::kRegDN},
    {"GroupAgents", ObjectType::kGroupAgents},
    {"GroupPlaces", ObjectType::kGroupPlaces},
    {"Queue", ObjectType::kQueue},
    {"RoutePoint", ObjectType::kRoutePoint},
    {"GroupQueues", ObjectType::kGroupQueues},
    {"Tenant", ObjectType::kTenant},
    {"AgentPlace", ObjectType::kPlace},
    {"AgentGroup", ObjectType::kGroupAgents},
    {"PlaceGroup", ObjectType::kGroupPlaces},
    {"RoutingPoint", ObjectType::kRoutePoint},
}};

constexpr std::array<std::pair<std::string_view, Subject>, 6> kSubjects = {{
    {"DNAction", Subject::kDNAction},
    {"DNStatus", Subject::kDNStatus},
    {"AgentStatus", Subject::kAgentStatus},
    {"PlaceStatus", Subject::kPlaceStatus},
    {"GroupStatus", Subject::kGroupStatus},
    {"Action", Subject::kDNAction},
}};

constexpr std::array<std::pair<std::string_view, Status>, 17> kStatuses = {{
    {"NotMonitored", Status::kNotMonitored},
    {"Monitored", Status::kMonitored},
    {"LoggedIn", Status::kLoggedIn},
    {"OnHook", Status::kOnHook},
    {"WaitForNextCall", Status::kWaitForNextCall},
    {"OffHook", Status::kOffHook},
    {"CallDialing", Status::kCallDialing},
    {"CallRinging", Status::kCallRinging},
    {"NotReadyForNextCall", Status::kNotReadyForNextCall},
    {"AfterCallWork", Status::kAfterCallWork},
    {"CallOnHold", Status::kCallOnHold},
    {"CallUnknown", Status::kCallUnknown},
    {"CallConsult", Status::kCallConsult},
    {"CallInternal", Status::kCallInternal},
    {"CallOutbound", Status::kCallOutbound},
    {"CallInbound", Status::kCallInbound},
    {"LoggedOut", Status::kLoggedOut},
}};

constexpr std::array<std::pair<std::string_view, Action>, kActionCount> kActions = {{
    {"LoggedIn", Action::kLoggedIn},
    {"WaitForNextCall", Action::kWaitForNextCall},
    {"NotReadyForNextCall", Action::kNotReadyForNextCall},
    {"AfterCallWork", Action::kAfterCallWork},
    {"OffHook", Action::kOffHook},
    {"OnHook", Action::kOnHook},
    {"CallDialing", Action::kCallDialing},
    {"CallRinging", Action::kCallRinging},
    {"CallInbound", Action::kCallInbound},
    {"CallOutbound", Action::kCallOutbound},
    {"CallInternal", Action::kCallInternal},
    {"CallConsult", Action::kCallConsult},
    {"CallUnknown", Action::kCallUnknown},
    {"CallOnHold", Action::kCallOnHold},
    {"CallWait", Action::kCallWait},
    {"CallEntered", Action::kCallEntered},
    {"CallDistributed", Action::kCallDistributed},
    {"CallAbandoned", Action::kCallAbandoned},
    {"CallAnswered", Action::kCallAnswered},
    {"CallAbandonedFromRinging", Action::kCallAbandonedFromRinging},
    {"CallMissed", Action::kCallMissed},
    {"CallTransferMade", Action::kCallTransferMade},
    {"CallReleased", Action::kCallReleased},
}};

constexpr std::array<std::pair<std::string_view, Category>, 33> kCategories = {{
    {"CurrentNumber", Category::kCurrentNumber},
    {"CurrentTime", Category::kCurrentTime},
    {"CurrentMaxTime", Category::kCurrentMaxTime},
    {"CurrentMinTime", Category::kCurrentMinTime},
    {"CurrentAverageTime", Category::kCurrentAverageTime},
    {"CurrentRelativeNumberPercentage", Category::kCurrentRelativeNumberPercentage},
    {"CurrentRelativeTimePercentage", Category::kCurrentRelativeTimePercentage},
    {"CurrentContinuousTime", Category::kCurrentContinuousTime},
    {"CurrentNumberInTimeRange", Category::kCurrentNumberInTimeRange},
    {"CurrentNumberInTimeRangePercentage", Category::kCurrentNumberInTimeRangePercentage},
    {"CurrentState", Category::kCurrentState},
    {"CurrentStateReasons", Category::kCurrentStateReasons},
    {"TotalNumber", Category::kTotalNumber},
    {"TotalTime", Category::kTotalTime},
    {"TotalAdjustedNumber", Category::kTotalAdjustedNumber},
    {"TotalAdjustedTime", Category::kTotalAdjustedTime},
    {"AverageTime", Category::kAverageTime},
    {"MaxTime", Category::kMaxTime},
    {"MinTime", Category::kMinTime},
    {"MaxNumber", Category::kMaxNumber},
    {"MinNumber", Category::kMinNumber},
    {"ElapsedTimePercentage", Category::kElapsedTimePercentage},
    {"RelativeTimePercentage", Category::kRelativeTimePercentage},
    {"RelativeNumberPercentage", Category::kRelativeNumberPercentage},
    {"RelativeNumber", Category::kRelativeNumber},
    {"TotalNumberInTimeRange", Category::kTotalNumberInTimeRange},
    {"TotalNumberInTimeRangePercentage", Category::kTotalNumberInTimeRangePercentage},
    {"TotalTimeInTimeRange", Category::kTotalTimeInTimeRange},
    {"TotalNumberPerSecond", Category::kTotalNumberPerSecond},
    {"AverageNumberPerRelativeHour", Category::kAverageNumberPerRelativeHour},
    {"AverageOfCurrentNumber", Category::kAverageOfCurrentNumber},
    {"AverageOfCurrentTime", Category::kAverageOfCurrentTime},
    {"ServiceFactor1", Category::kServiceFactor1},
}};

constexpr std::array<std::string_view, 22> kUnsupportedCategories = {
    "EstimTimeToEndCurrentNumber",
    "LoadBalance1",
    "TotalNumberErrors",
    "TotalCustomValue",
    "AverageCustomValue",
    "MinCustomValue",
    "MaxCustomValue",
    "CurrentCustomValue",
    "CurrentAverageCustomValue",
    "CurrentMinCustomValue",
    "CurrentMaxCustomValue",
    "EstimWaitingTime",
    "LoadBalance",
    "EstimTimeToComplete",
    "JavaCategory",
    "CurrentTargetState",
    "CurrentDistinctNumber",
    "Formula",
    "TotalDistinctTime",
    "TotalContinuousNumber",
    "ExpectedWaitTime2",
    "EstimWaitTime",
};

constexpr std::array<std::pair<std::string_view, IntervalType>, 5> kIntervalTypes = {{
    {"GrowingWindow", IntervalType::kGrowingWindow},
    {"SlidingWindow", IntervalType::kSlidingWindow},
    {"Selection", IntervalType::kSelection},
    {"SinceLogin", IntervalType::kSinceLogin},
    {"SlidingSelection", IntervalType::kSelection},
}};

constexpr std::array<std::pair<std::string_view, NotificationMode>, 5> kModes = {{
    {"Immediate", NotificationMode::kImmediate},
    {"Periodical", NotificationMode::kPeriodical},
    {"Reset", NotificationMode::kReset},
    {"NoNotification", NotificationMode::kNoNotification},
    {"Changes", NotificationMode::kImmediate},
}};

constexpr std::array<std::pair<std::string_view, CallType>, 5> kCallTypes = {{
    {"Unknown", CallType::kUnknown},
    {"Inbound", CallType::kInbound},
    {"Outbound", CallType::kOutbound},
    {"Internal", CallType::kInternal},
    {"Consult", CallType::kConsult},
}};

}  // namespace

std::optional<ObjectType> ParseObjectType(std::string_view name) {
  return Lookup(kObjectTypes, name);
}
std::string_view ObjectTypeName(ObjectType t) { return NameOf(kObjectTypes, t); }
std::optional<Subject> ParseSubject(std::string_view name) { return Lookup(kSubjects, name); }
std::string_view SubjectName(Subject s) { return NameOf(kSubjects, s); }
std::string_view StatusName(Status s) { return NameOf(kStatuses, s); }
std::optional<Status> ParseStatus(std::string_view name) { return Lookup(kStatuses, name); }
std::string_view ActionName(Action a) { return NameOf(kActions, a); }
std::optional<Action> ParseAction(std::string_view name) { return Lookup(kActions, name); }

bool IsDurable(Action a) { return static_cast<int>(a) <= static_cast<int>(Action::kCallWait); }

std::optional<Status> StatusOfAction(Action a) {
  switch (a) {
    case Action::kLoggedIn: return Status::kLoggedIn;
    case Action::kWaitForNextCall: return Status::kWaitForNextCall;
    case Action::kNotReadyForNextCall: return Status::kNotReadyForNextCall;
    case Action::kAfterCallWork: return Status::kAfterCallWork;
    case Action::kOffHook: return Status::kOffHook;
    case Action::kOnHook: return Status::kOnHook;
    case Action::kCallDialing: return Status::kCallDialing;
    case Action::kCallRinging: return Status::kCallRinging;
    case Action::kCallInbound: return Status::kCallInbound;
    case Action::kCallOutbound: return Status::kCallOutbound;
    case Action::kCallInternal: return Status::kCallInternal;
    case Action::kCallConsult: return Status::kCallConsult;
    case Action::kCallUnknown: return Status::kCallUnknown;
    case Action::kCallOnHold: return Status::kCallOnHold;
    default: return std::nullopt;
  }
}

std::optional<Category> ParseCategory(std::string_view name) { return Lookup(kCategories, name); }
std::string_view CategoryName(Category c) { return NameOf(kCategories, c); }

bool IsKnownUnsupportedCategory(std::string_view name) {
  for (auto n : kUnsupportedCategories) {
    if (EqualsIgnoreCase(n, name)) return true;
  }
  return false;
}

std::optional<IntervalType> ParseIntervalType(std::string_view name) {
  return Lookup(kIntervalTypes, name);
}
std::string_view IntervalTypeName(IntervalType t) { return NameOf(kIntervalTypes, t); }
std::optional<NotificationMode> ParseNotificationMode(std::string_view name) {
  return Lookup(kModes, name);
}
std::string_view NotificationModeName(NotificationMode m) { return NameOf(kModes, m); }
std::optional<CallType> ParseCallType(std::string_view name) { return Lookup(kCallTypes, name); }
std::string_view CallTypeName(CallType t) { return NameOf(kCallTypes, t); }

}  // namespace tally::stats
