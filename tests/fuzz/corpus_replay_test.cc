// Every fuzz target over its committed corpus (tests/fuzz/corpus/<target>/: seeds and the
// minimized inputs of what fuzzing found), in every build, so the targets keep compiling and
// what they once found stays fixed. A target that fails aborts the test binary, naming the
// input on stderr just before.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "events/codec.h"
#include "fuzz/fuzz_support.h"
#include "server/snapshot.h"
#include "sim/simulator.h"

namespace tally::fuzz {
namespace {

std::vector<std::filesystem::path> Inputs(std::string_view target) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir(target), ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(FuzzCorpus, EveryTargetIsRegistered) {
  std::vector<std::string> names;
  for (const auto& t : Targets()) names.emplace_back(t.name);
  std::sort(names.begin(), names.end());
  const std::vector<std::string> expected = {
      "bayeux", "codec", "config", "definition", "filter", "http", "journal", "snapshot", "jwt"};
  std::vector<std::string> sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(names, sorted);
}

TEST(FuzzCorpus, EveryTargetPassesItsCorpus) {
  for (const auto& target : Targets()) {
    const auto inputs = Inputs(target.name);
    // A target without seeds would be fuzzed from nothing and replay nothing here.
    EXPECT_GE(inputs.size(), 10u) << "corpus of " << target.name << " (" << CorpusDir(target.name)
                                  << ")";
    for (const auto& path : inputs) {
      std::fprintf(stderr, "%s\n", path.string().c_str());  // names the input should it abort
      const std::string data = Read(path);
      EXPECT_EQ(target.run(data), 0) << path;
    }
  }
}

}  // namespace
}  // namespace tally::fuzz

// Seeds of the snapshot and journal targets from a small simulated morning (3 agents, one
// queue, a subscription): the snapshot a server would take and the journal records before it.
// The committed seeds must still load in this build (else fuzzing would start from refusals);
// TALLY_WRITE_FUZZ_SEEDS=1 rewrites them (after a format change).

namespace tally::fuzz {
namespace {

struct Morning {
  std::string snapshot;
  std::vector<std::string> journal_lines;
};

Morning SimulatedMorning() {
  sim::SimConfig sc;
  sc.tenant = "acme";
  sc.agents = 3;
  sc.queues = 1;
  sc.groups = {"Sales"};
  sc.calls_per_minute = 3;
  sc.speed = 1;
  sim::Simulator simulator(sc, kT0);
  std::vector<stats::Event> events;
  simulator.RunUntil(kT0 + 2 * 3'600'000, events);
  auto journal = MemoryJournal();
  std::vector<storage::Record> records;
  Morning m;
  const std::string subscribe =
      R"({"op":"subscribe","tenant":"acme","subject":"alice","operationId":"wallboard",)"
      R"("session":"","statistics":[{"statisticId":"s1","objectId":"agent001","objectType":"Agent",)"
      R"("name":"CurrentAgentState"},{"statisticId":"s2","objectId":"8001","objectType":"Queue",)"
      R"("definition":{"category":"TotalNumber","subject":"DNAction","mainMask":"CallAbandoned",)"
      R"("intervalType":"SlidingWindow","dynamicTimeProfile":"600,60"}}]})";
  records.push_back({0, storage::RecordKind::kCommand, "acme", kT0, subscribe});
  for (const auto& e : events) {
    records.push_back({0, storage::RecordKind::kEvent, e.tenant, e.time, events::ToJson(e)});
  }
  std::vector<storage::Journal::Batch> batches{{&records, "", ""}};
  EXPECT_TRUE(journal->AppendBatches(batches));
  for (const auto& r : records) {
    m.journal_lines.push_back(std::string(r.kind == storage::RecordKind::kEvent ? "E" : "C") + " " +
                              r.tenant + " " + std::to_string(r.time) + " " + r.body);
  }
  Recovery recovery(*journal);
  EXPECT_TRUE(recovery.Run());
  server::SnapshotParts parts;
  parts.seq = journal->LastSeq();
  parts.taken_at = kT0 + 2 * 3'600'000;
  parts.engine = recovery.Engine().Save();
  parts.api = recovery.Statistics().SaveState();
  parts.pipeline = recovery.Pipeline().SaveStateForTest();
  m.snapshot = server::EncodeSnapshot(parts);
  return m;
}

void Write(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

TEST(FuzzSeeds, TheSimulatedMorningSeedsLoad) {
  const Morning m = SimulatedMorning();
  EXPECT_GT(m.journal_lines.size(), 50u);
  const std::string snapshot_seed = CorpusDir("snapshot") + "/seed-simulated-morning";
  if (std::getenv("TALLY_WRITE_FUZZ_SEEDS") != nullptr) {
    std::filesystem::create_directories(CorpusDir("snapshot"));
    std::filesystem::create_directories(CorpusDir("journal"));
    Write(snapshot_seed, m.snapshot);
    // The journal seeds: the first records of the morning.
    for (const size_t n : {size_t{12}, size_t{40}, size_t{150}}) {
      std::string text;
      for (size_t i = 0; i < n && i < m.journal_lines.size(); ++i) {
        text += m.journal_lines[i] + "\n";
      }
      Write(CorpusDir("journal") + "/seed-simulated-" + std::to_string(n), text);
    }
  }
  // The committed snapshot seed is a snapshot this build starts from.
  const std::string committed = Read(snapshot_seed);
  auto parts = server::DecodeSnapshot(committed);
  ASSERT_TRUE(parts) << parts.error().message << " (TALLY_WRITE_FUZZ_SEEDS=1 rewrites it)";
  stats::Engine engine;
  SetUpEngine(engine, kT0);
  auto loaded = engine.Load(parts->engine);
  ASSERT_TRUE(loaded) << loaded.error().message << " (TALLY_WRITE_FUZZ_SEEDS=1 rewrites it)";
  EXPECT_GT(engine.Counters().objects, 10u);
}

}  // namespace
}  // namespace tally::fuzz
