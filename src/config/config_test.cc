#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace tally::config {
namespace {

TEST(ConfigTest, DefaultsWhenEmpty) {
  const auto r = LoadString("", "empty.toml");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.config->server.listen, "127.0.0.1:8080");
  EXPECT_EQ(r.config->server.io_threads, 2);
  EXPECT_EQ(r.config->log.level, log::Level::kInfo);
}

TEST(ConfigTest, ReadsTypedValues) {
  const auto r = LoadString(R"(
[server]
listen = "0.0.0.0:9000"
io_threads = 4
max_body_bytes = 2048
header_timeout_ms = 500
[log]
level = "debug"
format = "json"
)",
                            "t.toml");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  EXPECT_EQ(r.config->server.listen, "0.0.0.0:9000");
  EXPECT_EQ(r.config->server.io_threads, 4);
  EXPECT_EQ(r.config->server.max_body_bytes, 2048u);
  EXPECT_EQ(r.config->server.header_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(r.config->log.level, log::Level::kDebug);
  EXPECT_EQ(r.config->log.format, log::Format::kJson);
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndKey) {
  const auto r = LoadString("[server]\nlisten = \"127.0.0.1:1\"\nlissten = \"x\"\n", "demo.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.errors[0].file, "demo.toml");
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].key, "server.lissten");
  EXPECT_EQ(r.errors[0].ToString(), "demo.toml:3:1: server.lissten: unknown key");
}

TEST(ConfigTest, UnknownTopLevelSection) {
  const auto r = LoadString("[sever]\nlisten = 1\n", "x.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "sever");
  EXPECT_EQ(r.errors[0].line, 1);
}

TEST(ConfigTest, WrongTypeAndRangeAreReportedTogether) {
  const auto r = LoadString("[server]\nio_threads = \"two\"\nmax_connections = 0\n", "x.toml");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].key, "server.io_threads");
  EXPECT_NE(r.errors[0].message.find("expected an integer"), std::string::npos);
  EXPECT_EQ(r.errors[1].key, "server.max_connections");
  EXPECT_NE(r.errors[1].message.find("out of range"), std::string::npos);
}

TEST(ConfigTest, BadEnumsAndAddresses) {
  const auto r = LoadString("[log]\nlevel = \"loud\"\n[server]\nlisten = \"nohost\"\n", "x.toml");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].key, "log.level");
  EXPECT_EQ(r.errors[1].key, "server.listen");
}

TEST(ConfigTest, SyntaxErrorHasLine) {
  const auto r = LoadString("[server]\nlisten = \n", "bad.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
}

TEST(ConfigTest, MissingFile) {
  const auto r = LoadFile("/nonexistent/tally.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "cannot open file");
}

TEST(ConfigTest, ShippedDemoConfigIsValid) {
  const char* src = std::getenv("TALLY_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  const auto r = LoadFile(std::string(src) + "/config/demo.toml");
  for (const auto& e : r.errors) ADD_FAILURE() << e.ToString();
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->server.listen, "127.0.0.1:8080");
}

TEST(SplitHostPortTest, Forms) {
  std::string host;
  std::uint16_t port = 0;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:80", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 80);
  EXPECT_TRUE(SplitHostPort("[::1]:0", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(SplitHostPort("host", host, port));
  EXPECT_FALSE(SplitHostPort(":80", host, port));
  EXPECT_FALSE(SplitHostPort("h:99999", host, port));
  EXPECT_FALSE(SplitHostPort("h:8x", host, port));
}

}  // namespace
}  // namespace tally::config
