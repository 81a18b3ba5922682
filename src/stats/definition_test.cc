// Unit tests of definition parsing: every field, its errors, and the reset arithmetic.
// Threading: single-threaded.
#include "stats/definition.h"

#include <date/tz.h>
#include <gtest/gtest.h>

namespace tally::stats {
namespace {

Result<Definition> Parse(KeyValues kv) { return ParseDefinition(kv, nullptr); }

TEST(MaskTest, ListsExclusionsAndPrefixes) {
  auto m = ParseMask("*,~LoggedOut,~NotMonitored", Subject::kAgentStatus, "mainMask");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->HasStatus(Status::kWaitForNextCall));
  EXPECT_FALSE(m->HasStatus(Status::kLoggedOut));
  EXPECT_FALSE(m->HasStatus(Status::kNotMonitored));
  auto calls = ParseMask("Call*,AfterCallWork", Subject::kDNStatus, "mainMask");
  ASSERT_TRUE(calls);
  EXPECT_TRUE(calls->HasStatus(Status::kCallInbound));
  EXPECT_TRUE(calls->HasStatus(Status::kCallOnHold));
  EXPECT_TRUE(calls->HasStatus(Status::kAfterCallWork));
  EXPECT_FALSE(calls->HasStatus(Status::kWaitForNextCall));
  auto actions = ParseMask("CallAnswered, CallAbandoned", Subject::kDNAction, "mainMask");
  ASSERT_TRUE(actions);
  EXPECT_TRUE(actions->HasAction(Action::kCallAnswered));
  EXPECT_FALSE(actions->HasAction(Action::kCallWait));
}

TEST(MaskTest, UnknownNamesAreNamed) {
  auto m = ParseMask("Ready", Subject::kAgentStatus, "mainMask");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message, "mainMask: unknown status 'Ready'");
  auto a = ParseMask("CallWait,Bogus", Subject::kDNAction, "relMask");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, "relMask: unknown action 'Bogus'");
  EXPECT_FALSE(ParseMask("Zz*", Subject::kDNAction, "mainMask"));
  EXPECT_FALSE(ParseMask("", Subject::kDNAction, "mainMask"));
}

TEST(TimeRangeTest, HalfOpenSecondsWithTruncatedMilliseconds) {
  auto r = ParseTimeRange("0-20", "dynamicTimeRange");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->Contains(19'999));
  EXPECT_FALSE(r->Contains(20'000));
  EXPECT_TRUE(r->Contains(0));
  auto r2 = ParseTimeRange("20-50", "x");
  ASSERT_TRUE(r2);
  EXPECT_TRUE(r2->Contains(20'000));
  EXPECT_FALSE(ParseTimeRange("20-10", "x"));
  EXPECT_FALSE(ParseTimeRange("abc", "x"));
}

TEST(DefinitionTest, ParsesTheOverviewSample) {
  auto d = Parse({{"notificationMode", "Periodical"},
                  {"notificationFrequency", 10 == 10 ? "10" : ""},
                  {"insensitivity", "1"},
                  {"category", "TotalAdjustedTime"},
                  {"subject", "DNStatus"},
                  {"intervalType", "GrowingWindow"},
                  {"mainMask", "WaitForNextCall"},
                  {"dynamicTimeProfile", "00:00"},
                  {"dynamicFilter", "Media=voice"},
                  {"maskType", "DN"}});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->category, Category::kTotalAdjustedTime);
  EXPECT_EQ(d->mode, NotificationMode::kPeriodical);
  EXPECT_EQ(d->frequency_s, 10);
  EXPECT_EQ(d->growing.daily_minutes, std::vector<int>{0});
  ASSERT_TRUE(d->filter);
}

TEST(DefinitionTest, EnumsInAnyCaseAndNumbersAsStrings) {
  auto d = Parse({{"category", "currentnumber"},
                  {"subject", "dnaction"},
                  {"mainMask", "CallWait"},
                  {"notificationMode", "PERIODICAL"},
                  {"notificationFrequency", "5"},
                  {"insensitivity", "2.5"},
                  {"location", "ignored"}});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->mode, NotificationMode::kPeriodical);
  EXPECT_EQ(d->frequency_s, 5);
  EXPECT_DOUBLE_EQ(d->insensitivity, 2.5);
}

TEST(DefinitionTest, EachFieldErrorNamesTheField) {
  struct Case {
    KeyValues kv;
    std::string starts;
  };
  const std::vector<Case> cases = {
      {{{"subject", "DNAction"}}, "category: is required"},
      {{{"category", "Nope"}, {"mainMask", "*"}}, "category: unknown category 'Nope'"},
      {{{"category", "CurrentNumber"}, {"subject", "Who"}, {"mainMask", "*"}}, "subject:"},
      {{{"category", "CurrentNumber"}}, "mainMask: is required"},
      {{{"category", "RelativeNumber"}, {"mainMask", "CallAnswered"}}, "relMask: is required"},
      {{{"category", "TotalTime"}, {"mainMask", "*"}, {"intervalType", "Weekly"}}, "intervalType:"},
      {{{"category", "TotalTime"}, {"mainMask", "*"}, {"dynamicTimeProfile", "25:99"}},
       "dynamicTimeProfile:"},
      {{{"category", "TotalTime"}, {"mainMask", "*"}, {"intervalType", "SlidingWindow"}},
       "dynamicTimeProfile:"},
      {{{"category", "TotalTime"}, {"mainMask", "*"}, {"timeZone", "Mars/Base"}}, "timeZone:"},
      {{{"category", "TotalNumberInTimeRange"}, {"mainMask", "*"}, {"dynamicTimeRange", "x"}},
       "dynamicTimeRange:"},
      {{{"category", "CurrentNumber"}, {"mainMask", "*"}, {"dynamicFilter", "Media="}},
       "dynamicFilter: column"},
      {{{"category", "CurrentNumber"}, {"mainMask", "*"}, {"notificationMode", "Often"}},
       "notificationMode:"},
      {{{"category", "CurrentNumber"}, {"mainMask", "*"}, {"notificationFrequency", "x"}},
       "notificationFrequency:"},
      {{{"category", "CurrentNumber"}, {"mainMask", "*"}, {"insensitivity", "-1"}},
       "insensitivity:"},
      {{{"category", "CurrentNumber"}, {"mainMask", "*"}, {"maskType", "Campaign"}}, "maskType:"},
  };
  for (const auto& c : cases) {
    auto d = Parse(c.kv);
    ASSERT_FALSE(d) << c.starts;
    EXPECT_EQ(d.error().message.rfind(c.starts, 0), 0u) << d.error().message;
  }
}

TEST(DefinitionTest, UnsupportedCategoriesAreRefusedNotZero) {
  auto d = Parse({{"category", "EstimWaitTime"}, {"mainMask", "CallWait"}});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::kUnsupported);
}

TEST(DefinitionTest, SubjectObjectCombinations) {
  auto d = Parse({{"category", "CurrentNumber"}, {"subject", "AgentStatus"}, {"mainMask", "*"}});
  ASSERT_TRUE(d);
  EXPECT_TRUE(CheckApplicable(*d, ObjectType::kGroupAgents));
  EXPECT_FALSE(CheckApplicable(*d, ObjectType::kQueue));
  auto cct = Parse({{"category", "CurrentContinuousTime"},
                    {"subject", "AgentStatus"},
                    {"mainMask", "NotReadyForNextCall,AfterCallWork"}});
  ASSERT_TRUE(cct);
  EXPECT_TRUE(CheckApplicable(*cct, ObjectType::kAgent));
  auto refused = CheckApplicable(*cct, ObjectType::kGroupAgents);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("CurrentContinuousTime"), std::string::npos);
}

TEST(GrowingProfileTest, DailyMultipleAndPeriodic) {
  auto daily = ParseGrowingProfile("08:00,20:00", "p");
  ASSERT_TRUE(daily);
  // 2026-03-01T10:00:00Z
  const TimeMs t = 1772359200000;
  EXPECT_EQ(NextReset(*daily, t), 1772359200000 + 10 * 3600'000);  // 20:00Z
  EXPECT_EQ(LastReset(*daily, t), 1772359200000 - 2 * 3600'000);   // 08:00Z
  auto periodic = ParseGrowingProfile("00:00+0:30", "p");
  ASSERT_TRUE(periodic);
  EXPECT_EQ(NextReset(*periodic, t + 1), t + 30 * 60'000);
}

TEST(GrowingProfileTest, MidnightAcrossDaylightSavingInParis) {
  auto p = ParseGrowingProfile("00:00", "p");
  ASSERT_TRUE(p);
  p->zone = FindZone("Europe/Paris");
  ASSERT_NE(p->zone, nullptr);
  // 2026-03-28T12:00Z (CET, +1): next local midnight is 2026-03-28T23:00Z.
  const TimeMs sat_noon = 1774699200000;
  const TimeMs sunday_midnight = NextReset(*p, sat_noon);
  EXPECT_EQ(sunday_midnight, 1774738800000);
  // DST starts that Sunday at 02:00 local: the next midnight is 22:00Z, 23 hours later.
  EXPECT_EQ(NextReset(*p, sunday_midnight) - sunday_midnight, 23 * 3600'000);
}

// Issue 18, found by fuzzing (tests/fuzz/corpus/definition/issue18-time-range-overflow): a time
// range bound near 2^63 seconds overflowed (signed, undefined) when turned into milliseconds.
TEST(Issue18Fuzz, TimeRangeBoundsFarBeyondAnyDurationAreRefused) {
  auto huge = ParseTimeRange("0-9223372036854775807", "dynamicTimeRange");
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("dynamicTimeRange: b must be at most"), std::string::npos);
  EXPECT_FALSE(ParseTimeRange("9223372036854775806-9223372036854775807", "x"));
  // The longest accepted bound still converts exactly.
  const std::int64_t max_s = kMaxEventTime / 1000 + 1;
  auto longest = ParseTimeRange("0-" + std::to_string(max_s), "x");
  ASSERT_TRUE(longest);
  EXPECT_EQ(longest->hi_ms, max_s * 1000);
}

}  // namespace
}  // namespace tally::stats
