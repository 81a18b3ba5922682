// Event codec: JSON (one object, an array, or NDJSON lines) → validated, normalized
// stats::Event, and back to canonical JSON for the journal. Validation errors name the line or
// index and the field. Normalization: `time` (epoch ms or RFC 3339; the server's time when
// absent), `tenant` (the token's tenant when the event has none), `switch` ("default").
// Schema: DESIGN.md §3 and docs/events.md.
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/errc.h"
#include "stats/event.h"

namespace tally::events {

struct NormalizeOptions {
  std::string default_tenant;  // used when an event has no "tenant"; empty: "tenant" required
  TimeMs now = 0;              // stamped on events without "time"
  // An event more than this ahead of `now` is refused (0: no limit). Times outside
  // [stats::kMinEventTime, stats::kMaxEventTime] are always refused.
  std::int64_t max_ahead_ms = 0;
};

// One JSON object (text) → event. Errors: "field 'x': …".
[[nodiscard]] Result<stats::Event> ParseEvent(std::string_view json, const NormalizeOptions& opts);

enum class BatchFormat { kNdjson, kJsonArray };

// A whole batch; the first invalid event rejects it with "line N: field 'x': …" (NDJSON) or
// "event N: …" (array, 0-based). The ordering rule is not checked here (server/order_gate.h).
[[nodiscard]] Result<std::vector<stats::Event>> ParseBatch(std::string_view body,
                                                           BatchFormat format,
                                                           const NormalizeOptions& opts,
                                                           size_t max_events);

// Canonical JSON of a normalized event (what the journal stores).
[[nodiscard]] std::string ToJson(const stats::Event& e);

// Parses RFC 3339 ("2026-03-01T08:00:00Z", "…T09:00:00.250+01:00") to epoch ms.
[[nodiscard]] bool ParseRfc3339(std::string_view text, TimeMs& out);

}  // namespace tally::events
