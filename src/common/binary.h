// BinaryWriter / BinaryReader: the compact byte encoding of snapshots. Unsigned integers are
// LEB128 varints, signed ones zig-zag varints, doubles their 8 IEEE bytes (little-endian),
// strings a varint length and the bytes. The reader never reads past its input: a short or
// malformed input sets a failure flag and yields zeros, so a damaged snapshot is refused, never
// trusted.
// Threading: plain values; one owner each.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tally {

// 64-bit FNV-1a of `data` as 16 hex digits: a fingerprint (a request body's, to tell a retry
// from a different request under the same key), not a cryptographic hash.
[[nodiscard]] std::string Fingerprint(std::string_view data);

// Each value is encoded into a small buffer and appended at once (one size check per value,
// not one per byte: snapshots write millions of them).
class BinaryWriter {
 public:
  void U64(std::uint64_t v) {
    if (v < 0x80) {
      data_.push_back(static_cast<char>(v));
      return;
    }
    char buf[10];
    std::size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    data_.append(buf, n);
  }
  void I64(std::int64_t v) {
    U64((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void Bool(bool v) { data_.push_back(v ? '\1' : '\0'); }
  void F64(double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(bits >> (8 * i));
    data_.append(buf, 8);
  }
  void Str(std::string_view v);
  // A nested section written elsewhere: its length, then its bytes (readers can skip it).
  void Bytes(std::string_view v) { Str(v); }
  // A nested section written in place: BeginSection() reserves a 4-byte length that
  // EndSection() fills in (no copy); read back with BinaryReader::Section().
  [[nodiscard]] std::size_t BeginSection();
  void EndSection(std::size_t begin);
  void Reserve(std::size_t bytes) { data_.reserve(bytes); }

  [[nodiscard]] const std::string& Data() const { return data_; }
  [[nodiscard]] std::string Take() { return std::move(data_); }

 private:
  std::string data_;
};

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view data) : data_(data) {}

  std::uint64_t U64();
  std::int64_t I64() {
    const std::uint64_t z = U64();
    return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  bool Bool();
  double F64();
  std::string Str();
  std::string_view Bytes();
  // A section written with BeginSection()/EndSection().
  std::string_view Section();
  // A count of following elements, each at least `min_bytes` long: refused (failure, 0) when the
  // rest of the input cannot hold them, so a damaged count never allocates gigabytes.
  std::size_t Count(std::size_t min_bytes = 1);
  // Marks the input as malformed (a value out of range, a structure that does not fit).
  void Fail() { failed_ = true; }

  [[nodiscard]] bool Ok() const { return !failed_; }
  [[nodiscard]] bool AtEnd() const { return pos_ == data_.size(); }
  [[nodiscard]] std::size_t Remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace tally
