// OrderGate: the one ordering rule of the write path (DESIGN.md §3): events of a DN must not go
// back in time. A batch is refused as a whole when one of its events is older than an earlier
// event of its DN in the same batch or than the newest accepted event of that DN — decided
// before anything is journaled, so what is acknowledged is never refused at apply. The DN is
// named as the engine names it (stats::OrderKey). Accepted-but-not-yet-stored times can be
// rolled back (a store that failed), so the client's retry is not refused.
// Threading: not thread-safe; the Pipeline calls it under its lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/binary.h"
#include "common/clock.h"
#include "stats/event.h"

namespace tally::server {

class OrderGate final {
 public:
  struct Refusal {
    size_t index = 0;     // the event of the batch that goes back in time
    std::string message;  // "field 'time': … is older than …" (the caller names the event)
  };

  // Nothing changes: checks the batch within itself and against what was accepted.
  [[nodiscard]] std::optional<Refusal> Check(const std::vector<stats::Event>& batch) const;
  // The same against what is stored only. A cluster decides with it as each record comes back
  // from the stream, where every replica sees the same stored level (docs/cluster.md).
  [[nodiscard]] std::optional<Refusal> CheckStored(const std::vector<stats::Event>& batch) const;
  // The batch was accepted (it goes to the journal): its times become the bar.
  void Accept(const std::vector<stats::Event>& batch);
  // The batch is durable.
  void Stored(const std::vector<stats::Event>& batch);
  // The batch could not be stored: its DNs go back to what is stored.
  void Rollback(const std::vector<stats::Event>& batch);
  // A durable event seen outside Submit (recovery, another node's record): both levels rise.
  void Observe(const stats::Event& e);

  // Snapshots: the stored level, and back (`legacy` reads the layout before the gate used the
  // engine's DN names: "tenant\x1fswitch\x1fdn"). False on damaged bytes, nothing changed.
  void Save(BinaryWriter& w) const;
  [[nodiscard]] bool Load(BinaryReader& r, bool legacy);
  [[nodiscard]] size_t Size() const { return stored_.size(); }

 private:
  static std::string Key(const stats::Event& e);
  static std::optional<Refusal> CheckAgainst(const std::unordered_map<std::string, TimeMs>& level,
                                             const char* what,
                                             const std::vector<stats::Event>& batch);
  std::unordered_map<std::string, TimeMs> accepted_;  // per DN key: newest accepted event
  std::unordered_map<std::string, TimeMs> stored_;    // per DN key: newest stored event
};

}  // namespace tally::server
