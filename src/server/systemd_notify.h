// SystemdNotifier: tells the service manager how the server is doing, through libsystemd's
// sd_notify (systemd.service Type=notify): STATUS= lines while recovery replays the journal
// (each also extends the start timeout, so a long replay that moves is not killed, and a stuck
// one is), READY=1 once recovery is done, WATCHDOG=1 from the engine's loop, STOPPING=1 at
// shutdown. Everything is a no-op when NOTIFY_SOCKET is not set (not started by systemd).
// Threading: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace tally::server {

class SystemdNotifier final {
 public:
  // Reads NOTIFY_SOCKET and the watchdog interval (WATCHDOG_USEC/WATCHDOG_PID) once.
  explicit SystemdNotifier(const Clock& clock);

  [[nodiscard]] bool Enabled() const { return enabled_; }
  // The interval systemd expects WATCHDOG=1 within; 0 when the watchdog is off.
  [[nodiscard]] std::uint64_t WatchdogUsec() const { return watchdog_usec_; }

  // STATUS=<text>, and while starting EXTEND_TIMEOUT_USEC so progress keeps the start alive.
  void Status(std::string_view text);
  void Ready();
  void Stopping();
  // WATCHDOG=1 when a third of the interval has passed since the last one (cheap otherwise).
  // Call it only from a loop that shows the engine is alive: a stuck loop must stop the pings.
  void Alive();

 private:
  void Send(const std::string& state) const;

  const Clock& clock_;
  bool enabled_ = false;
  std::uint64_t watchdog_usec_ = 0;
  std::atomic<bool> starting_{true};
  std::atomic<std::int64_t> last_ping_us_{0};
};

}  // namespace tally::server
