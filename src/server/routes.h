// Every HTTP route of the server: health, readiness, metrics, /auth/v3, /statistics/v3 (REST
// and CometD), /ingest/v1, the embedded wallboard and the OpenAPI document.
// Threading: call once before serving; handlers run on I/O threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "api/ingest_api.h"
#include "api/notifications_api.h"
#include "api/statistics_api.h"
#include "auth/service.h"
#include "common/metrics.h"
#include "config/config.h"
#include "net/router.h"
#include "server/auth_holder.h"
#include "server/reload.h"

namespace tally::server {

struct RouteTargets {
  const config::Config& config;
  AuthHolder& auth;
  api::StatisticsApi& statistics;
  api::IngestApi& ingest;
  api::NotificationsApi& notifications;
  MetricsRegistry& metrics;
  const std::atomic<bool>& ready;
  std::function<std::int64_t()> engine_busy_ms;  // liveness of the engine thread
  // Once recovered: why this node should not get traffic now ("" when it should), e.g. a
  // cluster node cut off from NATS.
  std::function<std::string()> not_ready = nullptr;
  Reloader* reloader = nullptr;  // POST /admin/v1/reload (role admin)
};

void AddRoutes(net::Router& router, const RouteTargets& t);

}  // namespace tally::server
