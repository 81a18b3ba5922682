// Statistic definitions (stats/definition.h) from their key/value form, one `key=value` per
// line (the first '=' splits). A definition that parses is checked against every object type,
// its growing-window resets bracket any time, and it is opened in an engine on the objects it
// applies to and fed a short call, so what the parser accepts is also what the engine can run.
#include <date/tz.h>

#include "fuzz/fuzz_support.h"
#include "stats/definition.h"

namespace tally::fuzz {
namespace {

stats::Event Ev(stats::EventType type, TimeMs t, std::string dn, std::string conn = "") {
  stats::Event e;
  e.type = type;
  e.time = t;
  e.tenant = "acme";
  e.this_dn = std::move(dn);
  e.conn_id = std::move(conn);
  return e;
}

// A call to queue 8001 answered by agent1 at 7001, with hold, then after-call work.
std::vector<stats::Event> Scenario() {
  using stats::EventType;
  std::vector<stats::Event> s;
  TimeMs t = kT0 + 1000;
  auto login = Ev(EventType::kAgentLogin, t, "7001");
  login.agent_id = "agent1";
  s.push_back(login);
  s.push_back(Ev(EventType::kAgentReady, t += 1000, "7001"));
  auto queued = Ev(EventType::kQueued, t += 2000, "8001", "c1");
  queued.call_type = stats::CallType::kInbound;
  queued.user_data = {{"Segment", "Gold"}};
  s.push_back(queued);
  auto diverted = Ev(EventType::kDiverted, t += 5000, "8001", "c1");
  diverted.other_dn = "7001";
  s.push_back(diverted);
  auto ringing = Ev(EventType::kRinging, t, "7001", "c1");
  ringing.call_type = stats::CallType::kInbound;
  ringing.this_queue = "8001";
  s.push_back(ringing);
  s.push_back(Ev(EventType::kEstablished, t += 3000, "7001", "c1"));
  s.push_back(Ev(EventType::kHeld, t += 20000, "7001", "c1"));
  s.push_back(Ev(EventType::kRetrieved, t += 10000, "7001", "c1"));
  s.push_back(Ev(EventType::kReleased, t += 30000, "7001", "c1"));
  auto acw = Ev(EventType::kAgentNotReady, t, "7001");
  acw.work_mode = "AfterCallWork";
  acw.reasons = {{"NotReady", "Wrap"}};
  s.push_back(acw);
  s.push_back(Ev(EventType::kAgentReady, t += 15000, "7001"));
  return s;
}

const std::vector<std::pair<stats::ObjectType, std::string>>& Objects() {
  static const std::vector<std::pair<stats::ObjectType, std::string>> objects = {
      {stats::ObjectType::kAgent, "agent1"},      {stats::ObjectType::kPlace, "place1"},
      {stats::ObjectType::kRegDN, "7001"},        {stats::ObjectType::kQueue, "8001"},
      {stats::ObjectType::kRoutePoint, "9000"},   {stats::ObjectType::kGroupAgents, "Sales"},
      {stats::ObjectType::kGroupPlaces, "Floor"}, {stats::ObjectType::kGroupQueues, "AllQueues"},
      {stats::ObjectType::kTenant, "acme"}};
  return objects;
}

}  // namespace
}  // namespace tally::fuzz

TALLY_FUZZ_TARGET(definition) {
  using namespace tally;
  stats::KeyValues fields;
  size_t pos = 0;
  while (pos < input.size()) {
    size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(pos, end - pos);
    const size_t eq = line.find('=');
    if (eq != std::string_view::npos) {
      fields.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
    pos = end + 1;
  }
  static const date::time_zone* paris = stats::FindZone("Europe/Paris");
  auto def = stats::ParseDefinition(fields, paris);
  if (!def) return 0;
  for (const auto& [type, id] : fuzz::Objects()) (void)stats::CheckApplicable(*def, type);
  if (def->interval == stats::IntervalType::kGrowingWindow) {
    for (const TimeMs t : {stats::kMinEventTime, fuzz::kT0, fuzz::kT0 + 13 * 3'600'000 + 7,
                           stats::kMaxEventTime - 3 * 86'400'000}) {
      const TimeMs last = stats::LastReset(def->growing, t);
      const TimeMs next = stats::NextReset(def->growing, t);
      TALLY_FUZZ_CHECK(last <= t && t < next, def->growing.text);
    }
  }
  // Into an engine (the tenants without the catalog: this is about the ad-hoc definition):
  // every object it applies to, then a call, time moving on, values read.
  stats::Engine engine;
  fuzz::SetUpEngine(engine, fuzz::kT0, false);
  // At most three objects: one of each kind of propagation (DN side, queues, groups).
  std::vector<std::uint64_t> handles;
  int opened_kinds = 0;
  for (const auto& [type, id] : fuzz::Objects()) {
    const int kind =
        type == stats::ObjectType::kQueue || type == stats::ObjectType::kRoutePoint ? 2
        : type == stats::ObjectType::kGroupAgents || type == stats::ObjectType::kGroupPlaces ||
                type == stats::ObjectType::kGroupQueues || type == stats::ObjectType::kTenant
            ? 4
            : 1;
    if ((opened_kinds & kind) != 0 || !stats::CheckApplicable(*def, type)) continue;
    auto opened = engine.OpenDefinition("acme", fields, stats::ObjectRef{type, id});
    TALLY_FUZZ_CHECK(opened.has_value(), opened ? "" : opened.error().message);
    handles.push_back(opened->handle);
    opened_kinds |= kind;
  }
  std::vector<stats::Notification> out;
  for (const auto& e : fuzz::Scenario()) {
    auto applied = engine.Apply(e, out);
    TALLY_FUZZ_CHECK(applied.has_value(), applied ? "" : applied.error().message);
  }
  for (const TimeMs step : {1000, 60'000, 3'600'000, 86'400'000}) {
    TALLY_FUZZ_CHECK(engine.AdvanceTo(engine.Now("acme") + step, out).has_value(), "AdvanceTo");
    for (const auto h : handles) TALLY_FUZZ_CHECK(engine.Get(h).has_value(), "Get");
  }
  for (const auto h : handles) engine.Close(h);
  return 0;
}
