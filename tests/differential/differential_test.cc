// Differential test: random but valid event streams (fixed seeds) drive the engine, and every
// few events a set of statistics is compared with a naive reference that recomputes each value
// from the full history (status timelines and call records), by brute force.
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
    engine_.AdvanceTo(at, ignored);
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

}  // namespace
}  // namespace tally
