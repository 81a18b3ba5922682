#include "common/log.h"

#include <gtest/gtest.h>

namespace tally::log {
namespace {

TEST(LogTest, ParsesLevelsCaseInsensitively) {
  Level l = Level::kOff;
  EXPECT_TRUE(ParseLevel("DEBUG", l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_TRUE(ParseLevel("warning", l));
  EXPECT_EQ(l, Level::kWarn);
  EXPECT_FALSE(ParseLevel("verbose", l));
}

TEST(LogTest, ParsesFormats) {
  Format f = Format::kText;
  EXPECT_TRUE(ParseFormat("JSON", f));
  EXPECT_EQ(f, Format::kJson);
  EXPECT_FALSE(ParseFormat("xml", f));
}

TEST(LogTest, LevelGatesOutput) {
  Init(Level::kWarn, Format::kText);
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  Init(Level::kTrace, Format::kJson);
  EXPECT_TRUE(Enabled(Level::kDebug));
  EXPECT_FALSE(Enabled(Level::kOff));
}

TEST(LogTest, JsonLineIsEscaped) {
  EXPECT_EQ(JsonLine("2026-01-01T00:00:00.000Z", "info", "say \"hi\"\n"),
            R"({"ts":"2026-01-01T00:00:00.000Z","level":"info","msg":"say \"hi\"\n"})");
}

}  // namespace
}  // namespace tally::log
