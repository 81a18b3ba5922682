// Logging facade over spdlog: text or JSON lines on stderr, level from config. spdlog stays
// inside log.cc; callers use the TALLY_LOG_* macros, which format only when the level is on.
// Threading: all functions are thread-safe (spdlog's multi-threaded sink).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace tally::log {

enum class Level { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kText, kJson };

// Parses "trace|debug|info|warn|error|off" (case-insensitive); false if unknown.
[[nodiscard]] bool ParseLevel(std::string_view text, Level& out);
[[nodiscard]] bool ParseFormat(std::string_view text, Format& out);

// Configures the process logger. May be called again (e.g. after the config is read).
void Init(Level level, Format format);

[[nodiscard]] bool Enabled(Level level);
void Write(Level level, std::string_view message);

// Renders one JSON log line (without newline); exposed for tests.
[[nodiscard]] std::string JsonLine(std::string_view time_iso, std::string_view level,
                                   std::string_view message);

}  // namespace tally::log

#define TALLY_LOG_AT(lvl, ...)                              \
  do {                                                      \
    if (::tally::log::Enabled(lvl)) {                       \
      ::tally::log::Write(lvl, ::fmt::format(__VA_ARGS__)); \
    }                                                       \
  } while (false)

#define TALLY_LOG_TRACE(...) TALLY_LOG_AT(::tally::log::Level::kTrace, __VA_ARGS__)
#define TALLY_LOG_DEBUG(...) TALLY_LOG_AT(::tally::log::Level::kDebug, __VA_ARGS__)
#define TALLY_LOG_INFO(...) TALLY_LOG_AT(::tally::log::Level::kInfo, __VA_ARGS__)
#define TALLY_LOG_WARN(...) TALLY_LOG_AT(::tally::log::Level::kWarn, __VA_ARGS__)
#define TALLY_LOG_ERROR(...) TALLY_LOG_AT(::tally::log::Level::kError, __VA_ARGS__)
