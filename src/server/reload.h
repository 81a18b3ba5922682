// Live reload (SIGHUP, `tally reload`, POST /admin/v1/reload): rereads the configuration file and
// applies what can change while the server runs — users, clients, API keys and JWKS (a new
// AuthService), limits, the log level and format at once; each carried tenant's objects and the
// statistics catalog as one journaled record per changed tenant ("reconfigure"), so recovery and
// every replica apply it at the same point of the stream. A file with errors is refused whole
// (file:line), the running configuration kept; what cannot change live (listen address,
// storage, cluster, TLS, I/O threads, tenants added or removed, ...) is reported, not ignored.
// docs/operations.md "Live reload" says which change affects which statistics.
// Threading: Reload() from any thread, one at a time (serialized inside); the journaled part
// completes on the engine thread and `done` runs there or on the caller's thread.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "config/config.h"
#include "server/application_state.h"
#include "stats/engine.h"

namespace tally::server {

struct ReloadReport {
  bool refused = false;               // the file had errors: nothing changed
  std::vector<std::string> errors;    // file:line: key: message
  std::vector<std::string> applied;   // what changed
  std::vector<std::string> not_live;  // what changed in the file but needs a restart
  std::vector<std::string> notes;     // from the engine (e.g. a member joined)
  [[nodiscard]] std::string Json() const;
};

struct ReloadTargets {
  // Builds and installs the authentication from `config` (users, clients, keys, JWKS); an error
  // names the file.
  std::function<Result<void>(const config::Config&)> auth;
  std::function<void(const config::Config&)> limits;
  // Journals a command for a tenant and runs `then` on the engine thread once it applies
  // (api::EngineAccess::Durable).
  std::function<void(std::string tenant, std::string command,
                     std::function<void(Result<stats::Engine*>)> then)>
      durable;
};

class Reloader final {
 public:
  Reloader(std::string path, config::Config running, ReloadTargets targets);
  void Reload(std::function<void(ReloadReport)> done);
  // At every start of a single node, once recovered: the configuration as it is now, journaled
  // for each carried tenant (a change made while the server was stopped applies from here, and a
  // later recovery meets it at this point).
  using Durable =
      std::function<void(std::string, std::string, std::function<void(Result<stats::Engine*>)>)>;
  void Start(std::function<void(ReloadReport)> done, Durable durable);

 private:
  void Journal(std::vector<std::pair<std::string, std::string>> commands, ReloadReport report,
               std::function<void(ReloadReport)> done, const Durable& durable);
  std::atomic<bool> resend_all_{false};  // a record of the last reload failed: resend them all

  std::string path_;
  std::mutex mu_;  // one reload at a time; guards running_
  config::Config running_;
  std::vector<stats::CatalogEntry> running_catalog_;  // as read at start (the file may change)
  ReloadTargets targets_;
};

// The journaled record of a reload for one tenant, and its application (recovery, replicas;
// `with_catalog` false: the objects only — a scratch engine for ad-hoc statistics, exact_open.h).
[[nodiscard]] std::string ReconfigureCommand(const stats::TenantSetup& setup,
                                             const std::vector<stats::CatalogEntry>& catalog);
[[nodiscard]] bool IsReconfigureCommand(std::string_view command);
[[nodiscard]] Result<std::vector<std::string>> ApplyReconfigure(std::string_view command,
                                                                stats::Engine& engine,
                                                                bool with_catalog = true);

// The application state with reload records: "reconfigure" commands apply to the engine, every
// other command goes to `inner` (the API's registry).
class ReloadableState final : public ApplicationState {
 public:
  explicit ReloadableState(ApplicationState& inner) : inner_(inner) {}
  [[nodiscard]] std::string Save() const override { return inner_.Save(); }
  [[nodiscard]] bool Load(std::string_view bytes) override { return inner_.Load(bytes); }
  [[nodiscard]] bool Replay(std::string_view command, stats::Engine& engine) override;

 private:
  ApplicationState& inner_;
};

}  // namespace tally::server
