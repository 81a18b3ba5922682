#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>

#include "common/json_text.h"

namespace tally::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::string Lower(std::string_view text) {
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// One JSON object per line: {"ts":"2026-01-01T00:00:00.000Z","level":"info","msg":"..."}.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    const size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string time_iso(ts, n);
    time_iso += fmt::format(".{:03d}Z", static_cast<int>(ms % 1000));
    const auto level_sv = spdlog::level::to_string_view(msg.level);
    const std::string line = JsonLine(time_iso, std::string_view(level_sv.data(), level_sv.size()),
                                      std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

bool ParseLevel(std::string_view text, Level& out) {
  const std::string s = Lower(text);
  if (s == "trace")
    out = Level::kTrace;
  else if (s == "debug")
    out = Level::kDebug;
  else if (s == "info")
    out = Level::kInfo;
  else if (s == "warn" || s == "warning")
    out = Level::kWarn;
  else if (s == "error")
    out = Level::kError;
  else if (s == "off")
    out = Level::kOff;
  else
    return false;
  return true;
}

bool ParseFormat(std::string_view text, Format& out) {
  const std::string s = Lower(text);
  if (s == "text")
    out = Format::kText;
  else if (s == "json")
    out = Format::kJson;
  else
    return false;
  return true;
}

void Init(Level level, Format format) {
  auto logger = spdlog::get("tally");
  if (!logger) {
    logger = spdlog::stderr_logger_mt("tally");
  }
  if (format == Format::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc));
  }
  logger->set_level(ToSpd(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed) && level != Level::kOff;
}

void Write(Level level, std::string_view message) {
  spdlog::default_logger_raw()->log(ToSpd(level), "{}", message);
}

std::string JsonLine(std::string_view time_iso, std::string_view level, std::string_view message) {
  std::string out;
  out.reserve(message.size() + 64);
  out += "{\"ts\":";
  AppendJsonString(out, time_iso);
  out += ",\"level\":";
  AppendJsonString(out, level);
  out += ",\"msg\":";
  AppendJsonString(out, message);
  out += '}';
  return out;
}

}  // namespace tally::log
