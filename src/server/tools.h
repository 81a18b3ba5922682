// Command-line tools around a server: `tally journal stats|export` (inspect a journal offline)
// and `tally replay` (stream a recorded NDJSON file to a server in batches).
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

// A bearer token from /auth/v3/oauth/token with client credentials "id:secret"; empty on error
// (printed to stderr).
[[nodiscard]] std::string ClientToken(const std::string& url, const std::string& client);

}  // namespace tally::server
