// The composition root: wires config, HTTP server, routes, metrics, signals and threads, and
// runs until SIGINT/SIGTERM. Only this module (and net) touch Asio.
// Threading: Run() blocks the calling thread and owns every thread it starts.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"

namespace tally::server {

struct RunOptions {
  std::optional<std::string> listen;  // overrides server.listen
};

// Runs the server; returns the process exit code (0 after a graceful shutdown).
[[nodiscard]] int Run(const config::Config& config, const RunOptions& options);

}  // namespace tally::server
