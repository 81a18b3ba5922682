// Snapshots as stored (server/snapshot.h): the bytes are decoded as they are (magic, format
// version, checksum), then — since a mutation rarely keeps a CRC-32 right — with the checksum
// stamped again, so mutations reach the sections: the snapshot is put into a journal and a
// server starts from it (Pipeline::Recover: DecodeSnapshot, stats::Engine::Load, the
// subscription registry, the write path's section, the configured tenants merged in). Whatever
// it loaded must then work: events apply, time moves, and Save() survives a Load() unchanged.
#include <boost/crc.hpp>

#include "fuzz/fuzz_support.h"
#include "server/snapshot.h"

namespace tally::fuzz {
namespace {

std::string Restamped(std::string_view input) {
  std::string bytes(input);
  if (bytes.size() < 16 || bytes.compare(0, 8, "TALLYSNP") != 0) return bytes;
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data() + 16, bytes.size() - 16);
  const std::uint32_t v = crc.checksum();
  for (int i = 0; i < 4; ++i) bytes[12 + i] = static_cast<char>(v >> (8 * i));
  return bytes;
}

stats::Event Ev(stats::EventType type, TimeMs t, std::string dn, std::string conn = "") {
  stats::Event e;
  e.type = type;
  e.time = t;
  e.tenant = "acme";
  e.this_dn = std::move(dn);
  e.conn_id = std::move(conn);
  return e;
}

}  // namespace
}  // namespace tally::fuzz

TALLY_FUZZ_TARGET(snapshot) {
  using namespace tally;
  (void)server::DecodeSnapshot(input);
  const std::string bytes = fuzz::Restamped(input);
  auto parts = server::DecodeSnapshot(bytes);
  if (!parts) return 0;
  auto journal = fuzz::MemoryJournal();
  if (!journal->PutSnapshot(parts->seq, parts->taken_at, bytes, 2)) return 0;
  fuzz::Recovery recovery(*journal);
  auto recovered = recovery.Run();
  TALLY_FUZZ_CHECK(recovered.has_value(), recovered ? "" : recovered.error().message);
  stats::Engine& engine = recovery.Engine();
  // What was loaded works on: a call on agent1's DN, time moving a day, every tenant's values.
  std::vector<stats::Notification> out;
  const TimeMs t = std::max(engine.Now("acme"), fuzz::kT0) + 1000;
  if (stats::IsValidEventTime(t + 100'000'000)) {
    using stats::EventType;
    auto login = fuzz::Ev(EventType::kAgentLogin, t, "7001");
    login.agent_id = "agent1";
    for (auto e : {login, fuzz::Ev(EventType::kAgentReady, t + 1, "7001"),
                   fuzz::Ev(EventType::kRinging, t + 2, "7001", "fz1"),
                   fuzz::Ev(EventType::kEstablished, t + 3, "7001", "fz1"),
                   fuzz::Ev(EventType::kReleased, t + 4, "7001", "fz1")}) {
      (void)engine.Apply(e, out);
    }
    (void)engine.AdvanceTo(t + 86'400'000, out);
    for (const char* name : {"CurrentAgentState", "InboundCalls", "TimeInCurrentState"}) {
      (void)engine.Peek("acme", name, stats::ObjectRef{stats::ObjectType::kAgent, "agent1"});
    }
    (void)engine.Peek("acme", "ServiceLevel", stats::ObjectRef{stats::ObjectType::kQueue, "8001"});
  }
  // Save, Load, Save: the same bytes.
  const std::string saved = engine.Save();
  stats::Engine again;
  fuzz::SetUpEngine(again, fuzz::kT0);
  auto loaded = again.Load(saved);
  TALLY_FUZZ_CHECK(loaded.has_value(), loaded ? "" : loaded.error().message);
  TALLY_FUZZ_CHECK(again.Save() == saved, "Save() after Load() differs");
  return 0;
}
