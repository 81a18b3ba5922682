#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "config/config.h"
#include "events/codec.h"
#include "stats/engine.h"

namespace tally::sim {
namespace {

constexpr TimeMs kStart = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

std::vector<stats::Event> Simulate(const SimConfig& c, TimeMs real_ms) {
  Simulator sim(c, kStart);
  std::vector<stats::Event> out;
  for (TimeMs t = kStart; t <= kStart + real_ms; t += 100) sim.RunUntil(t, out);
  return out;
}

TEST(SimulatorTest, DeterministicForASeedAndDifferentForAnother) {
  SimConfig c;
  c.agents = 20;
  const auto a = Simulate(c, 120'000);
  const auto b = Simulate(c, 120'000);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(events::ToJson(a[i]), events::ToJson(b[i]));
  c.seed = 2;
  const auto other = Simulate(c, 120'000);
  EXPECT_NE(events::ToJson(a[a.size() / 2]), events::ToJson(other[other.size() / 2]));
}

TEST(SimulatorTest, EventsAreInTimeOrderAndEveryKindOfTheModelOccurs) {
  SimConfig c;
  c.agents = 30;
  c.speed = 20;
  c.consult_probability = 0.2;
  c.transfer_probability = 0.2;
  c.break_probability = 0.2;
  const auto events = Simulate(c, 600'000);  // 10 real minutes = 200 simulated minutes
  std::map<stats::EventType, int> kinds;
  TimeMs last = 0;
  bool transferred = false;
  bool reasons = false;
  for (const auto& e : events) {
    EXPECT_GE(e.time, last);
    last = e.time;
    ++kinds[e.type];
    transferred = transferred || e.call_state == "Transferred";
    reasons = reasons || !e.reasons.empty();
  }
  for (auto t :
       {stats::EventType::kAgentLogin, stats::EventType::kAgentReady,
        stats::EventType::kAgentNotReady, stats::EventType::kQueued, stats::EventType::kDiverted,
        stats::EventType::kRinging, stats::EventType::kEstablished, stats::EventType::kReleased,
        stats::EventType::kHeld, stats::EventType::kRetrieved, stats::EventType::kDialing,
        stats::EventType::kAbandoned}) {
    EXPECT_GT(kinds[t], 0) << stats::EventTypeName(t);
  }
  EXPECT_TRUE(transferred);
  EXPECT_TRUE(reasons);
}

TEST(SimulatorTest, TheEngineAcceptsEveryEventAndCountsMatchTheSimulation) {
  SimConfig c;
  c.agents = 40;
  c.speed = 30;
  c.shift_hours = 1;  // shifts end inside the run: logouts and logins again
  auto loaded = config::LoadString(TenantToml(c), "sim.toml");
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  stats::Engine engine;
  ASSERT_TRUE(engine.SetCatalog({{"Entered",
                                  {{"category", "TotalNumber"},
                                   {"subject", "DNAction"},
                                   {"mainMask", "CallEntered"},
                                   {"objects", "Queue"}}},
                                 {"Abandoned",
                                  {{"category", "TotalNumber"},
                                   {"subject", "DNAction"},
                                   {"mainMask", "CallAbandoned"},
                                   {"objects", "Queue"}}}}));
  const auto& t = loaded.config->tenants[0];
  stats::TenantSetup setup{t.name, "", t.agents, {}, {}, t.queues, {}};
  for (const auto& p : t.places) setup.places.push_back({p.id, p.dns});
  for (const auto& g : t.groups)
    setup.groups.push_back({*stats::ParseObjectType(g.type), g.name, g.members});
  ASSERT_TRUE(engine.AddTenant(setup, kStart));
  Simulator sim(c, kStart);
  std::vector<stats::Event> events;
  for (TimeMs now = kStart; now <= kStart + 900'000; now += 500) sim.RunUntil(now, events);
  std::vector<stats::Notification> out;
  std::set<stats::EventType> logouts;
  for (const auto& e : events) {
    const auto ignored = engine.Counters().events_ignored;
    auto r = engine.Apply(e, out);
    ASSERT_TRUE(r) << events::ToJson(e) << ": " << r.error().message;
    EXPECT_EQ(engine.Counters().events_ignored, ignored) << events::ToJson(e);
    if (e.type == stats::EventType::kAgentLogout) logouts.insert(e.type);
  }
  EXPECT_FALSE(logouts.empty()) << "shift ends produce logouts";
  EXPECT_EQ(engine.Counters().events_ignored, 0u);
  double entered = 0;
  double abandoned = 0;
  for (int q = 0; q < c.queues; ++q) {
    entered += engine.Peek("acme", "Entered", {stats::ObjectType::kQueue, QueueDn(q)})->number;
    abandoned += engine.Peek("acme", "Abandoned", {stats::ObjectType::kQueue, QueueDn(q)})->number;
  }
  EXPECT_EQ(entered, static_cast<double>(sim.Stats().calls));
  EXPECT_EQ(abandoned, static_cast<double>(sim.Stats().abandoned));
  EXPECT_GT(sim.Stats().answered, 0u);
}

TEST(SimulatorTest, FinishReleasesEveryCallAndLogsEveryoneOut) {
  SimConfig c;
  c.agents = 10;
  Simulator sim(c, kStart);
  std::vector<stats::Event> events;
  sim.RunUntil(kStart + 60'000, events);
  events.clear();
  sim.Finish(kStart + 61'000, events);
  EXPECT_EQ(sim.Stats().logged_in, 0);
  int logouts = 0;
  for (const auto& e : events) logouts += e.type == stats::EventType::kAgentLogout;
  EXPECT_GT(logouts, 0);
}

TEST(SimulatorTest, TheDemoConfigDeclaresExactlyTheSimulatedObjects) {
  const char* source = std::getenv("TALLY_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  auto demo = config::LoadFile(std::string(source) + "/config/demo.toml");
  ASSERT_TRUE(demo.errors.empty()) << demo.errors[0].ToString();
  const auto& c = *demo.config;
  ASSERT_TRUE(c.simulator.enabled);
  SimConfig sc;
  sc.agents = c.simulator.agents;
  sc.queues = c.simulator.queues;
  auto generated = config::LoadString(TenantToml(sc), "generated.toml");
  ASSERT_TRUE(generated.errors.empty());
  const auto& want = generated.config->tenants.at(0);
  const auto& have = c.tenants.at(0);
  EXPECT_EQ(have.agents, want.agents);
  EXPECT_EQ(have.queues, want.queues);
  ASSERT_EQ(have.places.size(), want.places.size());
  for (size_t i = 0; i < want.places.size(); ++i) {
    EXPECT_EQ(have.places[i].id, want.places[i].id);
    EXPECT_EQ(have.places[i].dns, want.places[i].dns);
  }
  ASSERT_EQ(have.groups.size(), want.groups.size());
  for (size_t i = 0; i < want.groups.size(); ++i) {
    EXPECT_EQ(have.groups[i].name, want.groups[i].name);
    EXPECT_EQ(have.groups[i].members, want.groups[i].members);
  }
}

}  // namespace
}  // namespace tally::sim
