// ApplicationState: what the write path snapshots and replays besides the engine — the API's
// subscription registry — through a narrow interface, so the pipeline does not know the API.
// Threading: every method on the engine thread (or before it starts, during recovery).
#pragma once

#include <string>
#include <string_view>

#include "api/statistics_api.h"
#include "stats/engine.h"

namespace tally::server {

class ApplicationState {
 public:
  virtual ~ApplicationState() = default;
  // The state as bytes (a snapshot section), and back: all or nothing, false on damaged bytes.
  [[nodiscard]] virtual std::string Save() const = 0;
  [[nodiscard]] virtual bool Load(std::string_view bytes) = 0;
  // Re-executes a journaled command; false for one it cannot read.
  [[nodiscard]] virtual bool Replay(std::string_view command, stats::Engine& engine) = 0;
};

// The API's subscription registry as the write path snapshots and replays it.
class StatisticsState final : public ApplicationState {
 public:
  explicit StatisticsState(api::StatisticsApi& api) : api_(api) {}
  [[nodiscard]] std::string Save() const override { return api_.SaveState(); }
  [[nodiscard]] bool Load(std::string_view bytes) override { return api_.LoadState(bytes); }
  [[nodiscard]] bool Replay(std::string_view command, stats::Engine& engine) override {
    return api_.Replay(command, engine);
  }

 private:
  api::StatisticsApi& api_;
};

}  // namespace tally::server
