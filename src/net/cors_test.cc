#include <gtest/gtest.h>

#include "net/http_server.h"

namespace tally::net {
namespace {

TEST(CorsTest, SameOriginAlwaysListedOriginsOnlyOnTheirPaths) {
  HttpServerOptions o;
  o.cors_origins = {"https://board.example.com"};
  // No Origin: not a cross-origin request.
  EXPECT_FALSE(CheckCors(o, "", "tally:8080", "/statistics/v3/x", false).cross_origin);
  // The server's own origin (scheme from the transport, host and port from Host).
  auto same = CheckCors(o, "http://tally:8080", "tally:8080", "/ingest/v1/events", false);
  EXPECT_FALSE(same.cross_origin);
  EXPECT_TRUE(same.allowed);
  EXPECT_TRUE(CheckCors(o, "https://tally:8080", "tally:8080", "/x", false).cross_origin);
  // A listed origin on a CORS path, and not elsewhere.
  EXPECT_TRUE(
      CheckCors(o, "https://board.example.com", "tally:8080", "/statistics/v3/subscriptions", false)
          .allowed);
  EXPECT_TRUE(CheckCors(o, "https://board.example.com", "tally:8080", "/auth/v3", false).allowed);
  EXPECT_FALSE(
      CheckCors(o, "https://board.example.com", "tally:8080", "/ingest/v1/events", false).allowed);
  EXPECT_FALSE(
      CheckCors(o, "https://board.example.com", "tally:8080", "/statistics/v33", false).allowed);
  // Exact match: another port, scheme or host is another origin.
  for (const char* other : {"https://board.example.com:444", "http://board.example.com",
                            "https://evil.example.com", "https://board.example.com.evil"}) {
    auto c = CheckCors(o, other, "tally:8080", "/statistics/v3/x", false);
    EXPECT_TRUE(c.cross_origin) << other;
    EXPECT_FALSE(c.allowed) << other;
  }
}

}  // namespace
}  // namespace tally::net
