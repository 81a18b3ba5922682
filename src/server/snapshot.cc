#include "server/snapshot.h"

#include <boost/crc.hpp>

#include "common/binary.h"

namespace tally::server {
namespace {

constexpr std::string_view kMagic = "TALLYSNP";

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

std::uint32_t GetU32(std::string_view in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

std::uint32_t Crc(std::string_view data) {
  boost::crc_32_type crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

}  // namespace

std::string EncodeSnapshot(const SnapshotParts& parts, std::uint32_t format) {
  BinaryWriter w;
  w.U64(parts.seq);
  w.I64(parts.taken_at);
  w.Bytes(parts.engine);
  w.Bytes(parts.api);
  w.Bytes(parts.pipeline);
  w.U64(parts.positions.size());
  for (const auto& [tenant, seq] : parts.positions) {
    w.Str(tenant);
    w.U64(seq);
  }
  const std::string& payload = w.Data();
  std::string out;
  out.reserve(kMagic.size() + 8 + payload.size());
  out.append(kMagic);
  PutU32(out, format);
  PutU32(out, Crc(payload));
  out.append(payload);
  return out;
}

Result<SnapshotParts> DecodeSnapshot(std::string_view bytes) {
  const size_t header = kMagic.size() + 8;
  if (bytes.size() < header || bytes.substr(0, kMagic.size()) != kMagic) {
    return Fail(Errc::kInvalidArgument, "not a Tally snapshot (bad magic bytes)");
  }
  const std::uint32_t format = GetU32(bytes.substr(kMagic.size()));
  if (format != kSnapshotFormat) {
    return Fail(Errc::kUnsupported, "snapshot format version " + std::to_string(format) +
                                        " is not supported by this build (it reads version " +
                                        std::to_string(kSnapshotFormat) + ")");
  }
  const std::string_view payload = bytes.substr(header);
  if (Crc(payload) != GetU32(bytes.substr(kMagic.size() + 4))) {
    return Fail(Errc::kInvalidArgument, "snapshot checksum mismatch");
  }
  BinaryReader r(payload);
  SnapshotParts parts;
  parts.seq = r.U64();
  parts.taken_at = r.I64();
  parts.engine = std::string(r.Bytes());
  parts.api = std::string(r.Bytes());
  parts.pipeline = std::string(r.Bytes());
  const size_t n = r.Count(2);
  for (size_t i = 0; i < n && r.Ok(); ++i) {
    std::string tenant = r.Str();
    parts.positions[std::move(tenant)] = r.U64();
  }
  if (!r.Ok() || !r.AtEnd()) return Fail(Errc::kInvalidArgument, "snapshot truncated");
  return parts;
}

}  // namespace tally::server
