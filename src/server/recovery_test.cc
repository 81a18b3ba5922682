// Recovery against a real journal: records the engine cannot apply are quarantined, never a
// reason not to start (issue 18 defect 1).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "common/clock.h"
#include "server/pipeline.h"

namespace tally::server {
namespace {

// No subscriptions in these journals: the registry is empty and stays so.
class NoApplication final : public ApplicationState {
 public:
  [[nodiscard]] std::string Save() const override { return {}; }
  [[nodiscard]] bool Load(std::string_view bytes) override { return bytes.empty(); }
  [[nodiscard]] bool Replay(std::string_view, stats::Engine&) override { return false; }
};

std::string TempJournal() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("tally-recovery-test-" + std::to_string(::getpid()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "journal.db").string();
}

struct Recovered {
  PipelineStats stats;
  std::string peek;  // the queue's Total_Entered after recovery
};

Recovered RecoverOnce(const std::string& path) {
  auto journal = storage::Journal::Open(storage::JournalOptions{path});
  EXPECT_TRUE(journal);
  ManualClock clock(1'800'000'000'000);
  EngineThread engine(clock, false);
  EXPECT_TRUE(engine.EngineForSetup().SetCatalog({{"Entered",
                                                   {{"category", "TotalNumber"},
                                                    {"subject", "DNAction"},
                                                    {"mainMask", "CallEntered"},
                                                    {"intervalType", "GrowingWindow"},
                                                    {"dynamicTimeProfile", "00:00"},
                                                    {"objects", "Queue"}}}}));
  stats::TenantSetup acme;
  acme.name = "acme";
  acme.queues = {"8001"};
  EXPECT_TRUE(engine.EngineForSetup().AddTenant(acme, 0));
  storage::JournalWriter writer(**journal);
  Pipeline pipeline(engine, &writer, clock, ClockMode::kEvent);
  NoApplication app;
  JournalSnapshots snapshots(**journal, writer);
  pipeline.SetApplicationState(app, snapshots, SnapshotPolicy{}, false);
  auto r = pipeline.Recover(**journal, {acme});
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  auto v = engine.EngineForSetup().Peek("acme", "Entered",
                                        stats::ObjectRef{stats::ObjectType::kQueue, "8001"});
  return Recovered{pipeline.Stats(), v ? std::to_string(v->int_value) : v.error().message};
}

TEST(RecoveryTest, Issue18ARecordTheEngineCannotApplyIsQuarantinedNotFatal) {
  const std::string path = TempJournal();
  {
    auto journal = storage::Journal::Open(storage::JournalOptions{path});
    ASSERT_TRUE(journal);
    // What an older build accepted and journaled: a time near the largest 64-bit value, between
    // two good events.
    std::vector<storage::Record> records{
        {0, storage::RecordKind::kEvent, "acme", 1'800'000'000'000,
         R"({"type":"EventQueued","tenant":"acme","thisDN":"8001","connId":"c1","time":1800000000000})"},
        {0, storage::RecordKind::kEvent, "acme", 1'800'000'000'001,
         R"({"type":"EventTick","tenant":"acme","time":9223372036854775807})"},
        {0, storage::RecordKind::kEvent, "acme", 1'800'000'000'002,
         R"({"type":"EventQueued","tenant":"acme","thisDN":"8001","connId":"c2","time":1800000000002})"},
    };
    std::vector<storage::Journal::Batch> batches{{&records, "", ""}};
    ASSERT_TRUE((*journal)->AppendBatches(batches));
  }
  const Recovered first = RecoverOnce(path);
  EXPECT_EQ(first.stats.recovered_records, 3u);
  EXPECT_EQ(first.stats.apply_failures, 1u);
  EXPECT_EQ(first.peek, "2") << "the records around it are applied";
  {
    auto journal = storage::Journal::Open(storage::JournalOptions{path});
    auto listed = (*journal)->States("quarantine/");
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->front().first, "quarantine/2");
    EXPECT_NE(listed->front().second.find("time"), std::string::npos) << listed->front().second;
  }
  // The next start skips it without trying again.
  const Recovered second = RecoverOnce(path);
  EXPECT_EQ(second.stats.quarantined_skipped, 1u);
  EXPECT_EQ(second.stats.apply_failures, 0u);
  EXPECT_EQ(second.peek, "2");
}

// With the wall clock a batch applies at its journal stamp, as recovery and the exact-on-open
// replay apply it — not at the time the engine thread gets to it after the commit.
constexpr TimeMs kWallT0 = 1'800'000'000'000;

stats::TenantSetup ReadyTenant() {
  stats::TenantSetup acme;
  acme.name = "acme";
  acme.agents = {"a1"};
  acme.places = {{"p1", {"7001"}}};
  return acme;
}

std::vector<stats::CatalogEntry> ReadyCatalog() {
  return {{"Ready",
           {{"category", "TotalTime"},
            {"subject", "AgentStatus"},
            {"mainMask", "WaitForNextCall"},
            {"intervalType", "GrowingWindow"},
            {"dynamicTimeProfile", "00:00"},
            {"objects", "Agent"}}}};
}

void SetReadyCatalog(stats::Engine& engine) {
  ASSERT_TRUE(engine.SetCatalog(ReadyCatalog()));
  ASSERT_TRUE(engine.AddTenant(ReadyTenant(), 0));
}

stats::Event AgentEvent(stats::EventType type, TimeMs time) {
  stats::Event e;
  e.type = type;
  e.time = time;
  e.tenant = "acme";
  e.this_dn = "7001";
  e.agent_id = "a1";
  e.place_id = "p1";
  return e;
}

double PeekReady(stats::Engine& engine) {
  auto v = engine.Peek("acme", "Ready", stats::ObjectRef{stats::ObjectType::kAgent, "a1"});
  EXPECT_TRUE(v) << (v ? "" : v.error().message);
  return v ? v->number : -1;
}

// A single node on the wall clock over `journal`, wired as the server wires it.
struct WallNode {
  WallNode(storage::Journal& journal, TimeMs now)
      : clock(now),
        engine(clock, true),
        writer(journal),
        pipeline(engine, &writer, clock, ClockMode::kWall),
        snapshots(journal, writer) {
    pipeline.SetApplicationState(app, snapshots, SnapshotPolicy{}, false);
  }
  ManualClock clock;
  EngineThread engine;
  storage::JournalWriter writer;
  Pipeline pipeline;
  NoApplication app;
  JournalSnapshots snapshots;
};

TEST(PipelineWallClockTest, ABatchAppliesAtItsJournalStampLikeRecovery) {
  const std::string path = TempJournal();
  double live = -1;
  {
    auto journal = storage::Journal::Open(storage::JournalOptions{path});
    ASSERT_TRUE(journal);
    WallNode node(**journal, kWallT0);
    auto& [clock, engine, writer, pipeline, app, snapshots] = node;
    ASSERT_TRUE(pipeline.Recover(**journal, {ReadyTenant()}));
    // (An empty journal starts bare: the server journals its configuration next; here the
    // test sets it.)
    ASSERT_TRUE(engine.EngineForSetup().Reconfigure(ReadyCatalog(), ReadyTenant(), kWallT0));
    pipeline.SetReady(true);
    writer.Start();
    engine.Start();
    auto submit = [&](std::vector<stats::Event> events) {
      std::promise<bool> stored;
      pipeline.Submit(api::IngestBatch{std::move(events), "", api::EventNaming::kOrdinal, ""},
                      [&](Result<api::IngestResult> r) { stored.set_value(r.has_value()); });
      return stored.get_future().get();
    };
    // The engine thread is busy while the agent's batch commits at T0, and gets to it 5 s later.
    std::promise<void> release;
    auto released = release.get_future().share();
    engine.Post([&](stats::Engine&) { released.wait(); });
    ASSERT_TRUE(submit({AgentEvent(stats::EventType::kAgentLogin, kWallT0),
                        AgentEvent(stats::EventType::kAgentReady, kWallT0)}));
    clock.AdvanceMs(5'000);
    release.set_value();
    clock.AdvanceMs(5'000);
    ASSERT_TRUE(submit({AgentEvent(stats::EventType::kAgentNotReady, kWallT0 + 10'000)}));
    std::promise<double> peeked;
    engine.Post([&](stats::Engine& e) { peeked.set_value(PeekReady(e)); });
    live = peeked.get_future().get();
    engine.Stop();
    writer.Stop();
  }
  EXPECT_NEAR(live, 10.0, 0.0005) << "ready from the first stamp (T0) to the second (T0+10 s)";
  // Recovery replays the journal at its stamps: the same value.
  auto journal = storage::Journal::Open(storage::JournalOptions{path});
  ASSERT_TRUE(journal);
  WallNode recovered(**journal, kWallT0 + 60'000);
  SetReadyCatalog(recovered.engine.EngineForSetup());
  ASSERT_TRUE(recovered.pipeline.Recover(**journal, {ReadyTenant()}));
  EXPECT_NEAR(PeekReady(recovered.engine.EngineForSetup()), live, 0.0005);
}

TEST(EngineThreadTest, AHeldStampKeepsTheWallTickBelowIt) {
  ManualClock clock(kWallT0);
  EngineThread engine(clock, true);
  SetReadyCatalog(engine.EngineForSetup());
  const TimeMs held = engine.HoldStamp(kWallT0);
  EXPECT_EQ(held, kWallT0);
  clock.AdvanceMs(3'000);
  engine.Start();
  auto now = [&] {
    std::promise<TimeMs> at;
    engine.Post([&](stats::Engine& e) { at.set_value(e.Now("acme")); });
    return at.get_future().get();
  };
  EXPECT_EQ(now(), kWallT0) << "held at the unapplied batch's stamp";
  engine.ReleaseStamp(held);
  EXPECT_EQ(now(), kWallT0 + 3'000) << "released: the wall clock";
  // A stamp asked for below where the tick has gone is raised to it: it can still apply there.
  EXPECT_EQ(engine.HoldStamp(kWallT0 + 1'000), kWallT0 + 3'000);
  engine.ReleaseStamp(kWallT0 + 3'000);
  engine.Stop();
}

TEST(EngineThreadTest, Issue18TheEngineLoopReportsHowLongItHasBeenBusy) {
  ManualClock clock(1'000'000);
  EngineThread engine(clock, false);
  engine.Start();
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  engine.Post([&](stats::Engine&) {
    entered.set_value();
    released.wait();
  });
  entered.get_future().wait();
  clock.AdvanceMs(20'000);
  EXPECT_GE(engine.BusyForMs(), 20'000);
  release.set_value();
  engine.Stop();
  EXPECT_EQ(engine.BusyForMs(), 0);
}

// The systemd watchdog's ping comes from the end of each engine round: it keeps coming while the
// loop idles, and never from inside a round (a stuck round sends none).
TEST(EngineThreadTest, Issue17TheAliveHookRunsBetweenRoundsOnly) {
  ManualClock clock(1'000'000);
  EngineThread engine(clock, false);
  std::atomic<int> calls{0};
  std::atomic<int> inside_round{0};
  std::atomic<bool> in_work{false};
  engine.SetAliveHook([&] {
    if (in_work.load() || engine.BusyForMs() != 0) inside_round.fetch_add(1);
    calls.fetch_add(1);
  });
  engine.Start();
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  engine.Post([&](stats::Engine&) {
    in_work.store(true);
    entered.set_value();
    released.wait();
    in_work.store(false);
  });
  entered.get_future().wait();
  const int during = calls.load();
  release.set_value();
  // The idle loop wakes every 50 ms: the hook runs again after the round.
  while (calls.load() < during + 3) std::this_thread::yield();
  engine.Stop();
  EXPECT_EQ(inside_round.load(), 0);
}

}  // namespace
}  // namespace tally::server
