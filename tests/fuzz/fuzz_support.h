// What the fuzz targets share: the target macro (a libFuzzer entry point in the fuzz preset, a
// registered function in the corpus replay test), a small world (configuration, catalog,
// principals and their tokens), and the helpers that split an input into parts.
// Threading: single-threaded, like libFuzzer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/statistics_api.h"
#include "bayeux/server.h"
#include "common/clock.h"
#include "common/principal.h"
#include "config/config.h"
#include "server/application_state.h"
#include "server/engine_thread.h"
#include "server/pipeline.h"
#include "stats/engine.h"
#include "storage/journal.h"

namespace tally::fuzz {

using TargetFn = int (*)(std::string_view input);
struct Target {
  const char* name;
  TargetFn run;
};
// The corpus replay test: every target compiled into it.
bool Register(const char* name, TargetFn run);
[[nodiscard]] const std::vector<Target>& Targets();

// A check on the code under test failed: prints what and aborts (libFuzzer saves the input).
[[noreturn]] void Fail(std::string_view what, std::string_view detail = "");
#define TALLY_FUZZ_CHECK(cond, detail)                                  \
  do {                                                                  \
    if (!(cond)) ::tally::fuzz::Fail("check failed: " #cond, (detail)); \
  } while (false)

// The world every target runs in (built once, before the first input).
inline constexpr TimeMs kT0 = 1'767'261'600'000;  // 2026-01-01T10:00:00Z
struct World {
  config::Config config;                     // tenants acme and beta, users, clients
  std::vector<stats::CatalogEntry> catalog;  // a small catalog of every kind of statistic
  std::vector<stats::TenantSetup> tenants;
  std::string secret;  // HS256 key of config.auth
};
[[nodiscard]] const World& GetWorld();
// A fresh engine with the world's tenants at `now`, and its catalog unless `catalog` is false.
void SetUpEngine(stats::Engine& engine, TimeMs now, bool catalog = true);

// Principals of the world and access tokens for them, issued at kT0 (valid for 30 minutes).
enum class Who { kAlice, kBob, kIngest, kMultiTenant, kNoRole, kExpired };
[[nodiscard]] Principal PrincipalOf(Who who);
[[nodiscard]] const std::string& TokenOf(Who who);
// Replaces "$A" (alice, acme, statistics:read), "$B" (bob, beta), "$I" (ingest client of acme,
// events:write), "$M" (a multi-tenant ingest client), "$N" (no role) and "$E" (expired) by
// tokens: inputs cannot forge signatures, so they name tokens instead.
[[nodiscard]] std::string WithTokens(std::string_view text);

// An empty journal in memory.
[[nodiscard]] std::unique_ptr<storage::Journal> MemoryJournal();

// A server's start over `journal` without threads: the engine (with the world's catalog and
// tenants), the write path and the subscription registry are built as server.cc builds them and
// never started; Run() is the recovery that happens before the doors open.
class Recovery final {
 public:
  explicit Recovery(storage::Journal& journal);
  [[nodiscard]] Result<void> Run();
  [[nodiscard]] stats::Engine& Engine() { return engine_.EngineForSetup(); }
  [[nodiscard]] api::StatisticsApi& Statistics() { return statistics_; }
  [[nodiscard]] bayeux::Server& Bayeux() { return bayeux_; }
  [[nodiscard]] server::Pipeline& Pipeline() { return pipeline_; }

 private:
  storage::Journal& journal_;
  ManualClock clock_{kT0 + 86'400'000};
  server::EngineThread engine_{clock_, true};
  storage::JournalWriter writer_{journal_};
  server::Pipeline pipeline_{engine_, &writer_, clock_, server::ClockMode::kWall};
  server::JournalSnapshots snapshots_{journal_, writer_};
  bayeux::Server bayeux_{bayeux::Options{}, clock_};
  api::StatisticsApi statistics_;
  server::StatisticsState state_{statistics_};
};

// Splits at lines that start with `marker` (the marker line's rest is the part's header).
struct Part {
  std::string_view header;
  std::string_view body;
};
[[nodiscard]] std::vector<Part> SplitParts(std::string_view input, std::string_view marker);
// Splits on whitespace.
[[nodiscard]] std::vector<std::string_view> Words(std::string_view text);
// A decimal number, or `fallback`.
[[nodiscard]] std::int64_t Number(std::string_view text, std::int64_t fallback);

// The replay test's access to the corpora (tests/fuzz/corpus/<target>/).
[[nodiscard]] std::string CorpusDir(std::string_view target);

}  // namespace tally::fuzz

#if defined(TALLY_LIBFUZZER)
#define TALLY_FUZZ_ENTRY(name)                                                            \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {     \
    return TallyFuzz_##name(std::string_view(reinterpret_cast<const char*>(data), size)); \
  }
#else
#define TALLY_FUZZ_ENTRY(name)                                     \
  [[maybe_unused]] static const bool kTallyFuzzRegistered_##name = \
      ::tally::fuzz::Register(#name, &TallyFuzz_##name);
#endif

// TALLY_FUZZ_TARGET(name) { ... `input` ... return 0; }
#define TALLY_FUZZ_TARGET(name)                        \
  static int TallyFuzz_##name(std::string_view input); \
  TALLY_FUZZ_ENTRY(name)                               \
  static int TallyFuzz_##name(std::string_view input)
