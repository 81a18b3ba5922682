#include "server/routes.h"

#include <boost/json.hpp>

#include <algorithm>

#include "server/web_assets.h"

namespace tally::server {
namespace {

// The wallboard's Content-Security-Policy: everything from its own origin; cometd runs its
// timers in a Worker made from a blob (so background tabs are not throttled).
constexpr const char* kWallboardPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

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

}  // namespace

void AddRoutes(net::Router& router, const RouteTargets& t) {
  // Alive unless the engine thread is stuck: one round of its work (or one record replayed at
  // recovery) running for longer than server.engine_stall_ms.
  router.Add(HttpMethod::kGet, "/healthz",
             [busy = t.engine_busy_ms, stall = t.config.server.engine_stall_ms](
                 HttpRequest&, const RouteParams&, Responder r) {
               const std::int64_t ms = busy ? busy() : 0;
               if (ms > stall) {
                 return r.Send(TextResponse(503, "engine stuck: one piece of work has run for " +
                                                     std::to_string(ms) + " ms\n"));
               }
               r.Send(TextResponse(200, "ok\n"));
             });
  router.Add(HttpMethod::kGet, "/readyz",
             [&ready = t.ready, why = t.not_ready](HttpRequest&, const RouteParams&, Responder r) {
               if (!ready.load()) return r.Send(TextResponse(503, "not ready: recovering\n"));
               if (const std::string reason = why ? why() : std::string(); !reason.empty()) {
                 return r.Send(TextResponse(503, "not ready: " + reason + "\n"));
               }
               r.Send(TextResponse(200, "ready\n"));
             });
  router.Add(HttpMethod::kGet, "/metrics",
             [&metrics = t.metrics](HttpRequest&, const RouteParams&, Responder r) {
               r.Send(TextResponse(200, metrics.RenderPrometheus(),
                                   "text/plain; version=0.0.4; charset=utf-8"));
             });

  router.Add(HttpMethod::kPost, "/auth/v3/oauth/token",
             [&auth = t.auth](HttpRequest& q, const RouteParams& p, Responder r) {
               auth.Get()->Token(q, p, r);
             });
  router.Add(HttpMethod::kGet, "/auth/v3/userinfo",
             [&auth = t.auth](HttpRequest& q, const RouteParams& p, Responder r) {
               auth.Get()->UserInfo(q, p, r);
             });
  for (auto& route : t.statistics.Routes()) {
    router.Add(route.method, route.pattern, std::move(route.handler));
  }
  // The embedded files — the wallboard and the OpenAPI document (/statistics/v3/openapi.yaml,
  // public like the wallboard's code) — and the layout the wallboard draws: the tenant's agents,
  // groups, queues.
  for (const WebAsset& asset : WebAssets()) {
    auto serve = [&asset](HttpRequest&, const RouteParams&, Responder r) {
      HttpResponse res =
          TextResponse(200, std::string(asset.data), std::string(asset.content_type));
      res.headers.emplace_back("Cache-Control", "no-cache");
      // The wallboard's own code satisfies this policy (tested in Chromium: no violation):
      // scripts, styles and connections from this origin only, no framing.
      res.headers.emplace_back("Content-Security-Policy", kWallboardPolicy);
      res.headers.emplace_back("X-Frame-Options", "DENY");
      res.headers.emplace_back("Referrer-Policy", "no-referrer");
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
             [&config = t.config, &auth = t.auth](HttpRequest& q, const RouteParams&, Responder r) {
               auto who = auth.Authenticate(q);
               if (!who) return r.Send(ErrorResponse(who.error(), q.path));
               if (!who->HasRole("statistics:read")) {
                 return r.Send(ErrorResponse(403, "role 'statistics:read' is required", q.path));
               }
               r.Send(LayoutResponse(config, who->tenant));
             });
  for (auto& route : t.ingest.Routes()) {
    router.Add(route.method, route.pattern, std::move(route.handler));
  }
  for (auto& route : t.notifications.Routes()) {
    router.Add(route.method, route.pattern, std::move(route.handler));
  }
  router.AddWebSocket(api::NotificationsApi::kBase, t.notifications.WebSocket());
  if (t.reloader != nullptr) {
    router.Add(HttpMethod::kPost, "/admin/v1/reload",
               [&auth = t.auth, &ready = t.ready, reloader = t.reloader](
                   HttpRequest& q, const RouteParams&, Responder r) {
                 auto who = auth.Authenticate(q);
                 if (!who) return r.Send(ErrorResponse(who.error(), q.path));
                 if (!who->HasRole("admin")) {
                   return r.Send(ErrorResponse(403, "role 'admin' is required", q.path));
                 }
                 if (!ready.load()) {
                   return r.Send(
                       ErrorResponse(503, "the server is recovering; reload once ready", q.path));
                 }
                 reloader->Reload([r](ReloadReport report) {
                   HttpResponse res;
                   res.status = report.refused ? 400 : 200;
                   res.body = report.Json();
                   r.Send(std::move(res));
                 });
               });
  }
}

}  // namespace tally::server
