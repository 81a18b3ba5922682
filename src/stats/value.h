// Values the engine produces: numbers, and CurrentState trees (agent → place → DNs → actions).
// The API layer renders them as JSON (shapes in docs/api.md).
// Threading: plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "stats/event.h"
#include "stats/types.h"

namespace tally::stats {

struct ActionState {
  Action action;
  TimeMs time;  // start
  std::string conn_id;
  std::string media_type;
  KeyValues reasons;
};

struct DnState {
  std::string dn_id;
  std::string switch_id;
  Status status;
  TimeMs time;
  KeyValues reasons;                 // CurrentStateReasons only
  std::vector<ActionState> actions;  // DNAction subject only
};

struct PlaceState {
  std::string place_id;
  Status status;
  TimeMs time;
  std::vector<DnState> dns;
};

struct AgentState {
  std::string agent_id;
  Status status;
  TimeMs time;
  KeyValues reasons;  // CurrentStateReasons only
  bool has_place = false;
  PlaceState place;
};

struct StateTree {
  enum class Kind { kAgent, kPlace, kDn, kGroupAgents, kGroupPlaces } kind = Kind::kAgent;
  AgentState agent;                // kAgent
  PlaceState place;                // kPlace
  DnState dn;                      // kDn
  std::string group_id;            // groups
  std::vector<AgentState> agents;  // kGroupAgents
  std::vector<PlaceState> places;  // kGroupPlaces
  bool with_reasons = false;
};

struct StatValue {
  double number = 0;                       // durations in seconds, percentages in percent
  std::int64_t int_value = 0;              // rounded number, or the status code of a state
  std::string string_value;                // number as text, or the status name
  TimeMs timestamp = 0;                    // when the value was computed
  std::int64_t interval_length_s = 0;      // length of the window the value covers
  std::shared_ptr<const StateTree> state;  // CurrentState / CurrentStateReasons

  [[nodiscard]] bool SameAs(const StatValue& other) const;
};

}  // namespace tally::stats
