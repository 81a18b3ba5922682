#include "common/http.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

TEST(HttpTest, ErrorEnvelopeNamesStatusMessageAndPath) {
  const HttpResponse r = ErrorResponse(404, "no such \"thing\"", "/x");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"status":{"code":404,"message":"no such \"thing\""},"path":"/x"})");
}

TEST(HttpTest, ErrorFromErrcUsesTheTable) {
  const HttpResponse r = ErrorResponse(Error{Errc::kTooLarge, "body too large"}, "/p");
  EXPECT_EQ(r.status, 413);
}

TEST(HttpTest, PercentDecode) {
  std::string out;
  EXPECT_TRUE(PercentDecode("a%20b+c", out, true));
  EXPECT_EQ(out, "a b c");
  EXPECT_TRUE(PercentDecode("a%2Fb+c", out, false));
  EXPECT_EQ(out, "a/b+c");
  EXPECT_FALSE(PercentDecode("bad%2", out, false));
  EXPECT_FALSE(PercentDecode("bad%zz", out, false));
  EXPECT_FALSE(PercentDecode("%", out, false));
}

TEST(HttpTest, ParseQueryKeepsRepeatedKeysInOrder) {
  bool ok = false;
  const auto q = ParseQuery("statisticIds=s1&statisticIds=s2&verbose=OFF&empty=&flag", &ok);
  EXPECT_TRUE(ok);
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"statisticIds", "s1"}));
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"statisticIds", "s2"}));
  EXPECT_EQ(q[2].second, "OFF");
  EXPECT_EQ(q[3].second, "");
  EXPECT_EQ(q[4].first, "flag");
}

TEST(HttpTest, ParseQueryReportsBadEscapes) {
  bool ok = true;
  const auto q = ParseQuery("a=%zz&b=1", &ok);
  EXPECT_FALSE(ok);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].first, "b");
}

TEST(HttpTest, HeaderLookupUsesLowerCaseNames) {
  HttpRequest req;
  req.headers = {{"content-type", "application/json"}, {"x-api-key", "k"}};
  EXPECT_EQ(req.Header("x-api-key"), "k");
  EXPECT_TRUE(req.HasHeader("content-type"));
  EXPECT_FALSE(req.HasHeader("authorization"));
  EXPECT_EQ(req.Header("authorization"), "");
}

TEST(ResponderTest, FirstSendWinsAndDroppedResponderAnswers500) {
  std::vector<int> delivered;
  {
    Responder r([&](HttpResponse&& resp) { delivered.push_back(resp.status); });
    Responder copy = r;
    copy.Send(TextResponse(200, "a"));
    r.Send(TextResponse(201, "b"));
    EXPECT_TRUE(r.Sent());
  }
  ASSERT_EQ(delivered, std::vector<int>{200});
  {
    Responder r([&](HttpResponse&& resp) { delivered.push_back(resp.status); });
  }
  EXPECT_EQ(delivered, (std::vector<int>{200, 500}));
}

}  // namespace
}  // namespace tally
