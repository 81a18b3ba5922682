#include "server/engine_thread.h"

#include "common/log.h"

namespace tally::server {

EngineThread::EngineThread(const Clock& clock) : clock_(clock) {}

EngineThread::~EngineThread() { Stop(); }

void EngineThread::Start() {
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

std::uint64_t EngineThread::NotificationsDropped() const { return dropped_.load(); }

void EngineThread::Run() {
  std::vector<stats::Notification> out;
  for (;;) {
    std::deque<std::function<void(stats::Engine&)>> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      batch.swap(queue_);
    }
    engine_.AdvanceTo(clock_.NowMs(), out);
    for (auto& work : batch) {
      try {
        work(engine_);
      } catch (const std::exception& e) {
        TALLY_LOG_ERROR("engine work failed: {}", e.what());
      }
    }
    // Notifications have no transport until CometD arrives; they are counted, not lost silently.
    dropped_.fetch_add(out.size());
    out.clear();
  }
}

}  // namespace tally::server
