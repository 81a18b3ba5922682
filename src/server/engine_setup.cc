#include "server/engine_setup.h"

#include <algorithm>

#include "common/log.h"
#include "config/catalog.h"

namespace tally::server {

std::vector<stats::TenantSetup> TenantSetups(const config::Config& config) {
  std::vector<stats::TenantSetup> setups;
  for (const auto& t : config.tenants) {
    stats::TenantSetup setup;
    setup.name = t.name;
    setup.time_zone = t.time_zone;
    setup.agents = t.agents;
    for (const auto& p : t.places) setup.places.push_back({p.id, p.dns});
    for (const auto& g : t.groups) {
      setup.groups.push_back({*stats::ParseObjectType(g.type), g.name, g.members});
    }
    setup.queues = t.queues;
    setup.routing_points = t.routing_points;
    setups.push_back(std::move(setup));
  }
  return setups;
}

bool Carries(const config::Config& config, const std::string& tenant) {
  const auto& carried = config.cluster.tenants;
  return config.storage.backend != "jetstream" || carried.empty() ||
         std::find(carried.begin(), carried.end(), tenant) != carried.end();
}

std::vector<stats::CatalogEntry> CatalogEntries(const config::Config& config,
                                                std::vector<std::string>& errors) {
  const std::string catalog_path = config.Resolve(config.statistics.catalog);
  std::vector<stats::CatalogEntry> entries;
  if (catalog_path.empty()) return entries;
  const config::CatalogLoad catalog = config::LoadCatalogFile(catalog_path);
  for (const auto& e : catalog.errors) errors.push_back(e.ToString());
  for (const auto& d : catalog.definitions) entries.push_back({d.name, d.fields});
  // Checked as the engine will (categories, masks, object types), naming the file.
  stats::Engine check;
  if (auto r = check.SetCatalog(entries); !r && errors.empty()) {
    errors.push_back(catalog_path + ": " + r.error().message);
  }
  return entries;
}

// Loads the catalog and the tenants into the engine; false (logged) on any error. The tenants'
// setups are kept for recovery (merged into a loaded snapshot).
bool SetUpEngine(const config::Config& config, stats::Engine& engine, TimeMs now,
                 std::vector<stats::TenantSetup>& setups) {
  const std::string catalog_path = config.Resolve(config.statistics.catalog);
  if (catalog_path.empty())
    TALLY_LOG_WARN("statistics.catalog is not set: no predefined statistics");
  std::vector<std::string> errors;
  const std::vector<stats::CatalogEntry> entries = CatalogEntries(config, errors);
  for (const auto& e : errors) TALLY_LOG_ERROR("{}", e);
  if (!errors.empty()) return false;
  if (auto r = engine.SetCatalog(entries); !r) {
    TALLY_LOG_ERROR("{}: {}", catalog_path, r.error().message);
    return false;
  }
  for (auto& setup : TenantSetups(config)) {
    if (!Carries(config, setup.name)) continue;  // a cluster node carries only its tenants
    if (auto r = engine.AddTenant(setup, now); !r) {
      TALLY_LOG_ERROR("{}: tenant '{}': {}", config.source, setup.name, r.error().message);
      return false;
    }
    setups.push_back(std::move(setup));
  }
  TALLY_LOG_INFO("engine: {} catalog statistics over {} objects in {} tenants ({})",
                 engine.Counters().catalog_statistics, engine.Counters().objects, setups.size(),
                 catalog_path);
  return true;
}

void ResetToBare(stats::Engine& engine, const std::vector<stats::TenantSetup>& tenants) {
  stats::Engine bare;
  for (const auto& t : tenants) {
    stats::TenantSetup only;
    only.name = t.name;
    only.time_zone = t.time_zone;
    if (auto r = bare.AddTenant(only, engine.Now(t.name)); !r) {
      TALLY_LOG_ERROR("recovery: tenant '{}': {}", t.name, r.error().message);
    }
  }
  (void)engine.SetCatalog({});
  if (auto r = engine.Load(bare.Save()); !r) {
    TALLY_LOG_ERROR("recovery: {}", r.error().message);
  }
}

}  // namespace tally::server
