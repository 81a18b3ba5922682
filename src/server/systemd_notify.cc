#include "server/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdlib>

#include "common/log.h"

namespace tally::server {
namespace {

// Long enough for the next progress line (recovery logs one every 2 s) with a wide margin.
constexpr std::uint64_t kStartExtensionUsec = 30'000'000;

std::int64_t SteadyUs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock.SteadyNow().time_since_epoch())
      .count();
}

}  // namespace

SystemdNotifier::SystemdNotifier(const Clock& clock) : clock_(clock) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
  if (!enabled_) return;
  std::uint64_t usec = 0;
  // Positive only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) names this process.
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
  TALLY_LOG_INFO("systemd: notifications on{}",
                 watchdog_usec_ > 0 ? fmt::format(", watchdog every {} ms", watchdog_usec_ / 1000)
                                    : std::string());
}

void SystemdNotifier::Send(const std::string& state) const {
  if (!enabled_) return;
  if (const int r = sd_notify(0, state.c_str()); r < 0) {
    TALLY_LOG_WARN("systemd: sd_notify failed (error {})", -r);
  }
}

void SystemdNotifier::Status(std::string_view text) {
  if (!enabled_) return;
  std::string state = "STATUS=" + std::string(text);
  if (starting_.load()) state += "\nEXTEND_TIMEOUT_USEC=" + std::to_string(kStartExtensionUsec);
  Send(state);
}

void SystemdNotifier::Ready() {
  starting_.store(false);
  Send("READY=1\nSTATUS=ready");
}

void SystemdNotifier::Stopping() {
  starting_.store(false);
  Send("STOPPING=1\nSTATUS=stopping");
}

void SystemdNotifier::Alive() {
  if (watchdog_usec_ == 0) return;
  const std::int64_t now = SteadyUs(clock_);
  std::int64_t last = last_ping_us_.load();
  if (now - last < static_cast<std::int64_t>(watchdog_usec_ / 3)) return;
  if (!last_ping_us_.compare_exchange_strong(last, now)) return;  // another thread just did
  Send("WATCHDOG=1");
}

}  // namespace tally::server
