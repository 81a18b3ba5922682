// Typed configuration read from TOML. Every key is known: an unknown key, a wrong type or an
// out-of-range value is an error that names the file, line and key. See docs/configuration.md.
// Threading: loading is a pure function; the resulting Config is an immutable value.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"

namespace tally::config {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // "host:port"; port 0 picks a free port
  int io_threads = 2;
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint32_t max_connections = 10000;
  std::uint32_t max_requests_per_connection = 0;    // 0 = unlimited keep-alive
  std::chrono::milliseconds header_timeout{10000};  // whole request head must arrive within this
  std::chrono::milliseconds body_timeout{30000};    // whole body must arrive within this
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{30000};   // a response must be taken within this
  std::chrono::milliseconds shutdown_grace{10000};  // in-flight requests may finish within this
};

struct LogConfig {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kText;
};

struct Config {
  std::string source;  // file the config came from ("" for defaults)
  ServerConfig server;
  LogConfig log;
};

struct ConfigError {
  std::string file;
  int line = 0;  // 0 when unknown (e.g. the file cannot be read)
  int column = 0;
  std::string key;  // dotted path, e.g. "server.listen"
  std::string message;

  [[nodiscard]] std::string ToString() const;  // "file:line:column: key: message"
};

struct LoadResult {
  std::optional<Config> config;  // set when errors is empty
  std::vector<ConfigError> errors;
};

[[nodiscard]] LoadResult LoadFile(const std::string& path);
// Parses TOML text; `name` is used as the file name in errors.
[[nodiscard]] LoadResult LoadString(const std::string& text, const std::string& name);

// Splits "host:port" / "[v6]:port"; false if malformed.
[[nodiscard]] bool SplitHostPort(const std::string& text, std::string& host, std::uint16_t& port);

}  // namespace tally::config
