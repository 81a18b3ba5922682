#include "config/config.h"

#include <toml++/toml.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

namespace tally::config {
namespace {

// Walks one TOML table: each getter marks its key as known, Finish() reports the unknown ones.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, const std::string& file,
              std::vector<ConfigError>& errors)
      : table_(table), prefix_(std::move(prefix)), file_(file), errors_(errors) {}

  template <typename Int>
  void Integer(const std::string& key, Int& out, std::int64_t min, std::int64_t max) {
    const toml::node* node = Take(key);
    if (node == nullptr) return;
    const auto* v = node->as_integer();
    if (v == nullptr) {
      Error(*node, key, fmt::format("expected an integer, got {}", TypeName(*node)));
      return;
    }
    const std::int64_t value = v->get();
    if (value < min || value > max) {
      Error(*node, key, fmt::format("{} is out of range [{}, {}]", value, min, max));
      return;
    }
    out = static_cast<Int>(value);
  }

  void Millis(const std::string& key, std::chrono::milliseconds& out, std::int64_t min,
              std::int64_t max) {
    std::int64_t ms = out.count();
    Integer(key, ms, min, max);
    out = std::chrono::milliseconds(ms);
  }

  void String(const std::string& key, std::string& out,
              const std::function<std::string(const std::string&)>& validate = nullptr) {
    const toml::node* node = Take(key);
    if (node == nullptr) return;
    const auto* v = node->as_string();
    if (v == nullptr) {
      Error(*node, key, fmt::format("expected a string, got {}", TypeName(*node)));
      return;
    }
    if (validate) {
      const std::string problem = validate(v->get());
      if (!problem.empty()) {
        Error(*node, key, problem);
        return;
      }
    }
    out = v->get();
  }

  void Double(const std::string& key, double& out, double min, double max) {
    const toml::node* node = Take(key);
    if (node == nullptr) return;
    std::optional<double> v;
    if (const auto* f = node->as_floating_point()) v = f->get();
    if (const auto* i = node->as_integer()) v = static_cast<double>(i->get());
    if (!v) {
      Error(*node, key, fmt::format("expected a number, got {}", TypeName(*node)));
      return;
    }
    if (*v < min || *v > max) {
      Error(*node, key, fmt::format("{} is out of range [{}, {}]", *v, min, max));
      return;
    }
    out = *v;
  }

  void Bool(const std::string& key, bool& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return;
    const auto* v = node->as_boolean();
    if (v == nullptr) {
      Error(*node, key, fmt::format("expected true or false, got {}", TypeName(*node)));
      return;
    }
    out = v->get();
  }

  void StringList(const std::string& key, std::vector<std::string>& out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return;
    const auto* arr = node->as_array();
    if (arr == nullptr) {
      Error(*node, key, fmt::format("expected a list of strings, got {}", TypeName(*node)));
      return;
    }
    out.clear();
    for (const auto& item : *arr) {
      const auto* str = item.as_string();
      if (str == nullptr) {
        Error(item, key, fmt::format("expected strings in the list, got {}", TypeName(item)));
        return;
      }
      out.push_back(str->get());
    }
  }

  // Calls `read` for each table of the array of tables `key` ([[key]]).
  void Tables(const std::string& key, const std::function<void(TableReader&)>& read) {
    const toml::node* node = Take(key);
    if (node == nullptr) return;
    const auto* arr = node->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
      Error(*node, key, fmt::format("expected [[{}]] tables, got {}", Path(key), TypeName(*node)));
      return;
    }
    for (const auto& item : *arr) {
      TableReader sub(*item.as_table(), Path(key), file_, errors_);
      read(sub);
      sub.Finish();
    }
  }

  void Required(const std::string& key, const std::string& value, const toml::node* where) {
    if (value.empty()) {
      errors_.push_back(
          ConfigError{file_, where != nullptr ? static_cast<int>(where->source().begin.line) : 0,
                      where != nullptr ? static_cast<int>(where->source().begin.column) : 0,
                      Path(key), "is required"});
    }
  }
  [[nodiscard]] const toml::table& Raw() const { return table_; }

  // Calls `read` with a reader for the sub-table `key`, if present.
  void Table(const std::string& key, const std::function<void(TableReader&)>& read) {
    const toml::node* node = Take(key);
    if (node == nullptr) return;
    const auto* t = node->as_table();
    if (t == nullptr) {
      Error(*node, key, fmt::format("expected a table, got {}", TypeName(*node)));
      return;
    }
    TableReader sub(*t, Path(key), file_, errors_);
    read(sub);
    sub.Finish();
  }

  void Finish() {
    for (const auto& [k, node] : table_) {
      (void)node;
      const std::string key(k.str());
      if (known_.count(key) == 0) {
        // Point at the key itself, not at its value.
        errors_.push_back(ConfigError{file_, static_cast<int>(k.source().begin.line),
                                      static_cast<int>(k.source().begin.column), Path(key),
                                      "unknown key"});
      }
    }
  }

  void Error(const toml::node& node, const std::string& key, std::string message) {
    const auto& src = node.source();
    errors_.push_back(ConfigError{file_, static_cast<int>(src.begin.line),
                                  static_cast<int>(src.begin.column), Path(key),
                                  std::move(message)});
  }

 private:
  const toml::node* Take(const std::string& key) {
    known_.insert(key);
    return table_.get(key);
  }

  std::string Path(const std::string& key) const {
    return prefix_.empty() ? key : prefix_ + "." + key;
  }

  static std::string TypeName(const toml::node& node) {
    switch (node.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a float";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::array: return "an array";
      case toml::node_type::table: return "a table";
      default: return "a date/time";
    }
  }

  const toml::table& table_;
  std::string prefix_;
  const std::string& file_;
  std::vector<ConfigError>& errors_;
  std::set<std::string> known_;
};

std::string ValidateListen(const std::string& v) {
  std::string host;
  std::uint16_t port = 0;
  if (!SplitHostPort(v, host, port)) return "expected \"host:port\", e.g. \"127.0.0.1:8080\"";
  return "";
}

void ReadServer(TableReader& r, ServerConfig& s) {
  r.String("listen", s.listen, ValidateListen);
  r.Integer("io_threads", s.io_threads, 1, 256);
  r.Integer("max_body_bytes", s.max_body_bytes, 1024, std::int64_t{1} << 34);
  r.Integer("max_header_bytes", s.max_header_bytes, 1024, 1 << 20);
  r.Integer("max_connections", s.max_connections, 1, 1 << 24);
  r.Integer("max_requests_per_connection", s.max_requests_per_connection, 0,
            std::numeric_limits<std::uint32_t>::max());
  r.Millis("header_timeout_ms", s.header_timeout, 10, 3'600'000);
  r.Millis("body_timeout_ms", s.body_timeout, 10, 3'600'000);
  r.Millis("idle_timeout_ms", s.idle_timeout, 10, 86'400'000);
  r.Millis("write_timeout_ms", s.write_timeout, 10, 3'600'000);
  r.Integer("websocket_max_buffered_bytes", s.websocket_max_buffered_bytes, 4096,
            std::int64_t{1} << 32);
  r.Millis("shutdown_grace_ms", s.shutdown_grace, 0, 3'600'000);
  r.Integer("engine_stall_ms", s.engine_stall_ms, 100, 3'600'000);
  r.StringList("cors_allowed_origins", s.cors_allowed_origins);
  r.String("tls_cert_file", s.tls_cert_file);
  r.String("tls_key_file", s.tls_key_file);
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
    r.Error(r.Raw(), s.tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file",
            "TLS needs both tls_cert_file and tls_key_file");
  }
}

void ReadLog(TableReader& r, LogConfig& l) {
  std::string level;
  r.String("level", level, [](const std::string& v) -> std::string {
    log::Level tmp;
    return log::ParseLevel(v, tmp) ? "" : "expected one of trace, debug, info, warn, error, off";
  });
  if (!level.empty()) (void)log::ParseLevel(level, l.level);
  std::string format;
  r.String("format", format, [](const std::string& v) -> std::string {
    log::Format tmp;
    return log::ParseFormat(v, tmp) ? "" : "expected \"text\" or \"json\"";
  });
  if (!format.empty()) (void)log::ParseFormat(format, l.format);
}

std::string ValidateRole(const std::string& role) {
  if (role == "statistics:read" || role == "events:write" || role == "admin") return "";
  return "unknown role '" + role + "' (statistics:read, events:write, admin)";
}

void CheckRoles(TableReader& t, const std::vector<std::string>& roles) {
  for (const auto& role : roles) {
    if (auto why = ValidateRole(role); !why.empty()) t.Error(t.Raw(), "roles", why);
  }
}

void ReadAuth(TableReader& r, AuthConfig& a) {
  r.String("secret", a.secret, [](const std::string& v) -> std::string {
    return v.size() >= 32 ? "" : "use at least 32 characters";
  });
  r.String("secret_file", a.secret_file);
  r.String("issuer", a.issuer);
  r.String("audience", a.audience);
  r.String("tenant_claim", a.tenant_claim);
  r.Integer("token_ttl_s", a.token_ttl_s, 10, 86'400 * 30);
  r.Integer("refresh_ttl_s", a.refresh_ttl_s, 10, 86'400 * 365);
  r.Integer("max_skew_s", a.max_skew_s, 0, 3600);
  r.Integer("max_failed_logins_per_minute", a.max_failed_logins_per_minute, 0, 1'000'000);
  r.StringList("api_keys", a.api_keys);
  r.String("jwks_file", a.jwks_file);
  r.String("external_issuer", a.external_issuer);
  r.String("external_audience", a.external_audience);
  r.Tables("user", [&](TableReader& t) {
    UserConfig u;
    t.String("name", u.name);
    t.String("tenant", u.tenant);
    t.String("password_hash", u.password_hash);
    t.StringList("roles", u.roles);
    t.Required("name", u.name, &t.Raw());
    t.Required("tenant", u.tenant, &t.Raw());
    t.Required("password_hash", u.password_hash, &t.Raw());
    CheckRoles(t, u.roles);
    a.users.push_back(std::move(u));
  });
  r.Tables("client", [&](TableReader& t) {
    ClientConfig c;
    t.String("id", c.id);
    t.String("secret_hash", c.secret_hash);
    t.String("tenant", c.tenant);
    t.StringList("roles", c.roles);
    t.Required("id", c.id, &t.Raw());
    t.Required("secret_hash", c.secret_hash, &t.Raw());
    CheckRoles(t, c.roles);
    a.clients.push_back(std::move(c));
  });
}

void ReadTenant(TableReader& r, TenantConfig& t) {
  r.String("name", t.name);
  r.Required("name", t.name, &r.Raw());
  r.String("timezone", t.time_zone);
  r.StringList("agents", t.agents);
  r.StringList("queues", t.queues);
  r.StringList("routing_points", t.routing_points);
  r.Tables("place", [&](TableReader& p) {
    TenantConfig::Place place;
    p.String("id", place.id);
    p.Required("id", place.id, &p.Raw());
    p.StringList("dns", place.dns);
    t.places.push_back(std::move(place));
  });
  r.Tables("group", [&](TableReader& g) {
    TenantConfig::Group group;
    g.String("type", group.type, [](const std::string& v) -> std::string {
      return v == "GroupAgents" || v == "GroupPlaces" || v == "GroupQueues"
                 ? ""
                 : "expected GroupAgents, GroupPlaces or GroupQueues";
    });
    g.String("name", group.name);
    g.Required("type", group.type, &g.Raw());
    g.Required("name", group.name, &g.Raw());
    g.StringList("members", group.members);
    t.groups.push_back(std::move(group));
  });
}

LoadResult FromTable(const toml::table& root, const std::string& name) {
  LoadResult result;
  Config cfg;
  cfg.source = name;
  TableReader r(root, "", name, result.errors);
  r.Table("server", [&](TableReader& t) { ReadServer(t, cfg.server); });
  r.Table("log", [&](TableReader& t) { ReadLog(t, cfg.log); });
  r.Table("statistics", [&](TableReader& t) {
    t.String("catalog", cfg.statistics.catalog);
    t.Integer("exact_open_wait_ms", cfg.statistics.exact_open_wait_ms, 0, 3'600'000);
  });
  r.Table("auth", [&](TableReader& t) { ReadAuth(t, cfg.auth); });
  r.Table("limits", [&](TableReader& t) {
    t.Integer("statistics_per_request", cfg.limits.statistics_per_request, 1, 100'000);
    t.Integer("statistics_per_subscription", cfg.limits.statistics_per_subscription, 1, 1'000'000);
    t.Integer("subscriptions_per_principal", cfg.limits.subscriptions_per_principal, 1, 1'000'000);
    t.Integer("requests_per_second", cfg.limits.requests_per_second, 1, 10'000'000);
  });
  r.Table("storage", [&](TableReader& t) {
    t.String("backend", cfg.storage.backend, [](const std::string& v) -> std::string {
      return v == "sqlite" || v == "jetstream" ? "" : "expected sqlite or jetstream";
    });
    t.String("path", cfg.storage.path);
    t.String("durability", cfg.storage.durability, [](const std::string& v) -> std::string {
      return v == "full" || v == "normal" || v == "off" ? "" : "expected full, normal or off";
    });
    t.Double("retention_days", cfg.storage.retention_days, 0, 36'500);
    t.Integer("snapshot_interval_s", cfg.storage.snapshot_interval_s, 1, 86'400);
    t.Integer("snapshot_every_events", cfg.storage.snapshot_every_events, 1, 1'000'000'000);
    t.Integer("keep_snapshots", cfg.storage.keep_snapshots, 1, 100);
    t.Bool("snapshot_on_shutdown", cfg.storage.snapshot_on_shutdown);
    t.Integer("max_bytes", cfg.storage.max_bytes, 0, std::int64_t{1} << 50);
  });
  r.Table("jetstream", [&](TableReader& t) {
    t.StringList("servers", cfg.jetstream.servers);
    if (cfg.jetstream.servers.empty()) t.Error(t.Raw(), "servers", "must name at least one server");
    for (const auto& s : cfg.jetstream.servers) {
      if (s.rfind("nats://", 0) != 0 && s.rfind("tls://", 0) != 0) {
        t.Error(t.Raw(), "servers", "'" + s + "': expected nats://host:port or tls://host:port");
      }
    }
    auto token = [](const std::string& v) -> std::string {
      if (v.empty()) return "must not be empty";
      for (const char c : v) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) return "letters, digits, '_' and '-' only";
      }
      return "";
    };
    t.String("stream", cfg.jetstream.stream, token);
    t.String("subject_prefix", cfg.jetstream.subject_prefix, token);
    t.Integer("replicas", cfg.jetstream.replicas, 1, 5);
    t.Integer("duplicate_window_s", cfg.jetstream.duplicate_window_s, 1, 86'400 * 30);
    t.Integer("timeout_ms", cfg.jetstream.timeout_ms, 100, 600'000);
    t.String("credentials_file", cfg.jetstream.credentials_file);
    t.String("user", cfg.jetstream.user);
    t.String("password", cfg.jetstream.password);
    t.String("token", cfg.jetstream.token);
    t.String("tls_ca_file", cfg.jetstream.tls_ca_file);
    t.String("tls_cert_file", cfg.jetstream.tls_cert_file);
    t.String("tls_key_file", cfg.jetstream.tls_key_file);
  });
  r.Table("cluster", [&](TableReader& t) {
    t.String("node", cfg.cluster.node);
    t.StringList("tenants", cfg.cluster.tenants);
    t.Integer("apply_delay_ms", cfg.cluster.apply_delay_ms, 0, 60'000);
    t.Integer("publishers", cfg.cluster.publishers, 1, 64);
  });
  r.Table("engine", [&](TableReader& t) {
    t.String("clock", cfg.engine.clock, [](const std::string& v) -> std::string {
      return v == "wall" || v == "event" ? "" : "expected wall or event";
    });
  });
  r.Table("ingest", [&](TableReader& t) {
    t.Integer("events_per_batch", cfg.ingest.events_per_batch, 1, 1'000'000);
    t.Integer("heartbeat_timeout_ms", cfg.ingest.heartbeat_timeout_ms, 0, 86'400'000);
    t.Integer("max_future_ms", cfg.ingest.max_future_ms, 0, 31'536'000'000);
  });
  r.Table("notifications", [&](TableReader& t) {
    t.Integer("timeout_ms", cfg.notifications.timeout_ms, 0, 600'000);
    t.Integer("max_interval_ms", cfg.notifications.max_interval_ms, 1000, 3'600'000);
    t.Integer("max_queue", cfg.notifications.max_queue, 1, 1'000'000);
    t.Bool("bench_channels", cfg.notifications.bench_channels);
    t.Integer("max_sessions_per_principal", cfg.notifications.max_sessions_per_principal, 1,
              10'000'000);
    t.String("cookie_same_site", cfg.notifications.cookie_same_site,
             [](const std::string& v) -> std::string {
               return v == "Lax" || v == "Strict" || v == "None" ? ""
                                                                 : "expected Lax, Strict or None";
             });
  });
  r.Table("simulator", [&](TableReader& t) {
    t.Bool("enabled", cfg.simulator.enabled);
    t.String("tenant", cfg.simulator.tenant);
    t.Integer("agents", cfg.simulator.agents, 1, 100'000);
    t.Integer("queues", cfg.simulator.queues, 1, 1000);
    t.Double("speed", cfg.simulator.speed, 0.1, 100'000);
    t.Double("calls_per_minute", cfg.simulator.calls_per_minute, 0.01, 1'000'000);
    t.Integer("seed", cfg.simulator.seed, 0, 1'000'000'000);
  });
  r.Tables("tenant", [&](TableReader& t) {
    TenantConfig tenant;
    ReadTenant(t, tenant);
    cfg.tenants.push_back(std::move(tenant));
  });
  // Every tenant a node carries must be configured.
  for (const auto& carried : cfg.cluster.tenants) {
    bool known = false;
    for (const auto& t : cfg.tenants) known = known || t.name == carried;
    if (!known) {
      result.errors.push_back(ConfigError{name, 0, 0, "cluster.tenants",
                                          "'" + carried + "' is not a configured [[tenant]]"});
    }
  }
  r.Finish();
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

}  // namespace

std::string Config::Resolve(const std::string& path) const {
  if (path.empty() || path.front() == '/') return path;
  const size_t slash = source.rfind('/');
  if (slash == std::string::npos) return path;
  return source.substr(0, slash + 1) + path;
}

std::string ConfigError::ToString() const {
  if (line > 0) {
    return fmt::format("{}:{}:{}: {}{}{}", file, line, column, key, key.empty() ? "" : ": ",
                       message);
  }
  return fmt::format("{}: {}{}{}", file, key, key.empty() ? "" : ": ", message);
}

LoadResult LoadString(const std::string& text, const std::string& name) {
  // Debian's toml++ is built with exceptions: a syntax error arrives as toml::parse_error.
  try {
    const toml::table root = toml::parse(text, name);
    return FromTable(root, name);
  } catch (const toml::parse_error& err) {
    LoadResult r;
    r.errors.push_back(ConfigError{name, static_cast<int>(err.source().begin.line),
                                   static_cast<int>(err.source().begin.column), "",
                                   std::string(err.description())});
    return r;
  }
}

LoadResult LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back(ConfigError{path, 0, 0, "", "cannot open file"});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return LoadString(ss.str(), path);
}

bool SplitHostPort(const std::string& text, std::string& host, std::uint16_t& port) {
  size_t colon;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host = text.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    host = text.substr(0, colon);
  }
  if (host.empty()) return false;
  const std::string p = text.substr(colon + 1);
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || ptr != p.data() + p.size() || p.empty() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace tally::config
