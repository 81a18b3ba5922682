#include "server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "api/ingest_api.h"
#include "api/notifications_api.h"
#include "api/statistics_api.h"
#include "auth/service.h"
#include "bayeux/server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "config/catalog.h"
#include "net/http_server.h"
#include "net/router.h"
#include "server/engine_thread.h"
#include "server/pipeline.h"
#include "server/version.h"
#include "server/web_assets.h"
#include "sim/simulator.h"

#include <boost/json.hpp>
#include "storage/journal.h"

namespace tally::server {

namespace asio = boost::asio;

namespace {

const std::vector<double> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                             1,      2.5,     5,      10,    30};

// Loads the catalog and the tenants into the engine; false (logged) on any error. The tenants'
// setups are kept for recovery (merged into a loaded snapshot).
bool SetUpEngine(const config::Config& config, stats::Engine& engine, TimeMs now,
                 std::vector<stats::TenantSetup>& setups) {
  const std::string catalog_path = config.Resolve(config.statistics.catalog);
  config::CatalogLoad catalog;
  if (catalog_path.empty()) {
    TALLY_LOG_WARN("statistics.catalog is not set: no predefined statistics");
  } else {
    catalog = config::LoadCatalogFile(catalog_path);
  }
  for (const auto& e : catalog.errors) TALLY_LOG_ERROR("{}", e.ToString());
  if (!catalog.errors.empty()) return false;
  std::vector<stats::CatalogEntry> entries;
  for (const auto& d : catalog.definitions) entries.push_back({d.name, d.fields});
  if (auto r = engine.SetCatalog(entries); !r) {
    TALLY_LOG_ERROR("{}: {}", catalog_path, r.error().message);
    return false;
  }
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
    if (auto r = engine.AddTenant(setup, now); !r) {
      TALLY_LOG_ERROR("{}: tenant '{}': {}", config.source, t.name, r.error().message);
      return false;
    }
    setups.push_back(std::move(setup));
  }
  TALLY_LOG_INFO("engine: {} catalog statistics over {} objects in {} tenants ({})",
                 engine.Counters().catalog_statistics, engine.Counters().objects,
                 config.tenants.size(), catalog_path);
  return true;
}

// The signing key kept in `path`: read it, or create it (random, base64, mode 0600) on first start.
Result<std::string> LoadOrCreateSecret(const std::string& path) {
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::string secret;
      std::getline(in, secret);
      if (secret.size() < 32)
        return Fail(Errc::kInvalidArgument, path + ": shorter than 32 characters");
      return secret;
    }
  }
  unsigned char bytes[32];
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  if (!urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes)) {
    return Fail(Errc::kInternal, "cannot read /dev/urandom");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string secret;
  for (unsigned char b : bytes) {
    secret.push_back(kHex[b >> 4]);
    secret.push_back(kHex[b & 15]);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return Fail(Errc::kUnavailable, path + ": cannot create (" + std::strerror(errno) + ")");
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return Fail(Errc::kUnavailable, path + ": cannot write the key");
  TALLY_LOG_INFO("auth: generated a signing key in {}", path);
  return secret;
}

// The objects of a tenant as the wallboard draws them.
HttpResponse LayoutResponse(const config::Config& config, const std::string& tenant) {
  namespace json = boost::json;
  for (const auto& t : config.tenants) {
    if (t.name != tenant) continue;
    json::array agents;
    json::array groups;
    for (const auto& g : t.groups) {
      if (g.type == "GroupAgents") groups.emplace_back(g.name);
    }
    for (const auto& a : t.agents) {
      json::array member_of;
      for (const auto& g : t.groups) {
        if (g.type == "GroupAgents" &&
            std::find(g.members.begin(), g.members.end(), a) != g.members.end()) {
          member_of.emplace_back(g.name);
        }
      }
      agents.push_back(json::object{{"id", a}, {"groups", std::move(member_of)}});
    }
    json::array queues;
    for (const auto& q : t.queues) queues.emplace_back(q);
    HttpResponse res;
    res.status = 200;
    res.body = json::serialize(json::object{{"tenant", t.name},
                                            {"agents", std::move(agents)},
                                            {"groups", std::move(groups)},
                                            {"queues", std::move(queues)}});
    return res;
  }
  return ErrorResponse(404, "tenant '" + tenant + "' has no objects here", "/wallboard/api/layout");
}

// Runs the in-process simulator: every 100 ms, the events due are submitted through the same
// path as ingested ones (journal, then engine). Stop() ends the day: calls released, agents
// logged out, and waits until that is journaled.
class SimulatorThread {
 public:
  SimulatorThread(sim::SimConfig config, Pipeline& pipeline, const Clock& clock)
      : config_(std::move(config)), pipeline_(pipeline), clock_(clock) {}
  ~SimulatorThread() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Submit(std::vector<stats::Event>& events, bool wait) {
    if (events.empty()) return;
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    pipeline_.Submit(std::move(events), "", [done](Result<api::IngestResult> r) {
      if (!r) TALLY_LOG_WARN("simulator: events refused: {}", r.error().message);
      done->set_value();
    });
    events.clear();
    if (wait) finished.wait();
  }

  void Run() {
    sim::Simulator sim(config_, clock_.NowMs());
    TALLY_LOG_INFO("simulator: {} agents, {} queues, speed {}x, seed {}", config_.agents,
                   config_.queues, config_.speed, config_.seed);
    std::vector<stats::Event> events;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; })) {
          break;
        }
      }
      sim.RunUntil(clock_.NowMs(), events);
      Submit(events, false);
    }
    sim.Finish(clock_.NowMs(), events);
    Submit(events, true);
    TALLY_LOG_INFO("simulator: stopped after {} events ({} calls, {} answered, {} abandoned)",
                   sim.Stats().events, sim.Stats().calls, sim.Stats().answered,
                   sim.Stats().abandoned);
  }

  sim::SimConfig config_;
  Pipeline& pipeline_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

int Run(const config::Config& config, const RunOptions& options) {
  log::Init(config.log.level, config.log.format);

  net::HttpServerOptions http_options;
  const std::string listen = options.listen.value_or(config.server.listen);
  if (!config::SplitHostPort(listen, http_options.host, http_options.port)) {
    TALLY_LOG_ERROR("bad listen address '{}': expected host:port", listen);
    return 2;
  }
  http_options.max_body_bytes = config.server.max_body_bytes;
  http_options.max_header_bytes = config.server.max_header_bytes;
  http_options.max_connections = config.server.max_connections;
  http_options.max_requests_per_connection = config.server.max_requests_per_connection;
  http_options.header_timeout = config.server.header_timeout;
  http_options.body_timeout = config.server.body_timeout;
  http_options.idle_timeout = config.server.idle_timeout;
  http_options.write_timeout = config.server.write_timeout;
  http_options.tls_cert_file = config.Resolve(config.server.tls_cert_file);
  http_options.tls_key_file = config.Resolve(config.server.tls_key_file);

  MetricsRegistry metrics;
  std::atomic<bool> ready{false};
  const Clock& clock = DefaultClock();

  const ClockMode clock_mode =
      config.engine.clock == "event" ? ClockMode::kEvent : ClockMode::kWall;
  EngineThread engine(clock, clock_mode == ClockMode::kWall);
  std::vector<stats::TenantSetup> tenant_setups;
  if (!SetUpEngine(config, engine.EngineForSetup(),
                   clock_mode == ClockMode::kWall ? clock.NowMs() : 0, tenant_setups)) {
    return 1;
  }

  storage::JournalOptions journal_options;
  journal_options.path = config.Resolve(config.storage.path);
  journal_options.max_bytes = config.storage.max_bytes;
  journal_options.durability = config.storage.durability == "off" ? storage::Durability::kOff
                               : config.storage.durability == "normal"
                                   ? storage::Durability::kNormal
                                   : storage::Durability::kFull;
  if (journal_options.path.empty()) {
    TALLY_LOG_WARN(
        "storage.path is not set: the journal is in memory and nothing survives a restart");
    journal_options.path = ":memory:";
  } else {
    std::error_code ec;
    const auto parent = std::filesystem::path(journal_options.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  auto opened_journal = storage::Journal::Open(journal_options);
  if (!opened_journal) {
    TALLY_LOG_ERROR("storage: {}", opened_journal.error().message);
    return 1;
  }
  std::unique_ptr<storage::Journal> journal = std::move(*opened_journal);
  storage::JournalWriter writer(*journal);
  writer.SetRetention(static_cast<std::int64_t>(config.storage.retention_days * 86'400'000.0),
                      static_cast<int>(config.storage.keep_snapshots));
  Pipeline pipeline(engine, writer, clock, clock_mode);

  config::AuthConfig auth_config = config.auth;
  if (auth_config.secret.empty() && !auth_config.secret_file.empty()) {
    auto secret = LoadOrCreateSecret(config.Resolve(auth_config.secret_file));
    if (!secret) {
      TALLY_LOG_ERROR("auth.secret_file: {}", secret.error().message);
      return 1;
    }
    auth_config.secret = std::move(*secret);
  }
  auth::AuthService auth(auth_config, clock);
  if (!config.auth.jwks_file.empty()) {
    const std::string path = config.Resolve(config.auth.jwks_file);
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto jwks = auth::Jwks::Parse(text.str());
    if (!in || !jwks) {
      TALLY_LOG_ERROR("auth.jwks_file {}: {}", path,
                      in ? jwks.error().message : "cannot open file");
      return 1;
    }
    TALLY_LOG_INFO("auth: {} external keys from {}", jwks->Size(), path);
    auth.SetJwks(std::move(*jwks));
  }
  if (auth.SecretIsEphemeral()) {
    TALLY_LOG_WARN(
        "auth.secret is not set: tokens are signed with a random key and die with "
        "this process");
  }
  api::Limits limits{config.limits.statistics_per_request,
                     config.limits.statistics_per_subscription,
                     config.limits.subscriptions_per_principal, config.limits.requests_per_second};
  bayeux::Options bayeux_options;
  bayeux_options.timeout_ms = config.notifications.timeout_ms;
  bayeux_options.max_interval_ms = config.notifications.max_interval_ms;
  bayeux_options.max_queue = config.notifications.max_queue;
  bayeux_options.bench_channels = config.notifications.bench_channels;
  bayeux::Server bayeux_server(bayeux_options, clock);
  bayeux_server.SetTokenVerifier([&auth](std::string_view bearer) {
    HttpRequest r;
    r.headers.emplace_back("authorization", std::string(bearer));
    return auth.Authenticate(r);
  });
  api::StatisticsApi statistics(
      pipeline, [&auth](const HttpRequest& r) { return auth.Authenticate(r); }, limits, clock,
      &bayeux_server);
  api::NotificationsApi notifications(
      bayeux_server, [&auth](const HttpRequest& r) { return auth.Authenticate(r); });
  if (journal_options.path != ":memory:") {
    // Snapshots only make sense next to a journal that survives the process.
    pipeline.SetSnapshots(&statistics, SnapshotPolicy{config.storage.snapshot_interval_s * 1000LL,
                                                      config.storage.snapshot_every_events});
  }
  bayeux_server.SetSessionClosed(
      [&statistics](const bayeux::SessionInfo& s) { statistics.SessionClosed(s); });
  bayeux_server.SetSessionResumed(
      [&statistics](const bayeux::SessionInfo& s) { statistics.SessionResumed(s); });
  // Session identities are durable so that clients carry on across a restart.
  bayeux_server.SetIdentityChanged([&writer](const bayeux::Server::Identity& id, bool removed) {
    if (removed) return writer.SubmitState("session/" + id.client_id, std::nullopt);
    boost::json::array subs;
    for (const auto& c : id.subscriptions) subs.emplace_back(c);
    boost::json::array roles;
    for (const auto& r : id.principal.roles) roles.emplace_back(r);
    writer.SubmitState("session/" + id.client_id, boost::json::serialize(boost::json::object{
                                                      {"tenant", id.principal.tenant},
                                                      {"subject", id.principal.subject},
                                                      {"roles", std::move(roles)},
                                                      {"browser", id.browser},
                                                      {"subscriptions", std::move(subs)}}));
  });
  if (auto saved = journal->States("session/"); saved) {
    for (const auto& [key, value] : *saved) {
      boost::system::error_code ec;
      auto v = boost::json::parse(value, ec);
      if (ec || !v.is_object()) continue;
      const auto& o = v.as_object();
      Principal p;
      p.tenant = std::string(o.at("tenant").as_string());
      p.subject = std::string(o.at("subject").as_string());
      for (const auto& r : o.at("roles").as_array()) p.roles.emplace_back(r.as_string());
      std::vector<std::string> subs;
      for (const auto& c : o.at("subscriptions").as_array()) subs.emplace_back(c.as_string());
      bayeux_server.Restore(key.substr(8), p, std::string(o.at("browser").as_string()), subs);
    }
    if (!saved->empty()) {
      TALLY_LOG_INFO("notifications: {} CometD sessions restored; they may reconnect",
                     saved->size());
    }
  }
  engine.SetSink([&statistics](std::vector<stats::Notification>& out) { statistics.Deliver(out); });
  engine.SetLinkObserver([&](const stats::Event& e, stats::Engine& eng) {
    if (!pipeline.OnLink(e)) return;
    const bool up = pipeline.TenantUp(e.tenant);
    TALLY_LOG_WARN("tenant '{}': event source link {} (switch '{}'): service {}", e.tenant,
                   up ? "back" : "down", e.switch_id, up ? "AVAILABLE" : "UNAVAILABLE");
    if (!up) statistics.DropTenant(eng, e.tenant);
    if (!pipeline.Ready()) return;  // replaying history: nobody to tell
    bayeux_server.DeliverToTenant(
        e.tenant, "/statistics/v3/service",
        boost::json::object{
            {"name", "ServiceStateChange"},
            {"topic", "/statistics/v3/service"},
            {"data", boost::json::object{{"serviceState", up ? "AVAILABLE" : "UNAVAILABLE"}}}});
  });
  std::set<std::string> tenant_names;
  for (const auto& t : config.tenants) tenant_names.insert(t.name);
  api::IngestApi ingest(
      pipeline, [&auth](const HttpRequest& r) { return auth.Authenticate(r); },
      api::IngestLimits{config.ingest.events_per_batch}, tenant_names, clock);

  net::Router router;
  router.Add(HttpMethod::kGet, "/healthz", [](HttpRequest&, const RouteParams&, Responder r) {
    r.Send(TextResponse(200, "ok\n"));
  });
  router.Add(HttpMethod::kGet, "/readyz", [&ready](HttpRequest&, const RouteParams&, Responder r) {
    if (ready.load()) {
      r.Send(TextResponse(200, "ready\n"));
    } else {
      r.Send(TextResponse(503, "not ready: recovering\n"));
    }
  });
  router.Add(HttpMethod::kGet, "/metrics",
             [&metrics](HttpRequest&, const RouteParams&, Responder r) {
               r.Send(TextResponse(200, metrics.RenderPrometheus(),
                                   "text/plain; version=0.0.4; charset=utf-8"));
             });

  router.Add(HttpMethod::kPost, "/auth/v3/oauth/token",
             [&auth](HttpRequest& q, const RouteParams& p, Responder r) { auth.Token(q, p, r); });
  router.Add(
      HttpMethod::kGet, "/auth/v3/userinfo",
      [&auth](HttpRequest& q, const RouteParams& p, Responder r) { auth.UserInfo(q, p, r); });
  for (auto& route : statistics.Routes()) {
    router.Add(route.method, route.pattern, std::move(route.handler));
  }
  // The wallboard (embedded files) and the layout it draws: the tenant's agents, groups, queues.
  for (const WebAsset& asset : WebAssets()) {
    auto serve = [&asset](HttpRequest&, const RouteParams&, Responder r) {
      HttpResponse res =
          TextResponse(200, std::string(asset.data), std::string(asset.content_type));
      res.headers.emplace_back("Cache-Control", "no-cache");
      r.Send(std::move(res));
    };
    router.Add(HttpMethod::kGet, std::string(asset.path), serve);
    if (asset.path == "/wallboard/index.html") router.Add(HttpMethod::kGet, "/wallboard/", serve);
  }
  auto redirect = [](std::string to) {
    return [to](HttpRequest&, const RouteParams&, Responder r) {
      HttpResponse res = TextResponse(302, "see " + to + "\n");
      res.headers.emplace_back("Location", to);
      r.Send(std::move(res));
    };
  };
  router.Add(HttpMethod::kGet, "/", redirect("/wallboard/"));
  router.Add(HttpMethod::kGet, "/wallboard", redirect("/wallboard/"));
  router.Add(HttpMethod::kGet, "/wallboard/api/layout",
             [&config, &auth](HttpRequest& q, const RouteParams&, Responder r) {
               auto who = auth.Authenticate(q);
               if (!who) return r.Send(ErrorResponse(who.error(), q.path));
               if (!who->HasRole("statistics:read")) {
                 return r.Send(ErrorResponse(403, "role 'statistics:read' is required", q.path));
               }
               r.Send(LayoutResponse(config, who->tenant));
             });
  for (auto& route : ingest.Routes()) {
    router.Add(route.method, route.pattern, std::move(route.handler));
  }
  for (auto& route : notifications.Routes()) {
    router.Add(route.method, route.pattern, std::move(route.handler));
  }
  router.AddWebSocket(api::NotificationsApi::kBase, notifications.WebSocket());

  auto observer = [&metrics](std::string_view route, HttpMethod method, int status,
                             double seconds) {
    const std::string route_label = route.empty() ? "unmatched" : std::string(route);
    metrics
        .GetCounter("tally_http_requests_total", "HTTP requests answered, by route and status",
                    {{"route", route_label},
                     {"method", std::string(HttpMethodName(method))},
                     {"status", std::to_string(status)}})
        .Inc();
    metrics
        .GetHistogram("tally_http_request_duration_seconds",
                      "Time from the first byte of a request to its response being written",
                      kLatencyBuckets, {{"route", route_label}})
        .Observe(seconds);
  };

  asio::io_context ioc(config.server.io_threads);
  // Notification messages are built and handed to CometD on an I/O thread, in order (a strand),
  // not on the engine thread.
  // Captured by reference: a strand must not outlive its io_context, and `statistics` (declared
  // earlier) is destroyed after both; the engine thread, the only caller, stops before either.
  auto delivery = asio::make_strand(ioc);
  statistics.SetDeliveryExecutor(
      [&delivery](std::function<void()> work) { asio::post(delivery, std::move(work)); });
  net::HttpServer http(ioc, http_options, router, observer);

  metrics.AddGauge("tally_http_open_connections", "Open HTTP connections",
                   [&http] { return static_cast<double>(http.Stats().open_connections); });
  metrics.AddCounterFunction(
      "tally_http_connections_accepted_total", "HTTP connections accepted",
      [&http] { return static_cast<double>(http.Stats().accepted_connections); });
  metrics.AddCounterFunction(
      "tally_http_connections_rejected_total", "HTTP connections refused over max_connections",
      [&http] { return static_cast<double>(http.Stats().rejected_connections); });
  metrics.AddCounterFunction(
      "tally_http_connections_timed_out_total",
      "HTTP connections closed because a header, body, idle or write deadline passed",
      [&http] { return static_cast<double>(http.Stats().timed_out_connections); });
  metrics.AddCounterFunction(
      "tally_tls_handshake_failures_total", "TLS handshakes that failed or timed out",
      [&http] { return static_cast<double>(http.Stats().tls_handshake_failures); });
  metrics.AddGauge("process_resident_memory_bytes", "Resident memory of the process",
                   [] { return static_cast<double>(ProcessRssBytes()); });
  metrics.AddGauge("tally_ready", "1 once recovery is done and the sources are up",
                   [&ready] { return ready.load() ? 1.0 : 0.0; });
  metrics.AddCounterFunction(
      "tally_notifications_undelivered_total", "Engine notifications with no session to go to",
      [&engine] { return static_cast<double>(engine.NotificationsUndelivered()); });
  auto pipeline_counter = [&](const char* name, const char* help,
                              std::uint64_t PipelineStats::*field) {
    metrics.AddCounterFunction(
        name, help, [&pipeline, field] { return static_cast<double>(pipeline.Stats().*field); });
  };
  pipeline_counter("tally_ingest_events_total", "Events accepted (journaled)",
                   &PipelineStats::events);
  pipeline_counter("tally_ingest_batches_total", "Batches accepted (journaled)",
                   &PipelineStats::batches);
  pipeline_counter("tally_ingest_duplicate_batches_total",
                   "Retried batches answered from their Idempotency-Key",
                   &PipelineStats::duplicates);
  pipeline_counter("tally_ingest_out_of_order_total",
                   "Batches refused because an event went back in time for its DN",
                   &PipelineStats::refused_out_of_order);
  pipeline_counter("tally_journal_failures_total", "Journal writes that failed (answered 503)",
                   &PipelineStats::storage_failures);
  pipeline_counter("tally_engine_apply_failures_total",
                   "Journaled events the engine refused (should stay 0)",
                   &PipelineStats::apply_failures);
  pipeline_counter("tally_recovery_records_total", "Journal records replayed at start",
                   &PipelineStats::recovered_records);
  auto bayeux_metric = [&](const char* name, const char* help,
                           std::uint64_t bayeux::ServerStats::*field, bool gauge) {
    auto read = [&bayeux_server, field] {
      return static_cast<double>(bayeux_server.Stats().*field);
    };
    if (gauge) {
      metrics.AddGauge(name, help, read);
    } else {
      metrics.AddCounterFunction(name, help, read);
    }
  };
  bayeux_metric("tally_cometd_sessions", "Open CometD sessions", &bayeux::ServerStats::sessions,
                true);
  bayeux_metric("tally_cometd_held_connects", "Held /meta/connect requests",
                &bayeux::ServerStats::held_connects, true);
  bayeux_metric("tally_cometd_handshakes_total", "CometD handshakes",
                &bayeux::ServerStats::handshakes, false);
  bayeux_metric("tally_cometd_handshakes_denied_total", "CometD handshakes denied",
                &bayeux::ServerStats::handshakes_denied, false);
  bayeux_metric("tally_cometd_messages_delivered_total", "Messages handed to CometD transports",
                &bayeux::ServerStats::messages_delivered, false);
  bayeux_metric("tally_cometd_updates_coalesced_total",
                "Statistic updates dropped from full queues because a newer value superseded them",
                &bayeux::ServerStats::messages_coalesced, false);
  bayeux_metric("tally_cometd_messages_redelivered_total",
                "Messages sent again because the client did not acknowledge them (ack extension)",
                &bayeux::ServerStats::messages_redelivered, false);
  bayeux_metric("tally_cometd_sessions_expired_total",
                "CometD sessions ended because no connect came within maxInterval",
                &bayeux::ServerStats::sessions_expired, false);
  metrics.AddCounterFunction("tally_journal_commits_total", "Journal transactions committed",
                             [&writer] { return static_cast<double>(writer.Stats().commits); });
  metrics.AddCounterFunction("tally_journal_records_total", "Journal records committed",
                             [&writer] { return static_cast<double>(writer.Stats().records); });
  metrics.AddCounterFunction("tally_snapshots_total", "Engine snapshots taken", [&pipeline] {
    return static_cast<double>(pipeline.Snapshots().taken);
  });
  metrics.AddCounterFunction(
      "tally_snapshots_failed_total", "Engine snapshots the journal could not store",
      [&pipeline] { return static_cast<double>(pipeline.Snapshots().failed); });
  metrics.AddGauge("tally_snapshot_last_seq", "Journal seq covered by the last snapshot taken",
                   [&pipeline] { return static_cast<double>(pipeline.Snapshots().last_seq); });
  metrics.AddGauge("tally_snapshot_last_bytes", "Size of the last snapshot",
                   [&pipeline] { return static_cast<double>(pipeline.Snapshots().last_bytes); });
  metrics.AddGauge("tally_snapshot_last_pause_seconds",
                   "How long the engine paused to serialize the last snapshot",
                   [&pipeline] { return pipeline.Snapshots().last_pause_ms / 1000.0; });
  metrics.AddGauge(
      "tally_recovery_snapshot_seq",
      "The snapshot recovery started from (0: the whole journal was replayed)",
      [&pipeline] { return static_cast<double>(pipeline.Snapshots().recovered_from_seq); });
  metrics.AddCounterFunction(
      "tally_journal_pruned_records_total", "Journal records deleted by retention",
      [&writer] { return static_cast<double>(writer.Stats().pruned_records); });
  metrics.AddGauge("tally_build_info", "Build information", [] { return 1.0; },
                   {{"version", kVersion}});

  const auto port = http.Listen();
  if (!port) {
    TALLY_LOG_ERROR("{}", port.error().message);
    return 1;
  }
  TALLY_LOG_INFO("tally {} listening on {}://{}:{} ({} I/O threads)", kVersion,
                 http_options.tls_cert_file.empty() ? "http" : "https", http_options.host, *port,
                 config.server.io_threads);

  std::unique_ptr<SimulatorThread> simulator;
  if (config.simulator.enabled) {
    sim::SimConfig sc;
    sc.tenant = config.simulator.tenant.empty() && !config.tenants.empty()
                    ? config.tenants.front().name
                    : config.simulator.tenant;
    sc.agents = config.simulator.agents;
    sc.queues = config.simulator.queues;
    sc.speed = config.simulator.speed;
    sc.calls_per_minute = config.simulator.calls_per_minute;
    sc.seed = static_cast<std::uint64_t>(config.simulator.seed);
    const config::TenantConfig* tenant = nullptr;
    for (const auto& t : config.tenants) {
      if (t.name == sc.tenant) tenant = &t;
    }
    auto has = [](const std::vector<std::string>& v, const std::string& x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    if (tenant == nullptr || !has(tenant->agents, sim::AgentId(sc.agents - 1)) ||
        !has(tenant->queues, sim::QueueDn(sc.queues - 1))) {
      TALLY_LOG_ERROR(
          "simulator: tenant '{}' must declare agents {}..{} and queues {}..{} "
          "(`tally simulate --print-config` prints them)",
          sc.tenant, sim::AgentId(0), sim::AgentId(sc.agents - 1), sim::QueueDn(0),
          sim::QueueDn(sc.queues - 1));
      return 1;
    }
    simulator = std::make_unique<SimulatorThread>(sc, pipeline, clock);
  }

  // Recovery runs while the server listens: /readyz answers 503 and the APIs answer 503 until
  // the journal is replayed.
  std::atomic<bool> recovery_failed{false};
  std::atomic<bool> ready_once{false};
  std::thread recovery([&] {
    if (auto r = pipeline.Recover(*journal, statistics, tenant_setups); !r) {
      TALLY_LOG_ERROR("recovery failed: {}", r.error().message);
      recovery_failed.store(true);
      ::kill(::getpid(), SIGTERM);
      return;
    }
    engine.Start();
    writer.Start();
    pipeline.SetReady(true);
    ready.store(true);
    ready_once.store(true);
    TALLY_LOG_INFO("ready");
    if (simulator) simulator->Start();
  });

  // The CometD sweeper: held connects that reached their timeout, sessions past maxInterval.
  asio::steady_timer sweeper(ioc);
  std::vector<std::string> tenant_list(tenant_names.begin(), tenant_names.end());
  int sweeps = 0;
  std::function<void()> sweep = [&] {
    sweeper.expires_after(std::chrono::milliseconds(200));
    sweeper.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      bayeux_server.Sweep();
      if (++sweeps % 5 == 0) {
        pipeline.CheckHeartbeats(tenant_list, config.ingest.heartbeat_timeout_ms);
        // A snapshot when the interval has passed (the record count is checked as they apply).
        if (ready.load()) {
          engine.Post([&pipeline](stats::Engine& e) { pipeline.MaybeSnapshot(e, false); });
        }
      }
      sweep();
    });
  };
  sweep();

  asio::steady_timer grace(ioc);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    TALLY_LOG_INFO("signal {} received: draining connections (grace {} ms)", signo,
                   config.server.shutdown_grace.count());
    ready.store(false);
    sweeper.cancel();
    bayeux_server.ReleaseAll();  // held connects answer now; clients reconnect later
    grace.expires_after(config.server.shutdown_grace);
    grace.async_wait([&](const boost::system::error_code& gec) {
      if (gec) return;  // drained in time
      TALLY_LOG_WARN("shutdown grace expired with {} connections open; closing them",
                     http.Stats().open_connections);
      ioc.stop();
    });
    // Drained: every connection has finished, nothing is left to answer. Stop the I/O threads
    // explicitly rather than waiting for the io_context to run out of work (an operation parked
    // without a deadline once kept a server from exiting).
    http.Shutdown([&grace, &ioc] {
      grace.cancel();
      ioc.stop();
    });
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < config.server.io_threads; ++i) {
    threads.emplace_back([&ioc] { ioc.run(); });
  }
  ioc.run();
  for (auto& t : threads) t.join();
  recovery.join();
  if (simulator) simulator->Stop();  // ends the simulated day; journaled before we go on
  pipeline.SetReady(false);
  if (!recovery_failed.load() && ready_once.load() && config.storage.snapshot_on_shutdown) {
    // A last snapshot, so the next start replays (almost) nothing.
    std::promise<void> taken;
    engine.Post([&](stats::Engine& e) {
      pipeline.MaybeSnapshot(e, true);
      taken.set_value();
    });
    taken.get_future().wait();
  }
  writer.Stop();
  engine.Stop();
  TALLY_LOG_INFO("tally stopped");
  return recovery_failed.load() ? 1 : 0;
}

}  // namespace tally::server
