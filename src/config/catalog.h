// The statistics catalog file (config/statistics.toml): one TOML table per named statistic,
// whose keys are definition fields. This module only reads the file; the engine validates the
// definitions (and reports errors with the file and line given here).
// Threading: pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace tally::config {

struct CatalogDefinition {
  std::string name;
  std::string file;
  int line = 0;
  std::vector<std::pair<std::string, std::string>> fields;  // arrays joined with ','
};

struct CatalogLoad {
  std::vector<CatalogDefinition> definitions;
  std::vector<ConfigError> errors;
};

[[nodiscard]] CatalogLoad LoadCatalogFile(const std::string& path);
[[nodiscard]] CatalogLoad LoadCatalogString(const std::string& text, const std::string& name);

}  // namespace tally::config
