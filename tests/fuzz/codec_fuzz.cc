// The ingest codec (events/codec.h): a body as NDJSON and as a JSON array, with and without a
// token tenant and a future limit. Every accepted event is what the journal stores (ToJson) and
// what recovery reads back (ParseEvent of that text): the round trip must give the same event.
#include "events/codec.h"
#include "fuzz/fuzz_support.h"

namespace tally::fuzz {
namespace {

void RoundTrip(const stats::Event& e) {
  TALLY_FUZZ_CHECK(stats::IsValidEventTime(e.time), std::to_string(e.time));
  TALLY_FUZZ_CHECK(!e.tenant.empty(), "an accepted event has no tenant");
  const std::string stored = events::ToJson(e);
  // Recovery normalizes with the record's tenant and stamp (server/recovery.cc).
  auto back = events::ParseEvent(stored, events::NormalizeOptions{e.tenant, e.time});
  TALLY_FUZZ_CHECK(back.has_value(), stored + " does not read back: " +
                                         (back ? std::string() : back.error().message));
  TALLY_FUZZ_CHECK(events::ToJson(*back) == stored,
                   stored + " reads back as " + events::ToJson(*back));
  TALLY_FUZZ_CHECK(back->type == e.type && back->time == e.time && back->tenant == e.tenant &&
                       back->this_dn == e.this_dn && back->conn_id == e.conn_id &&
                       back->user_data == e.user_data && back->reasons == e.reasons &&
                       back->call_type == e.call_type && back->media_type == e.media_type,
                   stored);
  (void)stats::OrderKey(e);
}

}  // namespace
}  // namespace tally::fuzz

TALLY_FUZZ_TARGET(codec) {
  using namespace tally;
  const events::NormalizeOptions options[] = {
      {"acme", fuzz::kT0, 300'000},
      {"", fuzz::kT0, 0},
  };
  for (const auto& opts : options) {
    for (const auto format : {events::BatchFormat::kNdjson, events::BatchFormat::kJsonArray}) {
      auto batch = events::ParseBatch(input, format, opts, 50);
      if (!batch) {
        TALLY_FUZZ_CHECK(!batch.error().message.empty(), "a refusal says nothing");
        continue;
      }
      TALLY_FUZZ_CHECK(!batch->empty() && batch->size() <= 50, std::to_string(batch->size()));
      for (const auto& e : *batch) {
        fuzz::RoundTrip(e);
        if (opts.max_ahead_ms > 0) TALLY_FUZZ_CHECK(e.time <= opts.now + opts.max_ahead_ms, "");
      }
    }
  }
  TimeMs t = 0;
  if (input.size() < 64 && events::ParseRfc3339(input, t)) {
    TALLY_FUZZ_CHECK(t > -70'000'000'000'000 && t < 260'000'000'000'000, std::to_string(t));
  }
  return 0;
}
