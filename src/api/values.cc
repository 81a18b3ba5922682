#include "api/values.h"

#include <boost/json.hpp>

namespace tally::api {
namespace json = boost::json;
namespace {

json::object Reasons(const stats::KeyValues& kv, const json::storage_ptr& sp) {
  json::object o(kv.size(), sp);
  for (const auto& [k, v] : kv) o[k] = v;
  return o;
}

json::object Dn(const stats::DnState& d, bool reasons, const json::storage_ptr& sp) {
  json::object o(8, sp);
  o["dnId"] = d.dn_id;
  o["switchId"] = d.switch_id;
  o["status"] = static_cast<int>(d.status);
  o["statusName"] = std::string(stats::StatusName(d.status));
  o["time"] = d.time;
  if (reasons) o["reasons"] = Reasons(d.reasons, sp);
  json::array actions(sp);
  actions.reserve(d.actions.size());
  for (const auto& a : d.actions) {
    json::object ao(5, sp);
    ao["action"] = std::string(stats::ActionName(a.action));
    ao["time"] = a.time;
    if (!a.conn_id.empty()) ao["connId"] = a.conn_id;
    ao["mediaType"] = a.media_type;
    ao["reasons"] = Reasons(a.reasons, sp);
    actions.push_back(std::move(ao));
  }
  o["actions"] = std::move(actions);
  return o;
}

json::object Place(const stats::PlaceState& p, bool reasons, const json::storage_ptr& sp) {
  json::object o(5, sp);
  o["placeId"] = p.place_id;
  o["status"] = static_cast<int>(p.status);
  o["statusName"] = std::string(stats::StatusName(p.status));
  o["time"] = p.time;
  json::array dns(sp);
  dns.reserve(p.dns.size());
  for (const auto& d : p.dns) dns.push_back(Dn(d, reasons, sp));
  o["dnStatuses"] = std::move(dns);
  return o;
}

json::object Agent(const stats::AgentState& a, bool reasons, const json::storage_ptr& sp) {
  json::object o(6, sp);
  o["agentId"] = a.agent_id;
  o["status"] = static_cast<int>(a.status);
  o["statusName"] = std::string(stats::StatusName(a.status));
  o["time"] = a.time;
  if (reasons) o["reasons"] = Reasons(a.reasons, sp);
  if (a.has_place) o["placeStatus"] = Place(a.place, reasons, sp);
  return o;
}

}  // namespace

json::value ValueJson(const stats::StatValue& v, const json::storage_ptr& sp) {
  json::object o(6, sp);
  o["intValue"] = v.int_value;
  o["stringValue"] = v.string_value;
  o["timestamp"] = v.timestamp;
  if (!v.state) {
    // Whole numbers as integers ("12", not "1.2E1"); others as JSON doubles.
    if (v.number == static_cast<double>(static_cast<std::int64_t>(v.number))) {
      o["doubleValue"] = static_cast<std::int64_t>(v.number);
    } else {
      o["doubleValue"] = v.number;
    }
    o["intervalLength"] = v.interval_length_s;
    return o;
  }
  const stats::StateTree& t = *v.state;
  const bool reasons = t.with_reasons;
  switch (t.kind) {
    case stats::StateTree::Kind::kAgent: o["agentStatus"] = Agent(t.agent, reasons, sp); break;
    case stats::StateTree::Kind::kPlace: o["placeStatus"] = Place(t.place, reasons, sp); break;
    case stats::StateTree::Kind::kDn: o["dnStatus"] = Dn(t.dn, reasons, sp); break;
    case stats::StateTree::Kind::kGroupAgents: {
      json::object g(2, sp);
      g["groupId"] = t.group_id;
      json::array agents(sp);
      agents.reserve(t.agents.size());
      for (const auto& a : t.agents) agents.push_back(Agent(a, reasons, sp));
      g["agents"] = std::move(agents);
      o["groupStatus"] = std::move(g);
      break;
    }
    case stats::StateTree::Kind::kGroupPlaces: {
      json::object g(2, sp);
      g["groupId"] = t.group_id;
      json::array places(sp);
      places.reserve(t.places.size());
      for (const auto& p : t.places) places.push_back(Place(p, reasons, sp));
      g["places"] = std::move(places);
      o["groupStatus"] = std::move(g);
      break;
    }
  }
  return o;
}

}  // namespace tally::api
