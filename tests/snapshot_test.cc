// Engine snapshots: a snapshot taken in the middle of a simulated day and loaded into a fresh
// engine must continue exactly like the engine it was taken from — same notifications, same
// value of every catalog statistic of every object, same bytes when saved again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "config/catalog.h"
#include "config/config.h"
#include "events/codec.h"
#include "sim/simulator.h"
#include "stats/engine.h"

namespace tally {
namespace {

constexpr TimeMs kStart = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

std::vector<stats::CatalogEntry> Catalog() {
  const char* source = std::getenv("TALLY_SOURCE_DIR");
  EXPECT_NE(source, nullptr);
  auto loaded = config::LoadCatalogFile(std::string(source) + "/config/statistics.toml");
  EXPECT_TRUE(loaded.errors.empty());
  std::vector<stats::CatalogEntry> entries;
  for (const auto& d : loaded.definitions) entries.push_back({d.name, d.fields});
  return entries;
}

stats::TenantSetup Setup(const sim::SimConfig& c) {
  auto loaded = config::LoadString(sim::TenantToml(c), "sim.toml");
  EXPECT_TRUE(loaded.errors.empty());
  const auto& t = loaded.config->tenants[0];
  stats::TenantSetup setup{t.name, "Europe/Paris", t.agents, {}, {}, t.queues, {}};
  for (const auto& p : t.places) setup.places.push_back({p.id, p.dns});
  for (const auto& g : t.groups)
    setup.groups.push_back({*stats::ParseObjectType(g.type), g.name, g.members});
  return setup;
}

struct World {
  sim::SimConfig sim;
  std::vector<stats::CatalogEntry> catalog = Catalog();
  stats::TenantSetup setup;
  std::vector<stats::Event> events;
  std::vector<stats::ObjectRef> objects;

  World() {
    sim.agents = 30;
    sim.speed = 30;
    sim.shift_hours = 1;
    sim.consult_probability = 0.2;
    sim.transfer_probability = 0.2;
    sim.break_probability = 0.2;
    setup = Setup(sim);
    sim::Simulator s(sim, kStart);
    for (TimeMs t = kStart; t <= kStart + 1'200'000; t += 250) s.RunUntil(t, events);
    for (const auto& a : setup.agents) objects.push_back({stats::ObjectType::kAgent, a});
    for (const auto& p : setup.places) objects.push_back({stats::ObjectType::kPlace, p.id});
    for (const auto& q : setup.queues) objects.push_back({stats::ObjectType::kQueue, q});
    for (const auto& g : setup.groups) objects.push_back({g.type, g.name});
    objects.push_back({stats::ObjectType::kTenant, "acme"});
  }
};

const World& TheWorld() {
  static const World w;
  return w;
}

void Build(stats::Engine& e, const World& w) {
  ASSERT_TRUE(e.SetCatalog(w.catalog));
  ASSERT_TRUE(e.AddTenant(w.setup, kStart));
}

// Subscriptions of every notification mode and window type, ad-hoc and catalog.
void Subscribe(stats::Engine& e) {
  using KV = stats::KeyValues;
  const std::vector<std::pair<stats::ObjectRef, KV>> adhoc = {
      {{stats::ObjectType::kQueue, "8001"},
       KV{{"category", "AverageTime"},
          {"subject", "DNAction"},
          {"mainMask", "CallAnswered"},
          {"intervalType", "SlidingWindow"},
          {"intervalLength", "600"},
          {"step", "60"},
          {"notificationMode", "Immediate"}}},
      {{stats::ObjectType::kGroupAgents, "Sales"},
       KV{{"category", "TotalTime"},
          {"subject", "AgentStatus"},
          {"mainMask", "CallInbound"},
          {"intervalType", "Selection"},
          {"intervalLength", "5"},
          {"notificationMode", "Periodical"},
          {"notificationFrequency", "7"}}},
      {{stats::ObjectType::kTenant, "acme"},
       KV{{"category", "TotalNumber"},
          {"subject", "DNAction"},
          {"mainMask", "CallReleased"},
          {"intervalType", "GrowingWindow"},
          {"resetTime", "09:00"},
          {"notificationMode", "Reset"}}},
      {{stats::ObjectType::kAgent, "agent003"},
       KV{{"category", "CurrentState"},
          {"subject", "DNAction"},
          {"notificationMode", "Immediate"}}},
      {{stats::ObjectType::kQueue, "8002"},
       KV{{"category", "CurrentMaxTime"},
          {"subject", "DNAction"},
          {"mainMask", "CallWait"},
          {"notificationMode", "Immediate"},
          {"insensitivity", "10"}}},
  };
  for (const auto& [ref, def] : adhoc) {
    auto r = e.OpenDefinition("acme", def, ref);
    ASSERT_TRUE(r) << r.error().message;
  }
  for (const char* name : {"ServiceLevel", "Current_In_Queue", "AverageWaitingTime"}) {
    auto r = e.OpenCatalog("acme", name, {stats::ObjectType::kQueue, "8001"});
    ASSERT_TRUE(r) << name << ": " << r.error().message;
  }
  auto r = e.OpenCatalog("acme", "CurrentAgentState", {stats::ObjectType::kAgent, "agent001"});
  ASSERT_TRUE(r) << r.error().message;
}

std::string Describe(const std::vector<stats::Notification>& ns) {
  std::string s;
  for (const auto& n : ns) {
    s += std::to_string(n.handle) + "@" + std::to_string(n.value.timestamp) + "=" +
         n.value.string_value + "/" + std::to_string(n.value.interval_length_s) + "\n";
  }
  return s;
}

void Feed(stats::Engine& e, const std::vector<stats::Event>& events, size_t from, size_t to,
          std::vector<stats::Notification>& out) {
  for (size_t i = from; i < to; ++i) {
    auto r = e.Apply(events[i], out);
    ASSERT_TRUE(r) << r.error().message;
  }
}

void ExpectSameValues(stats::Engine& a, stats::Engine& b, const World& w) {
  size_t compared = 0;
  for (const auto& entry : w.catalog) {
    for (const auto& o : w.objects) {
      auto va = a.Peek("acme", entry.name, o);
      auto vb = b.Peek("acme", entry.name, o);
      ASSERT_EQ(static_cast<bool>(va), static_cast<bool>(vb)) << entry.name << " " << o.id;
      if (!va) continue;
      ++compared;
      EXPECT_EQ(va->string_value, vb->string_value) << entry.name << " for " << o.id;
      EXPECT_EQ(va->number, vb->number) << entry.name << " for " << o.id;
      EXPECT_EQ(va->interval_length_s, vb->interval_length_s) << entry.name << " for " << o.id;
    }
  }
  EXPECT_GT(compared, 500u);
}

TEST(SnapshotTest, ALoadedSnapshotContinuesExactlyLikeTheOriginal) {
  const World& w = TheWorld();
  ASSERT_GT(w.events.size(), 2000u);
  stats::Engine a;
  Build(a, w);
  Subscribe(a);
  std::vector<stats::Notification> out_a;
  const size_t half = w.events.size() / 2;
  Feed(a, w.events, 0, half, out_a);
  const std::string bytes = a.Save();
  ASSERT_GT(bytes.size(), 10'000u);

  stats::Engine b;
  ASSERT_TRUE(b.SetCatalog(w.catalog));
  auto loaded = b.Load(bytes);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->empty());
  EXPECT_EQ(b.Save(), bytes) << "a loaded snapshot saves to the same bytes";
  EXPECT_EQ(b.Counters().open_statistics, a.Counters().open_statistics);
  EXPECT_EQ(b.Counters().catalog_statistics, a.Counters().catalog_statistics);
  EXPECT_EQ(b.Counters().objects, a.Counters().objects);
  ExpectSameValues(a, b, w);

  out_a.clear();
  std::vector<stats::Notification> out_b;
  Feed(a, w.events, half, w.events.size(), out_a);
  Feed(b, w.events, half, w.events.size(), out_b);
  // Past the end of the stream: window resets, sliding steps and periodic timers.
  ASSERT_TRUE(a.AdvanceTo(w.events.back().time + 3'600'000, out_a));
  ASSERT_TRUE(b.AdvanceTo(w.events.back().time + 3'600'000, out_b));
  ASSERT_GT(out_a.size(), 100u);
  EXPECT_EQ(Describe(out_a), Describe(out_b));
  ExpectSameValues(a, b, w);
  EXPECT_EQ(a.Save(), b.Save());
  EXPECT_EQ(a.Counters().notifications, b.Counters().notifications);
}

TEST(SnapshotTest, ATruncatedOrDamagedSnapshotIsRefusedAndLeavesTheEngineAsItWas) {
  const World& w = TheWorld();
  stats::Engine a;
  Build(a, w);
  Subscribe(a);
  std::vector<stats::Notification> out;
  Feed(a, w.events, 0, w.events.size() / 3, out);
  const std::string bytes = a.Save();

  stats::Engine b;
  Build(b, w);
  const std::string before = b.Save();
  for (size_t cut : {size_t{0}, size_t{1}, bytes.size() / 7, bytes.size() / 2, bytes.size() - 1}) {
    auto r = b.Load(std::string_view(bytes).substr(0, cut));
    EXPECT_FALSE(r) << "cut at " << cut;
    if (!r) {
      EXPECT_NE(r.error().message.find("engine snapshot"), std::string::npos);
    }
  }
  auto trailing = b.Load(bytes + "x");
  EXPECT_FALSE(trailing);
  EXPECT_EQ(b.Save(), before) << "a refused snapshot changes nothing";
}

TEST(SnapshotTest, CatalogChangesAreReconciledByName) {
  const World& w = TheWorld();
  stats::Engine a;
  Build(a, w);
  auto sl = a.OpenCatalog("acme", "ServiceLevel", {stats::ObjectType::kQueue, "8001"});
  auto entered = a.OpenCatalog("acme", "Total_Entered", {stats::ObjectType::kQueue, "8001"});
  ASSERT_TRUE(sl && entered);
  std::vector<stats::Notification> out;
  Feed(a, w.events, 0, w.events.size() / 2, out);
  const std::string bytes = a.Save();

  // The new catalog drops ServiceLevel, changes Total_Entered and adds a statistic.
  std::vector<stats::CatalogEntry> catalog;
  for (auto e : w.catalog) {
    if (e.name == "ServiceLevel") continue;
    if (e.name == "Total_Entered") e.fields.emplace_back("description", "changed");
    catalog.push_back(e);
  }
  catalog.push_back({"Entered_Since_Restart",
                     {{"category", "TotalNumber"},
                      {"subject", "DNAction"},
                      {"mainMask", "CallEntered"},
                      {"objects", "Queue"}}});
  stats::Engine b;
  ASSERT_TRUE(b.SetCatalog(catalog));
  auto loaded = b.Load(bytes);
  ASSERT_TRUE(loaded) << loaded.error().message;
  std::string notes;
  for (const auto& n : *loaded) notes += n + "\n";
  EXPECT_NE(notes.find("'Total_Entered' changed"), std::string::npos) << notes;
  EXPECT_NE(notes.find("subscribed statistics were closed"), std::string::npos) << notes;
  EXPECT_FALSE(b.Get(sl->handle)) << "the subscriber of a vanished statistic is closed";
  EXPECT_FALSE(b.Get(entered->handle)) << "and of a changed one";
  const stats::ObjectRef q{stats::ObjectType::kQueue, "8001"};
  EXPECT_GT(a.Peek("acme", "Total_Entered", q)->number, 0);
  EXPECT_EQ(b.Peek("acme", "Total_Entered", q)->number, 0) << "a changed statistic starts again";
  EXPECT_EQ(b.Peek("acme", "Entered_Since_Restart", q)->number, 0);
  EXPECT_EQ(b.Peek("acme", "Total_Answered", q)->number,
            a.Peek("acme", "Total_Answered", q)->number);
  // New catalog statistics count from the load on.
  out.clear();
  Feed(b, w.events, w.events.size() / 2, w.events.size(), out);
  EXPECT_GT(b.Peek("acme", "Entered_Since_Restart", q)->number, 0);
}

TEST(SnapshotTest, MergeTenantAddsNewObjectsAndNamesWhatItCannotApply) {
  const World& w = TheWorld();
  stats::Engine a;
  Build(a, w);
  std::vector<stats::Notification> out;
  Feed(a, w.events, 0, 500, out);
  stats::Engine b;
  ASSERT_TRUE(b.SetCatalog(w.catalog));
  ASSERT_TRUE(b.Load(a.Save()));
  stats::TenantSetup changed = w.setup;
  changed.agents.push_back("agent-new");
  changed.queues.push_back("8999");
  changed.groups[0].members.push_back("agent-new");
  auto merged = b.MergeTenant(changed, w.events[500].time);
  ASSERT_TRUE(merged) << merged.error().message;
  ASSERT_EQ(merged->size(), 1u);
  EXPECT_NE((*merged)[0].find("member 'agent-new' joined"), std::string::npos) << (*merged)[0];
  EXPECT_TRUE(b.Peek("acme", "CurrentAgentState", {stats::ObjectType::kAgent, "agent-new"}));
  EXPECT_TRUE(b.Peek("acme", "Total_Entered", {stats::ObjectType::kQueue, "8999"}));
  // The agent, the queue, and the hidden group holding the late member's share of the group.
  EXPECT_EQ(b.Counters().objects, a.Counters().objects + 3);
  stats::TenantSetup other{"other", "", {"x1"}, {}, {}, {}, {}};
  ASSERT_TRUE(b.MergeTenant(other, w.events[500].time));
  EXPECT_TRUE(b.HasTenant("other"));
}

// A live reload adds an agent to a running group: the agent counts in the group from the join
// on. Checked against two paths that exist independently of the join: the group as it was plus a
// group of only that agent created at the join — for every additive catalog statistic of groups
// (numbers and times; averages and maxima are not sums) the joined group equals their sum, at the
// join and after the rest of the day. A snapshot taken after the join continues exactly.
TEST(SnapshotTest, AMemberJoiningARunningGroupCountsFromItsJoinOn) {
  const World& w = TheWorld();
  const auto& group = w.setup.groups[0];
  ASSERT_EQ(group.type, stats::ObjectType::kGroupAgents);
  std::string late;
  for (const auto& a : w.setup.agents) {
    if (std::find(group.members.begin(), group.members.end(), a) == group.members.end()) {
      late = a;
      break;
    }
  }
  ASSERT_FALSE(late.empty()) << "every agent is in the first group";
  const size_t half = w.events.size() / 2;
  const TimeMs join = w.events[half].time;
  std::vector<stats::Notification> out;

  stats::Engine joined;
  Build(joined, w);
  Feed(joined, w.events, 0, half, out);
  stats::TenantSetup with_late = w.setup;
  with_late.groups[0].members.push_back(late);
  auto notes = joined.MergeTenant(with_late, join);
  ASSERT_TRUE(notes) << notes.error().message;
  ASSERT_EQ(notes->size(), 1u);
  EXPECT_NE((*notes)[0].find("member '" + late + "' joined"), std::string::npos) << (*notes)[0];

  stats::Engine reference;
  Build(reference, w);
  Feed(reference, w.events, 0, half, out);
  stats::TenantSetup only_late = w.setup;
  only_late.groups.push_back({stats::ObjectType::kGroupAgents, "OnlyTheLateAgent", {late}});
  ASSERT_TRUE(reference.MergeTenant(only_late, join));

  stats::Engine restored;
  ASSERT_TRUE(restored.SetCatalog(w.catalog));
  auto loaded = restored.Load(joined.Save());
  ASSERT_TRUE(loaded) << loaded.error().message;

  auto additive = [](const stats::CatalogEntry& e) {
    for (const auto& [k, v] : e.fields) {
      if (k == "category") {
        return v == "TotalNumber" || v == "TotalTime" || v == "CurrentNumber" || v == "CurrentTime";
      }
    }
    return false;
  };
  const stats::ObjectRef g{group.type, group.name};
  const stats::ObjectRef g_late{stats::ObjectType::kGroupAgents, "OnlyTheLateAgent"};
  const stats::ObjectRef agent{stats::ObjectType::kAgent, late};
  auto compare = [&](const char* when, bool expect_late_activity) {
    size_t compared = 0;
    double late_share = 0;
    for (const auto& entry : w.catalog) {
      if (!additive(entry)) continue;
      auto v = joined.Peek("acme", entry.name, g);
      if (!v) continue;
      auto before = reference.Peek("acme", entry.name, g);
      auto share = reference.Peek("acme", entry.name, g_late);
      ASSERT_TRUE(before && share) << entry.name;
      EXPECT_NEAR(v->number, before->number + share->number, 1e-6)
          << when << ": " << entry.name << " of " << group.name;
      late_share += share->number;
      ++compared;
    }
    EXPECT_GT(compared, 5u) << when;
    if (expect_late_activity) {
      EXPECT_GT(late_share, 0) << when << ": the late agent did nothing";
    }
  };
  compare("at the join", false);
  Feed(joined, w.events, half, w.events.size(), out);
  Feed(reference, w.events, half, w.events.size(), out);
  Feed(restored, w.events, half, w.events.size(), out);
  compare("at the end of the day", true);
  // The agent's own statistics hold its whole day; the group only what followed the join.
  auto whole = joined.Peek("acme", "InboundCalls", agent);
  auto in_group = reference.Peek("acme", "InboundCalls", g_late);
  ASSERT_TRUE(whole && in_group);
  EXPECT_LE(in_group->number, whole->number);
  ExpectSameValues(joined, restored, w);
  for (const auto& entry : w.catalog) {
    auto a = joined.Peek("acme", entry.name, g);
    auto b = restored.Peek("acme", entry.name, g);
    ASSERT_EQ(static_cast<bool>(a), static_cast<bool>(b)) << entry.name;
    if (a) {
      EXPECT_EQ(a->string_value, b->string_value) << entry.name << " after the snapshot";
    }
  }
}

}  // namespace
}  // namespace tally
