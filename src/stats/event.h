// The engine's input: one normalized contact-center event (DESIGN.md §3). The `events` module
// builds these from JSON; tests build them directly.
// Threading: plain value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "stats/types.h"

namespace tally::stats {

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
[[nodiscard]] bool ParseEventType(std::string_view name, EventType& out);

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Data attached to actions and statuses: what filters look at.
struct Attributes {
  std::string media_type = "voice";
  CallType call_type = CallType::kUnknown;
  std::string this_queue;
  std::string ani;
  std::string dnis;
  KeyValues reasons;
  KeyValues user_data;
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
};

}  // namespace tally::stats
