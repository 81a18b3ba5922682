// Journal records as recovery reads them back: the rows of a journal (and its durable state)
// come from the input, then a server starts from it (Pipeline::Recover: Journal::Scan with its
// sequence, kind and CRC checks, events::ParseEvent of each stored event, StatisticsApi::Replay
// of each command, quarantine of what cannot be applied, the damaged tail moved aside) and
// restores its CometD identities (RestoreIdentities). One line per row:
//   E tenant time body      an event record           C tenant time body   a command record
//   X tenant time body      an event whose CRC is wrong
//   G tenant time body      an event after a gap in the sequence
//   K kind tenant time body a record of any kind      S key value          a durable state row
// A bad record is never a reason not to start, and a second start from what the first one left
// gives the same engine and registry.
#include "fuzz/fuzz_support.h"
#include "server/session_store.h"

TALLY_FUZZ_TARGET(journal) {
  using namespace tally;
  auto journal = fuzz::MemoryJournal();
  std::uint64_t seq = 0;
  size_t pos = 0;
  int rows = 0;
  while (pos < input.size() && rows < 200) {
    size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() < 2) continue;
    ++rows;
    const char type = line[0];
    std::string_view rest = line.substr(2);
    auto word = [&rest]() {
      const size_t sp = rest.find(' ');
      const std::string_view w = rest.substr(0, sp);
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
      return w;
    };
    if (type == 'S') {
      const std::string key(word());
      (void)journal->PutState(key, std::string(rest));
      continue;
    }
    std::int64_t kind = type == 'C' ? 2 : 1;
    if (type == 'K') kind = fuzz::Number(word(), 0);
    storage::Record r;
    r.seq = seq += type == 'G' ? 2 : 1;
    r.kind = static_cast<storage::RecordKind>(kind);
    r.tenant = std::string(word());
    r.time = fuzz::Number(word(), fuzz::kT0);
    r.body = std::string(rest);
    std::int64_t crc = storage::RecordCrc(r);
    if (type == 'X') crc ^= 1;
    (void)journal->InsertRowForTest(r.seq, kind, r.tenant, r.time, r.body, crc);
  }
  fuzz::Recovery first(*journal);
  auto recovered = first.Run();
  TALLY_FUZZ_CHECK(recovered.has_value(), recovered ? "" : recovered.error().message);
  (void)server::RestoreIdentities(first.Bayeux(), *journal);
  TALLY_FUZZ_CHECK(journal->LastSeq() <= seq, "recovery invented records");
  fuzz::Recovery second(*journal);
  auto again = second.Run();
  TALLY_FUZZ_CHECK(again.has_value(), again ? "" : again.error().message);
  TALLY_FUZZ_CHECK(second.Engine().Save() == first.Engine().Save(),
                   "a second start gives another engine");
  TALLY_FUZZ_CHECK(second.Statistics().SaveState() == first.Statistics().SaveState(),
                   "a second start gives another registry");
  return 0;
}
