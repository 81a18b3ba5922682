#include "config/catalog.h"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

namespace tally::config {
namespace {

bool Scalar(const toml::node& node, std::string& out) {
  if (const auto* s = node.as_string()) {
    out = s->get();
  } else if (const auto* i = node.as_integer()) {
    out = std::to_string(i->get());
  } else if (const auto* f = node.as_floating_point()) {
    std::ostringstream ss;
    ss << f->get();
    out = ss.str();
  } else if (const auto* b = node.as_boolean()) {
    out = b->get() ? "true" : "false";
  } else {
    return false;
  }
  return true;
}

}  // namespace

CatalogLoad LoadCatalogString(const std::string& text, const std::string& name) {
  CatalogLoad result;
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& err) {
    result.errors.push_back(ConfigError{name, static_cast<int>(err.source().begin.line),
                                        static_cast<int>(err.source().begin.column), "",
                                        std::string(err.description())});
    return result;
  }
  for (const auto& [key, node] : root) {
    const std::string stat(key.str());
    const auto* table = node.as_table();
    if (table == nullptr) {
      result.errors.push_back(ConfigError{name, static_cast<int>(key.source().begin.line),
                                          static_cast<int>(key.source().begin.column), stat,
                                          "expected a table [" + stat + "] of definition fields"});
      continue;
    }
    CatalogDefinition def;
    def.name = stat;
    def.file = name;
    def.line = static_cast<int>(key.source().begin.line);
    for (const auto& [field_key, value] : *table) {
      const std::string field(field_key.str());
      std::string text_value;
      if (const auto* arr = value.as_array()) {
        bool ok = true;
        for (const auto& item : *arr) {
          std::string part;
          if (!Scalar(item, part)) ok = false;
          if (!text_value.empty()) text_value += ',';
          text_value += part;
        }
        if (!ok) {
          result.errors.push_back(ConfigError{name, static_cast<int>(value.source().begin.line),
                                              static_cast<int>(value.source().begin.column),
                                              stat + "." + field, "expected a list of values"});
          continue;
        }
      } else if (!Scalar(value, text_value)) {
        result.errors.push_back(ConfigError{name, static_cast<int>(value.source().begin.line),
                                            static_cast<int>(value.source().begin.column),
                                            stat + "." + field, "expected a value"});
        continue;
      }
      def.fields.emplace_back(field, std::move(text_value));
    }
    result.definitions.push_back(std::move(def));
  }
  return result;
}

CatalogLoad LoadCatalogFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    CatalogLoad r;
    r.errors.push_back(ConfigError{path, 0, 0, "", "cannot open file"});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return LoadCatalogString(ss.str(), path);
}

}  // namespace tally::config
