#include "server/metrics_wiring.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "server/version.h"

namespace tally::server {
namespace {

const std::vector<double> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                             1,      2.5,     5,      10,    30};

}  // namespace

net::RequestObserver HttpRequestObserver(MetricsRegistry& metrics) {
  // The registry renders and finds labels under its lock; done for every request that was ~4 %
  // of a /healthz request (perf, issue 14). Routes are the router's patterns and statuses few,
  // so each (route, method, status) is looked up once and its counter kept (the registry never
  // drops one).
  struct PerRoute {
    Histogram* duration = nullptr;
    std::vector<std::tuple<HttpMethod, int, Counter*>> answered;
  };
  struct Cache {
    std::mutex mu;
    std::map<std::string, PerRoute, std::less<>> routes;
  };
  auto cache = std::make_shared<Cache>();
  return [&metrics, cache](std::string_view route, HttpMethod method, int status, double seconds) {
    if (route.empty()) route = "unmatched";
    Counter* counter = nullptr;
    Histogram* duration = nullptr;
    {
      std::lock_guard lock(cache->mu);
      auto it = cache->routes.find(route);
      if (it == cache->routes.end()) {
        PerRoute fresh;
        fresh.duration = &metrics.GetHistogram(
            "tally_http_request_duration_seconds",
            "Time from the first byte of a request to its response being written", kLatencyBuckets,
            {{"route", std::string(route)}});
        it = cache->routes.emplace(std::string(route), std::move(fresh)).first;
      }
      duration = it->second.duration;
      for (const auto& [m, st, c] : it->second.answered) {
        if (m == method && st == status) counter = c;
      }
      if (counter == nullptr) {
        counter = &metrics.GetCounter("tally_http_requests_total",
                                      "HTTP requests answered, by route and status",
                                      {{"route", std::string(route)},
                                       {"method", std::string(HttpMethodName(method))},
                                       {"status", std::to_string(status)}});
        it->second.answered.emplace_back(method, status, counter);
      }
    }
    counter->Inc();
    duration->Observe(seconds);
  };
}

void WireMetrics(MetricsRegistry& metrics, const MetricSources& s) {
  metrics.AddGauge("tally_http_open_connections", "Open HTTP connections",
                   [&http = s.http] { return static_cast<double>(http.Stats().open_connections); });
  metrics.AddCounterFunction(
      "tally_http_connections_accepted_total", "HTTP connections accepted",
      [&http = s.http] { return static_cast<double>(http.Stats().accepted_connections); });
  metrics.AddCounterFunction(
      "tally_http_connections_rejected_total", "HTTP connections refused over max_connections",
      [&http = s.http] { return static_cast<double>(http.Stats().rejected_connections); });
  metrics.AddCounterFunction(
      "tally_http_connections_timed_out_total",
      "HTTP connections closed because a header, body, idle or write deadline passed",
      [&http = s.http] { return static_cast<double>(http.Stats().timed_out_connections); });
  metrics.AddCounterFunction(
      "tally_tls_handshake_failures_total", "TLS handshakes that failed or timed out",
      [&http = s.http] { return static_cast<double>(http.Stats().tls_handshake_failures); });
  metrics.AddCounterFunction(
      "tally_http_abandoned_requests_total",
      "Held requests (long-polls) whose client closed the connection before the answer",
      [&http = s.http] { return static_cast<double>(http.Stats().abandoned_requests); });
  metrics.AddCounterFunction(
      "tally_websocket_overflows_total",
      "WebSockets closed because their client did not read (websocket_max_buffered_bytes)",
      [&http = s.http] { return static_cast<double>(http.Stats().websocket_overflows); });
  metrics.AddGauge("process_resident_memory_bytes", "Resident memory of the process",
                   [] { return static_cast<double>(ProcessRssBytes()); });
  metrics.AddGauge("tally_ready", "1 once recovery is done and the sources are up",
                   [&ready = s.ready] { return ready.load() ? 1.0 : 0.0; });
  metrics.AddCounterFunction(
      "tally_notifications_undelivered_total", "Engine notifications with no session to go to",
      [&engine = s.engine] { return static_cast<double>(engine.NotificationsUndelivered()); });
  metrics.AddGauge("tally_engine_queue_depth",
                   "Pieces of engine work posted and waiting for the current round to finish",
                   [&engine = s.engine] { return static_cast<double>(engine.QueueDepth()); });
  metrics.AddGauge("tally_engine_busy_seconds",
                   "How long the current round of engine work has run (0: idle); /healthz fails "
                   "past server.engine_stall_ms",
                   [&engine = s.engine] { return engine.BusyForMs() / 1000.0; });
  auto pipeline_counter = [&](const char* name, const char* help,
                              std::uint64_t PipelineStats::*field) {
    metrics.AddCounterFunction(name, help, [&pipeline = s.pipeline, field] {
      return static_cast<double>(pipeline.Stats().*field);
    });
  };
  pipeline_counter("tally_ingest_events_total", "Events accepted (journaled)",
                   &PipelineStats::events);
  pipeline_counter("tally_ingest_batches_total", "Batches accepted (journaled)",
                   &PipelineStats::batches);
  pipeline_counter("tally_ingest_duplicate_batches_total",
                   "Retried batches answered from their Idempotency-Key",
                   &PipelineStats::duplicates);
  pipeline_counter("tally_ingest_key_conflicts_total",
                   "Batches refused because their Idempotency-Key was used for another body",
                   &PipelineStats::key_conflicts);
  pipeline_counter("tally_ingest_out_of_order_total",
                   "Batches refused because an event went back in time for its DN",
                   &PipelineStats::refused_out_of_order);
  pipeline_counter("tally_journal_skipped_records_total",
                   "Cluster: stream records skipped whole as they came back because another "
                   "node's newer event of one of their DNs was stored first (equal on replicas)",
                   &PipelineStats::skipped_in_stream);
  pipeline_counter("tally_journal_failures_total", "Journal writes that failed (answered 503)",
                   &PipelineStats::storage_failures);
  pipeline_counter("tally_engine_apply_failures_total",
                   "Journal records the engine could not apply, quarantined (should stay 0)",
                   &PipelineStats::apply_failures);
  pipeline_counter("tally_recovery_records_total", "Journal records replayed at start",
                   &PipelineStats::recovered_records);
  pipeline_counter("tally_recovery_quarantined_skipped_total",
                   "Quarantined journal records recovery did not apply again",
                   &PipelineStats::quarantined_skipped);
  metrics.AddGauge(
      "tally_stream_applied_seq",
      "Cluster: the newest stream sequence this node has applied (caught-up nodes of a "
      "group show the same)",
      [&pipeline = s.pipeline] { return static_cast<double>(pipeline.StreamApplied()); });
  auto bayeux_metric = [&](const char* name, const char* help,
                           std::uint64_t bayeux::ServerStats::*field, bool gauge) {
    auto read = [&bayeux_server = s.bayeux, field] {
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
  metrics.AddGauge(
      "tally_cometd_queued_messages",
      "Messages waiting in CometD sessions (queued, parked or unacknowledged)",
      [&bayeux_server = s.bayeux] { return static_cast<double>(bayeux_server.Queued().messages); });
  metrics.AddGauge(
      "tally_cometd_queued_bytes",
      "Bytes of the messages waiting in CometD sessions (a shared text once per session)",
      [&bayeux_server = s.bayeux] { return static_cast<double>(bayeux_server.Queued().bytes); });
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
  bayeux_metric("tally_cometd_sessions_credentials_expired_total",
                "CometD sessions ended because the credentials presented for them expired",
                &bayeux::ServerStats::sessions_token_expired, false);
  bayeux_metric("tally_cometd_messages_dropped_total",
                "Messages for a CometD session that no longer exists",
                &bayeux::ServerStats::dropped_no_session, false);
  bayeux_metric("tally_cometd_messages_unsubscribed_dropped_total",
                "Messages kept for a channel the session had not subscribed to, dropped when it "
                "ended first (or past max_queue of them)",
                &bayeux::ServerStats::dropped_unsubscribed, false);
  bayeux_metric("tally_cometd_invalid_messages_total",
                "Bayeux messages refused as malformed (400::message_invalid)",
                &bayeux::ServerStats::invalid_messages, false);
  bayeux_metric("tally_cometd_held_abandoned_total",
                "Held /meta/connect requests whose client closed its connection first",
                &bayeux::ServerStats::held_abandoned, false);
  metrics.AddCounterFunction(
      "tally_journal_commits_total", "Journal transactions committed",
      [writer = s.writer] { return writer ? static_cast<double>(writer->Stats().commits) : 0.0; });
  metrics.AddCounterFunction(
      "tally_journal_records_total", "Journal records committed",
      [writer = s.writer] { return writer ? static_cast<double>(writer->Stats().records) : 0.0; });
  metrics.AddCounterFunction(
      "tally_snapshots_total", "Engine snapshots taken",
      [&pipeline = s.pipeline] { return static_cast<double>(pipeline.Snapshots().taken); });
  metrics.AddCounterFunction(
      "tally_snapshots_stored_total", "Engine snapshots the journal stored",
      [&pipeline = s.pipeline] { return static_cast<double>(pipeline.Snapshots().stored); });
  metrics.AddCounterFunction(
      "tally_snapshots_failed_total", "Engine snapshots the journal could not store",
      [&pipeline = s.pipeline] { return static_cast<double>(pipeline.Snapshots().failed); });
  metrics.AddGauge(
      "tally_snapshot_last_seq", "Journal seq covered by the last snapshot taken",
      [&pipeline = s.pipeline] { return static_cast<double>(pipeline.Snapshots().last_seq); });
  metrics.AddGauge(
      "tally_snapshot_last_bytes", "Size of the last snapshot",
      [&pipeline = s.pipeline] { return static_cast<double>(pipeline.Snapshots().last_bytes); });
  metrics.AddGauge(
      "tally_snapshot_last_pause_seconds",
      "How long the engine paused to serialize the last snapshot",
      [&pipeline = s.pipeline] { return pipeline.Snapshots().last_pause_ms / 1000.0; });
  metrics.AddGauge("tally_recovery_snapshot_seq",
                   "The snapshot recovery started from (0: the whole journal was replayed)",
                   [&pipeline = s.pipeline] {
                     return static_cast<double>(pipeline.Snapshots().recovered_from_seq);
                   });
  metrics.AddCounterFunction("tally_journal_pruned_records_total",
                             "Journal records deleted by retention", [writer = s.writer] {
                               return writer ? static_cast<double>(writer->Stats().pruned_records)
                                             : 0.0;
                             });
  metrics.AddGauge("tally_build_info", "Build information", [] { return 1.0; },
                   {{"version", kVersion}});
}

}  // namespace tally::server
