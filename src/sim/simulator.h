// Simulator: a contact center that produces the events of DESIGN.md §3 (docs/simulator.md).
// Agents in groups with skills (the queues they serve), queues with Poisson arrivals shaped by
// the time of day, ringing, talk, hold, consult calls, transfers, after-call work, not-ready
// breaks with reason codes, abandons by caller patience, and logins/logouts at shift
// boundaries. A discrete-event simulation: deterministic for a seed. `speed` compresses time:
// at 10, a 3-minute call lasts 18 real seconds (events carry real, compressed times).
// Threading: single-threaded; one owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "stats/event.h"

namespace tally::sim {

struct SimConfig {
  std::string tenant = "acme";
  int agents = 50;  // agent001…, place001…, DN 7001…
  int queues = 3;   // queues 8001…
  std::vector<std::string> groups = {"Sales", "Support", "Billing", "Retention"};
  double calls_per_minute = 6.0;  // per queue, at the daily peak, in simulated time
  double speed = 10.0;            // simulated seconds per real second
  std::uint64_t seed = 1;
  double talk_mean_s = 180;     // lognormal
  double acw_mean_s = 30;       // exponential
  double patience_mean_s = 90;  // exponential: waiting longer than this abandons
  double hold_probability = 0.2;
  double consult_probability = 0.08;
  double transfer_probability = 0.05;
  double break_probability = 0.06;  // after a call, a not-ready break (5–15 min)
  double shift_hours = 8;           // then the agent logs out for a while (15 min)
  bool shape_by_time_of_day = true;
};

// The TOML [[tenant]] section that declares the simulated objects (for a server config).
[[nodiscard]] std::string TenantToml(const SimConfig& config);
[[nodiscard]] std::string AgentId(int i);  // "agent001"
[[nodiscard]] std::string PlaceId(int i);  // "place001"
[[nodiscard]] std::string AgentDn(int i);  // "7001"
[[nodiscard]] std::string QueueDn(int q);  // "8001"

struct SimStats {
  std::uint64_t events = 0;
  std::uint64_t calls = 0;
  std::uint64_t answered = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t waiting = 0;
  int logged_in = 0;
};

class Simulator {
 public:
  // The simulation starts at real time `start` (simulated time starts there too).
  Simulator(SimConfig config, TimeMs start);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Runs everything due until real time `until`, appending events in time order.
  void RunUntil(TimeMs until, std::vector<stats::Event>& out);
  // Ends the day at real time `at`: releases or abandons every call, logs every agent out.
  void Finish(TimeMs at, std::vector<stats::Event>& out);

  [[nodiscard]] SimStats Stats() const;
  [[nodiscard]] const SimConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::sim
