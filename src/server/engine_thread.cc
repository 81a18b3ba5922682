#include "server/engine_thread.h"

#include <algorithm>

#include "common/log.h"

namespace tally::server {

EngineThread::EngineThread(const Clock& clock, bool wall_clock)
    : clock_(clock), wall_clock_(wall_clock) {}

EngineThread::~EngineThread() { Stop(); }

void EngineThread::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void EngineThread::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineThread::Post(std::function<void(stats::Engine&)> work) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
}

std::size_t EngineThread::QueueDepth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void EngineThread::OnApplied(const stats::Event& e) {
  if (link_observer_ && (e.type == stats::EventType::kLinkConnected ||
                         e.type == stats::EventType::kLinkDisconnected)) {
    link_observer_(e, engine_);
  }
}

void EngineThread::EndWork() {
  busy_since_ms_.store(0);
  if (alive_) alive_();
}

void EngineThread::FlushNotifications() {
  if (out_.empty()) return;
  if (sink_) {
    sink_(out_);
  } else {
    undelivered_.fetch_add(out_.size());
  }
  out_.clear();
}

std::int64_t EngineThread::HoldStamp(std::int64_t at_least) {
  std::lock_guard lock(stamps_mu_);
  const std::int64_t stamp = std::max(at_least, reached_);
  held_.insert(stamp);
  return stamp;
}

void EngineThread::ReleaseStamp(std::int64_t stamp) {
  std::lock_guard lock(stamps_mu_);
  if (auto it = held_.find(stamp); it != held_.end()) held_.erase(it);
}

std::int64_t EngineThread::WallTarget() {
  const std::int64_t now = clock_.NowMs() - wall_lag_ms_.load();
  std::lock_guard lock(stamps_mu_);
  std::int64_t target = now;
  if (!held_.empty()) {
    const std::int64_t oldest = *held_.begin();
    if (oldest >= now - kMaxStampHoldMs) {
      target = std::min(target, oldest);
    } else {
      TALLY_LOG_WARN(
          "engine clock: a batch stamped {} ms ago is still not applied; the clock "
          "moves on without it",
          now - oldest);
      held_.erase(held_.begin());
    }
  }
  reached_ = std::max(reached_, target);
  return target;
}

void EngineThread::Run() {
  for (;;) {
    std::deque<std::function<void(stats::Engine&)>> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50),
                   [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      batch.swap(queue_);
    }
    BeginWork();
    if (wall_clock_ && !hold_wall_.load()) {
      if (auto moved = engine_.AdvanceTo(WallTarget(), out_); !moved) {
        TALLY_LOG_ERROR("engine clock: {}", moved.error().message);
      }
    }
    for (auto& work : batch) {
      try {
        work(engine_);
      } catch (const std::exception& e) {
        TALLY_LOG_ERROR("engine work failed: {}", e.what());
      }
    }
    FlushNotifications();
    EndWork();
  }
}

}  // namespace tally::server
