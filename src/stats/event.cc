// Event type names (event.h).
// Threading: pure functions.
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

std::string OrderKey(const Event& e) {
  std::string key;
  OrderKeyInto(e, key);
  return key;
}

void OrderKeyInto(const Event& e, std::string& out) {
  out.assign(e.this_dn);
  if (e.this_dn.empty() || e.this_dn.find('@') != std::string::npos) return;
  out += '@';
  out += e.switch_id.empty() ? std::string_view("default") : std::string_view(e.switch_id);
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
