#include "server/reload.h"

#include <boost/json.hpp>

#include <algorithm>
#include <memory>
#include <set>

#include "common/log.h"
#include "server/engine_setup.h"

namespace tally::server {

namespace json = boost::json;

namespace {

constexpr std::string_view kReconfigurePrefix = R"({"op":"reconfigure")";

json::array Strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::vector<std::string> StringsOf(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) out.emplace_back(s.as_string());
  return out;
}

// What of the running configuration a reload cannot change, named.
void NotLive(const config::Config& was, const config::Config& now, std::vector<std::string>& out) {
  auto note = [&](bool changed, const std::string& what) {
    if (changed) out.push_back(what + " changed: needs a restart");
  };
  note(was.server.listen != now.server.listen, "server.listen");
  note(was.server.io_threads != now.server.io_threads, "server.io_threads");
  note(was.server.tls_cert_file != now.server.tls_cert_file ||
           was.server.tls_key_file != now.server.tls_key_file,
       "server TLS files");
  config::ServerConfig a = was.server;
  config::ServerConfig b = now.server;
  a.listen = b.listen;
  a.io_threads = b.io_threads;
  a.tls_cert_file = b.tls_cert_file;
  a.tls_key_file = b.tls_key_file;
  note(!(a == b), "other [server] settings (HTTP limits, timeouts, CORS)");
  note(!(was.storage == now.storage), "[storage]");
  note(!(was.jetstream == now.jetstream), "[jetstream]");
  note(!(was.cluster == now.cluster), "[cluster]");
  note(!(was.engine == now.engine), "[engine]");
  note(!(was.notifications == now.notifications), "[notifications]");
  note(!(was.simulator == now.simulator), "[simulator]");
  note(was.statistics.catalog != now.statistics.catalog,
       "statistics.catalog (the file's path; a changed file at the same path reloads)");
  note(was.auth.secret != now.auth.secret || was.auth.secret_file != now.auth.secret_file,
       "auth.secret / auth.secret_file (tokens already issued would fail)");
  note(was.ingest.heartbeat_timeout_ms != now.ingest.heartbeat_timeout_ms,
       "ingest.heartbeat_timeout_ms");
  std::set<std::string> had;
  std::set<std::string> has;
  for (const auto& t : was.tenants) had.insert(t.name);
  for (const auto& t : now.tenants) has.insert(t.name);
  for (const auto& t : has) note(had.count(t) == 0, "tenant '" + t + "' (added)");
  for (const auto& t : had) note(has.count(t) == 0, "tenant '" + t + "' (removed)");
}

// Objects and members the file no longer lists: the engine keeps them (a reload only adds).
void Removed(const stats::TenantSetup& was, const stats::TenantSetup& now,
             std::vector<std::string>& out) {
  auto gone = [&](const std::vector<std::string>& a, const std::vector<std::string>& b,
                  const std::string& what) {
    for (const auto& x : a) {
      if (std::find(b.begin(), b.end(), x) == b.end()) {
        out.push_back("tenant '" + was.name + "': " + what + " '" + x +
                      "' is no longer listed: it keeps existing (a reload only adds)");
      }
    }
  };
  gone(was.agents, now.agents, "agent");
  gone(was.queues, now.queues, "queue");
  gone(was.routing_points, now.routing_points, "routing point");
  for (const auto& g : was.groups) {
    auto it = std::find_if(now.groups.begin(), now.groups.end(),
                           [&](const auto& n) { return n.name == g.name && n.type == g.type; });
    if (it == now.groups.end()) {
      out.push_back("tenant '" + was.name + "': group '" + g.name +
                    "' is no longer listed: it keeps existing (a reload only adds)");
      continue;
    }
    gone(g.members, it->members, "member of group '" + g.name + "'");
  }
  if (was.time_zone != now.time_zone) {
    out.push_back("tenant '" + was.name + "': time_zone changed: needs a restart");
  }
}

}  // namespace

std::string ReloadReport::Json() const {
  json::object o;
  o["refused"] = refused;
  o["errors"] = Strings(errors);
  o["applied"] = Strings(applied);
  o["notLive"] = Strings(not_live);
  o["notes"] = Strings(notes);
  return json::serialize(o);
}

std::string ReconfigureCommand(const stats::TenantSetup& setup,
                               const std::vector<stats::CatalogEntry>& catalog) {
  json::object o;
  o["op"] = "reconfigure";
  o["tenant"] = setup.name;
  json::object s;
  s["timeZone"] = setup.time_zone;
  s["agents"] = Strings(setup.agents);
  json::array places;
  for (const auto& p : setup.places)
    places.push_back(json::object{{"id", p.id}, {"dns", Strings(p.dns)}});
  s["places"] = std::move(places);
  json::array groups;
  for (const auto& g : setup.groups) {
    groups.push_back(json::object{{"type", std::string(stats::ObjectTypeName(g.type))},
                                  {"name", g.name},
                                  {"members", Strings(g.members)}});
  }
  s["groups"] = std::move(groups);
  s["queues"] = Strings(setup.queues);
  s["routingPoints"] = Strings(setup.routing_points);
  o["setup"] = std::move(s);
  json::array entries;
  for (const auto& e : catalog) {
    json::array fields;
    for (const auto& [k, v] : e.fields)
      fields.push_back(json::array{json::string(k), json::string(v)});
    entries.push_back(json::object{{"name", e.name}, {"fields", std::move(fields)}});
  }
  o["catalog"] = std::move(entries);
  return json::serialize(o);
}

bool IsReconfigureCommand(std::string_view command) {
  return command.substr(0, kReconfigurePrefix.size()) == kReconfigurePrefix;
}

Result<std::vector<std::string>> ApplyReconfigure(std::string_view command, stats::Engine& engine,
                                                  bool with_catalog) {
  boost::system::error_code ec;
  const json::value v = json::parse(command, ec);
  if (ec || !v.is_object()) return Error{Errc::kInvalidArgument, "reconfigure: not a JSON object"};
  stats::TenantSetup setup;
  std::vector<stats::CatalogEntry> catalog;
  try {
    const auto& o = v.as_object();
    setup.name = std::string(o.at("tenant").as_string());
    const auto& s = o.at("setup").as_object();
    setup.time_zone = std::string(s.at("timeZone").as_string());
    setup.agents = StringsOf(s.at("agents"));
    for (const auto& p : s.at("places").as_array()) {
      setup.places.push_back({std::string(p.at("id").as_string()), StringsOf(p.at("dns"))});
    }
    for (const auto& g : s.at("groups").as_array()) {
      auto type = stats::ParseObjectType(std::string(g.at("type").as_string()));
      if (!type) return Error{Errc::kInvalidArgument, "reconfigure: bad group type"};
      setup.groups.push_back(
          {*type, std::string(g.at("name").as_string()), StringsOf(g.at("members"))});
    }
    setup.queues = StringsOf(s.at("queues"));
    setup.routing_points = StringsOf(s.at("routingPoints"));
    for (const auto& e : o.at("catalog").as_array()) {
      stats::CatalogEntry entry;
      entry.name = std::string(e.at("name").as_string());
      for (const auto& f : e.at("fields").as_array()) {
        entry.fields.emplace_back(std::string(f.at(0).as_string()),
                                  std::string(f.at(1).as_string()));
      }
      catalog.push_back(std::move(entry));
    }
  } catch (const std::exception& ex) {
    return Error{Errc::kInvalidArgument, std::string("reconfigure: ") + ex.what()};
  }
  // A tenant the engine does not have yet (added to the file while the server was stopped, the
  // snapshot predating it) is created by its record, with its time zone: deterministic, as every
  // record is.
  if (!with_catalog) catalog.clear();
  return engine.Reconfigure(catalog, setup, engine.Now(setup.name));
}

bool ReloadableState::Replay(std::string_view command, stats::Engine& engine) {
  if (!IsReconfigureCommand(command)) return inner_.Replay(command, engine);
  auto applied = ApplyReconfigure(command, engine);
  if (!applied) {
    TALLY_LOG_ERROR("reload record: {}", applied.error().message);
    return false;
  }
  for (const auto& n : *applied) TALLY_LOG_INFO("reload record: {}", n);
  return true;
}

Reloader::Reloader(std::string path, config::Config running, ReloadTargets targets)
    : path_(std::move(path)), running_(std::move(running)), targets_(std::move(targets)) {
  std::vector<std::string> ignored;
  running_catalog_ = CatalogEntries(running_, ignored);
}

void Reloader::Reload(std::function<void(ReloadReport)> done) {
  std::unique_lock lock(mu_);
  ReloadReport report;
  auto refuse = [&] {
    report.refused = true;
    for (const auto& e : report.errors) TALLY_LOG_ERROR("reload refused: {}", e);
    TALLY_LOG_WARN("reload refused: the running configuration is kept");
    done(std::move(report));
  };
  auto loaded = config::LoadFile(path_);
  for (const auto& e : loaded.errors) report.errors.push_back(e.ToString());
  if (!loaded.config) return refuse();
  config::Config next = std::move(*loaded.config);
  const std::vector<stats::CatalogEntry> catalog = CatalogEntries(next, report.errors);
  if (!report.errors.empty()) return refuse();
  // The tenants as the engine would take them, checked on a scratch engine (time zones, a DN in
  // two places, group types) before anything changes.
  const std::vector<stats::TenantSetup> setups = TenantSetups(next);
  {
    stats::Engine check;
    (void)check.SetCatalog(catalog);
    for (const auto& s : setups) {
      if (auto r = check.AddTenant(s, stats::kMinEventTime); !r) {
        report.errors.push_back(next.source + ": tenant '" + s.name + "': " + r.error().message);
      }
    }
  }
  if (!report.errors.empty()) return refuse();
  if (auto r = targets_.auth(next); !r) {
    report.errors.push_back(r.error().message);
    return refuse();
  }
  NotLive(running_, next, report.not_live);
  report.applied.push_back("authentication: " + std::to_string(next.auth.users.size()) +
                           " users, " + std::to_string(next.auth.clients.size()) + " clients, " +
                           std::to_string(next.auth.api_keys.size()) + " API keys" +
                           (next.auth.jwks_file.empty() ? "" : ", JWKS " + next.auth.jwks_file));
  if (!(running_.log == next.log)) {
    log::Init(next.log.level, next.log.format);
    report.applied.push_back("log level and format");
  }
  if (!(running_.limits == next.limits) ||
      running_.ingest.events_per_batch != next.ingest.events_per_batch ||
      running_.ingest.max_future_ms != next.ingest.max_future_ms) {
    targets_.limits(next);
    report.applied.push_back("limits");
  }
  // Tenants: one journaled record per carried tenant whose objects or catalog changed (all of
  // them when a record of the previous reload could not be stored).
  const bool resend = resend_all_.exchange(false);
  bool catalog_changed = catalog != running_catalog_;
  std::vector<stats::CatalogEntry> applied_catalog = catalog;
  if (catalog_changed && next.storage.backend == "jetstream") {
    // The catalog is one for every tenant of an engine, while a replica follows each tenant's
    // records in its own order: switching it at one tenant's record would not be the same point
    // for the others on every replica.
    report.not_live.push_back(
        "the statistics catalog changed: in a cluster it needs a restart of every node");
    catalog_changed = false;
    applied_catalog = running_catalog_;
  }
  const std::vector<stats::TenantSetup> was = TenantSetups(running_);
  std::vector<std::pair<std::string, std::string>> commands;
  for (const auto& s : setups) {
    if (!Carries(next, s.name)) continue;
    auto old =
        std::find_if(was.begin(), was.end(), [&](const auto& w) { return w.name == s.name; });
    if (old == was.end()) continue;  // added: reported above
    Removed(*old, s, report.not_live);
    if (!resend && !catalog_changed && *old == s) continue;
    commands.emplace_back(s.name, ReconfigureCommand(s, applied_catalog));
  }
  if (catalog_changed) {
    report.applied.push_back("statistics catalog: " + std::to_string(catalog.size()) +
                             " statistics");
  }
  // The file is now the running configuration (its tenants' records are on their way; should
  // one fail, the next reload sends every tenant's again).
  running_ = next;
  running_catalog_ = applied_catalog;
  for (const auto& n : report.not_live) TALLY_LOG_WARN("reload: {}", n);
  if (commands.empty()) {
    lock.unlock();
    for (const auto& a : report.applied) TALLY_LOG_INFO("reload: {}", a);
    return done(std::move(report));
  }
  // Handed to the journal under the lock: two reloads' records are journaled in their order.
  Journal(std::move(commands), std::move(report), std::move(done), targets_.durable);
}

void Reloader::Start(std::function<void(ReloadReport)> done, Durable durable) {
  std::vector<std::pair<std::string, std::string>> commands;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : TenantSetups(running_)) {
      if (Carries(running_, s.name))
        commands.emplace_back(s.name, ReconfigureCommand(s, running_catalog_));
    }
  }
  ReloadReport report;
  report.applied.push_back("the configuration at start (" + std::to_string(commands.size()) +
                           " tenants)");
  if (commands.empty()) return done(std::move(report));
  std::lock_guard lock(mu_);
  Journal(std::move(commands), std::move(report), std::move(done), durable);
}

void Reloader::Journal(std::vector<std::pair<std::string, std::string>> commands,
                       ReloadReport report, std::function<void(ReloadReport)> done,
                       const Durable& durable) {
  struct Pending {
    std::mutex mu;
    size_t left = 0;
    ReloadReport report;
    std::function<void(ReloadReport)> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = commands.size();
  pending->report = std::move(report);
  pending->done = std::move(done);
  for (auto& c : commands) {
    // The continuation applies the record here (the node that journaled it); recovery and the
    // other replicas apply the same record through ReloadableState::Replay.
    const std::string tenant = c.first;
    const std::string body = c.second;
    durable(tenant, std::move(c.second),
            [this, pending, tenant, body](Result<stats::Engine*> engine) {
              std::vector<std::string> notes;
              std::string failed;
              if (!engine) {
                failed = "tenant '" + tenant + "': " + engine.error().message;
              } else if (auto applied = ApplyReconfigure(body, **engine); !applied) {
                failed = "tenant '" + tenant + "': " + applied.error().message;
              } else {
                notes = std::move(*applied);
              }
              std::unique_lock l(pending->mu);
              if (!failed.empty()) {
                resend_all_.store(true);
                pending->report.errors.push_back(failed);
              } else {
                pending->report.applied.push_back("tenant '" + tenant + "': objects");
                for (auto& n : notes) pending->report.notes.push_back(std::move(n));
              }
              if (--pending->left > 0) return;
              ReloadReport out = std::move(pending->report);
              l.unlock();
              for (const auto& a : out.applied) TALLY_LOG_INFO("reload: {}", a);
              for (const auto& n : out.notes) TALLY_LOG_INFO("reload: {}", n);
              for (const auto& e : out.errors) TALLY_LOG_ERROR("reload: {}", e);
              pending->done(std::move(out));
            });
  }
}

}  // namespace tally::server
