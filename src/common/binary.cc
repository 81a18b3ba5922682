#include "common/binary.h"

#include <cstring>

namespace tally {

std::string Fingerprint(std::string_view data) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<size_t>(i)] = kHex[h & 15];
  return out;
}

void BinaryWriter::Str(std::string_view v) {
  U64(v.size());
  data_.append(v);
}

std::size_t BinaryWriter::BeginSection() {
  const std::size_t at = data_.size();
  data_.append(4, '\0');
  return at;
}

void BinaryWriter::EndSection(std::size_t begin) {
  const std::size_t n = data_.size() - begin - 4;
  for (int i = 0; i < 4; ++i) data_[begin + i] = static_cast<char>(n >> (8 * i));
}

std::string_view BinaryReader::Section() {
  if (Remaining() < 4) {
    failed_ = true;
    pos_ = data_.size();
    return {};
  }
  std::size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<std::size_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
  }
  pos_ += 4;
  if (n > Remaining()) {
    failed_ = true;
    pos_ = data_.size();
    return {};
  }
  std::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

std::uint64_t BinaryReader::U64() {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) {
      failed_ = true;
      return 0;
    }
    const auto byte = static_cast<unsigned char>(data_[pos_++]);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return v;
  }
  failed_ = true;  // more than 10 bytes: not a varint
  return 0;
}

bool BinaryReader::Bool() {
  if (pos_ >= data_.size()) {
    failed_ = true;
    return false;
  }
  const char c = data_[pos_++];
  if (c != '\0' && c != '\1') failed_ = true;
  return c == '\1';
}

double BinaryReader::F64() {
  if (Remaining() < 8) {
    failed_ = true;
    pos_ = data_.size();
    return 0;
  }
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) {
    bits |= static_cast<std::uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
  }
  pos_ += 8;
  double v = 0;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

std::string_view BinaryReader::Bytes() {
  const std::uint64_t n = U64();
  if (failed_ || n > Remaining()) {
    failed_ = true;
    return {};
  }
  std::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

std::string BinaryReader::Str() { return std::string(Bytes()); }

std::size_t BinaryReader::Count(std::size_t min_bytes) {
  const std::uint64_t n = U64();
  if (failed_) return 0;
  if (min_bytes == 0) min_bytes = 1;
  if (n > Remaining() / min_bytes) {
    failed_ = true;
    return 0;
  }
  return static_cast<std::size_t>(n);
}

}  // namespace tally
