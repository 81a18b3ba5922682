// Snapshot: the bytes stored in the journal's `snapshots` table — the engine state, the
// subscription registry and the write path's ordering state, as of one journal sequence.
// Layout (docs/on_disk_format.md#snapshots): "TALLYSNP", format version (4 bytes LE), CRC-32 of
// the payload (4 bytes LE), payload = seq, taken_at, then the three sections length-prefixed,
// then the positions (a count, then tenant and seq each).
// The format version is read first, so a snapshot written by another version is refused by name
// before anything else is interpreted.
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/errc.h"

namespace tally::server {

// 2: the log positions per tenant (a JetStream journal) after the sections; the engine section
// carries its own format (stats::Engine::Save).
inline constexpr std::uint32_t kSnapshotFormat = 2;

struct SnapshotParts {
  std::uint64_t seq = 0;  // the last journal record the state includes
  TimeMs taken_at = 0;    // server time
  std::string engine;     // stats::Engine::Save()
  std::string api;        // api::StatisticsApi::SaveState()
  std::string pipeline;   // Pipeline's ordering gate and link state
  // A JetStream journal: the last stream seq applied per tenant (`seq` is then 0).
  std::map<std::string, std::uint64_t> positions;
};

[[nodiscard]] std::string EncodeSnapshot(const SnapshotParts& parts,
                                         std::uint32_t format = kSnapshotFormat);
// Errors: kUnsupported for another format version (naming both), kInvalidArgument for a
// damaged snapshot (bad magic, checksum mismatch, truncated).
[[nodiscard]] Result<SnapshotParts> DecodeSnapshot(std::string_view bytes);

}  // namespace tally::server
