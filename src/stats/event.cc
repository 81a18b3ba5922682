#include "stats/event.h"

#include <array>

namespace tally::stats {
namespace {

constexpr std::array<std::pair<std::string_view, EventType>, 19> kEventTypes = {{
    {"EventAgentLogin", EventType::kAgentLogin},
    {"EventAgentLogout", EventType::kAgentLogout},
    {"EventAgentReady", EventType::kAgentReady},
    {"EventAgentNotReady", EventType::kAgentNotReady},
    {"EventOffHook", EventType::kOffHook},
    {"EventOnHook", EventType::kOnHook},
    {"EventDialing", EventType::kDialing},
    {"EventRinging", EventType::kRinging},
    {"EventEstablished", EventType::kEstablished},
    {"EventReleased", EventType::kReleased},
    {"EventHeld", EventType::kHeld},
    {"EventRetrieved", EventType::kRetrieved},
    {"EventQueued", EventType::kQueued},
    {"EventDiverted", EventType::kDiverted},
    {"EventAbandoned", EventType::kAbandoned},
    {"EventAttachedDataChanged", EventType::kAttachedDataChanged},
    {"EventLinkDisconnected", EventType::kLinkDisconnected},
    {"EventLinkConnected", EventType::kLinkConnected},
    {"EventTick", EventType::kTick},
}};

}  // namespace

std::string_view EventTypeName(EventType t) {
  for (const auto& [n, e] : kEventTypes) {
    if (e == t) return n;
  }
  return "?";
}

bool ParseEventType(std::string_view name, EventType& out) {
  for (const auto& [n, e] : kEventTypes) {
    if (n == name) {
      out = e;
      return true;
    }
  }
  return false;
}

}  // namespace tally::stats
