// Command-line tools around a server: `tally journal stats|export` (inspect a journal offline)
// `tally replay` (stream a recorded NDJSON file to a server in batches) and `tally reload`.
// Threading: each runs on the calling thread and returns the process exit code.
#pragma once

#include <cstdint>
#include <string>

namespace tally::server {

[[nodiscard]] int JournalStatsTool(const std::string& db);
[[nodiscard]] int JournalExportTool(const std::string& db, std::uint64_t after_seq);

struct ReplayOptions {
  std::string file;
  std::string url;
  std::string token;   // bearer token with events:write
  std::string client;  // or "id:secret" for a client_credentials token
  std::uint32_t batch = 1000;
  bool progress = true;
};
[[nodiscard]] int ReplayTool(const ReplayOptions& options);

struct SimulateOptions {
  std::string url;
  std::string token;
  std::string client;  // "id:secret"
  std::string tenant = "acme";
  int agents = 50;
  int queues = 3;
  double rate = 5;    // calls per minute per queue at the daily peak (simulated time)
  double speed = 10;  // simulated seconds per real second
  std::uint64_t seed = 1;
  double duration_s = 0;  // 0: until interrupted
  bool fast = false;      // as fast as possible (event times advance with the simulation)
  bool print_config = false;
};
// Drives a server with simulated events through /ingest/v1/events (docs/simulator.md).
[[nodiscard]] int SimulateTool(const SimulateOptions& options);

struct ReloadOptions {
  int pid = 0;         // signal this process (SIGHUP): the server logs the outcome
  std::string url;     // or ask the server (POST /admin/v1/reload) and print its report
  std::string token;   // bearer token with the admin role
  std::string client;  // or "id:secret" for a client_credentials token
};
// `tally reload`: the running server rereads its configuration (docs/operations.md).
[[nodiscard]] int ReloadTool(const ReloadOptions& options);

// A bearer token from /auth/v3/oauth/token with client credentials "id:secret"; empty on error
// (printed to stderr).
[[nodiscard]] std::string ClientToken(const std::string& url, const std::string& client);

}  // namespace tally::server
