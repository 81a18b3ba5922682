#include "server/exact_open.h"

#include <algorithm>
#include <chrono>
#include <future>

#include "common/log.h"
#include "server/reload.h"

namespace tally::server {

using SteadyTime = std::chrono::steady_clock::time_point;

struct ExactOpener::Job {
  std::string tenant;
  std::uint64_t open_position = 0;  // the live statistics were opened here…
  TimeMs open_time = 0;             // …at this time of the tenant
  std::uint64_t tap_position = 0;   // the tap holds what the live engine applied after it
  struct Target {
    std::uint64_t handle = 0;  // the live statistic
    stats::KeyValues fields;
    stats::ObjectRef object;
    std::uint64_t open_position = 0;  // where the live statistic was opened…
    TimeMs open_time = 0;             // …at this time of the tenant
    std::function<void(stats::Engine&, bool, const std::string&)> done;
    bool answered = false;    // engine thread
    std::uint64_t exact = 0;  // the scratch engine's, open since the log's start
    std::uint64_t twin = 0;   // the scratch engine's, opened where the live one was
  };
  std::vector<Target> targets;  // fixed once sealed
  SteadyTime deadline;
  std::atomic<bool> late_posted{false};

  // The tap.
  struct Entry {
    TimeMs now = 0;  // the live engine's time of the tenant before the events
    std::shared_ptr<const std::vector<stats::Event>> events;
  };
  std::mutex mu;
  std::deque<Entry> tap;
  size_t tap_events = 0;
  std::string broken;  // why the tap cannot be followed (a reload, too much)

  // The worker's.
  std::unique_ptr<stats::Engine> scratch;
  std::string failed;  // why the log could not be replayed
};

namespace {

// Applies tap entries of `tenant` to the scratch engine as the live engine applied them.
size_t ApplyEntries(stats::Engine& scratch, const std::string& tenant,
                    std::deque<ExactOpener::Job::Entry>& entries,
                    std::vector<stats::Notification>& out) {
  size_t n = 0;
  for (const auto& entry : entries) {
    (void)scratch.AdvanceTo(entry.now, out);
    for (const stats::Event& e : *entry.events) {
      if (e.tenant != tenant) continue;
      try {
        (void)scratch.Apply(e, out);  // what the live engine refused, it refuses too
      } catch (const std::exception&) {
      }
      ++n;
    }
    out.clear();
  }
  out.clear();
  entries.clear();
  return n;
}

}  // namespace

ExactOpener::ExactOpener(LogSource source, EngineThread& engine, Pipeline& pipeline,
                         ExactOpenOptions options)
    : source_(std::move(source)), engine_(engine), pipeline_(pipeline), options_(options) {}

ExactOpener::~ExactOpener() { Stop(); }

void ExactOpener::Start(const std::string& tenant, std::uint64_t handle,
                        const stats::KeyValues& definition, const stats::ObjectRef& object,
                        std::function<void(stats::Engine&, bool, const std::string&)> done) {
  stats::Engine& live = engine_.EngineForSetup();  // this is the engine thread
  const std::uint64_t position = pipeline_.AppliedPosition(tenant);
  std::shared_ptr<Job>& forming = forming_[tenant];
  if (!forming || forming->open_position != position) {
    forming = std::make_shared<Job>();
    forming->tenant = tenant;
    forming->open_position = position;
    forming->open_time = live.Now(tenant);
    forming->deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.wait_ms);
    {
      std::lock_guard lock(mu_);
      ++stats_.running;
    }
    const bool deferred = !begun_flag_.load();
    if (deferred) {
      deferred_.push_back(forming);
    } else {
      Tap(forming, live);
    }
    engine_.Post([this, job = forming, deferred](stats::Engine&) {
      auto it = forming_.find(job->tenant);
      if (it != forming_.end() && it->second == job) forming_.erase(it);
      if (deferred) return;  // Begin() queues the deferred ones
      std::lock_guard lock(mu_);
      queue_.push_back(job);
      cv_.notify_all();
    });
  }
  forming->targets.push_back(
      Job::Target{handle, definition, object, position, forming->open_time, std::move(done)});
}

void ExactOpener::Tap(const std::shared_ptr<Job>& job, stats::Engine& live) {
  (void)live;
  job->tap_position = pipeline_.AppliedPosition(job->tenant);
  tapping_.push_back(job);
}

void ExactOpener::Applying(stats::Engine& engine,
                           const std::shared_ptr<const std::vector<stats::Event>>& events) {
  for (const auto& job : tapping_) {
    size_t mine = 0;
    for (const stats::Event& e : *events) mine += e.tenant == job->tenant ? 1 : 0;
    if (mine == 0) continue;
    std::lock_guard lock(job->mu);
    if (!job->broken.empty()) continue;
    job->tap.push_back(Job::Entry{engine.Now(job->tenant), events});
    job->tap_events += mine;
    if (job->tap_events > options_.max_tap_events) {
      job->broken = "more than " + std::to_string(options_.max_tap_events) +
                    " events arrived while the value was computed";
      job->tap.clear();
    }
  }
}

void ExactOpener::Reconfigured(const std::string& tenant) {
  for (const auto& job : tapping_) {
    if (job->tenant != tenant) continue;
    std::lock_guard lock(job->mu);
    job->broken = "the tenant's configuration was reloaded while the value was computed";
    job->tap.clear();
  }
}

void ExactOpener::Begin() {
  {
    std::lock_guard lock(mu_);
    if (begun_ || stopping_) return;
    begun_ = true;
    for (int i = 0; i < std::max(1, options_.parallel); ++i) {
      workers_.emplace_back([this] { Run(); });
    }
    // Answers that wait past the bound get the value so far.
    workers_.emplace_back([this] {
      std::unique_lock timer_lock(mu_);
      while (!stopping_) {
        cv_.wait_for(timer_lock, std::chrono::milliseconds(100));
        const SteadyTime now = std::chrono::steady_clock::now();
        auto late = [&](const std::shared_ptr<Job>& job) {
          if (now < job->deadline || job->late_posted.exchange(true)) return;
          engine_.Post([this, job](stats::Engine& live) {
            for (auto& t : job->targets) {
              if (t.answered) continue;
              t.answered = true;
              {
                std::lock_guard l(mu_);
                ++stats_.late;
              }
              if (t.done) {
                t.done(live, false,
                       "still computing the value since the window's start: this is the value "
                       "since the open; the exact one follows as an update");
              }
            }
          });
        };
        for (const auto& job : queue_) late(job);
        for (const auto& job : live_) late(job);
      }
    });
  }
  begun_flag_.store(true);
  engine_.Post([this](stats::Engine& live) {
    // The opens recovery replayed: one job per tenant, each statistic's twin at its own open.
    std::map<std::string, std::shared_ptr<Job>> merged;
    size_t dropped = 0;
    for (const auto& job : deferred_) {
      std::shared_ptr<Job>& into = merged[job->tenant];
      if (!into) {
        into = job;
        continue;
      }
      for (auto& t : job->targets) into->targets.push_back(std::move(t));
      ++dropped;
    }
    deferred_.clear();
    std::lock_guard lock(mu_);
    stats_.running -= dropped;
    for (auto& [tenant, job] : merged) {
      job->deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.wait_ms);
      Tap(job, live);
      queue_.push_back(job);
    }
    cv_.notify_all();
    idle_cv_.notify_all();
  });
}

void ExactOpener::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_.store(true);
  cv_.notify_all();
  idle_cv_.notify_all();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
  // What is left holds answers (and through them the HTTP transport): let go of them on the
  // engine thread, while it and the transport still exist.
  auto cleared = std::make_shared<std::promise<void>>();
  auto waited = cleared->get_future();
  engine_.Post([this, cleared](stats::Engine&) {
    tapping_.clear();
    forming_.clear();
    deferred_.clear();
    {
      std::lock_guard lock(mu_);
      queue_.clear();
      live_.clear();
    }
    cleared->set_value();
  });
  (void)waited.wait_for(std::chrono::seconds(2));
}

ExactOpenStats ExactOpener::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void ExactOpener::Run() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
      live_.push_back(job);
    }
    Work(job);
    std::lock_guard lock(mu_);
    live_.erase(std::remove(live_.begin(), live_.end(), job), live_.end());
  }
}

void ExactOpener::Work(const std::shared_ptr<Job>& job) {
  std::vector<stats::Notification> out;
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t units = 0;
  auto replay = [&]() -> Result<void> {
    const auto setup = std::find_if(source_.tenants.begin(), source_.tenants.end(),
                                    [&](const auto& t) { return t.name == job->tenant; });
    if (setup == source_.tenants.end()) {
      return Error{Errc::kNotFound, "tenant '" + job->tenant + "' is not configured here"};
    }
    auto log = OpenLog(source_, job->tenant, &stop_);
    if (!log) return log.error();
    job->scratch = std::make_unique<stats::Engine>();
    stats::Engine& S = *job->scratch;
    TimeMs first_time = 0;
    // Only the ad-hoc statistics are computed: no catalog (its statistics cost most of a replay).
    if (auto built = BuildScratch(source_, *setup, **log, S, first_time, false); !built) {
      return built;
    }
    bool missing = true;
    auto open_exact = [&] {
      if (!missing) return;
      missing = false;
      for (auto& t : job->targets) {
        if (t.exact != 0) continue;
        if (auto o = S.OpenDefinition(job->tenant, t.fields, t.object)) {
          t.exact = o->handle;
        } else {
          missing = true;  // the object comes later in the log
        }
      }
    };
    // The twins, in the order of their opens: each where and when its live statistic opened.
    std::vector<Job::Target*> twins;
    for (auto& t : job->targets) twins.push_back(&t);
    std::stable_sort(twins.begin(), twins.end(), [](const Job::Target* a, const Job::Target* b) {
      return a->open_position < b->open_position;
    });
    size_t next_twin = 0;
    auto open_twins = [&](std::uint64_t before) {  // those opened before `before` (all: max)
      for (; next_twin < twins.size() && twins[next_twin]->open_position < before; ++next_twin) {
        Job::Target& t = *twins[next_twin];
        (void)S.AdvanceTo(t.open_time, out);
        out.clear();
        if (auto o = S.OpenDefinition(job->tenant, t.fields, t.object)) t.twin = o->handle;
      }
    };
    open_exact();
    // An object the log creates later: its statistics open as it comes into being, before the
    // event that made it has any effect (as catalog statistics start).
    S.SetObjectCreatedHook(open_exact);
    struct Unhook {  // the hook refers to this scope
      stats::Engine& engine;
      ~Unhook() { engine.SetObjectCreatedHook({}); }
    } unhook{S};
    UnitDecoder decoder(job->tenant);
    std::vector<stats::Event> batch;
    bool stopped = false;
    auto scan = (*log)->Scan(0, job->tap_position, [&](const LogUnit& u) {
      if (stop_.load(std::memory_order_relaxed)) {
        stopped = true;
        return false;
      }
      if (u.position > job->tap_position) return false;
      open_twins(u.position);
      ++units;
      if (u.kind != storage::RecordKind::kEvent) {
        // subscriptions and sessions do not change the statistics' values
        if (!IsReconfigureCommand(u.bodies[0])) return true;
        if (source_.wall_clock) (void)S.AdvanceTo(u.time, out);
        (void)ApplyReconfigure(u.bodies[0], S, false);
      } else if (decoder.Decode(u, batch)) {
        for (const auto& e : batch) {
          if (source_.wall_clock) (void)S.AdvanceTo(u.time, out);
          try {
            (void)S.Apply(e, out);
          } catch (const std::exception&) {
            // what recovery quarantines is skipped here too
          }
          out.clear();
        }
      }
      out.clear();
      open_exact();
      return true;
    });
    if (!scan) return scan.error();
    if (stopped) return Error{Errc::kUnavailable, "the server is stopping"};
    open_twins(UINT64_MAX);
    // Follow the live engine until what is left is small enough for the engine thread.
    for (;;) {
      std::deque<Job::Entry> taken;
      {
        std::lock_guard lock(job->mu);
        if (!job->broken.empty()) break;
        taken.swap(job->tap);
      }
      if (ApplyEntries(S, job->tenant, taken, out) < 256 || stop_.load()) break;
    }
    return {};
  };
  try {
    if (auto done = replay(); !done) job->failed = done.error().message;
  } catch (const std::exception& ex) {
    job->failed = std::string("the replay failed: ") + ex.what();
  }
  if (stop_.load()) return;
  TALLY_LOG_INFO(
      "exact on open: tenant '{}': {} statistic(s) opened up to log position {}: {} records "
      "replayed in {} ms{}",
      job->tenant, job->targets.size(), job->tap_position, units,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                            started)
          .count(),
      job->failed.empty() ? "" : " (failed: " + job->failed + ")");
  auto finished = std::make_shared<std::promise<void>>();
  auto waited = finished->get_future();
  engine_.Post([this, job, finished](stats::Engine& live) {
    Finish(live, *job);
    finished->set_value();
  });
  while (waited.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout) {
    if (stop_.load()) return;  // the engine thread stops: the job goes with it
  }
  job->scratch.reset();  // here, not on the engine thread
}

void ExactOpener::Finish(stats::Engine& live, Job& job) {
  tapping_.erase(std::remove_if(tapping_.begin(), tapping_.end(),
                                [&](const auto& j) { return j.get() == &job; }),
                 tapping_.end());
  std::deque<Job::Entry> rest;
  std::string why = job.failed;
  {
    std::lock_guard lock(job.mu);
    if (why.empty()) why = job.broken;
    rest.swap(job.tap);
  }
  std::vector<stats::Notification> out;
  if (why.empty() && job.scratch) {
    (void)ApplyEntries(*job.scratch, job.tenant, rest, out);
    (void)job.scratch->AdvanceTo(live.Now(job.tenant), out);
  }
  for (auto& t : job.targets) {
    auto mine = live.SaveStatistic(t.handle);
    if (!mine) {  // closed meanwhile (unsubscribed, its session or link gone, a reload)
      if (!t.answered && t.done) t.done(live, false, "the statistic was closed meanwhile");
      t.answered = true;
      continue;
    }
    std::string note = why;
    if (note.empty() && t.exact == 0) note = "the object is not in the log";
    std::optional<std::string> exact;
    if (note.empty()) {
      auto twin = job.scratch->SaveStatistic(t.twin);
      if (!twin) {
        note = "the replay of the log could not open the statistic where this node did";
      } else if (*twin != *mine) {
        note =
            "this node's engine and the replay of the log disagree on this statistic (a "
            "configuration the log does not hold): it counts from its open";
      } else if (auto e = job.scratch->SaveStatistic(t.exact)) {
        exact = std::move(*e);
      } else {
        note = e.error().message;
      }
    }
    if (exact) {
      if (auto loaded = live.LoadStatistic(t.handle, *exact, engine_.Notifications()); !loaded) {
        note = loaded.error().message;
        exact.reset();
      }
    }
    {
      std::lock_guard lock(mu_);
      ++(exact ? stats_.exact : stats_.not_exact);
    }
    if (!exact) {
      TALLY_LOG_INFO("exact on open: tenant '{}' statistic handle {} counts from its open: {}",
                     job.tenant, t.handle, note);
    }
    if (!t.answered) {
      t.answered = true;
      if (t.done) t.done(live, exact.has_value(), note);
    }
  }
  std::lock_guard lock(mu_);
  --stats_.running;
  idle_cv_.notify_all();
}

bool ExactOpener::WaitIdle(std::int64_t ms, const std::function<bool()>& stopping) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  std::unique_lock lock(mu_);
  while (!(stopping_ || (begun_ && stats_.running == 0))) {
    if (stopping && stopping()) return false;
    if (std::chrono::steady_clock::now() >= until) return false;
    idle_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  return !stopping_;
}

}  // namespace tally::server
