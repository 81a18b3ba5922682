// Unit tests of the filter language: grammar, errors with columns, evaluation.
// Threading: single-threaded.
#include "stats/filter.h"

#include <gtest/gtest.h>

namespace tally::stats {
namespace {

Attributes Sample() {
  Attributes a;
  a.media_type = "voice";
  a.call_type = CallType::kInbound;
  a.this_queue = "8001";
  a.ani = "5551234";
  a.dnis = "8005550000";
  a.user_data = {{"Lang", "Spanish"}, {"Tier", "3"}};
  a.reasons = {{"ReasonCode", "Break"}};
  return a;
}

bool Eval(std::string_view text, const Attributes& a = Sample()) {
  auto f = ParseFilter(text);
  EXPECT_TRUE(f) << text << ": " << (f ? "" : f.error().message);
  return f && (*f)->Matches(a);
}

TEST(FilterTest, KeyValueAndMediaAlias) {
  EXPECT_TRUE(Eval("Media=voice"));
  EXPECT_TRUE(Eval("MediaType=VOICE"));
  EXPECT_FALSE(Eval("MediaType=chat"));
  EXPECT_TRUE(Eval("CallType=Inbound"));
  EXPECT_TRUE(Eval("ThisQueue=8001"));
  EXPECT_TRUE(Eval("DNIS=8005550000 & ANI!=1"));
}

TEST(FilterTest, PairExistsAndUserDataAndReasons) {
  EXPECT_TRUE(Eval("PairExists(\"Lang\",\"Spanish\")"));
  EXPECT_FALSE(Eval("PairExists(\"Lang\",\"English\")"));
  EXPECT_TRUE(Eval("KeyExists(\"Tier\")"));
  EXPECT_TRUE(Eval("UserData.Lang=Spanish"));
  EXPECT_TRUE(Eval("Lang=Spanish"));  // a bare key means UserData
  EXPECT_TRUE(Eval("Reasons.ReasonCode=Break"));
  EXPECT_TRUE(Eval("ReasonExists(\"ReasonCode\",\"Break\")"));
}

TEST(FilterTest, NumericComparisonsAndBooleanOperators) {
  EXPECT_TRUE(Eval("Tier>2"));
  EXPECT_FALSE(Eval("Tier>=4"));
  EXPECT_TRUE(Eval("~(Tier<3) & (Media=chat | Lang=Spanish)"));
  EXPECT_FALSE(Eval("~Media=voice"));
  EXPECT_TRUE(Eval("Missing!=x"));
  EXPECT_FALSE(Eval("Missing=x"));
}

TEST(FilterTest, ErrorsNameTheColumn) {
  auto f = ParseFilter("Media=voice & (Lang=Spanish");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message, "dynamicFilter: column 28: expected ')'");
  f = ParseFilter("Media voice");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message.rfind("dynamicFilter: column 7:", 0), 0u) << f.error().message;
  f = ParseFilter("Frobnicate(\"a\")");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message, "dynamicFilter: column 1: unknown function 'Frobnicate'");
  f = ParseFilter("CallType=Sideways");
  ASSERT_FALSE(f);
  EXPECT_FALSE(ParseFilter(""));
  EXPECT_FALSE(ParseFilter("PairExists(\"a\")"));
}

// MatchesRecord evaluates a filter once per record (records never change once shared): the
// remembered result is returned even if the record changed (this test breaks that contract on
// purpose to see the memo), a copy is evaluated afresh, filters beyond the memo's room are still
// right, and a Disable()d record (shared by every engine) remembers nothing.
TEST(FilterTest, MatchesRecordRemembersPerRecordAndPerFilter) {
  auto spanish = ParseFilter("PairExists(\"Lang\",\"Spanish\")");
  auto tier = ParseFilter("Tier>=3");
  auto chat = ParseFilter("MediaType=chat");
  auto ani = ParseFilter("ANI=5551234");
  auto queue = ParseFilter("ThisQueue=8001");
  ASSERT_TRUE(spanish && tier && chat && ani && queue);
  Attributes a = Sample();
  EXPECT_TRUE((*spanish)->MatchesRecord(a));
  EXPECT_TRUE((*tier)->MatchesRecord(a));
  EXPECT_FALSE((*chat)->MatchesRecord(a));
  EXPECT_TRUE((*ani)->MatchesRecord(a));  // a fourth filter: not remembered, still evaluated
  a.user_data = {{"Lang", "English"}, {"Tier", "1"}};
  a.ani = "1";
  EXPECT_TRUE((*spanish)->MatchesRecord(a));  // remembered
  EXPECT_TRUE((*tier)->MatchesRecord(a));
  EXPECT_FALSE((*ani)->MatchesRecord(a));  // was not remembered
  const Attributes copy = a;               // a copy remembers nothing
  EXPECT_FALSE((*spanish)->MatchesRecord(copy));
  EXPECT_FALSE((*tier)->MatchesRecord(copy));
  EXPECT_TRUE((*queue)->MatchesRecord(copy));

  Attributes shared = Sample();
  shared.filter_memo.Disable();
  EXPECT_TRUE((*spanish)->MatchesRecord(shared));
  shared.user_data.clear();
  EXPECT_FALSE((*spanish)->MatchesRecord(shared));
}

// Issue 18, found by the filter target (tests/fuzz/corpus/filter/issue18-deep-nesting): a filter
// of nested parentheses or negations recursed once per level while parsing, evaluating and
// freeing it, so a request body of '(' overflowed the server's stack.
TEST(Issue18Fuzz, DeeplyNestedFiltersAreRefusedNotRecursedInto) {
  const std::string deep =
      std::string(1'000'000, '(') + "Media=voice" + std::string(1'000'000, ')');
  auto r = ParseFilter(deep);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "dynamicFilter: column 66: nested deeper than 64 levels of '(' and '~'");
  auto negations = ParseFilter(std::string(1'000'000, '~') + "Media=voice");
  ASSERT_FALSE(negations);
  EXPECT_NE(negations.error().message.find("nested deeper than 64 levels"), std::string::npos);
  // 64 levels still parse, and mean what they say.
  auto ok = ParseFilter(std::string(64, '(') + "Media=voice" + std::string(64, ')'));
  ASSERT_TRUE(ok) << ok.error().message;
  Attributes voice;
  EXPECT_TRUE((*ok)->Matches(voice));
  auto even = ParseFilter(std::string(64, '~') + "Media=voice");
  ASSERT_TRUE(even);
  EXPECT_TRUE((*even)->Matches(voice));
}

}  // namespace
}  // namespace tally::stats
