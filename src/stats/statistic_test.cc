// Unit tests of one accumulator fed directly with item events.
// Threading: single-threaded.
#include "stats/statistic.h"

#include <gtest/gtest.h>

namespace tally::stats {
namespace {

std::shared_ptr<const Definition> Def(KeyValues kv) {
  auto d = ParseDefinition(kv, nullptr);
  EXPECT_TRUE(d) << d.error().message;
  return std::make_shared<const Definition>(std::move(*d));
}

constexpr TimeMs kT0 = 1772323200000;  // 2026-03-01T00:00:00Z

Statistic::UnitStatus Unit(Status s, TimeMs start) { return {true, s, start, nullptr}; }

// The contract: Advance(now) before reading.
double At(Statistic& s, TimeMs now) {
  s.Advance(now);
  return s.Number(now);
}

TEST(StartMapTest, GrowsIntoAHashMap) {
  StartMap m;
  for (std::uint64_t k = 0; k < 100; ++k) m.Put(k, static_cast<TimeMs>(k * 10));
  EXPECT_EQ(m.Size(), 100u);
  EXPECT_EQ(m.Find(42), 420);
  EXPECT_EQ(m.Take(42), 420);
  EXPECT_FALSE(m.Find(42));
  EXPECT_EQ(m.Min(), 0);
}

TEST(StatisticTest, TotalTimeProjectsOpenStatusAndClipsAtReset) {
  Statistic s(Def({{"category", "TotalTime"},
                   {"subject", "AgentStatus"},
                   {"mainMask", "WaitForNextCall"},
                   {"dynamicTimeProfile", "00:00"}}),
              kT0 + 3600'000);
  const TimeMs t1 = kT0 + 23 * 3600'000;  // 23:00 ready
  s.Advance(t1);
  s.OnStatus(1, Unit(Status::kLoggedIn, kT0), Unit(Status::kWaitForNextCall, t1), t1);
  EXPECT_DOUBLE_EQ(At(s, t1 + 600'000), 600);  // in progress: counts
  const TimeMs midnight = kT0 + 24 * 3600'000;
  s.Advance(midnight + 60'000);
  EXPECT_DOUBLE_EQ(At(s, midnight + 60'000), 60);  // only since the reset
  s.OnStatus(1, Unit(Status::kWaitForNextCall, t1), Unit(Status::kCallInbound, midnight + 90'000),
             midnight + 90'000);
  EXPECT_DOUBLE_EQ(At(s, midnight + 200'000), 90);
  EXPECT_EQ(s.IntervalLengthSeconds(midnight + 200'000), 200);
}

TEST(StatisticTest, AJumpOverManyResetsEqualsAdvancingDayByDay) {
  // A status open for 40 days: advancing once must give what 40 daily advances give, both for
  // the current window and for the value held before the last reset.
  auto def = Def({{"category", "TotalTime"},
                  {"subject", "AgentStatus"},
                  {"mainMask", "WaitForNextCall"},
                  {"dynamicTimeProfile", "06:00"}});
  Statistic stepped(def, kT0);
  Statistic jumped(def, kT0);
  const TimeMs t1 = kT0 + 3600'000;
  for (Statistic* s : {&stepped, &jumped}) {
    s->Advance(t1);
    s->OnStatus(1, Unit(Status::kLoggedIn, kT0), Unit(Status::kWaitForNextCall, t1), t1);
  }
  const TimeMs day = 24 * 3600'000;
  for (int d = 1; d <= 40; ++d) stepped.Advance(kT0 + d * day);
  const TimeMs end = kT0 + 40 * day + 5 * 3600'000 + 123'000;
  EXPECT_DOUBLE_EQ(At(jumped, end), At(stepped, end));
  EXPECT_DOUBLE_EQ(At(jumped, end), 23 * 3600 + 123);  // since 06:00 the day before
  EXPECT_EQ(jumped.IntervalLengthSeconds(end), stepped.IntervalLengthSeconds(end));
}

TEST(StatisticTest, EpisodesMergeStatusesInsideTheMask) {
  Statistic s(Def({{"category", "AverageTime"},
                   {"subject", "AgentStatus"},
                   {"mainMask", "CallInbound,CallOnHold,AfterCallWork"}}),
              kT0);
  TimeMs t = kT0 + 1000;
  s.Advance(t);
  s.OnStatus(1, Unit(Status::kWaitForNextCall, kT0), Unit(Status::kCallInbound, t), t);
  s.OnStatus(1, Unit(Status::kCallInbound, t), Unit(Status::kCallOnHold, t + 30'000), t + 30'000);
  s.OnStatus(1, Unit(Status::kCallOnHold, t + 30'000), Unit(Status::kCallInbound, t + 40'000),
             t + 40'000);
  s.OnStatus(1, Unit(Status::kCallInbound, t + 40'000), Unit(Status::kAfterCallWork, t + 100'000),
             t + 100'000);
  s.OnStatus(1, Unit(Status::kAfterCallWork, t + 100'000),
             Unit(Status::kWaitForNextCall, t + 120'000), t + 120'000);
  EXPECT_DOUBLE_EQ(At(s, t + 200'000), 120);  // one handling episode of 120 s
}

TEST(StatisticTest, CurrentTimeRestartsOnEveryStatusChange) {
  Statistic s(Def({{"category", "CurrentTime"}, {"subject", "AgentStatus"}, {"mainMask", "*"}}),
              kT0);
  s.OnStatus(1, {}, Unit(Status::kWaitForNextCall, kT0), kT0);
  EXPECT_DOUBLE_EQ(At(s, kT0 + 5000), 5);
  s.OnStatus(1, Unit(Status::kWaitForNextCall, kT0), Unit(Status::kCallRinging, kT0 + 5000),
             kT0 + 5000);
  EXPECT_DOUBLE_EQ(At(s, kT0 + 7000), 2);
}

TEST(StatisticTest, SlidingWindowForgetsOldSteps) {
  Statistic s(Def({{"category", "TotalNumber"},
                   {"subject", "DNAction"},
                   {"mainMask", "CallAbandoned"},
                   {"intervalType", "SlidingWindow"},
                   {"dynamicTimeProfile", "60,10"}}),
              kT0);
  Attributes a;
  s.Advance(kT0 + 1000);
  s.OnInstant(Action::kCallAbandoned, 5000, a, kT0 + 1000);
  s.Advance(kT0 + 35'000);
  s.OnInstant(Action::kCallAbandoned, 5000, a, kT0 + 35'000);
  s.Advance(kT0 + 59'000);
  EXPECT_DOUBLE_EQ(At(s, kT0 + 59'000), 2);
  s.Advance(kT0 + 65'000);  // the step [0,10) s left the 6-step window
  EXPECT_DOUBLE_EQ(At(s, kT0 + 65'000), 1);
  s.Advance(kT0 + 10 * 60'000);
  EXPECT_DOUBLE_EQ(At(s, kT0 + 10 * 60'000), 0);
}

TEST(StatisticTest, SelectionKeepsTheLastNItems) {
  Statistic s(Def({{"category", "AverageTime"},
                   {"subject", "DNAction"},
                   {"mainMask", "CallReleased"},
                   {"intervalType", "Selection"},
                   {"dynamicTimeProfile", "3"}}),
              kT0);
  Attributes a;
  for (TimeMs d : {10'000, 20'000, 30'000, 60'000}) s.OnInstant(Action::kCallReleased, d, a, kT0);
  EXPECT_DOUBLE_EQ(At(s, kT0), (20 + 30 + 60) / 3.0);
}

// The shape of an object that is its subject's only unit keeps no unit keys and folds its pending
// close into its item; it must give the values the keyed shape gives, and save and load its state
// to the same bytes.
TEST(StatisticTest, OneUnitShapeMatchesTheKeyedShape) {
  const std::vector<KeyValues> defs = {
      {{"category", "TotalTime"}, {"mainMask", "CallInbound,CallOnHold,AfterCallWork"}},
      {{"category", "AverageTime"}, {"mainMask", "CallInbound,CallOnHold,AfterCallWork"}},
      {{"category", "TotalNumber"}, {"mainMask", "CallInbound,AfterCallWork"}},
      {{"category", "MaxTime"}, {"mainMask", "CallInbound,AfterCallWork"}},
      {{"category", "RelativeTimePercentage"},
       {"mainMask", "CallInbound"},
       {"relMask", "*,~LoggedOut"}},
      {{"category", "CurrentContinuousTime"}, {"mainMask", "CallInbound,AfterCallWork"}},
      {{"category", "CurrentTime"}, {"mainMask", "CallInbound,AfterCallWork"}},
      {{"category", "TotalTime"},
       {"mainMask", "CallInbound,AfterCallWork"},
       {"intervalType", "SlidingWindow"},
       {"dynamicTimeProfile", "600,60"}},
      {{"category", "AverageTime"},
       {"mainMask", "CallInbound,AfterCallWork"},
       {"intervalType", "Selection"},
       {"dynamicTimeProfile", "3"}},
  };
  const Status statuses[] = {Status::kWaitForNextCall, Status::kCallInbound, Status::kAfterCallWork,
                             Status::kCallOnHold, Status::kLoggedOut};
  for (KeyValues kv : defs) {
    kv.push_back({"subject", "AgentStatus"});
    kv.push_back({"dynamicTimeRange", "0-30"});
    auto def = Def(kv);
    Statistic one(def, kT0, true);
    Statistic keyed(def, kT0, false);
    std::uint32_t rng = 12345;
    Statistic::UnitStatus now = Unit(Status::kLoggedOut, kT0);
    TimeMs t = kT0;
    for (int i = 0; i < 400; ++i) {
      rng = rng * 1103515245 + 12345;
      t += (rng >> 8) % 3 == 0 ? 0 : 1000 + (rng >> 12) % 90'000;  // same ms a third of the time
      const Statistic::UnitStatus next = Unit(statuses[(rng >> 16) % 5], t);
      for (Statistic* s : {&one, &keyed}) {
        s->Advance(t);
        s->OnStatus(7, now, next, t);
      }
      now = next;
      ASSERT_DOUBLE_EQ(At(one, t), At(keyed, t)) << kv[0].second << " after " << i;
      BinaryWriter w;
      one.Save(w);
      Statistic copy(def, kT0, true);
      BinaryReader r(w.Data());
      ASSERT_TRUE(copy.Load(r) && r.AtEnd()) << kv[0].second;
      BinaryWriter again;
      copy.Save(again);
      ASSERT_EQ(again.Data(), w.Data()) << kv[0].second;
    }
  }
}

}  // namespace
}  // namespace tally::stats
