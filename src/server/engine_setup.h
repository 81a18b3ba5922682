// Engine setup from the configuration: the statistics catalog and each tenant's objects
// (agents, places and their DNs, groups, queues, routing points).
// Threading: call before the engine thread starts.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "stats/engine.h"

namespace tally::server {

// The tenants of the configuration as the engine takes them.
[[nodiscard]] std::vector<stats::TenantSetup> TenantSetups(const config::Config& config);

// Does this node carry `tenant` (a cluster node: cluster.tenants, all when not set)?
[[nodiscard]] bool Carries(const config::Config& config, const std::string& tenant);

// The statistics catalog of the configuration; `errors` (file:line: …) when it cannot be read.
[[nodiscard]] std::vector<stats::CatalogEntry> CatalogEntries(const config::Config& config,
                                                              std::vector<std::string>& errors);

// Loads the catalog and the tenants into the engine; false (logged) on any error. The tenants'
// setups are kept for recovery (merged into a loaded snapshot).
[[nodiscard]] bool SetUpEngine(const config::Config& config, stats::Engine& engine, TimeMs now,
                               std::vector<stats::TenantSetup>& setups);

// Keeps only the tenants' names, time zones and times: no catalog, no objects. Recovery of a
// journal whose configuration comes in records starts here.
void ResetToBare(stats::Engine& engine, const std::vector<stats::TenantSetup>& tenants);

}  // namespace tally::server
