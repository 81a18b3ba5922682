#include "common/json_text.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

TEST(JsonTextTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonString("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
}

TEST(JsonTextTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonString("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
  EXPECT_EQ(JsonString("bad\xFFx"), "\"bad\\ufffdx\"");
  EXPECT_EQ(JsonString("\xC0\x80"), "\"\\ufffd\\ufffd\"");  // overlong NUL
}

}  // namespace
}  // namespace tally
