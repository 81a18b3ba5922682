#include "common/errc.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

TEST(ErrcTest, IsABoostErrorCodeOfTheTallyCategory) {
  const boost::system::error_code ec = Errc::kNotFound;
  EXPECT_EQ(&ec.category(), &TallyCategory());
  EXPECT_EQ(ec.message(), "not found");
  EXPECT_STREQ(ec.category().name(), "tally");
}

TEST(ErrcTest, HttpStatusTable) {
  EXPECT_EQ(HttpStatusFor(Errc::kOk), 200);
  EXPECT_EQ(HttpStatusFor(Errc::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(Errc::kOutOfOrder), 400);
  EXPECT_EQ(HttpStatusFor(Errc::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(Errc::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(Errc::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(Errc::kMethodNotAllowed), 405);
  EXPECT_EQ(HttpStatusFor(Errc::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(Errc::kTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(Errc::kRateLimited), 429);
  EXPECT_EQ(HttpStatusFor(Errc::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(Errc::kInternal), 500);
}

Result<int> ParsePositive(int v) {
  if (v <= 0) return Fail(Errc::kInvalidArgument, "field 'v' must be positive");
  return v;
}

TEST(ErrcTest, ResultCarriesValueOrError) {
  auto ok = ParsePositive(3);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 3);
  auto bad = ParsePositive(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "field 'v' must be positive");
}

}  // namespace
}  // namespace tally
