// Engine benchmarks: event throughput with the full catalog maintained for a large contact
// center (10k agents in 100 groups) and the floor (the same events, empty catalog), recovery
// replay from the engine's side, snapshot save/load time and size for that center, and memory
// per catalog and per open statistic. Figures: BENCHMARKS.md (engine table, bench/run.sh).
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>

#include "common/metrics.h"
#include "config/catalog.h"
#include "stats/engine.h"
#include "stats/key_interner.h"

namespace tally::stats {
namespace {

constexpr TimeMs kStart = 1772352000000;  // 2026-03-01T08:00:00Z

// CTest's smoke run sets TALLY_BENCH_SMOKE so the benchmark only proves it still works.
bool Smoke() { return std::getenv("TALLY_BENCH_SMOKE") != nullptr; }

std::vector<CatalogEntry> Catalog() {
  const char* dir = std::getenv("TALLY_SOURCE_DIR");
  const std::string path = std::string(dir != nullptr ? dir : ".") + "/config/statistics.toml";
  auto load = config::LoadCatalogFile(path);
  if (!load.errors.empty()) {
    std::fprintf(stderr, "%s\n", load.errors[0].ToString().c_str());
    std::abort();
  }
  std::vector<CatalogEntry> out;
  for (auto& d : load.definitions) out.push_back({d.name, d.fields});
  return out;
}

struct Center {
  int agents;
  int groups;
  int queues;
};

TenantSetup Setup(const Center& c) {
  TenantSetup t;
  t.name = "bench";
  for (int q = 0; q < c.queues; ++q) t.queues.push_back(std::to_string(8000 + q));
  TenantSetup::Group all_queues{ObjectType::kGroupQueues, "all", t.queues};
  t.groups.push_back(all_queues);
  std::vector<TenantSetup::Group> groups(static_cast<size_t>(c.groups));
  for (int g = 0; g < c.groups; ++g)
    groups[g] = {ObjectType::kGroupAgents, "g" + std::to_string(g), {}};
  for (int a = 0; a < c.agents; ++a) {
    const std::string id = "agent" + std::to_string(a);
    t.agents.push_back(id);
    t.places.push_back({"place" + std::to_string(a), {std::to_string(100000 + a)}});
    groups[static_cast<size_t>(a % c.groups)].members.push_back(id);
  }
  t.groups.insert(t.groups.end(), groups.begin(), groups.end());
  return t;
}

// A realistic mix: each agent loops login → ready → (queue, divert, ring, answer, maybe hold,
// release, ACW, ready)…; agents advance round-robin, 1 ms apart. Made on demand, so a run can
// take as many events as it needs.
class Stream {
 public:
  // `intern`: as the decoder gives them (Event::key_id); false: the engine's string path.
  explicit Stream(const Center& c, bool intern = true)
      : c_(c),
        intern_(intern),
        step_(static_cast<size_t>(c.agents), 0),
        call_(static_cast<size_t>(c.agents), 0) {}

  std::vector<Event> Take(size_t n) {
    std::vector<Event> events;
    Refill(events, n);
    return events;
  }
  // Refills `events` in place: the buffer's pages are reused, so a run measures the engine, not
  // the page faults of a fresh gigabyte of events.
  void Refill(std::vector<Event>& events, size_t n) {
    events.clear();
    events.reserve(n);
    while (events.size() < n) events.push_back(Next());
  }

 private:
  Event Next() {
    const int a = static_cast<int>(k_++ % static_cast<size_t>(c_.agents));
    Event e;
    e.tenant = "bench";
    e.time = ++t_;
    e.this_dn = std::to_string(100000 + a);
    const std::string queue = std::to_string(8000 + a % c_.queues);
    const std::string conn = "c" + std::to_string(a) + "_" + std::to_string(call_[a]);
    int& s = step_[a];
    switch (s) {
      case 0:
        e.type = EventType::kAgentLogin;
        e.agent_id = "agent" + std::to_string(a);
        break;
      case 1: e.type = EventType::kAgentReady; break;
      case 2:
        e.type = EventType::kQueued;
        e.this_dn = queue;
        e.conn_id = conn;
        e.call_type = CallType::kInbound;
        break;
      case 3:
        e.type = EventType::kDiverted;
        e.this_dn = queue;
        e.conn_id = conn;
        break;
      case 4:
        e.type = EventType::kRinging;
        e.conn_id = conn;
        e.call_type = CallType::kInbound;
        break;
      case 5:
        e.type = EventType::kEstablished;
        e.conn_id = conn;
        break;
      case 6:
        if (rng_() % 4 != 0) {
          s = 8;
          e.type = EventType::kReleased;
          e.conn_id = conn;
          break;
        }
        e.type = EventType::kHeld;
        e.conn_id = conn;
        break;
      case 7:
        e.type = EventType::kRetrieved;
        e.conn_id = conn;
        break;
      case 8:
        e.type = EventType::kReleased;
        e.conn_id = conn;
        break;
      case 9:
        e.type = EventType::kAgentNotReady;
        e.work_mode = "AfterCallWork";
        break;
      default: e.type = EventType::kAgentReady; break;
    }
    if (s >= 10) {
      s = 2;
      ++call_[a];
    } else {
      ++s;
    }
    // What the decoder does (events::ParseEvent): the engine then finds the DN by number.
    if (intern_) e.key_id = KeyInterner::Global().Intern(e.tenant, OrderKey(e));
    return e;
  }

  Center c_;
  bool intern_ = true;
  std::mt19937 rng_{7};
  std::vector<int> step_;
  std::vector<int> call_;
  TimeMs t_ = kStart;
  size_t k_ = 0;
};

// The same events through the object model alone (no statistic at all): the floor that the
// full-catalog figure is compared with (goal: full ≤ 3 × floor).
void RunEvents(benchmark::State& state, bool with_catalog, bool interned = true) {
  const Center c{static_cast<int>(state.range(0)), static_cast<int>(state.range(0) / 100), 20};
  Engine engine;
  if (with_catalog && !engine.SetCatalog(Catalog())) std::abort();
  if (!engine.AddTenant(Setup(c), kStart)) std::abort();
  Stream stream(c, interned);
  const size_t chunk = Smoke() ? 20'000 : 200'000;
  std::vector<Event> events = stream.Take(chunk);
  std::vector<Notification> out;
  size_t i = 0;
  std::int64_t applied = 0;
  for (auto _ : state) {
    if (i == events.size()) {
      state.PauseTiming();
      stream.Refill(events, chunk);
      i = 0;
      state.ResumeTiming();
    }
    auto r = engine.Apply(events[i++], out);
    benchmark::DoNotOptimize(r);
    out.clear();
    ++applied;
  }
  state.SetItemsProcessed(applied);
  if (!with_catalog) return;
  state.counters["catalog_stats"] = static_cast<double>(engine.Counters().catalog_statistics);
  state.counters["bytes_per_catalog_stat"] =
      static_cast<double>(engine.ApproxStatisticBytes()) /
      static_cast<double>(engine.Counters().catalog_statistics);
}

void BM_EngineEventsWithCatalog(benchmark::State& state) { RunEvents(state, true); }
void BM_EngineEventsEmptyCatalog(benchmark::State& state) { RunEvents(state, false); }
// The same, the DN found by its key string (events without a decoder's number): the side-by-side
// baseline of the interned lookup.
void BM_EngineEventsWithCatalogByString(benchmark::State& state) { RunEvents(state, true, false); }
BENCHMARK(BM_EngineEventsWithCatalog)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EngineEventsEmptyCatalog)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EngineEventsWithCatalogByString)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Snapshots of a 10k-agent center in mid-day (every agent logged in, calls in progress, the full
// catalog): Save() is the pause the engine thread takes; Load() is the start of recovery.
struct Loaded {
  Engine engine;
  std::string bytes;
};

Loaded& MidDay(int agents) {
  static std::unique_ptr<Loaded> cached;
  static int cached_agents = 0;
  if (cached && cached_agents == agents) return *cached;
  cached = std::make_unique<Loaded>();
  cached_agents = agents;
  const Center c{agents, std::max(1, agents / 100), 20};
  if (!cached->engine.SetCatalog(Catalog())) std::abort();
  if (!cached->engine.AddTenant(Setup(c), kStart)) std::abort();
  std::vector<Notification> out;
  Stream stream(c);
  for (const Event& e : stream.Take(static_cast<size_t>(agents) * 14)) {
    if (!cached->engine.Apply(e, out)) std::abort();
    out.clear();
  }
  cached->bytes = cached->engine.Save();
  return *cached;
}

void BM_SnapshotSave(benchmark::State& state) {
  Loaded& l = MidDay(Smoke() ? 100 : static_cast<int>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string s = l.engine.Save();
    bytes = s.size();
    benchmark::DoNotOptimize(s);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["catalog_stats"] = static_cast<double>(l.engine.Counters().catalog_statistics);
}
BENCHMARK(BM_SnapshotSave)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_SnapshotLoad(benchmark::State& state) {
  Loaded& l = MidDay(Smoke() ? 100 : static_cast<int>(state.range(0)));
  const auto catalog = Catalog();
  for (auto _ : state) {
    Engine engine;
    if (!engine.SetCatalog(catalog)) std::abort();
    auto r = engine.Load(l.bytes);
    if (!r) std::abort();
    benchmark::DoNotOptimize(engine);
  }
  state.counters["bytes"] = static_cast<double>(l.bytes.size());
}
BENCHMARK(BM_SnapshotLoad)->Arg(10000)->Unit(benchmark::kMillisecond);

// Everything a catalog statistic costs, objects included: RSS growth of a 10k-agent center in
// mid-day (the catalog, every object, calls in progress) per catalog statistic. Run in a fresh
// process (make bench does) so that freed memory of earlier benchmarks does not hide growth.
void BM_MemoryPerCatalogStatistic(benchmark::State& state) {
  const int agents = Smoke() ? 100 : static_cast<int>(state.range(0));
  for (auto _ : state) {
    malloc_trim(0);  // what earlier benchmarks freed goes back, so growth is not hidden
    const std::uint64_t before = ProcessRssBytes();
    auto engine = std::make_unique<Engine>();
    const Center c{agents, std::max(1, agents / 100), 20};
    if (!engine->SetCatalog(Catalog())) std::abort();
    if (!engine->AddTenant(Setup(c), kStart)) std::abort();
    Stream stream(c);
    std::vector<Notification> out;
    for (const Event& e : stream.Take(static_cast<size_t>(agents) * 14)) {
      if (!engine->Apply(e, out)) std::abort();
      out.clear();
    }
    const std::uint64_t after = ProcessRssBytes();
    const double stats = static_cast<double>(engine->Counters().catalog_statistics);
    state.counters["rss_bytes_per_catalog_stat"] = static_cast<double>(after - before) / stats;
    state.counters["catalog_stats"] = stats;
    benchmark::DoNotOptimize(engine);
  }
}
BENCHMARK(BM_MemoryPerCatalogStatistic)->Arg(10000)->Iterations(1)->Unit(benchmark::kMillisecond);

// Recovery from the engine's side: journaled events applied as the recovery loop applies them
// (AdvanceTo the record's time, then Apply), for a 10k-agent center; the JSON decoding and the
// SQLite scan of a real recovery come on top (bench/recovery_bench.sh measures it all).
void BM_EngineEventsRecoveryReplay(benchmark::State& state) {
  const Center c{static_cast<int>(state.range(0)), static_cast<int>(state.range(0) / 100), 20};
  Engine engine;
  if (!engine.SetCatalog(Catalog())) std::abort();
  if (!engine.AddTenant(Setup(c), kStart)) std::abort();
  Stream stream(c);
  const size_t chunk = Smoke() ? 20'000 : 200'000;
  std::vector<Event> events = stream.Take(chunk);
  std::vector<Notification> discard;
  size_t i = 0;
  for (auto _ : state) {
    if (i == events.size()) {
      state.PauseTiming();
      stream.Refill(events, chunk);
      i = 0;
      state.ResumeTiming();
    }
    const Event& e = events[i++];
    if (!engine.AdvanceTo(e.time, discard)) std::abort();
    auto r = engine.Apply(e, discard);
    benchmark::DoNotOptimize(r);
    discard.clear();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EngineEventsRecoveryReplay)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Memory per open ad-hoc (non-sliding) statistic: RSS growth over 100k opens, per statistic.
void BM_MemoryPerOpenStatistic(benchmark::State& state) {
  const Center c{1000, 10, 4};
  for (auto _ : state) {
    Engine engine;
    if (!engine.AddTenant(Setup(c), kStart)) std::abort();
    malloc_trim(0);  // what earlier benchmarks freed goes back, so growth is not hidden
    const std::uint64_t before = ProcessRssBytes();
    const int n = Smoke() ? 1000 : static_cast<int>(state.range(0));
    for (int i = 0; i < n; ++i) {
      auto r = engine.OpenDefinition(
          "bench",
          {{"category", "TotalTime"},
           {"subject", "AgentStatus"},
           {"mainMask", "WaitForNextCall"},
           {"notificationMode", "NoNotification"}},
          ObjectRef{ObjectType::kAgent, "agent" + std::to_string(i % c.agents)});
      if (!r) std::abort();
    }
    const std::uint64_t after = ProcessRssBytes();
    state.counters["rss_bytes_per_stat"] =
        static_cast<double>(after - before) / static_cast<double>(n);
  }
}
BENCHMARK(BM_MemoryPerOpenStatistic)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tally::stats

BENCHMARK_MAIN();
