// The Prometheus metrics of the server (GET /metrics): what each part counts, read when
// scraped. Names and help texts live here, in one place.
// Threading: call once before serving; the readers run on the scraping I/O thread.
#pragma once

#include <atomic>

#include "bayeux/server.h"
#include "common/metrics.h"
#include "net/http_server.h"
#include "server/engine_thread.h"
#include "server/pipeline.h"
#include "storage/journal.h"

namespace tally::server {

struct MetricSources {
  net::HttpServer& http;
  EngineThread& engine;
  Pipeline& pipeline;
  bayeux::Server& bayeux;
  storage::JournalWriter* writer;  // the SQLite journal's (null with JetStream)
  const std::atomic<bool>& ready;
};

void WireMetrics(MetricsRegistry& metrics, const MetricSources& s);

// Counts every answered request by route, method and status, and its latency by route.
[[nodiscard]] net::RequestObserver HttpRequestObserver(MetricsRegistry& metrics);

}  // namespace tally::server
