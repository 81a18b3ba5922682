#include "server/simulator_thread.h"

#include <algorithm>
#include <future>

#include "common/log.h"

namespace tally::server {

void SimulatorThread::Start() {
  thread_ = std::thread([this] { Run(); });
}

void SimulatorThread::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SimulatorThread::Submit(std::vector<stats::Event>& events, bool wait) {
  if (events.empty()) return;
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  pipeline_.Submit(api::IngestBatch{std::move(events), "", api::EventNaming::kOrdinal, ""},
                   [done](Result<api::IngestResult> r) {
                     if (!r) TALLY_LOG_WARN("simulator: events refused: {}", r.error().message);
                     done->set_value();
                   });
  events.clear();
  if (wait) finished.wait();
}

void SimulatorThread::Run() {
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

Result<std::unique_ptr<SimulatorThread>> MakeSimulator(const config::Config& config,
                                                       Pipeline& pipeline, const Clock& clock) {
  if (!config.simulator.enabled) return std::unique_ptr<SimulatorThread>();
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
    return Fail(Errc::kInvalidArgument,
                fmt::format("simulator: tenant '{}' must declare agents {}..{} and queues {}..{} "
                            "(`tally simulate --print-config` prints them)",
                            sc.tenant, sim::AgentId(0), sim::AgentId(sc.agents - 1),
                            sim::QueueDn(0), sim::QueueDn(sc.queues - 1)));
  }
  return std::make_unique<SimulatorThread>(sc, pipeline, clock);
}

}  // namespace tally::server
