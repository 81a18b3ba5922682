// Differential tests. (1) Random but valid event streams (fixed seeds) drive the engine, and every
// few events a set of statistics is compared with a naive reference that recomputes each value
// from the full history (status timelines and call records), by brute force. (2) Derived group
// statistics (below) against the same definitions accumulated directly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "stats/engine.h"

namespace tally {
namespace {

using stats::CallType;
using stats::Event;
using stats::EventType;
using stats::ObjectType;
using stats::Status;

constexpr TimeMs kStart = 1772359200000;  // 2026-03-01T10:00:00Z; resets at 12:00
constexpr TimeMs kReset = 1772366400000;  // 2026-03-01T12:00:00Z
constexpr TimeMs kStep = 60'000;          // sliding step
constexpr int kSteps = 10;                // sliding window = 10 steps
constexpr int kAgents = 4;

// ---------------------------------------------------------------- reference model

struct RefAgent {
  bool logged_in = false;
  Status mode = Status::kLoggedIn;  // LoggedIn, WaitForNextCall, NotReadyForNextCall, AfterCallWork
  enum { kNone, kRinging, kTalking } call = kNone;
  bool held = false;
  std::string conn;
  std::vector<std::pair<TimeMs, Status>> timeline;  // every status change (also zero-length)

  Status Now() const {
    if (!logged_in) return Status::kLoggedOut;
    if (call == kRinging)
      return mode == Status::kAfterCallWork || mode == Status::kNotReadyForNextCall
                 ? mode
                 : Status::kCallRinging;
    if (call == kTalking) return held ? Status::kCallOnHold : Status::kCallInbound;
    return mode;
  }
};

struct RefCall {
  TimeMs queued = 0;
  TimeMs left = -1;  // diverted or abandoned
  bool abandoned = false;
  TimeMs answered = -1;  // queue CallAnswered time
};

struct Interval {
  TimeMs start;
  TimeMs end;  // kOpen if still going
};
constexpr TimeMs kOpen = INT64_MAX;

// In-mask intervals of a timeline, merged when the gap between them is zero.
std::vector<Interval> Episodes(const std::vector<std::pair<TimeMs, Status>>& tl,
                               const std::vector<Status>& mask, TimeMs now) {
  std::vector<Interval> raw;
  for (size_t i = 0; i < tl.size(); ++i) {
    if (std::find(mask.begin(), mask.end(), tl[i].second) == mask.end()) continue;
    const TimeMs end = i + 1 < tl.size() ? tl[i + 1].first : kOpen;
    if (end != kOpen && end > now) continue;
    raw.push_back({tl[i].first, end});
  }
  std::vector<Interval> merged;
  for (const Interval& iv : raw) {
    if (!merged.empty() && merged.back().end == iv.start) {
      merged.back().end = iv.end;
    } else if (iv.end == kOpen || iv.end > iv.start || true) {
      merged.push_back(iv);
    }
  }
  return merged;
}

TimeMs Overlap(const Interval& iv, TimeMs from, TimeMs to) {
  const TimeMs a = std::max(iv.start, from);
  const TimeMs b = std::min(iv.end, to);
  return std::max<TimeMs>(0, b - a);
}

class Differential {
 public:
  explicit Differential(unsigned seed) : rng_(seed) {}

  void Run(int events) {
    stats::TenantSetup setup;
    setup.name = "t";
    for (int i = 1; i <= kAgents; ++i) {
      setup.agents.push_back("a" + std::to_string(i));
      setup.places.push_back({"p" + std::to_string(i), {std::to_string(7000 + i)}});
    }
    setup.groups = {{ObjectType::kGroupAgents, "g", {"a1", "a2", "a3"}}};
    setup.queues = {"8001"};
    ASSERT_TRUE(engine_.AddTenant(setup, kStart));
    agents_.resize(kAgents);
    for (auto& a : agents_) a.timeline.push_back({kStart, Status::kLoggedOut});
    Open();
    now_ = kStart;
    for (int i = 0; i < events; ++i) {
      now_ += std::uniform_int_distribution<int>(0, 4)(rng_) == 0
                  ? 0
                  : std::uniform_int_distribution<int>(1, 40)(rng_) * 1000;
      Step();
      if (::testing::Test::HasFatalFailure()) return;
      if (i % 7 == 6) {
        Check(now_ + 500);
        now_ += 1000;  // the engine's clock has moved on: later events must not be older
      }
    }
    EXPECT_GT(checks_, 100);
  }

 private:
  struct Opened {
    std::string what;
    std::uint64_t handle;
  };

  void OpenOne(const std::string& what, ObjectType type, const std::string& id,
               stats::KeyValues def) {
    auto r = engine_.OpenDefinition("t", def, stats::ObjectRef{type, id});
    ASSERT_TRUE(r) << what << ": " << r.error().message;
    handles_[what] = r->handle;
  }

  void Open() {
    const stats::KeyValues growing = {{"intervalType", "GrowingWindow"},
                                      {"dynamicTimeProfile", "12:00"}};
    auto with = [](stats::KeyValues a, const stats::KeyValues& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    for (int i = 1; i <= kAgents; ++i) {
      const std::string a = "a" + std::to_string(i);
      OpenOne(a + ".ready_time", ObjectType::kAgent, a,
              with({{"category", "TotalTime"},
                    {"subject", "AgentStatus"},
                    {"mainMask", "WaitForNextCall"}},
                   growing));
      OpenOne(a + ".not_ready_count", ObjectType::kAgent, a,
              with({{"category", "TotalNumber"},
                    {"subject", "AgentStatus"},
                    {"mainMask", "NotReadyForNextCall"}},
                   growing));
      OpenOne(a + ".aht", ObjectType::kAgent, a,
              with({{"category", "AverageTime"},
                    {"subject", "AgentStatus"},
                    {"mainMask", "CallInbound,CallOnHold,AfterCallWork"}},
                   growing));
      OpenOne(a + ".tics", ObjectType::kAgent, a,
              {{"category", "CurrentTime"}, {"subject", "AgentStatus"}, {"mainMask", "*"}});
    }
    OpenOne("g.ready_now", ObjectType::kGroupAgents, "g",
            {{"category", "CurrentNumber"},
             {"subject", "AgentStatus"},
             {"mainMask", "WaitForNextCall"}});
    OpenOne("g.hold_sliding", ObjectType::kGroupAgents, "g",
            {{"category", "TotalTime"},
             {"subject", "AgentStatus"},
             {"mainMask", "CallOnHold"},
             {"intervalType", "SlidingWindow"},
             {"dynamicTimeProfile", "600,60"}});
    OpenOne("q.waiting", ObjectType::kQueue, "8001",
            {{"category", "CurrentNumber"}, {"mainMask", "CallWait"}});
    OpenOne("q.longest", ObjectType::kQueue, "8001",
            {{"category", "CurrentMaxTime"}, {"mainMask", "CallWait"}});
    OpenOne("q.abandoned_sliding", ObjectType::kQueue, "8001",
            {{"category", "TotalNumber"},
             {"mainMask", "CallAbandoned"},
             {"intervalType", "SlidingWindow"},
             {"dynamicTimeProfile", "600,60"}});
    OpenOne("q.sl", ObjectType::kQueue, "8001",
            with({{"category", "ServiceFactor1"},
                  {"mainMask", "CallAnswered"},
                  {"relMask", "CallAbandoned"},
                  {"dynamicTimeRange", "0-20"},
                  {"dynamicTimeRange2", "0-10"}},
                 growing));
    OpenOne("q.avg_wait", ObjectType::kQueue, "8001",
            with({{"category", "AverageTime"}, {"mainMask", "CallWait"}}, growing));
    OpenOne("q.wait_time", ObjectType::kQueue, "8001",
            with({{"category", "TotalTime"}, {"mainMask", "CallWait"}}, growing));
  }

  void Apply(EventType type, const std::string& dn, const std::string& conn = "",
             const std::string& agent = "", const std::string& work_mode = "") {
    Event e;
    e.type = type;
    e.time = now_;
    e.tenant = "t";
    e.this_dn = dn;
    e.conn_id = conn;
    e.agent_id = agent;
    e.work_mode = work_mode;
    e.call_type = CallType::kInbound;
    auto r = engine_.Apply(e, notes_);
    ASSERT_TRUE(r) << r.error().message;
    notes_.clear();
  }

  void Record(int i) {
    RefAgent& a = agents_[i];
    const Status s = a.Now();
    if (a.timeline.back().second != s) a.timeline.push_back({now_, s});
  }

  std::string Dn(int i) const { return std::to_string(7001 + i); }

  void Step() {
    std::uniform_int_distribution<int> pick(0, 9);
    const int choice = pick(rng_);
    if (choice <= 2) {  // queue activity
      std::vector<std::string> waiting;
      for (auto& [conn, c] : calls_) {
        if (c.left < 0) waiting.push_back(conn);
      }
      if (choice <= 1 || waiting.empty()) {
        const std::string conn = "c" + std::to_string(next_call_++);
        calls_[conn].queued = now_;
        Apply(EventType::kQueued, "8001", conn);
      } else {
        const std::string conn = waiting[rng_() % waiting.size()];
        calls_[conn].left = now_;
        calls_[conn].abandoned = true;
        Apply(EventType::kAbandoned, "8001", conn);
      }
      return;
    }
    const int i = static_cast<int>(rng_() % kAgents);
    RefAgent& a = agents_[i];
    const std::string agent = "a" + std::to_string(i + 1);
    if (!a.logged_in) {
      a.logged_in = true;
      a.mode = Status::kLoggedIn;
      Apply(EventType::kAgentLogin, Dn(i), "", agent);
      Record(i);
      return;
    }
    const int r = static_cast<int>(rng_() % 6);
    if (a.call == RefAgent::kRinging) {
      if (r < 4) {
        a.call = RefAgent::kTalking;
        Apply(EventType::kEstablished, Dn(i), a.conn);
        if (calls_.count(a.conn) != 0 && calls_[a.conn].answered < 0)
          calls_[a.conn].answered = now_;
      } else {
        a.call = RefAgent::kNone;
        Apply(EventType::kReleased, Dn(i), a.conn);
      }
      Record(i);
      return;
    }
    if (a.call == RefAgent::kTalking) {
      if (r < 2) {
        a.held = !a.held;
        Apply(a.held ? EventType::kHeld : EventType::kRetrieved, Dn(i), a.conn);
        Record(i);
      } else {
        a.call = RefAgent::kNone;
        a.held = false;
        Apply(EventType::kReleased, Dn(i), a.conn);
        Record(i);
        if (r < 4) {  // after-call work at the same instant
          a.mode = Status::kAfterCallWork;
          Apply(EventType::kAgentNotReady, Dn(i), "", "", "AfterCallWork");
          Record(i);
        }
      }
      return;
    }
    // No call.
    std::vector<std::string> waiting;
    for (auto& [conn, c] : calls_) {
      if (c.left < 0) waiting.push_back(conn);
    }
    if (r == 0 && a.mode == Status::kWaitForNextCall && !waiting.empty()) {
      const std::string conn = waiting[0];
      calls_[conn].left = now_;
      Apply(EventType::kDiverted, "8001", conn);
      a.call = RefAgent::kRinging;
      a.conn = conn;
      Apply(EventType::kRinging, Dn(i), conn);
      Record(i);
    } else if (r == 1) {
      a.mode = Status::kWaitForNextCall;
      Apply(EventType::kAgentReady, Dn(i));
      Record(i);
    } else if (r == 2) {
      a.mode = Status::kNotReadyForNextCall;
      Apply(EventType::kAgentNotReady, Dn(i));
      Record(i);
    } else if (r == 3 && rng_() % 4 == 0) {
      a.logged_in = false;
      Apply(EventType::kAgentLogout, Dn(i), "", agent);
      Record(i);
    } else {
      a.mode = Status::kWaitForNextCall;
      Apply(EventType::kAgentReady, Dn(i));
      Record(i);
    }
  }

  double Engine(const std::string& what, TimeMs at) {
    std::vector<stats::Notification> ignored;
    EXPECT_TRUE(engine_.AdvanceTo(at, ignored));
    auto v = engine_.Get(handles_.at(what));
    EXPECT_TRUE(v);
    return v ? v->number : -1;
  }

  void Expect(const std::string& what, TimeMs at, double want) {
    ++checks_;
    const double got = Engine(what, at);
    EXPECT_NEAR(got, std::round(want * 1000) / 1000, 0.0011)
        << what << " at +" << (at - kStart) / 1000.0 << " s";
  }

  void Check(TimeMs at) {
    const TimeMs growing_start = at >= kReset ? kReset : kStart;
    const TimeMs sliding_start = std::max(kStart, (at / kStep) * kStep - (kSteps - 1) * kStep);
    int ready_now = 0;
    TimeMs hold_sliding = 0;
    for (int i = 0; i < kAgents; ++i) {
      const RefAgent& a = agents_[i];
      const std::string name = "a" + std::to_string(i + 1);
      TimeMs ready = 0;
      for (const Interval& iv : Episodes(a.timeline, {Status::kWaitForNextCall}, at)) {
        ready += Overlap(iv, growing_start, at);
      }
      Expect(name + ".ready_time", at, ready / 1000.0);
      int nr = 0;
      for (const Interval& iv : Episodes(a.timeline, {Status::kNotReadyForNextCall}, at)) {
        if (iv.start >= growing_start && iv.start <= at) ++nr;
      }
      Expect(name + ".not_ready_count", at, nr);
      TimeMs total = 0;
      int n = 0;
      for (const Interval& iv :
           Episodes(a.timeline, {Status::kCallInbound, Status::kCallOnHold, Status::kAfterCallWork},
                    at)) {
        if (iv.end != kOpen && iv.end < at && iv.end >= growing_start) {
          total += iv.end - iv.start;
          ++n;
        }
      }
      Expect(name + ".aht", at, n == 0 ? 0.0 : static_cast<double>(total) / n / 1000.0);
      Expect(name + ".tics", at, (at - a.timeline.back().first) / 1000.0);
      if (i < 3) {
        if (a.Now() == Status::kWaitForNextCall) ++ready_now;
        for (const Interval& iv : Episodes(a.timeline, {Status::kCallOnHold}, at)) {
          hold_sliding += Overlap(iv, sliding_start, at);
        }
      }
    }
    Expect("g.ready_now", at, ready_now);
    Expect("g.hold_sliding", at, hold_sliding / 1000.0);

    int waiting = 0;
    TimeMs oldest = kOpen;
    int abandoned_sliding = 0;
    int answered = 0;
    int answered_in_time = 0;
    int abandoned = 0;
    int abandoned_short = 0;
    TimeMs waits = 0;
    int waits_n = 0;
    TimeMs wait_time = 0;
    for (const auto& [conn, c] : calls_) {
      if (c.left < 0 || c.left > at) {
        if (c.queued <= at) {
          ++waiting;
          oldest = std::min(oldest, c.queued);
        }
        continue;
      }
      if (c.abandoned && c.left >= sliding_start) ++abandoned_sliding;
      if (c.left >= growing_start) {
        waits += c.left - c.queued;
        ++waits_n;
        wait_time += c.left - std::max(c.queued, growing_start);
        if (c.abandoned) {
          ++abandoned;
          if ((c.left - c.queued) / 1000 < 10) ++abandoned_short;
        }
      }
      if (c.answered >= growing_start && c.answered <= at) {
        ++answered;
        if ((c.answered - c.queued) / 1000 < 20) ++answered_in_time;
      }
    }
    Expect("q.waiting", at, waiting);
    Expect("q.longest", at, waiting == 0 ? 0.0 : (at - oldest) / 1000.0);
    Expect("q.abandoned_sliding", at, abandoned_sliding);
    const int denom = answered + abandoned - abandoned_short;
    Expect("q.sl", at, denom == 0 ? 0.0 : 100.0 * answered_in_time / denom);
    Expect("q.avg_wait", at, waits_n == 0 ? 0.0 : static_cast<double>(waits) / waits_n / 1000.0);
    Expect("q.wait_time", at, wait_time / 1000.0);
  }

  std::mt19937 rng_;
  stats::Engine engine_;
  std::vector<stats::Notification> notes_;
  std::map<std::string, std::uint64_t> handles_;
  std::vector<RefAgent> agents_;
  std::map<std::string, RefCall> calls_;
  int next_call_ = 1;
  TimeMs now_ = kStart;
  int checks_ = 0;
};

class DifferentialTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(DifferentialTest, EngineMatchesBruteForceReference) { Differential(GetParam()).Run(1500); }

INSTANTIATE_TEST_SUITE_P(Seeds, DifferentialTest, ::testing::Values(1u, 2u, 3u, 42u, 2026u));

// ---------------------------------------------------------------- derived group statistics

// Differential test of derived group statistics: a group's catalog statistic whose definition its
// members also keep (same catalog entry, started together) is read as the merge of the members'
// accumulators instead of being accumulated itself. Random but valid event streams (fixed seeds)
// drive an engine whose catalog has every category the groups can derive; every few events each
// group's catalog value is compared with the same definition opened ad-hoc on the group at the
// same moment — an ad-hoc statistic is always accumulated directly. A group added later by
// MergeTenant (its members started earlier) is not derived and must agree too.

using stats::KeyValues;

constexpr TimeMs kGroupsStart = 1772359200000;  // 2026-03-01T10:00:00Z; the windows reset at 12:00
constexpr int kGroupAgents = 6;

struct Def {
  std::string name;
  KeyValues fields;  // without `objects`
  std::vector<ObjectType> objects;
};

std::vector<Def> Definitions() {
  const std::vector<ObjectType> agents = {ObjectType::kAgent, ObjectType::kGroupAgents};
  const std::vector<ObjectType> places = {ObjectType::kPlace, ObjectType::kGroupPlaces};
  const std::vector<ObjectType> queues = {ObjectType::kQueue, ObjectType::kGroupQueues};
  const std::string growing = "12:00";
  std::vector<Def> defs;
  auto add = [&](std::string name, KeyValues kv, std::vector<ObjectType> objects) {
    kv.push_back({"notificationMode", "Immediate"});
    defs.push_back({std::move(name), std::move(kv), std::move(objects)});
  };
  const std::string talk = "CallInbound,CallOnHold,AfterCallWork";
  const std::string login = "*,~LoggedOut,~NotMonitored";
  for (const char* category :
       {"TotalTime", "TotalNumber", "TotalAdjustedNumber", "TotalAdjustedTime", "AverageTime",
        "MaxTime", "MinTime", "ElapsedTimePercentage", "TotalNumberInTimeRange",
        "TotalNumberInTimeRangePercentage", "TotalTimeInTimeRange", "TotalNumberPerSecond",
        "AverageOfCurrentNumber", "AverageOfCurrentTime"}) {
    add(std::string("agent.") + category,
        {{"category", category},
         {"subject", "AgentStatus"},
         {"mainMask", talk},
         {"dynamicTimeProfile", growing},
         {"dynamicTimeRange", "0-30"}},
        agents);
  }
  for (const char* category : {"RelativeTimePercentage", "RelativeNumberPercentage",
                               "RelativeNumber", "AverageNumberPerRelativeHour"}) {
    add(std::string("agent.") + category,
        {{"category", category},
         {"subject", "AgentStatus"},
         {"mainMask", talk},
         {"relMask", login},
         {"dynamicTimeProfile", growing}},
        agents);
  }
  add("agent.not_ready_lunch",
      {{"category", "TotalTime"},
       {"subject", "AgentStatus"},
       {"mainMask", "NotReadyForNextCall"},
       {"dynamicFilter", "Reasons.Code=Lunch"},
       {"dynamicTimeProfile", growing}},
      agents);
  add("agent.dn_busy",
      {{"category", "TotalTime"},
       {"subject", "DNStatus"},
       {"mainMask", "CallRinging,CallInbound,CallOnHold"},
       {"dynamicTimeProfile", growing}},
      agents);
  add("agent.calls",
      {{"category", "TotalNumber"},
       {"subject", "DNAction"},
       {"mainMask", "CallInbound"},
       {"dynamicTimeProfile", growing}},
      agents);
  add("agent.answered",
      {{"category", "TotalNumber"},
       {"subject", "DNAction"},
       {"mainMask", "CallAnswered"},
       {"dynamicTimeProfile", growing}},
      agents);
  add("agent.vip_talk",
      {{"category", "TotalTime"},
       {"subject", "DNAction"},
       {"mainMask", "CallInbound"},
       {"dynamicFilter", "Segment=vip"},
       {"dynamicTimeProfile", growing}},
      agents);
  add("agent.talking_now",
      {{"category", "CurrentNumber"}, {"subject", "DNAction"}, {"mainMask", "CallInbound"}},
      agents);
  add("place.ready",
      {{"category", "TotalTime"},
       {"subject", "PlaceStatus"},
       {"mainMask", "WaitForNextCall"},
       {"dynamicTimeProfile", growing}},
      places);
  add("place.talk_actions",
      {{"category", "AverageTime"},
       {"subject", "DNAction"},
       {"mainMask", "CallInbound"},
       {"dynamicTimeProfile", growing}},
      places);
  add("queue.sl",
      {{"category", "ServiceFactor1"},
       {"subject", "DNAction"},
       {"mainMask", "CallAnswered"},
       {"relMask", "CallAbandoned"},
       {"dynamicTimeRange", "0-20"},
       {"dynamicTimeRange2", "0-10"},
       {"dynamicTimeProfile", growing}},
      queues);
  add("queue.avg_wait",
      {{"category", "AverageTime"},
       {"subject", "DNAction"},
       {"mainMask", "CallWait"},
       {"dynamicTimeProfile", growing}},
      queues);
  for (const char* category :
       {"CurrentNumber", "CurrentTime", "CurrentMaxTime", "CurrentMinTime", "CurrentAverageTime",
        "CurrentNumberInTimeRange", "CurrentNumberInTimeRangePercentage"}) {
    add(std::string("queue.") + category,
        {{"category", category},
         {"subject", "DNAction"},
         {"mainMask", "CallWait"},
         {"dynamicTimeRange", "0-15"}},
        queues);
  }
  return defs;
}

class DerivedGroups {
 public:
  explicit DerivedGroups(unsigned seed) : rng_(seed), defs_(Definitions()) {}

  void Run(int events) {
    std::vector<stats::CatalogEntry> catalog;
    for (const Def& d : defs_) {
      KeyValues kv = d.fields;
      std::string objects;
      for (ObjectType t : d.objects) {
        objects += (objects.empty() ? "" : ",") + std::string(stats::ObjectTypeName(t));
      }
      kv.push_back({"objects", objects});
      catalog.push_back({d.name, kv});
    }
    ASSERT_TRUE(engine_.SetCatalog(catalog));
    stats::TenantSetup setup;
    setup.name = "acme";
    std::vector<std::string> first, second, places;
    for (int i = 0; i < kGroupAgents; ++i) {
      const std::string a = "a" + std::to_string(i);
      setup.agents.push_back(a);
      setup.places.push_back({"p" + std::to_string(i), {Dn(i)}});
      places.push_back("p" + std::to_string(i));
      (i < kGroupAgents / 2 ? first : second).push_back(a);
    }
    setup.queues = {"8001", "8002"};
    setup.groups = {{ObjectType::kGroupAgents, "first", first},
                    {ObjectType::kGroupAgents, "second", second},
                    {ObjectType::kGroupPlaces, "places", places},
                    {ObjectType::kGroupQueues, "queues", {"8001", "8002"}}};
    ASSERT_TRUE(engine_.AddTenant(setup, kGroupsStart));
    const auto derived = engine_.Counters().derived_statistics;
    EXPECT_GT(derived, 0u);  // the groups configured with their members are derived
    OpenTwins({ObjectType::kGroupAgents, "first"});
    OpenTwins({ObjectType::kGroupAgents, "second"});
    OpenTwins({ObjectType::kGroupPlaces, "places"});
    OpenTwins({ObjectType::kGroupQueues, "queues"});
    for (int i = 0; i < events; ++i) {
      Step();
      if (i == events / 3) {
        // A group added later: its members' statistics started before it, so it accumulates.
        stats::TenantSetup more = setup;
        more.groups.push_back({ObjectType::kGroupAgents, "late", {"a1", "a4"}});
        ASSERT_TRUE(engine_.MergeTenant(more, now_));
        EXPECT_EQ(engine_.Counters().derived_statistics, derived);
        OpenTwins({ObjectType::kGroupAgents, "late"});
      }
      if (i % 7 == 0) Compare();
    }
    EXPECT_GT(compared_, 1000);
  }

 private:
  static std::string Dn(int i) { return std::to_string(7001 + i); }

  void OpenTwins(const stats::ObjectRef& group) {
    for (const Def& d : defs_) {
      if (std::find(d.objects.begin(), d.objects.end(), group.type) == d.objects.end()) continue;
      auto opened = engine_.OpenDefinition("acme", d.fields, group);
      ASSERT_TRUE(opened) << d.name << ": " << opened.error().message;
      twins_.push_back({d.name, group, opened->handle});
    }
  }

  void Compare() {
    for (const Twin& t : twins_) {
      auto direct = engine_.Get(t.handle);
      auto peeked = engine_.Peek("acme", t.name, t.group);
      ASSERT_TRUE(direct && peeked) << t.name;
      ++compared_;
      EXPECT_NEAR(peeked->number, direct->number, 1e-9)
          << t.name << " on " << t.group.id << " at +" << (now_ - kGroupsStart) / 1000 << " s";
      EXPECT_EQ(peeked->interval_length_s, direct->interval_length_s) << t.name;
    }
  }

  void Apply(EventType type, const std::string& dn, const std::string& conn = "",
             const std::string& agent = "") {
    Event e;
    e.type = type;
    e.time = now_;
    e.tenant = "acme";
    e.this_dn = dn;
    e.conn_id = conn;
    e.agent_id = agent;
    e.call_type = CallType::kInbound;
    auto r = engine_.Apply(e, out_);
    ASSERT_TRUE(r) << r.error().message;
    out_.clear();
  }

  void Step() {
    // Mostly seconds apart, sometimes in the same millisecond; across the 12:00 reset.
    now_ += rng_() % 5 == 0 ? 0 : 1000 + static_cast<TimeMs>(rng_() % 40'000);
    const int what = static_cast<int>(rng_() % 10);
    if (what < 2) {
      const std::string conn = "c" + std::to_string(next_call_++);
      waiting_.push_back(conn);
      queues_[conn] = rng_() % 2 == 0 ? "8001" : "8002";
      Apply(EventType::kQueued, queues_[conn], conn);
      return;
    }
    if (what == 2 && !waiting_.empty()) {
      const std::string conn = waiting_.front();
      waiting_.erase(waiting_.begin());
      Apply(EventType::kAbandoned, queue_of(conn), conn);
      return;
    }
    const int i = static_cast<int>(rng_() % kGroupAgents);
    Agent& a = agents_[i];
    const std::string agent = "a" + std::to_string(i);
    if (!a.logged_in) {
      a.logged_in = true;
      Apply(EventType::kAgentLogin, Dn(i), "", agent);
      return;
    }
    const int r = static_cast<int>(rng_() % 8);
    if (!a.conn.empty()) {
      if (!a.talking) {
        a.talking = true;
        Apply(EventType::kEstablished, Dn(i), a.conn);
      } else if (r < 2) {
        a.held = !a.held;
        Apply(a.held ? EventType::kHeld : EventType::kRetrieved, Dn(i), a.conn);
      } else if (r < 3) {
        Event e;
        e.type = EventType::kAttachedDataChanged;
        e.time = now_;
        e.tenant = "acme";
        e.this_dn = Dn(i);
        e.conn_id = a.conn;
        e.user_data = {{"Segment", rng_() % 2 == 0 ? "vip" : "std"}};
        ASSERT_TRUE(engine_.Apply(e, out_));
        out_.clear();
      } else {
        Apply(EventType::kReleased, Dn(i), a.conn);
        a.conn.clear();
        a.talking = a.held = false;
        if (r < 6) {  // after-call work, often in the same millisecond
          Event e;
          e.type = EventType::kAgentNotReady;
          e.time = now_;
          e.tenant = "acme";
          e.this_dn = Dn(i);
          e.work_mode = "AfterCallWork";
          ASSERT_TRUE(engine_.Apply(e, out_));
          out_.clear();
        }
      }
      return;
    }
    if (r == 0 && !waiting_.empty()) {
      const std::string conn = waiting_.front();
      waiting_.erase(waiting_.begin());
      Apply(EventType::kDiverted, queue_of(conn), conn);
      a.conn = conn;
      Apply(EventType::kRinging, Dn(i), conn);
    } else if (r == 1) {
      Event e;
      e.type = EventType::kAgentNotReady;
      e.time = now_;
      e.tenant = "acme";
      e.this_dn = Dn(i);
      e.reasons = {{"Code", rng_() % 2 == 0 ? "Lunch" : "Break"}};
      ASSERT_TRUE(engine_.Apply(e, out_));
      out_.clear();
    } else if (r == 2 && rng_() % 3 == 0) {
      a.logged_in = false;
      Apply(EventType::kAgentLogout, Dn(i), "", agent);
    } else {
      Apply(EventType::kAgentReady, Dn(i));
    }
  }

  std::string queue_of(const std::string& conn) { return queues_.at(conn); }

  struct Agent {
    bool logged_in = false;
    std::string conn;
    bool talking = false;
    bool held = false;
  };
  struct Twin {
    std::string name;
    stats::ObjectRef group;
    std::uint64_t handle;
  };
  std::mt19937 rng_;
  std::vector<Def> defs_;
  stats::Engine engine_;
  std::vector<stats::Notification> out_;
  std::vector<Twin> twins_;
  Agent agents_[kGroupAgents];
  std::vector<std::string> waiting_;
  std::map<std::string, std::string> queues_;
  int next_call_ = 1;
  TimeMs now_ = kGroupsStart;
  int compared_ = 0;
};

class DerivedGroupsTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(DerivedGroupsTest, AGroupReadFromItsMembersEqualsOneThatAccumulates) {
  DerivedGroups(GetParam()).Run(1200);
}

INSTANTIATE_TEST_SUITE_P(Seeds, DerivedGroupsTest, ::testing::Values(3u, 11u, 2026u));

}  // namespace
}  // namespace tally
