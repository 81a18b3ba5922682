#include "common/clock.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

TEST(ManualClockTest, StartsAtGivenTimeAndAdvances) {
  ManualClock clock(1'000);
  EXPECT_EQ(clock.NowMs(), 1'000);
  clock.AdvanceMs(250);
  EXPECT_EQ(clock.NowMs(), 1'250);
}

TEST(ManualClockTest, SteadyTimeFollowsForwardMovesOnly) {
  ManualClock clock(10'000);
  const auto s0 = clock.SteadyNow();
  clock.AdvanceMs(500);
  EXPECT_EQ(clock.SteadyNow() - s0, std::chrono::milliseconds(500));
  clock.SetMs(5'000);  // wall time set back: steady time must not go back
  EXPECT_EQ(clock.NowMs(), 5'000);
  EXPECT_EQ(clock.SteadyNow() - s0, std::chrono::milliseconds(500));
  clock.SetMs(6'000);
  EXPECT_EQ(clock.SteadyNow() - s0, std::chrono::milliseconds(1'500));
}

TEST(ManualClockTest, NegativeAdvanceIsIgnored) {
  ManualClock clock(100);
  clock.AdvanceMs(-50);
  EXPECT_EQ(clock.NowMs(), 100);
}

TEST(SystemClockTest, ReturnsPlausibleEpochMilliseconds) {
  const TimeMs now = DefaultClock().NowMs();
  EXPECT_GT(now, 1'600'000'000'000);  // after 2020-09
  EXPECT_LT(now, 4'102'444'800'000);  // before 2100
  const auto a = DefaultClock().SteadyNow();
  const auto b = DefaultClock().SteadyNow();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace tally
