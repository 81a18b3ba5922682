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

}  // namespace
}  // namespace tally::stats
