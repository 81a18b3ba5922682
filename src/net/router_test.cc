#include "net/router.h"

#include <gtest/gtest.h>

namespace tally::net {
namespace {

HttpHandler Tag(std::string* out, std::string tag) {
  return [out, tag](HttpRequest&, const RouteParams&, Responder) { *out = tag; };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add(HttpMethod::kGet, "/healthz", Tag(&hit_, "health"));
    router_.Add(HttpMethod::kPost, "/statistics/v3/subscriptions", Tag(&hit_, "create"));
    router_.Add(HttpMethod::kDelete, "/statistics/v3/subscriptions/{id}", Tag(&hit_, "delete"));
    router_.Add(HttpMethod::kGet, "/statistics/v3/subscriptions/{id}/statistic-values",
                Tag(&hit_, "peek"));
    router_.Add(HttpMethod::kPost, "/statistics/v3/notifications", Tag(&hit_, "bayeux"));
    router_.Add(HttpMethod::kPost, "/statistics/v3/notifications/*", Tag(&hit_, "bayeux*"));
    router_.Add(HttpMethod::kPost, "/statistics/v3/notifications/handshake",
                Tag(&hit_, "handshake"));
  }

  std::string Call(HttpMethod m, std::string_view path, RouteParams* params = nullptr) {
    hit_.clear();
    auto match = router_.Find(m, path);
    if (match.handler == nullptr) return "";
    HttpRequest req;
    (*match.handler)(req, match.params, Responder());
    if (params != nullptr) *params = match.params;
    return hit_;
  }

  Router router_;
  std::string hit_;
};

TEST_F(RouterTest, LiteralRoutes) {
  EXPECT_EQ(Call(HttpMethod::kGet, "/healthz"), "health");
  EXPECT_EQ(Call(HttpMethod::kHead, "/healthz"), "health");
  EXPECT_EQ(Call(HttpMethod::kPost, "/statistics/v3/subscriptions"), "create");
}

TEST_F(RouterTest, CapturesSegments) {
  RouteParams p;
  EXPECT_EQ(Call(HttpMethod::kGet, "/statistics/v3/subscriptions/abc-1/statistic-values", &p),
            "peek");
  EXPECT_EQ(p.Get("id"), "abc-1");
  EXPECT_EQ(Call(HttpMethod::kDelete, "/statistics/v3/subscriptions/x", &p), "delete");
  EXPECT_EQ(p.Get("id"), "x");
  EXPECT_EQ(p.Get("nope"), "");
}

// Issue 18, defect 6: an id with an encoded '/' was decoded before routing and became
// unreachable; segments are decoded after the split now.
TEST_F(RouterTest, Issue18AnEncodedSlashStaysInsideItsSegment) {
  RouteParams p;
  EXPECT_EQ(Call(HttpMethod::kDelete, "/statistics/v3/subscriptions/a%2Fb", &p), "delete");
  EXPECT_EQ(p.Get("id"), "a/b");
  EXPECT_EQ(Call(HttpMethod::kGet, "/statistics/v3/subscriptions/a%2Fb/statistic-values", &p),
            "peek");
  EXPECT_EQ(p.Get("id"), "a/b");
  EXPECT_EQ(Call(HttpMethod::kGet, "/statistics/v3/subscriptions/%7Bx%7D%20y/statistic-values", &p),
            "peek");
  EXPECT_EQ(p.Get("id"), "{x} y");
  EXPECT_EQ(Call(HttpMethod::kGet, "/heal%74hz"), "health");  // literals compare decoded
  EXPECT_EQ(
      router_.Find(HttpMethod::kGet, "/statistics/v3/subscriptions/%zz/statistic-values").handler,
      nullptr);
}

TEST_F(RouterTest, EmptyCaptureDoesNotMatch) {
  EXPECT_EQ(router_.Find(HttpMethod::kDelete, "/statistics/v3/subscriptions/").error,
            Errc::kNotFound);
}

TEST_F(RouterTest, RestWildcardMatchesSuffixesAndLiteralsWin) {
  EXPECT_EQ(Call(HttpMethod::kPost, "/statistics/v3/notifications"), "bayeux");
  EXPECT_EQ(Call(HttpMethod::kPost, "/statistics/v3/notifications/"), "bayeux*");
  EXPECT_EQ(Call(HttpMethod::kPost, "/statistics/v3/notifications/connect"), "bayeux*");
  EXPECT_EQ(Call(HttpMethod::kPost, "/statistics/v3/notifications/handshake"), "handshake");
}

TEST_F(RouterTest, UnknownPathIsNotFoundAndWrongMethodListsAllowed) {
  auto m = router_.Find(HttpMethod::kGet, "/nope");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.error, Errc::kNotFound);
  m = router_.Find(HttpMethod::kGet, "/statistics/v3/subscriptions");
  EXPECT_EQ(m.error, Errc::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST");
}

TEST_F(RouterTest, ReportsMatchedPatternForMetrics) {
  auto m = router_.Find(HttpMethod::kDelete, "/statistics/v3/subscriptions/42");
  EXPECT_EQ(m.pattern, "/statistics/v3/subscriptions/{id}");
}

TEST(RouterSetupTest, RejectsMalformedAndDuplicatePatterns) {
  Router r;
  auto h = [](HttpRequest&, const RouteParams&, Responder) {};
  EXPECT_THROW(r.Add(HttpMethod::kGet, "nope", h), std::invalid_argument);
  EXPECT_THROW(r.Add(HttpMethod::kGet, "/a/*/b", h), std::invalid_argument);
  r.Add(HttpMethod::kGet, "/a", h);
  EXPECT_THROW(r.Add(HttpMethod::kGet, "/a", h), std::invalid_argument);
}

TEST(SplitPathTest, Segments) {
  EXPECT_EQ(SplitPath("/"), (std::vector<std::string_view>{""}));
  EXPECT_EQ(SplitPath("/a/b/"), (std::vector<std::string_view>{"a", "b", ""}));
}

}  // namespace
}  // namespace tally::net
