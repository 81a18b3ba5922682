// The composition root (Run): builds the parts in order — engine and journal, auth, CometD and
// the APIs, routes and metrics, the simulator — starts recovery, the sweeper and the I/O threads,
// and on SIGINT/SIGTERM drains and stops them in reverse order.
#include "server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "api/ingest_api.h"
#include "api/notifications_api.h"
#include "api/statistics_api.h"
#include "api/updates.h"
#include "auth/service.h"
#include "bayeux/server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "net/http_server.h"
#include "net/router.h"
#include "server/auth_holder.h"
#include "server/engine_setup.h"
#include "server/engine_thread.h"
#include "server/exact_open.h"
#include "server/history.h"
#include "server/journal_setup.h"
#include "server/metrics_wiring.h"
#include "server/pipeline.h"
#include "server/reload.h"
#include "server/routes.h"
#include "server/secrets.h"
#include "server/session_store.h"
#include "server/simulator_thread.h"
#include "server/systemd_notify.h"
#include "server/version.h"
#include "storage/journal.h"

namespace tally::server {

namespace asio = boost::asio;

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
  http_options.websocket_max_buffered_bytes = config.server.websocket_max_buffered_bytes;
  http_options.tls_cert_file = config.Resolve(config.server.tls_cert_file);
  http_options.tls_key_file = config.Resolve(config.server.tls_key_file);
  http_options.cors_origins = config.server.cors_allowed_origins;

  MetricsRegistry metrics;
  std::atomic<bool> ready{false};
  const Clock& clock = DefaultClock();

  const ClockMode clock_mode =
      config.engine.clock == "event" ? ClockMode::kEvent : ClockMode::kWall;
  EngineThread engine(clock, clock_mode == ClockMode::kWall);
  // systemd (Type=notify): progress, readiness, the watchdog fed by the engine's own loop (a
  // stuck round stops it, as it fails /healthz), stopping. Nothing without NOTIFY_SOCKET.
  SystemdNotifier systemd(clock);
  systemd.Status("starting");
  engine.SetAliveHook([&systemd] { systemd.Alive(); });
  std::vector<stats::TenantSetup> tenant_setups;
  if (!SetUpEngine(config, engine.EngineForSetup(),
                   clock_mode == ClockMode::kWall ? clock.NowMs() : 0, tenant_setups)) {
    return 1;
  }

  // The node's name in a cluster: its records carry it (default: the listen address).
  const std::string node_name = config.cluster.node.empty() ? listen : config.cluster.node;
  auto opened_journal = JournalSetup::Open(config, clock, node_name);
  if (!opened_journal) {
    TALLY_LOG_ERROR("storage: {}", opened_journal.error().message);
    return 1;
  }
  std::unique_ptr<JournalSetup> storage = std::move(*opened_journal);
  Pipeline pipeline(engine, storage->Writer(), clock, clock_mode);
  pipeline.SetRecoveryProgress([&systemd](const std::string& line) { systemd.Status(line); });

  config::AuthConfig auth_config = config.auth;
  if (auth_config.secret.empty() && !auth_config.secret_file.empty()) {
    auto secret = LoadOrCreateSecret(config.Resolve(auth_config.secret_file));
    if (!secret) {
      TALLY_LOG_ERROR("auth.secret_file: {}", secret.error().message);
      return 1;
    }
    auth_config.secret = std::move(*secret);
  }
  // The signing key of this process: the same for every authentication a live reload builds.
  const bool ephemeral_key = auth_config.secret.empty();
  if (ephemeral_key) auth_config.secret = auth::RandomSigningKey();
  // The authentication from a configuration, with the signing key of this process (a live
  // reload rebuilds it; the key stays).
  auto make_auth = [&clock, secret = auth_config.secret](
                       const config::Config& from) -> Result<std::shared_ptr<auth::AuthService>> {
    config::AuthConfig c = from.auth;
    c.secret = secret;
    auto made = std::make_shared<auth::AuthService>(c, clock);
    if (auto jwks = LoadJwks(from, *made); !jwks) {
      return Error{Errc::kInvalidArgument, "auth.jwks_file " + jwks.error().message};
    }
    return made;
  };
  auto first_auth = make_auth(config);
  if (!first_auth) {
    TALLY_LOG_ERROR("{}", first_auth.error().message);
    return 1;
  }
  AuthHolder auth(*first_auth);
  if (ephemeral_key) {
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
  bayeux_options.channels = {std::string(api::kUpdatesChannel), std::string(api::kServiceChannel)};
  bayeux_options.required_role = "statistics:read";
  bayeux_options.session_cookie = std::string(api::kSessionCookie);
  bayeux_options.max_sessions_per_principal = config.notifications.max_sessions_per_principal;
  bayeux_options.cookie_attributes =
      "Path=/; HttpOnly; SameSite=" + config.notifications.cookie_same_site;
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
  StatisticsState api_state(statistics);
  ReloadableState statistics_state(api_state);  // + live reload records
  const SnapshotPolicy snapshot_policy{config.storage.snapshot_interval_s * 1000LL,
                                       config.storage.snapshot_every_events};
  if (!storage->Clustered()) {
    // Snapshots only make sense next to a journal that survives the process.
    pipeline.SetApplicationState(statistics_state, *storage->Snapshots(), snapshot_policy,
                                 storage->Durable());
  }
  bayeux_server.SetSessionClosed(
      [&statistics](const bayeux::SessionInfo& s) { statistics.SessionClosed(s); });
  bayeux_server.SetSessionResumed(
      [&statistics](const bayeux::SessionInfo& s) { statistics.SessionResumed(s); });
  // Session identities are durable so that clients carry on across a restart, or on another
  // node: journaled like every other piece of client state (api/identity_store.h), and looked
  // up when a clientId this node does not hold arrives. On one node the sessions have no home
  // name; in a cluster the node holding one live is its home.
  statistics.SetNode(storage->Clustered() ? node_name : std::string());
  bayeux_server.SetIdentityChanged([&statistics](const bayeux::Server::Identity& id, bool removed) {
    if (!removed) statistics.SessionOpened(id);
  });
  bayeux_server.SetIdentityLookup(
      [&statistics](const std::string& client_id) -> std::optional<bayeux::Server::Identity> {
        auto found = statistics.Identities().Find(client_id);
        if (!found) return std::nullopt;
        return bayeux::Server::Identity{found->client_id, found->principal, found->browser,
                                        found->channels};
      });
  // Identities an older build kept in the state table: restored now, journaled once ready.
  std::vector<bayeux::Server::Identity> legacy_identities;
  if (storage->Writer() != nullptr) {
    legacy_identities = RestoreIdentities(bayeux_server, *storage->Journal()).identities;
  }
  engine.SetSink([&statistics](std::vector<stats::Notification>& out) { statistics.Deliver(out); });
  engine.SetLinkObserver([&](const stats::Event& e, stats::Engine& eng) {
    if (!pipeline.OnLink(e)) return;
    const bool up = pipeline.TenantUp(e.tenant);
    TALLY_LOG_WARN("tenant '{}': event source link {} (switch '{}'): service {}", e.tenant,
                   up ? "back" : "down", e.switch_id, up ? "AVAILABLE" : "UNAVAILABLE");
    // Updates produced before the link event leave first (the same ordered path, in order),
    // while their subscriptions still exist.
    if (pipeline.Ready()) engine.FlushNotifications();
    if (!up) statistics.DropTenant(eng, e.tenant);
    if (!pipeline.Ready()) return;  // replaying history: nobody to tell
    statistics.ServiceState(e.tenant, up);
  });
  std::set<std::string> tenant_names;
  for (const auto& t : config.tenants) tenant_names.insert(t.name);
  api::IngestApi ingest(
      pipeline, [&auth](const HttpRequest& r) { return auth.Authenticate(r); },
      api::IngestLimits{config.ingest.events_per_batch,
                        clock_mode == ClockMode::kWall ? config.ingest.max_future_ms : 0},
      tenant_names, clock);

  net::Router router;
  // A cluster node cut off from NATS leaves the load balancer's rotation until it is back.
  auto not_ready = [&storage]() -> std::string {
    if (!storage->Clustered() || storage->Cluster() == nullptr) return {};
    return storage->Cluster()->Stream().Connected() ? std::string()
                                                    : "the connection to NATS is down";
  };
  // Live reload (SIGHUP, POST /admin/v1/reload): what can change while running.
  Reloader reloader(
      config.source, config,
      ReloadTargets{[&auth, &make_auth](const config::Config& next) -> Result<void> {
                      auto made = make_auth(next);
                      if (!made) return made.error();
                      auth.Set(*made);
                      return {};
                    },
                    [&statistics, &ingest, clock_mode](const config::Config& next) {
                      statistics.SetLimits(api::Limits{next.limits.statistics_per_request,
                                                       next.limits.statistics_per_subscription,
                                                       next.limits.subscriptions_per_principal,
                                                       next.limits.requests_per_second});
                      ingest.SetLimits(api::IngestLimits{
                          next.ingest.events_per_batch,
                          clock_mode == ClockMode::kWall ? next.ingest.max_future_ms : 0});
                    },
                    [&pipeline](std::string tenant, std::string command,
                                std::function<void(Result<stats::Engine*>)> then) {
                      pipeline.Durable(std::move(tenant), std::move(command), std::move(then));
                    }});
  AddRoutes(router, RouteTargets{config, auth, statistics, ingest, notifications, metrics, ready,
                                 [&engine] { return engine.BusyForMs(); }, not_ready,
                                 config.source.empty() ? nullptr : &reloader});
  // Statistic history: the journal or the stream replayed off the engine thread
  // (server/history.h).
  std::vector<std::string> ignored_catalog_errors;
  HistorySource history_source;
  history_source.journal_path = storage->Clustered() || !storage->Durable()
                                    ? std::string()
                                    : config.Resolve(config.storage.path);
  history_source.catalog = CatalogEntries(config, ignored_catalog_errors);
  history_source.tenants = TenantSetups(config);
  history_source.wall_clock = clock_mode == ClockMode::kWall;
  if (storage->Clustered()) {
    // Connected once recovery caught up (Ready() orders the connection before this read).
    history_source.stream = [&storage, &pipeline]() -> storage::JetStream* {
      return pipeline.Ready() ? &storage->Cluster()->Stream() : nullptr;
    };
  }
  // Exact on open: ad-hoc statistics get their value since the window's start from the same log
  // (server/exact_open.h).
  LogSource exact_source = history_source;
  std::atomic<bool> caught_up{false};  // the stream may be read: recovery caught up
  if (storage->Clustered()) {
    exact_source.stream = [&storage, &caught_up]() -> storage::JetStream* {
      return caught_up.load() ? &storage->Cluster()->Stream() : nullptr;
    };
  }
  HistoryRunner history(std::move(history_source), 2);
  ExactOpenOptions exact_options;
  exact_options.wait_ms = config.statistics.exact_open_wait_ms;
  ExactOpener exact(exact_source, engine, pipeline, exact_options);
  pipeline.SetApplyObserver(&exact);
  statistics.SetExactOpen(&exact);
  router.Add(HttpMethod::kPost, "/statistics/v3/operations/get-statistic-history",
             history.Handler([&auth](const HttpRequest& r) { return auth.Authenticate(r); }));
  auto observer = HttpRequestObserver(metrics);

  asio::io_context ioc(config.server.io_threads);
  // Notification messages are built and handed to CometD on an I/O thread, in order (a strand),
  // not on the engine thread.
  // Captured by reference: a strand must not outlive its io_context, and `statistics` (declared
  // earlier) is destroyed after both; the engine thread, the only caller, stops before either.
  auto delivery = asio::make_strand(ioc);
  statistics.SetDeliveryExecutor(
      [&delivery](std::function<void()> work) { asio::post(delivery, std::move(work)); });
  net::HttpServer http(ioc, http_options, router, observer);

  WireMetrics(metrics,
              MetricSources{http, engine, pipeline, bayeux_server, storage->Writer(), ready});
  metrics.AddCounterFunction("tally_exact_open_exact_total", "Ad-hoc statistics made exact on open",
                             [&exact] { return static_cast<double>(exact.Stats().exact); });
  metrics.AddCounterFunction("tally_exact_open_not_exact_total",
                             "Ad-hoc statistics left counting from their open (the log says why)",
                             [&exact] { return static_cast<double>(exact.Stats().not_exact); });
  metrics.AddCounterFunction(
      "tally_exact_open_late_total",
      "Ad-hoc statistics answered before they were exact (exact_open_wait_ms passed)",
      [&exact] { return static_cast<double>(exact.Stats().late); });

  const auto port = http.Listen();
  if (!port) {
    TALLY_LOG_ERROR("{}", port.error().message);
    return 1;
  }
  TALLY_LOG_INFO("tally {} listening on {}://{}:{} ({} I/O threads)", kVersion,
                 http_options.tls_cert_file.empty() ? "http" : "https", http_options.host, *port,
                 config.server.io_threads);

  auto made_simulator = MakeSimulator(config, pipeline, clock);
  if (!made_simulator) {
    TALLY_LOG_ERROR("{}", made_simulator.error().message);
    return 1;
  }
  std::unique_ptr<SimulatorThread> simulator = std::move(*made_simulator);

  // Recovery runs while the server listens: /readyz answers 503 and the APIs answer 503 until
  // the journal is replayed.
  std::atomic<bool> recovery_failed{false};
  std::atomic<bool> ready_once{false};
  std::atomic<bool> stopping{false};
  std::thread recovery([&] {
    auto recovered = [&]() -> Result<void> {
      if (!storage->Clustered()) {
        if (auto r = pipeline.Recover(*storage->Journal(), tenant_setups); !r) return r;
        engine.Start();
        storage->Start();
        return {};
      }
      // A cluster node: connect (retrying while NATS is away), then catch up with the stream.
      if (auto r = storage->Connect([&] { return stopping.load(); }); !r) return r;
      pipeline.UseCluster(Pipeline::ClusterSetup{
          storage->Cluster(), node_name, storage->Tenants(), config.cluster.apply_delay_ms, 50,
          2 * config.jetstream.timeout_ms + config.cluster.apply_delay_ms});
      pipeline.SetApplicationState(statistics_state, *storage->Snapshots(), snapshot_policy, true);
      storage->Start();
      return pipeline.RecoverCluster(tenant_setups, [&] { return stopping.load(); });
    }();
    if (!recovered) {
      if (stopping.load()) return;  // asked to stop meanwhile
      TALLY_LOG_ERROR("recovery failed: {}", recovered.error().message);
      recovery_failed.store(true);
      ::kill(::getpid(), SIGTERM);
      return;
    }
    // The sessions this node held come back as they were (they expire if their clients do not).
    const std::string home = storage->Clustered() ? node_name : std::string();
    std::uint64_t restored = 0;
    for (const auto& s : statistics.Identities().All()) {
      if (s.home != home || bayeux_server.HasSession(s.client_id)) continue;
      bayeux_server.Restore(s.client_id, s.principal, s.browser, s.channels);
      ++restored;
    }
    if (restored > 0) {
      TALLY_LOG_INFO("notifications: {} CometD sessions restored; they may reconnect", restored);
    }
    if (!storage->Clustered()) {
      // The configuration as it is now goes into the journal before anything else may (what
      // changed while stopped applies from here; the next recovery meets it at this point).
      std::promise<ReloadReport> started;
      reloader.Start([&started](ReloadReport r) { started.set_value(std::move(r)); },
                     [&pipeline](std::string tenant, std::string command,
                                 std::function<void(Result<stats::Engine*>)> then) {
                       pipeline.DurableBeforeReady(std::move(tenant), std::move(command),
                                                   std::move(then));
                     });
      const ReloadReport at_start = started.get_future().get();
      for (const auto& e : at_start.errors) TALLY_LOG_ERROR("configuration at start: {}", e);
      for (const auto& n : at_start.notes) TALLY_LOG_INFO("configuration at start: {}", n);
    }
    // Statistics recovery reopened are made exact again before the server is ready (bounded).
    caught_up.store(true);
    exact.Begin();
    if (!exact.WaitIdle(exact_options.wait_ms, [&] { return stopping.load(); })) {
      TALLY_LOG_WARN("exact on open: reopened statistics still computing; ready meanwhile");
    }
    pipeline.SetReady(true);
    for (const auto& id : legacy_identities) {
      statistics.SessionOpened(id);
      storage->Writer()->SubmitState("session/" + id.client_id, std::nullopt);
    }
    ready.store(true);
    ready_once.store(true);
    TALLY_LOG_INFO("ready");
    systemd.Ready();
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
    stopping.store(true);
    systemd.Stopping();
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

  // SIGHUP (systemctl reload, `tally reload --pid`): the configuration file is read again, on a
  // thread of its own (the I/O threads go on serving); one reload at a time.
  asio::signal_set hangup(ioc, SIGHUP);
  std::mutex reloads_mu;
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> reloads;
  std::function<void()> on_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (config.source.empty() || !ready.load()) {
        TALLY_LOG_WARN("SIGHUP received: {}", config.source.empty()
                                                  ? "no configuration file to reload"
                                                  : "not ready yet; reload once recovered");
        return on_hangup();
      }
      TALLY_LOG_INFO("SIGHUP received: reloading {}", config.source);
      std::lock_guard lock(reloads_mu);
      // Reloads that ended are joined here; the rest at shutdown.
      for (auto it = reloads.begin(); it != reloads.end();) {
        if (it->second->load()) {
          it->first.join();
          it = reloads.erase(it);
        } else {
          ++it;
        }
      }
      auto ended = std::make_shared<std::atomic<bool>>(false);
      reloads.emplace_back(std::thread([&reloader, ended] {
                             reloader.Reload([](const ReloadReport& report) {
                               TALLY_LOG_INFO("reload {}: {}", report.refused ? "refused" : "done",
                                              report.Json());
                             });
                             ended->store(true);
                           }),
                           ended);
      on_hangup();
    });
  };
  on_hangup();

  std::vector<std::thread> threads;
  for (int i = 1; i < config.server.io_threads; ++i) {
    threads.emplace_back([&ioc] { ioc.run(); });
  }
  ioc.run();
  for (auto& t : threads) t.join();
  recovery.join();
  {
    std::lock_guard lock(reloads_mu);
    for (auto& t : reloads) t.first.join();
  }
  history.Stop();
  exact.Stop();
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
  storage->Stop();
  engine.Stop();
  TALLY_LOG_INFO("tally stopped");
  return recovery_failed.load() ? 1 : 0;
}

}  // namespace tally::server
