#include "server/snapshot.h"

#include <gtest/gtest.h>

namespace tally::server {
namespace {

SnapshotParts Sample() {
  SnapshotParts p;
  p.seq = 1234;
  p.taken_at = 1'800'000'000'000;
  p.engine = std::string("engine\0bytes", 12);
  p.api = "api";
  p.pipeline = "";
  return p;
}

TEST(SnapshotFormat, RoundTrips) {
  const std::string bytes = EncodeSnapshot(Sample());
  EXPECT_EQ(bytes.substr(0, 8), "TALLYSNP");
  auto parts = DecodeSnapshot(bytes);
  ASSERT_TRUE(parts) << parts.error().message;
  EXPECT_EQ(parts->seq, 1234u);
  EXPECT_EQ(parts->taken_at, 1'800'000'000'000);
  EXPECT_EQ(parts->engine, std::string("engine\0bytes", 12));
  EXPECT_EQ(parts->api, "api");
  EXPECT_EQ(parts->pipeline, "");
}

TEST(SnapshotFormat, AnOlderFormatVersionIsRefusedNamingBothVersions) {
  auto parts = DecodeSnapshot(EncodeSnapshot(Sample(), kSnapshotFormat - 1));
  ASSERT_FALSE(parts);
  EXPECT_EQ(parts.error().code, Errc::kUnsupported);
  EXPECT_EQ(parts.error().message, "snapshot format version " +
                                       std::to_string(kSnapshotFormat - 1) +
                                       " is not supported by this build (it reads version " +
                                       std::to_string(kSnapshotFormat) + ")");
}

TEST(SnapshotFormat, DamageIsDetected) {
  const std::string good = EncodeSnapshot(Sample());
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x10;
  auto a = DecodeSnapshot(flipped);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, "snapshot checksum mismatch");
  auto b = DecodeSnapshot(good.substr(0, good.size() - 1));
  ASSERT_FALSE(b);
  auto c = DecodeSnapshot("TALLYSN");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("bad magic"), std::string::npos);
}

}  // namespace
}  // namespace tally::server
