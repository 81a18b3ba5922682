#include "common/binary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tally {
namespace {

TEST(Binary, RoundTripsEveryKind) {
  BinaryWriter w;
  const std::int64_t ints[] = {0,
                               1,
                               -1,
                               63,
                               -64,
                               1 << 20,
                               std::numeric_limits<std::int64_t>::max(),
                               std::numeric_limits<std::int64_t>::min()};
  for (auto v : ints) w.I64(v);
  w.U64(std::numeric_limits<std::uint64_t>::max());
  w.U64(127);
  w.U64(128);
  w.F64(-0.125);
  w.F64(std::numeric_limits<double>::infinity());
  w.Bool(true);
  w.Bool(false);
  w.Str("");
  w.Str(std::string("a\0b", 3));
  BinaryReader r(w.Data());
  for (auto v : ints) EXPECT_EQ(r.I64(), v);
  EXPECT_EQ(r.U64(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(r.U64(), 127u);
  EXPECT_EQ(r.U64(), 128u);
  EXPECT_EQ(r.F64(), -0.125);
  EXPECT_TRUE(std::isinf(r.F64()));
  EXPECT_TRUE(r.Bool());
  EXPECT_FALSE(r.Bool());
  EXPECT_EQ(r.Str(), "");
  EXPECT_EQ(r.Str(), std::string("a\0b", 3));
  EXPECT_TRUE(r.Ok());
  EXPECT_TRUE(r.AtEnd());
}

TEST(Binary, SectionsAreWrittenInPlaceAndReadBack) {
  BinaryWriter w;
  const size_t at = w.BeginSection();
  w.Str("inside");
  w.I64(-5);
  w.EndSection(at);
  w.U64(9);
  BinaryReader r(w.Data());
  const std::string_view section = r.Section();
  EXPECT_EQ(r.U64(), 9u);
  EXPECT_TRUE(r.AtEnd());
  BinaryReader inner(section);
  EXPECT_EQ(inner.Str(), "inside");
  EXPECT_EQ(inner.I64(), -5);
  EXPECT_TRUE(inner.AtEnd());
  BinaryReader cut(std::string_view(w.Data()).substr(0, 6));
  (void)cut.Section();
  EXPECT_FALSE(cut.Ok());
}

// The bytes themselves (snapshots stored by an older build must read back the same).
TEST(Binary, EncodingIsLeb128ZigZagAndLittleEndian) {
  BinaryWriter w;
  w.U64(300);
  w.I64(-1);
  w.I64(64);
  w.U64(std::numeric_limits<std::uint64_t>::max());
  w.F64(1.0);
  w.Bool(true);
  w.Str("ab");
  const std::string expected(
      "\xac\x02\x01\x80\x01"
      "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
      "\x00\x00\x00\x00\x00\x00\xf0\x3f"
      "\x01\x02"
      "ab",
      27);
  EXPECT_EQ(w.Data(), expected);
}

TEST(Binary, SmallValuesAreSmall) {
  BinaryWriter w;
  w.I64(-3);
  w.U64(100);
  EXPECT_EQ(w.Data().size(), 2u);
}

TEST(Binary, ShortInputFailsInsteadOfReadingPastTheEnd) {
  BinaryWriter w;
  w.Str("hello world");
  w.F64(1.5);
  const std::string full = w.Data();
  for (size_t cut = 0; cut < full.size(); ++cut) {
    BinaryReader r(std::string_view(full).substr(0, cut));
    (void)r.Str();
    (void)r.F64();
    EXPECT_FALSE(r.Ok()) << "cut at " << cut;
  }
}

TEST(Binary, AbsurdCountsAreRefused) {
  BinaryWriter w;
  w.U64(1'000'000'000);
  w.U64(1);
  BinaryReader r(w.Data());
  EXPECT_EQ(r.Count(), 0u);
  EXPECT_FALSE(r.Ok());
  BinaryReader bad_bool(std::string_view("\x07", 1));
  (void)bad_bool.Bool();
  EXPECT_FALSE(bad_bool.Ok());
  const std::string ones(11, '\xff');
  BinaryReader endless(ones);
  (void)endless.U64();
  EXPECT_FALSE(endless.Ok());
}

}  // namespace
}  // namespace tally
