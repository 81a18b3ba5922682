// tally: the command line. `serve`, `check-config`, `version`, `reload` and the tools.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "auth/password.h"
#include "config/config.h"
#include "server/server.h"
#include "server/tools.h"
#include "server/version.h"

int main(int argc, char** argv) {
  CLI::App app{"Tally: a real-time contact-center statistics server (Genesys Statistics API v3)"};
  app.require_subcommand(1);

  std::string config_path;
  std::string listen;
  auto* serve = app.add_subcommand("serve", "Run the server");
  serve->add_option("--config,-c", config_path, "Configuration file (TOML)")->required();
  serve->add_option("--listen", listen, "Listen address ADDR:PORT (overrides server.listen)");

  std::string check_path;
  auto* check = app.add_subcommand("check-config", "Validate a configuration file");
  check->add_option("file", check_path, "Configuration file (TOML)")->required();

  auto* version = app.add_subcommand("version", "Print the version");

  int iterations = tally::auth::kDefaultIterations;
  auto* hash = app.add_subcommand(
      "hash-password", "Read a password from standard input, print its PBKDF2-SHA256 hash");
  hash->add_option("--iterations", iterations, "PBKDF2 iterations")
      ->check(CLI::Range(1000, 10'000'000));

  auto* journal = app.add_subcommand("journal", "Inspect a journal offline");
  journal->require_subcommand(1);
  std::string journal_db;
  std::uint64_t after_seq = 0;
  auto* journal_stats = journal->add_subcommand("stats", "Print record counts and ranges (JSON)");
  journal_stats->add_option("--db", journal_db, "Journal database file")->required();
  auto* journal_export =
      journal->add_subcommand("export", "Print records as NDJSON (seq, kind, tenant, time, body)");
  journal_export->add_option("--db", journal_db, "Journal database file")->required();
  journal_export->add_option("--after", after_seq, "Only records with a greater seq");

  tally::server::ReplayOptions replay_options;
  auto* replay = app.add_subcommand("replay", "Stream a recorded NDJSON event file to a server");
  replay->add_option("file", replay_options.file, "NDJSON file, one event per line")->required();
  replay->add_option("--url", replay_options.url, "Server base URL, e.g. http://127.0.0.1:8080")
      ->required();
  replay->add_option("--token", replay_options.token, "Bearer token with the events:write role");
  replay->add_option("--client", replay_options.client,
                     "Client credentials id:secret (instead of --token)");
  replay->add_option("--batch", replay_options.batch, "Events per request")
      ->check(CLI::Range(1, 1'000'000));
  replay->add_flag("!--no-progress", replay_options.progress, "No progress bar");

  tally::server::ReloadOptions reload_options;
  auto* reload = app.add_subcommand(
      "reload", "Make a running server reread its configuration (docs/operations.md)");
  auto* reload_pid = reload->add_option("--pid", reload_options.pid, "Send SIGHUP to this process");
  reload
      ->add_option("--url", reload_options.url,
                   "Or ask the server at this URL (POST /admin/v1/reload) and print its report")
      ->excludes(reload_pid);
  reload->add_option("--token", reload_options.token, "Bearer token with the admin role");
  reload->add_option("--client", reload_options.client,
                     "Client credentials id:secret (instead of --token)");

  tally::server::SimulateOptions sim;
  auto* simulate = app.add_subcommand(
      "simulate", "Drive a server with a simulated contact center (docs/simulator.md)");
  simulate->add_option("--url", sim.url, "Server base URL, e.g. http://127.0.0.1:8080");
  simulate->add_option("--token", sim.token, "Bearer token with the events:write role");
  simulate->add_option("--client", sim.client, "Client credentials id:secret (instead of --token)");
  simulate->add_option("--tenant", sim.tenant, "Tenant of the simulated objects");
  simulate->add_option("--agents", sim.agents, "Agents (agent001…, DN 7001…)")
      ->check(CLI::Range(1, 100000));
  simulate->add_option("--queues", sim.queues, "Queues (8001…)")->check(CLI::Range(1, 1000));
  simulate->add_option("--rate", sim.rate, "Calls per minute per queue at the daily peak")
      ->check(CLI::Range(0.01, 1e6));
  simulate->add_option("--speed", sim.speed, "Simulated seconds per real second")
      ->check(CLI::Range(0.1, 1e6));
  simulate->add_option("--seed", sim.seed, "Random seed (same seed, same events)");
  simulate->add_option("--duration", sim.duration_s, "Stop after this many seconds (0: Ctrl-C)");
  simulate->add_flag("--fast", sim.fast,
                     "As fast as possible: event times follow the simulation, not the clock "
                     "(for servers with [engine] clock = \"event\")");
  simulate->add_flag("--print-config", sim.print_config,
                     "Print the [[tenant]] TOML that declares the simulated objects, and exit");

  CLI11_PARSE(app, argc, argv);

  if (*simulate) {
    if (!sim.print_config && sim.url.empty()) {
      std::fprintf(stderr, "simulate: --url is required\n");
      return 1;
    }
    return tally::server::SimulateTool(sim);
  }

  if (*journal_stats) return tally::server::JournalStatsTool(journal_db);
  if (*journal_export) return tally::server::JournalExportTool(journal_db, after_seq);
  if (*replay) return tally::server::ReplayTool(replay_options);
  if (*reload) {
    if (reload_options.pid <= 0 && reload_options.url.empty()) {
      std::fprintf(stderr, "reload: --pid or --url is required\n");
      return 1;
    }
    return tally::server::ReloadTool(reload_options);
  }

  if (*hash) {
    std::string password;
    if (!std::getline(std::cin, password) || password.empty()) {
      std::fprintf(stderr, "hash-password: no password on standard input\n");
      return 1;
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();
    std::printf("%s\n", tally::auth::HashPassword(password, iterations).c_str());
    return 0;
  }
  if (*version) {
    std::printf("tally %s\n", tally::server::kVersion);
    return 0;
  }
  if (*check) {
    const auto loaded = tally::config::LoadFile(check_path);
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    if (!loaded.errors.empty()) return 1;
    std::printf("%s: ok\n", check_path.c_str());
    return 0;
  }
  const auto loaded = tally::config::LoadFile(config_path);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return 1;
  }
  tally::server::RunOptions options;
  if (!listen.empty()) options.listen = listen;
  return tally::server::Run(*loaded.config, options);
}
