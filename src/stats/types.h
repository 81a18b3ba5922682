// Vocabulary of the statistics engine: object types, subjects, categories, statuses, actions,
// interval types and notification modes, with their names as they appear on the wire.
// Threading: constants and pure functions only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::stats {

enum class ObjectType {
  kAgent,
  kPlace,
  kRegDN,
  kGroupAgents,
  kGroupPlaces,
  kQueue,
  kRoutePoint,
  kGroupQueues,
  kTenant,
};
inline constexpr int kObjectTypeCount = 9;

// Accepts the canonical names and the aliases AgentPlace, AgentGroup, PlaceGroup, RoutingPoint
// (case-insensitive).
[[nodiscard]] std::optional<ObjectType> ParseObjectType(std::string_view name);
[[nodiscard]] std::string_view ObjectTypeName(ObjectType t);

enum class Subject { kDNAction, kDNStatus, kAgentStatus, kPlaceStatus, kGroupStatus };
[[nodiscard]] std::optional<Subject> ParseSubject(std::string_view name);  // "Action" = DNAction
[[nodiscard]] std::string_view SubjectName(Subject s);

// Object statuses. The numeric values are the Stat Server codes carried in CurrentState values,
// and their order is the status priority (a higher code wins), DESIGN.md §4.
enum class Status : std::uint8_t {
  kNotMonitored = 0,
  kMonitored = 1,
  kLoggedIn = 2,
  kOnHook = 3,
  kWaitForNextCall = 4,
  kOffHook = 5,
  kCallDialing = 6,
  kCallRinging = 7,
  kNotReadyForNextCall = 8,
  kAfterCallWork = 9,
  kCallOnHold = 13,
  kCallUnknown = 18,
  kCallConsult = 19,
  kCallInternal = 20,
  kCallOutbound = 21,
  kCallInbound = 22,
  kLoggedOut = 23,
};
[[nodiscard]] std::string_view StatusName(Status s);

// Actions: durable ones span an interval; instantaneous ones happen at a moment and may carry a
// duration (retrospective). Status-named durable actions produce the status of the same name.
enum class Action : std::uint8_t {
  // durable, regular DN
  kLoggedIn,
  kWaitForNextCall,
  kNotReadyForNextCall,
  kAfterCallWork,
  kOffHook,
  kOnHook,
  kCallDialing,
  kCallRinging,
  kCallInbound,
  kCallOutbound,
  kCallInternal,
  kCallConsult,
  kCallUnknown,
  kCallOnHold,
  // durable, mediation DN (queue, routing point)
  kCallWait,
  // instantaneous
  kCallEntered,               // momentary: a call entered the queue
  kCallDistributed,           // retrospective: left the queue to a target (duration: wait)
  kCallAbandoned,             // retrospective: caller hung up in the queue (duration: wait)
  kCallAnswered,              // retrospective: DN: ringing→answer; queue: entered→answer
  kCallAbandonedFromRinging,  // retrospective: caller hung up while ringing (duration: ring)
  kCallMissed,                // retrospective: ringing call taken elsewhere (duration: ring)
  kCallTransferMade,          // momentary: the DN transferred a call
  kCallReleased,              // retrospective: an established call ended (duration: talk)
  kCount,
};
inline constexpr int kActionCount = static_cast<int>(Action::kCount);

[[nodiscard]] std::string_view ActionName(Action a);
[[nodiscard]] std::optional<Action> ParseAction(std::string_view name);
[[nodiscard]] bool IsDurable(Action a);
// The status a durable action produces on a regular DN, if any.
[[nodiscard]] std::optional<Status> StatusOfAction(Action a);
[[nodiscard]] std::optional<Status> ParseStatus(std::string_view name);

enum class Category {
  kCurrentNumber,
  kCurrentTime,
  kCurrentMaxTime,
  kCurrentMinTime,
  kCurrentAverageTime,
  kCurrentRelativeNumberPercentage,
  kCurrentRelativeTimePercentage,
  kCurrentContinuousTime,
  kCurrentNumberInTimeRange,
  kCurrentNumberInTimeRangePercentage,
  kCurrentState,
  kCurrentStateReasons,
  kTotalNumber,
  kTotalTime,
  kTotalAdjustedNumber,
  kTotalAdjustedTime,
  kAverageTime,
  kMaxTime,
  kMinTime,
  kMaxNumber,
  kMinNumber,
  kElapsedTimePercentage,
  kRelativeTimePercentage,
  kRelativeNumberPercentage,
  kRelativeNumber,
  kTotalNumberInTimeRange,
  kTotalNumberInTimeRangePercentage,
  kTotalTimeInTimeRange,
  kTotalNumberPerSecond,
  kAverageNumberPerRelativeHour,
  kAverageOfCurrentNumber,
  kAverageOfCurrentTime,
  kServiceFactor1,
};
[[nodiscard]] std::optional<Category> ParseCategory(std::string_view name);
[[nodiscard]] std::string_view CategoryName(Category c);
// True for categories that exist in Stat Server but that Tally refuses (no documented formula).
[[nodiscard]] bool IsKnownUnsupportedCategory(std::string_view name);

enum class IntervalType { kGrowingWindow, kSlidingWindow, kSelection, kSinceLogin };
[[nodiscard]] std::optional<IntervalType> ParseIntervalType(std::string_view name);
[[nodiscard]] std::string_view IntervalTypeName(IntervalType t);

enum class NotificationMode { kImmediate, kPeriodical, kReset, kNoNotification };
[[nodiscard]] std::optional<NotificationMode> ParseNotificationMode(std::string_view name);
[[nodiscard]] std::string_view NotificationModeName(NotificationMode m);

enum class CallType : std::uint8_t { kUnknown, kInbound, kOutbound, kInternal, kConsult };
[[nodiscard]] std::optional<CallType> ParseCallType(std::string_view name);
[[nodiscard]] std::string_view CallTypeName(CallType t);

// Case-insensitive ASCII comparison.
[[nodiscard]] bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace tally::stats
