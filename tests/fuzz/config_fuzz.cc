// The configuration loader (config/config.h) and the catalog loader (config/catalog.h) on any
// TOML text. Errors name a file, line and key; a configuration that loads sets up an engine as
// the server does at start (its tenants, time zones and groups), and a catalog that loads is
// validated by the engine (SetCatalog), whose refusals name the statistic.
#include "config/catalog.h"
#include "fuzz/fuzz_support.h"
#include "server/engine_setup.h"

TALLY_FUZZ_TARGET(config) {
  using namespace tally;
  const std::string text(input);
  auto loaded = config::LoadString(text, "fuzz.toml");
  if (loaded.config) {
    TALLY_FUZZ_CHECK(loaded.errors.empty(), "a loaded configuration with errors");
    const config::Config& c = *loaded.config;
    std::string host;
    std::uint16_t port = 0;
    (void)config::SplitHostPort(c.server.listen, host, port);
    (void)c.Resolve(c.storage.path);
    stats::Engine engine;
    for (const auto& setup : server::TenantSetups(c)) {
      (void)engine.AddTenant(setup, fuzz::kT0);
      (void)engine.MergeTenant(setup, fuzz::kT0 + 1000);
    }
  } else {
    TALLY_FUZZ_CHECK(!loaded.errors.empty(), "refused without an error");
    for (const auto& e : loaded.errors) {
      TALLY_FUZZ_CHECK(e.file == "fuzz.toml", e.ToString());
      (void)e.ToString();
    }
  }
  auto catalog = config::LoadCatalogString(text, "catalog.toml");
  if (catalog.errors.empty() && !catalog.definitions.empty()) {
    std::vector<stats::CatalogEntry> entries;
    for (const auto& d : catalog.definitions) entries.push_back({d.name, d.fields});
    stats::Engine engine;
    if (engine.SetCatalog(entries)) {
      for (const auto& setup : fuzz::GetWorld().tenants) (void)engine.AddTenant(setup, fuzz::kT0);
    }
  }
  return 0;
}
