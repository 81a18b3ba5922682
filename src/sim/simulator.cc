#include "sim/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <queue>
#include <random>

namespace tally::sim {

std::string AgentId(int i) { return fmt::format("agent{:03}", i + 1); }
std::string PlaceId(int i) { return fmt::format("place{:03}", i + 1); }
std::string AgentDn(int i) { return std::to_string(7001 + i); }
std::string QueueDn(int q) { return std::to_string(8001 + q); }

std::string TenantToml(const SimConfig& c) {
  std::string out = fmt::format("[[tenant]]\nname = \"{}\"\nagents = [", c.tenant);
  for (int i = 0; i < c.agents; ++i) out += fmt::format("{}\"{}\"", i ? ", " : "", AgentId(i));
  out += "]\nqueues = [";
  for (int q = 0; q < c.queues; ++q) out += fmt::format("{}\"{}\"", q ? ", " : "", QueueDn(q));
  out += "]\n";
  for (int i = 0; i < c.agents; ++i) {
    out += fmt::format("[[tenant.place]]\nid = \"{}\"\ndns = [\"{}\"]\n", PlaceId(i), AgentDn(i));
  }
  for (size_t g = 0; g < c.groups.size(); ++g) {
    out += fmt::format("[[tenant.group]]\ntype = \"GroupAgents\"\nname = \"{}\"\nmembers = [",
                       c.groups[g]);
    bool first = true;
    for (int i = static_cast<int>(g); i < c.agents; i += static_cast<int>(c.groups.size())) {
      out += fmt::format("{}\"{}\"", first ? "" : ", ", AgentId(i));
      first = false;
    }
    out += "]\n";
  }
  out += "[[tenant.group]]\ntype = \"GroupQueues\"\nname = \"AllQueues\"\nmembers = [";
  for (int q = 0; q < c.queues; ++q) out += fmt::format("{}\"{}\"", q ? ", " : "", QueueDn(q));
  out += "]\n";
  return out;
}

namespace {

constexpr TimeMs kSecond = 1000;
constexpr TimeMs kMinute = 60 * kSecond;
const char* const kBreakReasons[] = {"Break", "Lunch", "Training", "Meeting"};

enum class AgentState { kLoggedOut, kReady, kRinging, kTalking, kAcw, kNotReady };

struct Agent {
  int index = 0;
  std::vector<int> skills;
  AgentState state = AgentState::kLoggedOut;
  int call = -1;
  TimeMs idle_since = 0;
  TimeMs shift_end = 0;
  int epoch = 0;  // bumped at logout: callbacks of an earlier shift find a newer epoch
};

struct Call {
  std::string conn;
  int queue = 0;
  int agent = -1;
  bool waiting = false;
  bool done = false;
};

struct Item {
  TimeMs at;
  std::uint64_t seq;
  std::function<void()> run;
  bool operator>(const Item& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

}  // namespace

struct Simulator::Impl {
  Impl(SimConfig c, TimeMs s) : config(std::move(c)), start(s), now(s), rng(config.seed) {}

  SimConfig config;
  TimeMs start;
  TimeMs now;  // simulated time
  std::mt19937_64 rng;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> items;
  std::uint64_t next_seq = 0;
  std::vector<Agent> agents;
  std::vector<Call> calls;
  std::vector<std::deque<int>> waiting;  // per queue: call indexes, oldest first
  std::vector<stats::Event>* out = nullptr;
  SimStats stats;

  TimeMs Real(TimeMs sim) const {
    return start + static_cast<TimeMs>(static_cast<double>(sim - start) / config.speed);
  }

  void At(TimeMs at, std::function<void()> run) {
    items.push(Item{std::max(at, now), next_seq++, std::move(run)});
  }

  double Uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); }
  bool Chance(double p) { return Uniform(0, 1) < p; }
  TimeMs Exp(double mean_s) {
    return static_cast<TimeMs>(std::exponential_distribution<double>(1.0 / mean_s)(rng) * 1000);
  }
  TimeMs LogNormal(double mean_s) {
    // sigma 0.6: a realistic right tail; mu chosen so that the mean is mean_s.
    const double sigma = 0.6;
    const double mu = std::log(mean_s) - sigma * sigma / 2;
    return static_cast<TimeMs>(std::lognormal_distribution<double>(mu, sigma)(rng) * 1000);
  }

  stats::Event& Emit(stats::EventType type, const std::string& dn) {
    stats::Event e;
    e.type = type;
    e.time = Real(now);
    e.tenant = config.tenant;
    e.this_dn = dn;
    out->push_back(std::move(e));
    ++stats.events;
    return out->back();
  }

  // Arrivals per ms of simulated time for one queue, shaped by the (UTC) time of day.
  double Rate() const {
    double factor = 1.0;
    if (config.shape_by_time_of_day) {
      const double hour = static_cast<double>((now / kMinute) % (24 * 60)) / 60.0;
      auto bell = [&](double peak, double width) {
        return std::exp(-(hour - peak) * (hour - peak) / (2 * width * width));
      };
      factor = 0.3 + 0.7 * std::max(bell(10.5, 1.8), bell(15.0, 2.0));
    }
    return config.calls_per_minute * factor / static_cast<double>(kMinute);
  }

  void Setup() {
    waiting.resize(static_cast<size_t>(config.queues));
    for (int i = 0; i < config.agents; ++i) {
      Agent a;
      a.index = i;
      a.skills.push_back(i % config.queues);
      const int second = (i / config.queues) % config.queues;
      if (i % 3 == 0 && second != a.skills[0]) a.skills.push_back(second);
      agents.push_back(a);
      At(start + static_cast<TimeMs>(Uniform(0, 2 * kMinute)), [this, i] { Login(i); });
    }
    for (int q = 0; q < config.queues; ++q) ScheduleArrival(q);
  }

  void ScheduleArrival(int q) {
    const double rate = Rate();
    const TimeMs gap = static_cast<TimeMs>(std::exponential_distribution<double>(rate)(rng));
    At(now + std::max<TimeMs>(gap, 1), [this, q] {
      Arrive(q);
      ScheduleArrival(q);
    });
  }

  void Login(int i) {
    Agent& a = agents[static_cast<size_t>(i)];
    if (a.state != AgentState::kLoggedOut) return;
    auto& e = Emit(stats::EventType::kAgentLogin, AgentDn(i));
    e.agent_id = AgentId(i);
    e.place_id = PlaceId(i);
    ++stats.logged_in;
    a.state = AgentState::kNotReady;  // logged in; Ready() below makes it ready
    const double hours = config.shift_hours + Uniform(-0.5, 0.5);
    a.shift_end = now + static_cast<TimeMs>(hours * 3600 * 1000);
    At(a.shift_end, [this, i, epoch = a.epoch] {
      if (agents[static_cast<size_t>(i)].epoch == epoch) ShiftEnd(i);
    });
    Ready(i);
  }

  void ShiftEnd(int i) {
    Agent& a = agents[static_cast<size_t>(i)];
    if (a.state == AgentState::kReady || a.state == AgentState::kNotReady) Logout(i);
    // Busy agents log out when their call and its after-call work are over (see Ready()).
  }

  void Logout(int i) {
    Agent& a = agents[static_cast<size_t>(i)];
    Emit(stats::EventType::kAgentLogout, AgentDn(i)).agent_id = AgentId(i);
    a.state = AgentState::kLoggedOut;
    ++a.epoch;
    --stats.logged_in;
    At(now + 15 * kMinute + static_cast<TimeMs>(Uniform(0, 5 * kMinute)), [this, i] { Login(i); });
  }

  void Ready(int i) {
    Agent& a = agents[static_cast<size_t>(i)];
    if (a.state == AgentState::kLoggedOut) return;  // the shift ended during a break
    if (a.shift_end != 0 && now >= a.shift_end && a.state != AgentState::kLoggedOut &&
        a.state != AgentState::kReady) {
      a.state = AgentState::kReady;
      Logout(i);
      return;
    }
    Emit(stats::EventType::kAgentReady, AgentDn(i));
    a.state = AgentState::kReady;
    a.idle_since = now;
    DispatchAgent(i);
  }

  void Arrive(int q) {
    const int c = static_cast<int>(calls.size());
    Call call;
    // Unique per run (seed and start second): a restarted simulator never reuses the connId of
    // a call an earlier run left open (after a crash, say).
    call.conn = fmt::format("s{}-{}-{}", config.seed, start / 1000, c + 1);
    call.queue = q;
    call.waiting = true;
    calls.push_back(call);
    ++stats.calls;
    ++stats.waiting;
    auto& e = Emit(stats::EventType::kQueued, QueueDn(q));
    e.conn_id = call.conn;
    e.call_type = stats::CallType::kInbound;
    waiting[static_cast<size_t>(q)].push_back(c);
    At(now + Exp(config.patience_mean_s), [this, c] { Abandon(c); });
    DispatchQueue(q);
  }

  void Abandon(int c) {
    Call& call = calls[static_cast<size_t>(c)];
    if (!call.waiting) return;
    call.waiting = false;
    call.done = true;
    --stats.waiting;
    ++stats.abandoned;
    auto& w = waiting[static_cast<size_t>(call.queue)];
    w.erase(std::find(w.begin(), w.end(), c));
    Emit(stats::EventType::kAbandoned, QueueDn(call.queue)).conn_id = call.conn;
  }

  // The longest-idle ready agent with the skill for queue q.
  void DispatchQueue(int q) {
    auto& w = waiting[static_cast<size_t>(q)];
    while (!w.empty()) {
      int best = -1;
      for (const Agent& a : agents) {
        if (a.state != AgentState::kReady) continue;
        if (std::find(a.skills.begin(), a.skills.end(), q) == a.skills.end()) continue;
        if (best < 0 || a.idle_since < agents[static_cast<size_t>(best)].idle_since) best = a.index;
      }
      if (best < 0) return;
      Connect(w.front(), best);
    }
  }

  // The oldest waiting call among the queues the agent serves.
  void DispatchAgent(int i) {
    const Agent& a = agents[static_cast<size_t>(i)];
    int best = -1;
    for (int q : a.skills) {
      const auto& w = waiting[static_cast<size_t>(q)];
      if (!w.empty() && (best < 0 || w.front() < best)) best = w.front();
    }
    if (best >= 0) Connect(best, i);
  }

  void Connect(int c, int i) {
    Call& call = calls[static_cast<size_t>(c)];
    Agent& a = agents[static_cast<size_t>(i)];
    auto& w = waiting[static_cast<size_t>(call.queue)];
    w.erase(std::find(w.begin(), w.end(), c));
    call.waiting = false;
    call.agent = i;
    --stats.waiting;
    a.state = AgentState::kRinging;
    a.call = c;
    auto& d = Emit(stats::EventType::kDiverted, QueueDn(call.queue));
    d.conn_id = call.conn;
    d.other_dn = AgentDn(i);
    auto& r = Emit(stats::EventType::kRinging, AgentDn(i));
    r.conn_id = call.conn;
    r.call_type = stats::CallType::kInbound;
    r.this_queue = QueueDn(call.queue);
    r.other_dn = QueueDn(call.queue);
    At(now + static_cast<TimeMs>(Uniform(2, 7) * kSecond), [this, c, i] { Answer(c, i); });
  }

  void Answer(int c, int i) {
    Call& call = calls[static_cast<size_t>(c)];
    agents[static_cast<size_t>(i)].state = AgentState::kTalking;
    ++stats.answered;
    auto& e = Emit(stats::EventType::kEstablished, AgentDn(i));
    e.conn_id = call.conn;
    e.call_type = stats::CallType::kInbound;
    e.this_queue = QueueDn(call.queue);
    const TimeMs talk = std::max<TimeMs>(LogNormal(config.talk_mean_s), 10 * kSecond);
    TimeMs end = now + talk;
    if (Chance(config.consult_probability)) {
      const TimeMs at = now + talk / 3;
      const TimeMs consult = static_cast<TimeMs>(Uniform(20, 60) * kSecond);
      At(at, [this, c, i, consult] { Consult(c, i, consult); });
      end += consult + 5 * kSecond;
    } else if (Chance(config.hold_probability)) {
      const TimeMs at = now + talk / 2;
      const TimeMs hold = Exp(30) + 5 * kSecond;
      At(at, [this, c, i, hold] {
        Emit(stats::EventType::kHeld, AgentDn(i)).conn_id = calls[static_cast<size_t>(c)].conn;
        At(now + hold, [this, c, i] {
          Emit(stats::EventType::kRetrieved, AgentDn(i)).conn_id =
              calls[static_cast<size_t>(c)].conn;
        });
      });
      end += hold;
    }
    At(end, [this, c, i] { Release(c, i); });
  }

  void Consult(int c, int i, TimeMs duration) {
    const std::string& conn = calls[static_cast<size_t>(c)].conn;
    const std::string consult = conn + "-consult";
    const std::string target = AgentDn((i + 1) % config.agents);
    Emit(stats::EventType::kHeld, AgentDn(i)).conn_id = conn;
    auto& d = Emit(stats::EventType::kDialing, AgentDn(i));
    d.conn_id = consult;
    d.call_type = stats::CallType::kConsult;
    d.other_dn = target;
    At(now + 3 * kSecond, [this, i, consult] {
      auto& e = Emit(stats::EventType::kEstablished, AgentDn(i));
      e.conn_id = consult;
      e.call_type = stats::CallType::kConsult;
    });
    At(now + duration, [this, i, conn, consult] {
      auto& r = Emit(stats::EventType::kReleased, AgentDn(i));
      r.conn_id = consult;
      r.call_type = stats::CallType::kConsult;
      Emit(stats::EventType::kRetrieved, AgentDn(i)).conn_id = conn;
    });
  }

  void Release(int c, int i) {
    Call& call = calls[static_cast<size_t>(c)];
    call.done = true;
    Agent& a = agents[static_cast<size_t>(i)];
    auto& e = Emit(stats::EventType::kReleased, AgentDn(i));
    e.conn_id = call.conn;
    e.call_type = stats::CallType::kInbound;
    if (Chance(config.transfer_probability)) e.call_state = "Transferred";
    a.call = -1;
    a.state = AgentState::kAcw;
    Emit(stats::EventType::kAgentNotReady, AgentDn(i)).work_mode = "AfterCallWork";
    At(now + Exp(config.acw_mean_s) + 3 * kSecond, [this, i] {
      if (Chance(config.break_probability)) {
        Agent& ag = agents[static_cast<size_t>(i)];
        ag.state = AgentState::kNotReady;
        auto& nr = Emit(stats::EventType::kAgentNotReady, AgentDn(i));
        nr.reasons.emplace_back("ReasonCode",
                                kBreakReasons[std::uniform_int_distribution<int>(0, 3)(rng)]);
        At(now + static_cast<TimeMs>(Uniform(5, 15) * kMinute), [this, i, epoch = ag.epoch] {
          if (agents[static_cast<size_t>(i)].epoch == epoch) Ready(i);
        });
      } else {
        Ready(i);
      }
    });
  }

  void Run(TimeMs sim_until) {
    while (!items.empty() && items.top().at <= sim_until) {
      Item item = items.top();
      items.pop();
      now = item.at;
      item.run();
    }
    now = std::max(now, sim_until);
  }
};

Simulator::Simulator(SimConfig config, TimeMs start)
    : impl_(std::make_unique<Impl>(std::move(config), start)) {
  if (impl_->config.speed <= 0) impl_->config.speed = 1;
  impl_->config.agents = std::max(1, impl_->config.agents);
  impl_->config.queues = std::max(1, impl_->config.queues);
  if (impl_->config.groups.empty()) impl_->config.groups.push_back("Agents");
  impl_->Setup();
}

Simulator::~Simulator() = default;

void Simulator::RunUntil(TimeMs until, std::vector<stats::Event>& out) {
  auto& I = *impl_;
  I.out = &out;
  const double sim = static_cast<double>(until - I.start) * I.config.speed;
  I.Run(I.start + static_cast<TimeMs>(sim));
  I.out = nullptr;
}

void Simulator::Finish(TimeMs at, std::vector<stats::Event>& out) {
  auto& I = *impl_;
  RunUntil(at, out);
  I.out = &out;
  for (size_t c = 0; c < I.calls.size(); ++c) {
    Call& call = I.calls[c];
    if (call.done) continue;
    if (call.waiting) {
      call.waiting = false;
      I.Emit(stats::EventType::kAbandoned, QueueDn(call.queue)).conn_id = call.conn;
    } else if (call.agent >= 0) {
      I.Emit(stats::EventType::kReleased, AgentDn(call.agent)).conn_id = call.conn;
    }
    call.done = true;
  }
  for (auto& w : I.waiting) w.clear();
  for (Agent& a : I.agents) {
    if (a.state == AgentState::kLoggedOut) continue;
    I.Emit(stats::EventType::kAgentLogout, AgentDn(a.index)).agent_id = AgentId(a.index);
    a.state = AgentState::kLoggedOut;
  }
  I.stats.logged_in = 0;
  I.stats.waiting = 0;
  while (!I.items.empty()) I.items.pop();
  I.out = nullptr;
}

SimStats Simulator::Stats() const { return impl_->stats; }
const SimConfig& Simulator::config() const { return impl_->config; }

}  // namespace tally::sim
