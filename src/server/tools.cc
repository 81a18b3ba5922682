#include "server/tools.h"

#include <boost/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "auth/base64.h"
#include "common/clock.h"
#include "events/codec.h"
#include "net/http_client.h"
#include "sim/simulator.h"
#include "storage/journal.h"

namespace tally::server {

namespace json = boost::json;

namespace {

Result<std::unique_ptr<storage::Journal>> OpenExisting(const std::string& db) {
  if (::access(db.c_str(), R_OK) != 0) return Fail(Errc::kNotFound, db + ": no such journal");
  return storage::Journal::Open({db, storage::Durability::kNormal});
}

}  // namespace

int JournalStatsTool(const std::string& db) {
  auto j = OpenExisting(db);
  if (!j) {
    std::fprintf(stderr, "journal: %s\n", j.error().message.c_str());
    return 1;
  }
  auto s = (*j)->Stats();
  if (!s) {
    std::fprintf(stderr, "journal: %s\n", s.error().message.c_str());
    return 1;
  }
  json::object o{{"records", s->records},
                 {"first_seq", s->first_seq},
                 {"last_seq", s->last_seq},
                 {"first_time", s->first_time},
                 {"last_time", s->last_time},
                 {"events", s->events},
                 {"commands", s->commands},
                 {"batches", s->batches},
                 {"damaged", s->damaged},
                 {"file_bytes", s->file_bytes},
                 {"pruned_through", s->pruned_through},
                 {"snapshots", s->snapshots},
                 {"newest_snapshot_seq", s->newest_snapshot_seq},
                 {"snapshot_bytes", s->snapshot_bytes},
                 {"format", storage::kFormatVersion}};
  std::printf("%s\n", json::serialize(o).c_str());
  return 0;
}

int JournalExportTool(const std::string& db, std::uint64_t after_seq) {
  auto j = OpenExisting(db);
  if (!j) {
    std::fprintf(stderr, "journal: %s\n", j.error().message.c_str());
    return 1;
  }
  auto scan = (*j)->Scan(after_seq, [](const storage::Record& r) {
    boost::system::error_code ec;
    json::value body = json::parse(r.body, ec);
    json::object o{{"seq", r.seq},
                   {"kind", r.kind == storage::RecordKind::kEvent ? "event" : "command"},
                   {"tenant", r.tenant},
                   {"time", r.time}};
    if (ec) {
      o["raw"] = r.body;
    } else {
      o["body"] = std::move(body);
    }
    std::printf("%s\n", json::serialize(o).c_str());
    return true;
  });
  if (!scan) {
    std::fprintf(stderr, "journal: %s\n", scan.error().message.c_str());
    return 1;
  }
  if (scan->damaged_seq) {
    std::fprintf(stderr, "journal: record seq %llu is damaged (%s); export stops before it\n",
                 static_cast<unsigned long long>(*scan->damaged_seq), scan->damage.c_str());
    return 2;
  }
  return 0;
}

std::string ClientToken(const std::string& url, const std::string& client) {
  auto http = net::HttpClient::Connect(url);
  if (!http) {
    std::fprintf(stderr, "%s\n", http.error().message.c_str());
    return {};
  }
  auto r = (*http)->Request("POST", "/auth/v3/oauth/token", "grant_type=client_credentials",
                            {{"Content-Type", "application/x-www-form-urlencoded"},
                             {"Authorization", "Basic " + auth::Base64Encode(client)}});
  if (!r || r->status != 200) {
    std::fprintf(stderr, "token request failed: %s\n",
                 r ? r->body.c_str() : r.error().message.c_str());
    return {};
  }
  boost::system::error_code ec;
  auto v = json::parse(r->body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("access_token")) {
    std::fprintf(stderr, "token request: unexpected answer %s\n", r->body.c_str());
    return {};
  }
  return std::string(v.as_object().at("access_token").as_string());
}

int ReloadTool(const ReloadOptions& o) {
  if (o.pid > 0) {
    if (::kill(o.pid, SIGHUP) != 0) {
      std::fprintf(stderr, "reload: cannot signal process %d: %s\n", o.pid, std::strerror(errno));
      return 1;
    }
    std::printf("reload: SIGHUP sent to %d; the server logs what it applied\n", o.pid);
    return 0;
  }
  std::string token = o.token;
  if (token.empty() && !o.client.empty()) token = ClientToken(o.url, o.client);
  if (token.empty()) {
    std::fprintf(stderr, "reload: --token or --client is required with --url\n");
    return 1;
  }
  auto http = net::HttpClient::Connect(o.url);
  if (!http) {
    std::fprintf(stderr, "reload: %s\n", http.error().message.c_str());
    return 1;
  }
  auto r = (*http)->Request("POST", "/admin/v1/reload", "", {{"Authorization", "Bearer " + token}});
  if (!r) {
    std::fprintf(stderr, "reload: %s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", r->body.c_str());
  return r->status == 200 ? 0 : 1;
}

int ReplayTool(const ReplayOptions& o) {
  std::ifstream in(o.file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot open %s\n", o.file.c_str());
    return 1;
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(std::move(line));
  }
  std::string token = o.token;
  if (token.empty()) token = ClientToken(o.url, o.client);
  if (token.empty()) {
    std::fprintf(stderr, "replay: no token (give --token or --client id:secret)\n");
    return 1;
  }
  auto http = net::HttpClient::Connect(o.url);
  if (!http) {
    std::fprintf(stderr, "replay: %s\n", http.error().message.c_str());
    return 1;
  }
  // Keys: the file's identity plus the batch's first line, so a re-run of the same file is
  // answered from the journal instead of being applied twice.
  const std::string key_base =
      "replay-" + std::to_string(std::hash<std::string>{}(o.file + std::to_string(lines.size())));
  const auto started = std::chrono::steady_clock::now();
  size_t sent = 0;
  size_t duplicates = 0;
  for (size_t i = 0; i < lines.size(); i += o.batch) {
    const size_t end = std::min(lines.size(), i + o.batch);
    std::string body;
    for (size_t k = i; k < end; ++k) {
      body += lines[k];
      body += '\n';
    }
    auto r = (*http)->Request("POST", "/ingest/v1/events", body,
                              {{"Content-Type", "application/x-ndjson"},
                               {"Authorization", "Bearer " + token},
                               {"Idempotency-Key", key_base + "-" + std::to_string(i)}});
    if (!r) {
      std::fprintf(stderr, "\nreplay: %s\n", r.error().message.c_str());
      return 1;
    }
    if (r->status != 200) {
      std::fprintf(stderr, "\nreplay: lines %zu-%zu refused (HTTP %d): %s\n", i + 1, end, r->status,
                   r->body.c_str());
      return 1;
    }
    if (r->body.find("\"duplicate\":true") != std::string::npos) duplicates += end - i;
    sent = end;
    if (o.progress) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const int filled = static_cast<int>(30.0 * static_cast<double>(sent) / lines.size());
      std::fprintf(stderr, "\r[%-30s] %3d%% %zu/%zu events %.0f ev/s",
                   std::string(static_cast<size_t>(filled), '#').c_str(),
                   static_cast<int>(100.0 * static_cast<double>(sent) / lines.size()), sent,
                   lines.size(), secs > 0 ? static_cast<double>(sent) / secs : 0.0);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr, "%s", o.progress ? "\n" : "");
  std::printf("replayed %zu events in %.3f s (%.0f events/s)%s\n", sent, secs,
              secs > 0 ? static_cast<double>(sent) / secs : 0.0,
              duplicates > 0
                  ? (", " + std::to_string(duplicates) + " already in the journal").c_str()
                  : "");
  return 0;
}

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
}  // namespace

int SimulateTool(const SimulateOptions& o) {
  sim::SimConfig config;
  config.tenant = o.tenant;
  config.agents = o.agents;
  config.queues = o.queues;
  config.calls_per_minute = o.rate;
  config.speed = o.speed;
  config.seed = o.seed;
  if (o.print_config) {
    std::printf("%s", sim::TenantToml(config).c_str());
    return 0;
  }
  std::string token = o.token;
  if (token.empty()) token = ClientToken(o.url, o.client);
  if (token.empty()) {
    std::fprintf(stderr, "simulate: no token (give --token or --client id:secret)\n");
    return 1;
  }
  auto http = net::HttpClient::Connect(o.url);
  if (!http) {
    std::fprintf(stderr, "simulate: %s\n", http.error().message.c_str());
    return 1;
  }
  std::signal(SIGINT, [](int) { g_interrupted = 1; });
  std::signal(SIGTERM, [](int) { g_interrupted = 1; });
  const auto wall_start = std::chrono::steady_clock::now();
  const TimeMs start = DefaultClock().NowMs();
  sim::Simulator simulator(config, start);
  std::vector<stats::Event> events;
  std::uint64_t sent = 0;
  std::uint64_t batches = 0;
  TimeMs sim_now = start;
  auto post = [&]() -> bool {
    if (events.empty()) return true;
    std::string body;
    for (const auto& e : events) {
      body += events::ToJson(e);
      body += '\n';
    }
    const std::string key = "sim-" + std::to_string(o.seed) + "-" + std::to_string(start) + "-" +
                            std::to_string(batches);
    auto send = [&] {
      return (*http)->Request("POST", "/ingest/v1/events", body,
                              {{"Content-Type", "application/x-ndjson"},
                               {"Authorization", "Bearer " + token},
                               {"Idempotency-Key", key}});
    };
    auto r = send();
    // A server restarting, or a cluster node gone under a load balancer: the same batch again
    // (its key makes it stored once) for up to a minute; an expired token is renewed.
    for (int attempt = 0; attempt < 120 && g_interrupted == 0; ++attempt) {
      const int status = r ? r->status : 0;
      if (status == 401 && !o.client.empty()) {
        token = ClientToken(o.url, o.client);
      } else if (status != 0 && status != 502 && status != 503 && status != 504) {
        break;
      }
      if (attempt % 10 == 0) {
        std::fprintf(stderr, "\nsimulate: %s; retrying\n",
                     r ? ("HTTP " + std::to_string(status)).c_str() : r.error().message.c_str());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      if (!r) {
        if (auto again = net::HttpClient::Connect(o.url)) http = std::move(again);
      }
      r = send();
    }
    if (!r || r->status != 200) {
      std::fprintf(stderr, "\nsimulate: batch refused: %s\n",
                   r ? r->body.c_str() : r.error().message.c_str());
      return false;
    }
    sent += events.size();
    ++batches;
    events.clear();
    return true;
  };
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  };
  auto last_report = elapsed();
  while (g_interrupted == 0 && (o.duration_s <= 0 || elapsed() < o.duration_s)) {
    if (o.fast) {
      sim_now += 1000;  // one (compressed) second of the simulation per step
      simulator.RunUntil(sim_now, events);
      if (events.size() < 5000) continue;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      sim_now = start + static_cast<TimeMs>(elapsed() * 1000);
      simulator.RunUntil(sim_now, events);
    }
    if (!post()) return 1;
    if (elapsed() - last_report >= 1.0) {
      last_report = elapsed();
      const auto st = simulator.Stats();
      std::fprintf(stderr,
                   "\r%.0f s: %llu events (%.0f/s), %llu calls, %d agents in, %llu waiting   ",
                   elapsed(), static_cast<unsigned long long>(sent), sent / elapsed(),
                   static_cast<unsigned long long>(st.calls), st.logged_in,
                   static_cast<unsigned long long>(st.waiting));
    }
  }
  simulator.Finish(o.fast ? sim_now : start + static_cast<TimeMs>(elapsed() * 1000), events);
  if (!post()) return 1;
  const double secs = elapsed();
  std::fprintf(stderr, "\n");
  std::printf(
      "simulated %llu events in %llu batches in %.1f s (%.0f events/s); %llu calls, "
      "%llu answered, %llu abandoned\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(batches), secs,
      secs > 0 ? sent / secs : 0.0, static_cast<unsigned long long>(simulator.Stats().calls),
      static_cast<unsigned long long>(simulator.Stats().answered),
      static_cast<unsigned long long>(simulator.Stats().abandoned));
  return 0;
}

}  // namespace tally::server
