#include "fuzz/fuzz_support.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "auth/password.h"
#include "auth/service.h"
#include "common/log.h"
#include "config/catalog.h"
#include "server/engine_setup.h"

namespace tally::fuzz {

std::string_view ShippedCatalog();  // generated from config/statistics.toml (CMakeLists.txt)

namespace {

// The world's configuration; the password hashes are made at start-up with the fewest
// iterations the loader accepts, so a fuzzed login costs about a millisecond.
constexpr std::string_view kConfig = R"(
[server]
listen = "127.0.0.1:0"
cors_allowed_origins = ["https://board.example.com"]

[auth]
secret = "fuzz-signing-key-0123456789abcdef-0123456789"
max_failed_logins_per_minute = 5

[[auth.user]]
name = "alice"
tenant = "acme"
password_hash = "@ALICE@"
roles = ["statistics:read"]

[[auth.user]]
name = "bob"
tenant = "beta"
password_hash = "@BOB@"
roles = ["statistics:read"]

[[auth.client]]
id = "wallboard"
secret_hash = "@WALLBOARD@"
tenant = "acme"
roles = ["statistics:read"]

[[auth.client]]
id = "ingest"
secret_hash = "@INGEST@"
tenant = "acme"
roles = ["events:write"]

[[auth.client]]
id = "collector"
secret_hash = "@INGEST@"
roles = ["events:write"]

[limits]
statistics_per_request = 20
statistics_per_subscription = 20
subscriptions_per_principal = 8
requests_per_second = 50

[notifications]
timeout_ms = 5000
max_interval_ms = 3000
max_queue = 4
max_sessions_per_principal = 4

[[tenant]]
name = "acme"
timezone = "Europe/Paris"
agents = ["agent1", "agent2", "agent3"]
queues = ["8001", "8002@sw2"]
routing_points = ["9000"]
[[tenant.place]]
id = "place1"
dns = ["7001"]
[[tenant.place]]
id = "place2"
dns = ["7002", "7102"]
[[tenant.place]]
id = "place3"
dns = ["7003@sw2"]
[[tenant.group]]
type = "GroupAgents"
name = "Sales"
members = ["agent1", "agent2"]
[[tenant.group]]
type = "GroupPlaces"
name = "Floor"
members = ["place1", "place2", "place3"]
[[tenant.group]]
type = "GroupQueues"
name = "AllQueues"
members = ["8001", "8002@sw2"]

[[tenant]]
name = "beta"
agents = ["b1"]
queues = ["5001"]
[[tenant.place]]
id = "bp1"
dns = ["6001"]
)";

void Replace(std::string& text, std::string_view what, const std::string& with) {
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at)) {
    text.replace(at, what.size(), with);
    at += with.size();
  }
}

World MakeWorld() {
  log::Init(log::Level::kOff, log::Format::kText);  // recovery and refusals log; keep it quiet
  std::string text(kConfig);
  Replace(text, "@ALICE@", auth::HashPassword("alice-pw", 1000));
  Replace(text, "@BOB@", auth::HashPassword("bob-pw", 1000));
  Replace(text, "@WALLBOARD@", auth::HashPassword("wb-secret", 1000));
  Replace(text, "@INGEST@", auth::HashPassword("ingest-secret", 1000));
  auto loaded = config::LoadString(text, "fuzz.toml");
  if (!loaded.config) {
    Fail("the fuzz world's configuration does not load",
         loaded.errors.empty() ? "" : loaded.errors.front().ToString());
  }
  World w;
  w.config = std::move(*loaded.config);
  w.secret = w.config.auth.secret;
  const config::CatalogLoad catalog =
      config::LoadCatalogString(std::string(ShippedCatalog()), "statistics.toml");
  if (!catalog.errors.empty()) Fail("the shipped catalog does not load");
  for (const auto& d : catalog.definitions) w.catalog.push_back({d.name, d.fields});
  w.tenants = server::TenantSetups(w.config);
  return w;
}

struct Tokens {
  std::string by_who[6];
};

const Tokens& GetTokens() {
  static const Tokens tokens = [] {
    const World& w = GetWorld();
    ManualClock at_t0(kT0);
    auth::AuthService issuer(w.config.auth, at_t0);
    Tokens t;
    for (int i = 0; i < 6; ++i) {
      const Who who = static_cast<Who>(i);
      if (who == Who::kExpired) {
        ManualClock long_ago(kT0 - 3'600'000);
        auth::AuthService old(w.config.auth, long_ago);
        t.by_who[i] = old.IssueAccessToken(PrincipalOf(Who::kAlice));
      } else {
        t.by_who[i] = issuer.IssueAccessToken(PrincipalOf(who));
      }
    }
    return t;
  }();
  return tokens;
}

}  // namespace

bool Register(const char* name, TargetFn run) {
  const_cast<std::vector<Target>&>(Targets()).push_back({name, run});
  return true;
}

const std::vector<Target>& Targets() {
  static std::vector<Target> targets;
  return targets;
}

void Fail(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "fuzz: %.*s%s%.*s\n", static_cast<int>(what.size()), what.data(),
               detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

const World& GetWorld() {
  static const World world = MakeWorld();
  return world;
}

void SetUpEngine(stats::Engine& engine, TimeMs now, bool catalog) {
  const World& w = GetWorld();
  if (catalog) {
    if (auto r = engine.SetCatalog(w.catalog); !r) Fail("catalog refused", r.error().message);
  }
  for (const auto& t : w.tenants) {
    if (auto r = engine.AddTenant(t, now); !r) Fail("tenant refused", r.error().message);
  }
}

Principal PrincipalOf(Who who) {
  switch (who) {
    case Who::kAlice: return Principal{"alice", "acme", {"statistics:read"}};
    case Who::kBob: return Principal{"bob", "beta", {"statistics:read"}};
    case Who::kIngest: return Principal{"ingest", "acme", {"events:write"}};
    case Who::kMultiTenant: return Principal{"collector", "", {"events:write"}};
    case Who::kNoRole: return Principal{"mallory", "acme", {}};
    case Who::kExpired: return Principal{"alice", "acme", {"statistics:read"}};
  }
  return {};
}

const std::string& TokenOf(Who who) { return GetTokens().by_who[static_cast<int>(who)]; }

std::string WithTokens(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size()) {
      const char c = text[i + 1];
      const int who = c == 'A'   ? 0
                      : c == 'B' ? 1
                      : c == 'I' ? 2
                      : c == 'M' ? 3
                      : c == 'N' ? 4
                      : c == 'E' ? 5
                                 : -1;
      if (who >= 0) {
        out += TokenOf(static_cast<Who>(who));
        ++i;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::unique_ptr<storage::Journal> MemoryJournal() {
  auto j = storage::Journal::Open(storage::JournalOptions{":memory:", storage::Durability::kOff});
  if (!j) Fail("cannot open a journal in memory", j.error().message);
  return std::move(*j);
}

Recovery::Recovery(storage::Journal& journal)
    : journal_(journal),
      statistics_(
          pipeline_,
          [](const HttpRequest&) -> Result<Principal> { return PrincipalOf(Who::kAlice); },
          api::Limits{}, clock_, &bayeux_) {
  SetUpEngine(engine_.EngineForSetup(), kT0);
  pipeline_.SetApplicationState(state_, snapshots_, server::SnapshotPolicy{}, false);
}

Result<void> Recovery::Run() { return pipeline_.Recover(journal_, GetWorld().tenants); }

std::vector<Part> SplitParts(std::string_view input, std::string_view marker) {
  std::vector<Part> parts;
  std::optional<Part> current;  // none: text before the first marker line
  size_t body_start = 0;
  auto close = [&](size_t body_end) {
    Part p = current.value_or(Part{});
    p.body = input.substr(body_start, body_end - body_start);
    if (!p.body.empty() && p.body.back() == '\n') p.body.remove_suffix(1);
    parts.push_back(p);
  };
  size_t pos = 0;
  for (;;) {
    size_t end = input.find('\n', pos);
    const bool last = end == std::string_view::npos;
    if (last) end = input.size();
    const std::string_view line = input.substr(pos, end - pos);
    if (line.substr(0, marker.size()) == marker) {
      if (current || pos > 0) close(pos);
      current = Part{line.substr(marker.size()), {}};
      body_start = last ? end : end + 1;
    }
    if (last) break;
    pos = end + 1;
  }
  if (current || !input.empty()) close(input.size());
  return parts;
}

std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r')) ++pos;
    size_t end = pos;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t' && text[end] != '\r') ++end;
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::int64_t Number(std::string_view text, std::int64_t fallback) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && p == text.data() + text.size() ? v : fallback;
}

std::string CorpusDir(std::string_view target) {
  const char* root = std::getenv("TALLY_SOURCE_DIR");
  return std::string(root != nullptr ? root : ".") + "/tests/fuzz/corpus/" + std::string(target);
}

}  // namespace tally::fuzz
