// The in-process simulator of the demo (docs/simulator.md) on its own thread: every 100 ms, the
// simulated events due are submitted through the Pipeline like ingested ones (journal, then
// engine). Stop() ends the day: calls released, agents logged out, and waits until that is
// journaled.
// Threading: Start/Stop from the owner.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "server/pipeline.h"
#include "sim/simulator.h"

namespace tally::server {

class SimulatorThread final {
 public:
  SimulatorThread(sim::SimConfig config, Pipeline& pipeline, const Clock& clock)
      : config_(std::move(config)), pipeline_(pipeline), clock_(clock) {}
  ~SimulatorThread() { Stop(); }
  SimulatorThread(const SimulatorThread&) = delete;
  SimulatorThread& operator=(const SimulatorThread&) = delete;

  void Start();
  void Stop();

 private:
  void Submit(std::vector<stats::Event>& events, bool wait);
  void Run();

  sim::SimConfig config_;
  Pipeline& pipeline_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// The simulator of `config.simulator` (null when disabled); an error when its tenant lacks the
// agents or queues it simulates.
[[nodiscard]] Result<std::unique_ptr<SimulatorThread>> MakeSimulator(const config::Config& config,
                                                                     Pipeline& pipeline,
                                                                     const Clock& clock);

}  // namespace tally::server
