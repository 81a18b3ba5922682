// History buckets are aligned in the tenant's time zone: local hours and days, across DST.
#include "server/history.h"

#include <gtest/gtest.h>

namespace tally::server {
namespace {

constexpr std::int64_t kHour = 3'600'000;

// 2027-03-28: Europe/Paris goes from +01:00 to +02:00 at 02:00 local (01:00 UTC).
constexpr TimeMs kParisMidnightUtc =
    1'806'188'400'000;  // 2027-03-27T23:00:00Z = 28 Mar 00:00 local

TEST(HistoryBucketsTest, ADayAcrossTheSpringChangeHas23HoursAndStartsAtLocalMidnight) {
  auto b = BucketBounds("1d", "Europe/Paris", kParisMidnightUtc + 5 * kHour,
                        kParisMidnightUtc + 30 * kHour, 100);
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->size(), 3u);
  EXPECT_EQ((*b)[0], kParisMidnightUtc);
  EXPECT_EQ((*b)[1] - (*b)[0], 23 * kHour);
  EXPECT_EQ((*b)[2] - (*b)[1], 24 * kHour);
}

TEST(HistoryBucketsTest, HourBucketsAreLocalHoursAndQuarterHoursFollowAFortyFiveMinuteZone) {
  auto hours =
      BucketBounds("1h", "Europe/Paris", kParisMidnightUtc, kParisMidnightUtc + 4 * kHour, 100);
  ASSERT_TRUE(hours);
  ASSERT_EQ(hours->size(), 5u);
  for (size_t i = 1; i < hours->size(); ++i) EXPECT_EQ((*hours)[i] - (*hours)[i - 1], kHour);
  // Asia/Kathmandu is UTC+05:45: a local quarter hour starts at :00, :15, :30, :45 local, which
  // is :15, :30, :45, :00 UTC.
  const TimeMs utc_noon = 1'800'100'800'000;  // 2027-01-16T12:00:00Z
  auto quarters =
      BucketBounds("15m", "Asia/Kathmandu", utc_noon + 60'000, utc_noon + 20 * 60'000, 100);
  ASSERT_TRUE(quarters);
  EXPECT_EQ((*quarters)[0], utc_noon);  // 17:45 local
  EXPECT_EQ((*quarters)[1], utc_noon + 15 * 60'000);
  auto utc = BucketBounds("30m", "", utc_noon + 60'000, utc_noon + 31 * 60'000, 100);
  ASSERT_TRUE(utc);
  EXPECT_EQ((*utc)[0], utc_noon);
  EXPECT_EQ(utc->back(), utc_noon + 60 * 60'000);
}

TEST(HistoryBucketsTest, TooManyBucketsNameTheField) {
  auto b = BucketBounds("15m", "", 0, 365LL * 24 * kHour, 1000);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("data.to"), std::string::npos) << b.error().message;
}

}  // namespace
}  // namespace tally::server
