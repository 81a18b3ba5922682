// The HTTP request path without sockets: the bytes of one connection (one or more pipelined
// requests; $A, $B, $I, ... stand for tokens, fuzz_support.h) go through Beast's parser, the
// server's conversion, CORS and router (net::ServeBytesForTest) to every real route of the
// server (server::AddRoutes): health, metrics, /auth/v3, /statistics/v3 REST and CometD,
// /ingest/v1, the wallboard. Engine work runs inline on a real engine (a test double of the
// engine thread and the journal, which no socket or thread needs here), with the real order
// gate. Every answer must be well-formed HTTP with a JSON body where it says so, no handler may
// fail (500), and an event the write path acknowledged must apply.
#include <boost/json.hpp>

#include <atomic>
#include <deque>
#include <map>

#include "api/ingest_api.h"
#include "api/notifications_api.h"
#include "api/statistics_api.h"
#include "api/updates.h"
#include "auth/service.h"
#include "bayeux/server.h"
#include "common/metrics.h"
#include "fuzz/fuzz_support.h"
#include "net/http_server.h"
#include "net/router.h"
#include "server/auth_holder.h"
#include "server/order_gate.h"
#include "server/routes.h"
#include "server/service_state.h"
#include "storage/journal.h"

namespace tally::fuzz {
namespace {

namespace json = boost::json;

// The engine thread and the journal, inline: work runs at once (queued behind the work that
// runs now, as on the engine thread), batches pass the order gate, keys are remembered.
class InlineEngine final : public api::EngineAccess, public api::EventSink {
 public:
  explicit InlineEngine(const Clock& clock) : clock_(clock) { SetUpEngine(engine_, kT0); }
  void SetApi(api::StatisticsApi* api) { api_ = api; }

  void Post(std::function<void(stats::Engine&)> work) override {
    Run([this, work = std::move(work)] { work(engine_); });
  }
  void Durable(std::string tenant, std::string command,
               std::function<void(Result<stats::Engine*>)> then) override {
    (void)tenant;
    commands_.push_back(std::move(command));
    Run([this, then = std::move(then)] { then(&engine_); });
  }
  [[nodiscard]] Result<void> Available(const std::string& tenant) const override {
    if (!tenant.empty() && !service_.TenantUp(tenant)) {
      return Fail(Errc::kUnavailable, "the event source of tenant '" + tenant + "' is down");
    }
    return {};
  }

  void Submit(api::IngestBatch batch, Done done) override {
    if (!batch.key.empty()) {
      auto it = keys_.find(batch.key);
      if (it != keys_.end()) {
        if (it->second.second != batch.body_hash) {
          return done(Error{Errc::kAlreadyExists, "this key was used for a different batch"});
        }
        return done(api::IngestResult{it->second.first.count, it->second.first.first_seq,
                                      it->second.first.last_seq, true});
      }
    }
    if (auto refused = gate_.Check(batch.events)) {
      return done(Error{Errc::kOutOfOrder,
                        api::NameEvent(batch.naming, refused->index) + ": " + refused->message});
    }
    gate_.Accept(batch.events);
    gate_.Stored(batch.events);
    storage::BatchRange range;
    range.first_seq = seq_ + 1;
    range.last_seq = seq_ + batch.events.size();
    range.count = batch.events.size();
    seq_ = range.last_seq;
    if (!batch.key.empty()) keys_[batch.key] = {range, batch.body_hash};
    done(api::IngestResult{range.count, range.first_seq, range.last_seq, false});
    Run([this, events = std::move(batch.events)] {
      for (const auto& e : events) {
        auto applied = engine_.Apply(e, out_);
        // The gate decided before the acknowledgement: what it let through must apply.
        TALLY_FUZZ_CHECK(applied.has_value(), applied ? "" : applied.error().message);
        OnLink(e);
      }
    });
  }

  [[nodiscard]] const std::vector<std::string>& Commands() const { return commands_; }

 private:
  void Run(std::function<void()> work) {
    queue_.push_back(std::move(work));
    if (running_) return;
    running_ = true;
    while (!queue_.empty()) {
      auto next = std::move(queue_.front());
      queue_.pop_front();
      (void)engine_.AdvanceTo(clock_.NowMs(), out_);  // the wall clock, before each round
      next();
      if (api_ != nullptr && !out_.empty()) api_->Deliver(out_);
      out_.clear();
    }
    running_ = false;
  }

  // What the server's link observer does (server.cc).
  void OnLink(const stats::Event& e) {
    if (e.type != stats::EventType::kLinkConnected &&
        e.type != stats::EventType::kLinkDisconnected) {
      return;
    }
    if (!service_.OnLink(e) || api_ == nullptr) return;
    const bool up = service_.TenantUp(e.tenant);
    if (!out_.empty()) api_->Deliver(out_);
    out_.clear();
    if (!up) api_->DropTenant(engine_, e.tenant);
    api_->ServiceState(e.tenant, up);
  }

  const Clock& clock_;
  stats::Engine engine_;
  api::StatisticsApi* api_ = nullptr;
  std::vector<stats::Notification> out_;
  std::deque<std::function<void()>> queue_;
  bool running_ = false;
  server::OrderGate gate_;
  server::ServiceState service_;
  std::uint64_t seq_ = 0;
  std::map<std::string, std::pair<storage::BatchRange, std::string>> keys_;
  std::vector<std::string> commands_;
};

api::Limits LimitsOf(const config::Config& c) {
  return api::Limits{c.limits.statistics_per_request, c.limits.statistics_per_subscription,
                     c.limits.subscriptions_per_principal, c.limits.requests_per_second};
}

bayeux::Options BayeuxOptions(const config::Config& c) {
  bayeux::Options o;
  o.timeout_ms = c.notifications.timeout_ms;
  o.max_interval_ms = c.notifications.max_interval_ms;
  o.max_queue = c.notifications.max_queue;
  o.channels = {std::string(api::kUpdatesChannel), std::string(api::kServiceChannel)};
  o.required_role = "statistics:read";
  o.session_cookie = std::string(api::kSessionCookie);
  o.max_sessions_per_principal = c.notifications.max_sessions_per_principal;
  return o;
}

// One server, wired as server.cc wires it (without sockets and threads).
struct Server {
  const config::Config& config = GetWorld().config;
  ManualClock clock{kT0};
  server::AuthHolder auth{std::make_shared<auth::AuthService>(config.auth, clock)};
  InlineEngine engine{clock};
  bayeux::Server bayeux{BayeuxOptions(config), clock};
  api::Authenticator authenticate = [this](const HttpRequest& r) { return auth.Authenticate(r); };
  api::StatisticsApi statistics{engine, authenticate, LimitsOf(config), clock, &bayeux};
  api::NotificationsApi notifications{bayeux, authenticate};
  api::IngestApi ingest{
      engine,
      authenticate,
      api::IngestLimits{config.ingest.events_per_batch, config.ingest.max_future_ms},
      {"acme", "beta"},
      clock};
  MetricsRegistry metrics;
  std::atomic<bool> ready{true};
  net::Router router;
  net::HttpServerOptions options;

  Server() {
    engine.SetApi(&statistics);
    bayeux.SetTokenVerifier([this](std::string_view bearer) {
      HttpRequest r;
      r.headers.emplace_back("authorization", std::string(bearer));
      return auth.Authenticate(r);
    });
    bayeux.SetSessionClosed([this](const bayeux::SessionInfo& s) { statistics.SessionClosed(s); });
    bayeux.SetSessionResumed(
        [this](const bayeux::SessionInfo& s) { statistics.SessionResumed(s); });
    server::AddRoutes(router, server::RouteTargets{config, auth, statistics, ingest, notifications,
                                                   metrics, ready, [] { return 0; }});
    options.max_body_bytes = 64 * 1024;
    options.max_header_bytes = 8 * 1024;
    options.cors_origins = config.server.cors_allowed_origins;
  }
};

// "HTTP/1.1 200 OK\r\n...\r\n\r\nbody": the status must be one the server gives, the body what
// its Content-Type says.
void CheckAnswer(const std::string& answer) {
  TALLY_FUZZ_CHECK(answer.rfind("HTTP/1.", 0) == 0 && answer.size() > 12, answer);
  const int status = static_cast<int>(Number(std::string_view(answer).substr(9, 3), 0));
  TALLY_FUZZ_CHECK(status >= 100 && status < 600 && status != 500, answer.substr(0, 2000));
  const size_t end = answer.find("\r\n\r\n");
  TALLY_FUZZ_CHECK(end != std::string::npos, "no end of the head");
  const std::string head = answer.substr(0, end);
  const std::string body = answer.substr(end + 4);
  if (head.find("Content-Type: application/json") != std::string::npos && !body.empty()) {
    boost::system::error_code ec;
    (void)json::parse(body, ec);
    TALLY_FUZZ_CHECK(!ec, body.substr(0, 2000));
  }
}

}  // namespace
}  // namespace tally::fuzz

TALLY_FUZZ_TARGET(http) {
  using namespace tally;
  fuzz::Server server;
  int waits = 0;
  const auto answers = net::ServeBytesForTest(server.options, server.router,
                                              fuzz::WithTokens(input), [&server, &waits] {
                                                // A held connect: time passes, the sweeper runs.
                                                server.clock.AdvanceMs(1000);
                                                server.bayeux.Sweep();
                                                return ++waits < 10;
                                              });
  for (const auto& a : answers) fuzz::CheckAnswer(a);
  // Every journaled command reads back on recovery (StatisticsApi::Replay), in order.
  if (!server.engine.Commands().empty()) {
    stats::Engine replayed;
    fuzz::SetUpEngine(replayed, fuzz::kT0);
    api::StatisticsApi registry(server.engine, server.authenticate, fuzz::LimitsOf(server.config),
                                server.clock);
    for (const auto& command : server.engine.Commands()) {
      TALLY_FUZZ_CHECK(registry.Replay(command, replayed), command);
    }
  }
  return 0;
}
