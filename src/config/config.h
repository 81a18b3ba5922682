// Typed configuration read from TOML. Every key is known: an unknown key, a wrong type or an
// out-of-range value is an error that names the file, line and key. See docs/configuration.md.
// Threading: loading is a pure function; the resulting Config is an immutable value.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"

namespace tally::config {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // "host:port"; port 0 picks a free port
  int io_threads = 2;
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint32_t max_connections = 10000;
  std::uint32_t max_requests_per_connection = 0;    // 0 = unlimited keep-alive
  std::chrono::milliseconds header_timeout{10000};  // whole request head must arrive within this
  std::chrono::milliseconds body_timeout{30000};    // whole body must arrive within this
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{30000};   // a response must be taken within this
  // A WebSocket whose client does not read is closed once this much waits to be sent to it.
  std::uint64_t websocket_max_buffered_bytes = 8 << 20;
  std::chrono::milliseconds shutdown_grace{10000};  // in-flight requests may finish within this
  std::string tls_cert_file;  // PEM certificate chain: HTTPS when set (relative to the config)
  std::string tls_key_file;   // PEM private key
  // /healthz answers 503 while the engine has been busy with one round of work (or recovery
  // with one record) for longer than this: the engine thread is stuck.
  std::int64_t engine_stall_ms = 10'000;
  // Origins ("https://board.example.com") whose pages may call /statistics/v3 and /auth/v3
  // with credentials, and open the CometD WebSocket (CORS); empty: same origin only.
  std::vector<std::string> cors_allowed_origins;
  bool operator==(const ServerConfig&) const = default;
};

struct LogConfig {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kText;
  bool operator==(const LogConfig&) const = default;
};

// Objects of one tenant (see docs/configuration.md and docs/statistics.md §1).
struct TenantConfig {
  std::string name;
  std::string time_zone;  // IANA; empty: UTC
  std::vector<std::string> agents;
  struct Place {
    std::string id;
    std::vector<std::string> dns;
  };
  std::vector<Place> places;
  struct Group {
    std::string type;  // GroupAgents, GroupPlaces, GroupQueues
    std::string name;
    std::vector<std::string> members;
  };
  std::vector<Group> groups;
  std::vector<std::string> queues;
  std::vector<std::string> routing_points;
};

struct UserConfig {
  std::string name;
  std::string tenant;
  std::string password_hash;  // pbkdf2-sha256$… (tally hash-password)
  std::vector<std::string> roles;
};

struct ClientConfig {
  std::string id;
  std::string secret_hash;  // pbkdf2-sha256$…
  std::string tenant;       // empty: a multi-tenant client (events name their tenant)
  std::vector<std::string> roles;
};

struct AuthConfig {
  std::string secret;       // HS256 key; empty: secret_file, else a random key per process
  std::string secret_file;  // where a generated key is kept (created on first start, mode 0600)
  std::string issuer = "tally";
  std::string audience = "tally";
  std::string tenant_claim = "tenant";
  std::int64_t token_ttl_s = 1800;
  std::int64_t refresh_ttl_s = 86'400;
  std::int64_t max_skew_s = 60;
  // Failed password or client-secret checks allowed per source address and per user or client
  // name in one minute; past it the token endpoint answers 429 (0: no limit).
  std::uint32_t max_failed_logins_per_minute = 10;
  std::vector<std::string> api_keys;  // when not empty, every API request needs one (x-api-key)
  std::string jwks_file;              // RS256/ES256 keys of an external identity provider
  std::string external_issuer;        // required `iss` of external tokens (empty: any)
  std::string external_audience;      // required `aud` of external tokens (empty: any)
  std::vector<UserConfig> users;
  std::vector<ClientConfig> clients;
};

struct StatisticsConfig {
  std::string catalog;  // relative to the config file's folder; empty: no predefined statistics
  // How long a subscription's answer waits for its ad-hoc statistics to be exact on open.
  std::int64_t exact_open_wait_ms = 10'000;
  bool operator==(const StatisticsConfig&) const = default;
};

struct LimitsConfig {
  std::uint32_t statistics_per_request = 500;
  std::uint32_t statistics_per_subscription = 1000;
  std::uint32_t subscriptions_per_principal = 100;
  std::uint32_t requests_per_second = 200;  // per principal (token bucket, burst = 2 s worth)
  bool operator==(const LimitsConfig&) const = default;
};

struct StorageConfig {
  std::string backend = "sqlite";   // sqlite (one node) | jetstream (a cluster: [jetstream])
  std::string path;                 // SQLite journal (relative to the config); empty: volatile
  std::string durability = "full";  // full | normal | off (SQLite synchronous)
  // Journal records older than this are pruned once a snapshot covers them (0: as soon as one
  // does).
  double retention_days = 8;
  std::uint32_t snapshot_interval_s = 60;           // a snapshot at least this often...
  std::uint32_t snapshot_every_events = 1'000'000;  // ...or after this many journal records
  std::uint32_t keep_snapshots = 2;                 // older ones are deleted
  bool snapshot_on_shutdown = true;  // false: a restart replays since the last periodic one
  std::uint64_t max_bytes = 0;       // cap on the database size (0: the disk is the limit)
  bool operator==(const StorageConfig&) const = default;
};

// The JetStream journal of a cluster (docs/cluster.md).
struct JetStreamConfig {
  std::vector<std::string> servers = {"nats://127.0.0.1:4222"};
  std::string stream = "TALLY";
  std::string subject_prefix = "tally";
  int replicas = 1;                        // 3 in a 3-node NATS cluster
  std::int64_t duplicate_window_s = 3600;  // Idempotency-Key dedup window (Nats-Msg-Id)
  std::int64_t timeout_ms = 5000;          // connect, publish acknowledgment, API requests
  std::string credentials_file;            // .creds (JWT + NKey), relative to the config
  std::string user;
  std::string password;
  std::string token;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool operator==(const JetStreamConfig&) const = default;
};

struct ClusterConfig {
  std::string node;                  // this node's name (default: the listen address)
  std::vector<std::string> tenants;  // the tenants this node carries (default: every tenant)
  // With the wall clock, the engine's time trails the wall clock by this much, so a record that
  // reaches a replica within it is applied exactly at its stamp, as on every other replica.
  std::int64_t apply_delay_ms = 250;
  int publishers = 4;  // threads publishing to the stream (tenants proceed in parallel)
  bool operator==(const ClusterConfig&) const = default;
};

struct EngineConfig {
  std::string clock = "wall";  // wall | event (time moves only with events; replays, tests)
  bool operator==(const EngineConfig&) const = default;
};

struct IngestConfig {
  std::uint32_t events_per_batch = 10000;
  // A tenant that sends no event for this long is treated as disconnected (service
  // UNAVAILABLE) until its next event; 0 = off. Sources should send EventTick when idle.
  std::int64_t heartbeat_timeout_ms = 0;
  // With the wall clock, an event further ahead of the server's clock is refused (400 naming
  // `time`): a source whose clock runs ahead would hold its tenant's time there. 0: no limit.
  std::int64_t max_future_ms = 300'000;
  bool operator==(const IngestConfig&) const = default;
};

struct NotificationsConfig {
  std::int64_t timeout_ms = 30000;       // how long a /meta/connect is held
  std::int64_t max_interval_ms = 10000;  // a session without a connect for this long ends
  std::uint32_t max_queue = 1000;        // queued messages per session before coalescing
  bool bench_channels = false;           // /bench/** publish/subscribe (benchmarks only)
  std::uint32_t max_sessions_per_principal = 1000;  // further handshakes are denied
  std::string cookie_same_site = "Lax";             // SameSite of the CometD cookies
  bool operator==(const NotificationsConfig&) const = default;
};

// The in-process contact-center simulator (docs/simulator.md); the demo turns it on.
struct SimulatorConfig {
  bool enabled = false;
  std::string tenant;           // default: the first tenant
  int agents = 50;              // agent001…, place001…, DN 7001…: must exist in the tenant
  int queues = 3;               // 8001…
  double speed = 10;            // simulated seconds per real second
  double calls_per_minute = 5;  // per queue at the daily peak (simulated time)
  std::int64_t seed = 1;
  bool operator==(const SimulatorConfig&) const = default;
};

struct Config {
  std::string source;  // file the config came from ("" for defaults)
  ServerConfig server;
  LogConfig log;
  StatisticsConfig statistics;
  AuthConfig auth;
  LimitsConfig limits;
  StorageConfig storage;
  JetStreamConfig jetstream;
  ClusterConfig cluster;
  EngineConfig engine;
  IngestConfig ingest;
  NotificationsConfig notifications;
  SimulatorConfig simulator;
  std::vector<TenantConfig> tenants;

  // `path` resolved against the config file's folder when relative.
  [[nodiscard]] std::string Resolve(const std::string& path) const;
};

struct ConfigError {
  std::string file;
  int line = 0;  // 0 when unknown (e.g. the file cannot be read)
  int column = 0;
  std::string key;  // dotted path, e.g. "server.listen"
  std::string message;

  [[nodiscard]] std::string ToString() const;  // "file:line:column: key: message"
};

struct LoadResult {
  std::optional<Config> config;  // set when errors is empty
  std::vector<ConfigError> errors;
};

[[nodiscard]] LoadResult LoadFile(const std::string& path);
// Parses TOML text; `name` is used as the file name in errors.
[[nodiscard]] LoadResult LoadString(const std::string& text, const std::string& name);

// Splits "host:port" / "[v6]:port"; false if malformed.
[[nodiscard]] bool SplitHostPort(const std::string& text, std::string& host, std::uint16_t& port);

}  // namespace tally::config
