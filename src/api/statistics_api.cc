#include "api/statistics_api.h"

#include <boost/json.hpp>

#include <algorithm>
#include <mutex>

#include "api/identity_store.h"
#include "api/notifications_api.h"
#include "api/request_fields.h"
#include "api/updates.h"
#include "api/values.h"
#include "common/binary.h"

namespace tally::api {
namespace json = boost::json;
namespace {

constexpr std::string_view kBase = "/statistics/v3";

}  // namespace

struct StatisticsApi::Impl : std::enable_shared_from_this<StatisticsApi::Impl> {
  struct OpenStat {
    std::string statistic_id;
    std::string name;  // catalog name, empty for ad-hoc
    std::string object_id;
    std::string object_type;
    std::uint64_t handle = 0;
  };
  struct Subscription {
    std::string id;
    std::string session;  // bound CometD session ("" = the principal's sessions)
    std::vector<OpenStat> stats;
  };
  struct Ask {
    OpenStat stat;
    stats::ObjectRef ref;
    stats::KeyValues definition;
  };

  Impl(EngineAccess& e, Authenticator a, Limits l, const Clock& c, bayeux::Server* n)
      : engine(e), authenticate(std::move(a)), limits(l), clock(c), notifications(n), updates(n) {}

  static UpdateTargetPtr TargetOf(const std::string& principal_key, const std::string& op,
                                  const std::string& session, const OpenStat& s) {
    return std::make_shared<const UpdateTarget>(UpdateTarget{
        principal_key, op, session, s.statistic_id, s.name, s.object_id, s.object_type});
  }

  EngineAccess& engine;
  Authenticator authenticate;
  Limits limits;  // under limits_mu (a live reload replaces them)
  mutable std::mutex limits_mu;
  [[nodiscard]] Limits Lim() const {
    std::lock_guard lock(limits_mu);
    return limits;
  }
  const Clock& clock;
  bayeux::Server* notifications;
  Updates updates;  // the notification path's one exit
  ExactOpen* exact = nullptr;
  IdentityStore identities;
  std::string node;  // this node's name (a session's home)
  std::unordered_map<std::uint64_t, UpdateTargetPtr> by_handle;  // engine thread

  // Engine-thread state: subscriptions by principal key ("tenant\\subject") and id.
  std::map<std::string, std::map<std::string, Subscription>> subscriptions;

  // Rate limiting (I/O threads).
  std::mutex rate_mu;
  struct Bucket {
    double tokens;
    TimeMs last;
  };
  std::unordered_map<std::string, Bucket> buckets;

  static std::string Key(const Principal& p) { return p.tenant + "\\" + p.subject; }

  // Authenticates, authorizes and rate-limits; answers the error itself when it fails.
  bool Admit(const HttpRequest& req, Responder& r, Principal& who) {
    auto p = authenticate(req);
    if (!p) {
      r.Send(ErrorResponse(p.error(), req.path));
      return false;
    }
    if (!p->HasRole("statistics:read")) {
      r.Send(ErrorResponse(403, "role 'statistics:read' is required", req.path));
      return false;
    }
    if (p->tenant.empty()) {
      r.Send(ErrorResponse(403, "the token is not bound to a tenant", req.path));
      return false;
    }
    if (auto up = engine.Available(p->tenant); !up) {
      r.Send(ErrorResponse(up.error(), req.path));
      return false;
    }
    {
      std::lock_guard lock(rate_mu);
      const TimeMs now = clock.NowMs();
      const double rate = Lim().requests_per_second;
      auto [it, inserted] = buckets.try_emplace(Key(*p), Bucket{rate * 2, now});
      Bucket& b = it->second;
      b.tokens = std::min(rate * 2, b.tokens + static_cast<double>(now - b.last) * rate / 1000.0);
      b.last = now;
      if (b.tokens < 1) {
        HttpResponse res = ErrorResponse(429,
                                         "more than " + std::to_string(Lim().requests_per_second) +
                                             " requests per second for this principal",
                                         req.path);
        res.headers.emplace_back("Retry-After", "1");
        r.Send(std::move(res));
        return false;
      }
      b.tokens -= 1;
    }
    who = std::move(*p);
    return true;
  }

  static json::object Entry(const std::string& name, const std::string& type, const std::string& id,
                            const stats::StatValue& v, const json::storage_ptr& sp = {}) {
    json::object o(5, sp);
    if (!name.empty()) o["name"] = name;
    o["objectId"] = id;
    o["objectType"] = type;
    o["timestamp"] = v.timestamp;
    o["value"] = ValueJson(v, sp);
    return o;
  }

  json::object StatEntry(const OpenStat& s, const stats::StatValue& v, bool verbose) {
    json::object o;
    o["statisticId"] = s.statistic_id;
    if (verbose) {
      if (!s.name.empty()) o["name"] = s.name;
      o["objectId"] = s.object_id;
      o["objectType"] = s.object_type;
    }
    o["timestamp"] = v.timestamp;
    o["value"] = ValueJson(v);
    return o;
  }

  static Result<bool> Verbose(const std::vector<std::pair<std::string, std::string>>& q) {
    const std::string v = QueryValue(q, "verbose");
    if (v.empty() || stats::EqualsIgnoreCase(v, "INFO")) return true;
    if (stats::EqualsIgnoreCase(v, "OFF")) return false;
    return Error{Errc::kInvalidArgument, "query 'verbose' must be INFO or OFF"};
  }

  // POST /statistics/v3/operations/get-statistic-ex
  void GetStatisticEx(HttpRequest& req, Responder r) {
    Principal who;
    if (!Admit(req, r, who)) return;
    // The body is read in an arena on the stack: only the asks are kept.
    unsigned char arena[4096];
    json::monotonic_resource mr(arena, sizeof arena);
    auto body = ParseObject(req.body, json::storage_ptr(&mr));
    if (!body) return r.Send(ErrorResponse(body.error(), req.path));
    auto array = StatisticsArray(*body);
    if (!array) return r.Send(ErrorResponse(array.error(), req.path));
    if ((*array)->size() > Lim().statistics_per_request) {
      return r.Send(ErrorResponse(400,
                                  "field 'data.statistics' has more than " +
                                      std::to_string(Lim().statistics_per_request) + " entries",
                                  req.path));
    }
    struct PeekAsk {
      std::string name, type;
      stats::ObjectRef ref;
    };
    std::vector<PeekAsk> asks;
    asks.reserve((*array)->size());
    for (size_t i = 0; i < (*array)->size(); ++i) {
      const std::string where = "data.statistics[" + std::to_string(i) + "]";
      const json::value& item = (**array)[i];
      auto entry = EntryObject(item, where);
      if (!entry) return r.Send(ErrorResponse(entry.error(), req.path));
      auto name = RequiredString(item.as_object(), "name", where + ".name");
      if (!name) return r.Send(ErrorResponse(name.error(), req.path));
      asks.push_back({std::move(*name), std::move(entry->type), std::move(entry->ref)});
    }
    engine.Post([tenant = std::move(who.tenant), asks = std::move(asks), r](stats::Engine& e) {
      // The answer is built in an arena and only its text leaves.
      unsigned char out[16384];
      json::monotonic_resource omr(out, sizeof out);
      const json::storage_ptr sp(&omr);
      json::array values(sp);
      values.reserve(asks.size());
      json::array errors(sp);
      for (size_t i = 0; i < asks.size(); ++i) {
        const PeekAsk& a = asks[i];
        auto v = e.Peek(tenant, a.name, a.ref);
        if (!v) {
          errors.push_back(ErrorEntry(HttpStatusFor(v.error().code),
                                      "data.statistics[" + std::to_string(i) + "] ('" + a.name +
                                          "' for " + a.type + " '" + a.ref.id +
                                          "'): " + v.error().message));
          continue;
        }
        values.push_back(Entry(a.name, a.type, a.ref.id, *v, sp));
      }
      json::object data(1, sp);
      data["statistics"] = std::move(values);
      SendOk(r, std::move(data), std::move(errors));
    });
  }

  // GET /statistics/v3/statistic-values/{statisticName}
  void StatisticValue(HttpRequest& req, const RouteParams& params, Responder r) {
    Principal who;
    if (!Admit(req, r, who)) return;
    bool ok = true;
    const auto q = ParseQuery(req.query, &ok);
    if (!ok) return r.Send(ErrorResponse(400, "the query string has a bad %-escape", req.path));
    const std::string name(params.Get("statisticName"));
    const std::string id = QueryValue(q, "objectId");
    const std::string type = QueryValue(q, "objectType");
    if (id.empty()) return r.Send(ErrorResponse(400, "query 'objectId' is required", req.path));
    if (type.empty()) return r.Send(ErrorResponse(400, "query 'objectType' is required", req.path));
    auto ref = ObjectOf(type, id, "objectType");
    if (!ref) return r.Send(ErrorResponse(ref.error(), req.path));
    engine.Post([self = shared_from_this(), who, name, id, type, ref = *ref, r,
                 path = req.path](stats::Engine& e) {
      auto v = e.Peek(who.tenant, name, ref);
      if (!v) return r.Send(ErrorResponse(v.error(), path));
      r.Send(Json(200, Ok(json::object{{"statistic", self->Entry(name, type, id, *v)}})));
    });
  }

  // POST /statistics/v3/subscriptions
  void CreateSubscription(HttpRequest& req, Responder r) {
    Principal who;
    if (!Admit(req, r, who)) return;
    bool ok = true;
    const auto q = ParseQuery(req.query, &ok);
    auto verbose = Verbose(q);
    if (!verbose) return r.Send(ErrorResponse(verbose.error(), req.path));
    auto body = ParseObject(req.body);
    if (!body) return r.Send(ErrorResponse(body.error(), req.path));
    auto op = RequiredString(*body, "operationId", "operationId");
    if (!op) return r.Send(ErrorResponse(op.error(), req.path));
    auto array = StatisticsArray(*body);
    if (!array) return r.Send(ErrorResponse(array.error(), req.path));
    if ((*array)->size() > Lim().statistics_per_subscription) {
      return r.Send(ErrorResponse(400,
                                  "field 'data.statistics' has more than " +
                                      std::to_string(Lim().statistics_per_subscription) +
                                      " entries (statistics per subscription)",
                                  req.path));
    }
    std::vector<Ask> asks;
    for (size_t i = 0; i < (*array)->size(); ++i) {
      const std::string where = "data.statistics[" + std::to_string(i) + "]";
      const json::value& item = (**array)[i];
      auto entry = EntryObject(item, where);
      if (!entry) return r.Send(ErrorResponse(entry.error(), req.path));
      const auto& o = item.as_object();
      auto sid = RequiredString(o, "statisticId", where + ".statisticId");
      if (!sid) return r.Send(ErrorResponse(sid.error(), req.path));
      for (const Ask& a : asks) {
        if (a.stat.statistic_id == *sid) {
          return r.Send(ErrorResponse(400,
                                      "field '" + where + ".statisticId': '" + *sid +
                                          "' is used twice in this subscription",
                                      req.path));
        }
      }
      const json::value* name = o.if_contains("name");
      const json::value* def = o.if_contains("definition");
      const bool has_name = name != nullptr && !name->is_null();
      const bool has_def = def != nullptr && !def->is_null();
      if (has_name == has_def) {
        return r.Send(ErrorResponse(
            400, "field '" + where + "' needs exactly one of 'name' and 'definition'", req.path));
      }
      Ask a{{*sid, "", entry->ref.id, entry->type, 0}, entry->ref, {}};
      if (has_name) {
        auto checked = RequiredString(o, "name", where + ".name");
        if (!checked) return r.Send(ErrorResponse(checked.error(), req.path));
        a.stat.name = std::move(*checked);
      } else {
        if (!def->is_object()) {
          return r.Send(
              ErrorResponse(400, "field '" + where + ".definition' must be an object", req.path));
        }
        auto fields = DefinitionFields(def->as_object(), where + ".definition");
        if (!fields) return r.Send(ErrorResponse(fields.error(), req.path));
        a.definition = std::move(*fields);
      }
      asks.push_back(std::move(a));
    }
    std::string session = Cookie(req, kSessionCookie);
    if (!session.empty() &&
        (notifications == nullptr || !notifications->SessionOwnedBy(session, Key(who)))) {
      session.clear();  // not a live session of this principal: bind to the principal
    }
    json::object command{{"op", "subscribe"},      {"tenant", who.tenant},
                         {"subject", who.subject}, {"operationId", *op},
                         {"session", session},     {"statistics", AsksJson(asks)}};
    engine.Durable(who.tenant, json::serialize(command),
                   [self = shared_from_this(), who, op = *op, session, asks = std::move(asks), r,
                    verbose = *verbose, path = req.path](Result<stats::Engine*> e) mutable {
                     if (!e) return r.Send(ErrorResponse(e.error(), path));
                     HttpResponse answer =
                         self->Subscribe(**e, who, op, session, asks, verbose, path, &r);
                     if (answer.status != 0) r.Send(std::move(answer));
                   });
  }

  static json::array AsksJson(const std::vector<Ask>& asks) {
    json::array out;
    for (const Ask& a : asks) {
      json::object o{{"statisticId", a.stat.statistic_id},
                     {"objectId", a.stat.object_id},
                     {"objectType", a.stat.object_type}};
      if (!a.stat.name.empty()) {
        o["name"] = a.stat.name;
      } else {
        json::object d;
        for (const auto& [k, v] : a.definition) d[k] = v;
        o["definition"] = std::move(d);
      }
      out.push_back(std::move(o));
    }
    return out;
  }

  static Result<std::vector<Ask>> AsksFrom(const json::array& items) {
    std::vector<Ask> asks;
    for (const auto& item : items) {
      auto entry = EntryObject(item, "statistics[]");
      if (!entry) return entry.error();
      const auto& o = item.as_object();
      Ask a;
      a.stat.statistic_id = std::string(o.at("statisticId").as_string());
      a.stat.object_id = entry->ref.id;
      a.stat.object_type = entry->type;
      a.ref = entry->ref;
      if (const auto* n = o.if_contains("name")) {
        a.stat.name = std::string(n->as_string());
      } else {
        for (const auto& [k, v] : o.at("definition").as_object()) {
          a.definition.emplace_back(std::string(k), std::string(v.as_string()));
        }
      }
      asks.push_back(std::move(a));
    }
    return asks;
  }

  // An answer waiting for its ad-hoc statistics to become exact (engine thread only).
  struct ExactWait {
    json::object out;  // the answer; data.statistics[index] are replaced as they become exact
    struct Item {
      size_t index = 0;
      OpenStat stat;
    };
    std::vector<Item> items;
    size_t waiting = 0;
    bool verbose = false;
    Responder r;
  };

  // Creates the subscription on the engine thread (live, and again on replay). Ad-hoc
  // statistics are made exact on open (ExactOpen) unless their definition says
  // accumulateFrom=open; with `deferred` (live), an answer that must wait for them is not
  // returned (status 0) but sent by the last one's completion.
  HttpResponse Subscribe(stats::Engine& e, const Principal& who, const std::string& op,
                         const std::string& session, std::vector<Ask>& asks, bool verbose,
                         const std::string& path, const Responder* deferred = nullptr) {
    auto& mine = subscriptions[Key(who)];
    if (mine.count(op) != 0) {
      return ErrorResponse(409, "field 'operationId': subscription '" + op + "' already exists",
                           path);
    }
    if (mine.size() >= Lim().subscriptions_per_principal) {
      return ErrorResponse(400,
                           "this principal already has " + std::to_string(mine.size()) +
                               " subscriptions (the limit)",
                           path);
    }
    Subscription sub{op, session, {}};
    json::array values;
    json::array errors;
    struct ToExact {
      size_t index;
      size_t ask;
      stats::KeyValues fields;
    };
    std::vector<ToExact> to_exact;
    for (size_t i = 0; i < asks.size(); ++i) {
      Ask& a = asks[i];
      stats::KeyValues fields = a.definition;
      const bool make_exact = a.stat.name.empty() && TakeAccumulateFrom(fields);
      auto opened = a.stat.name.empty() ? e.OpenDefinition(who.tenant, fields, a.ref)
                                        : e.OpenCatalog(who.tenant, a.stat.name, a.ref);
      if (!opened) {
        errors.push_back(
            ErrorEntry(HttpStatusFor(opened.error().code),
                       "statisticId '" + a.stat.statistic_id + "': " + opened.error().message));
        continue;
      }
      a.stat.handle = opened->handle;
      if (make_exact && exact != nullptr) to_exact.push_back({values.size(), i, fields});
      values.push_back(StatEntry(a.stat, opened->value, verbose));
      sub.stats.push_back(a.stat);
      by_handle[a.stat.handle] = TargetOf(Key(who), op, session, a.stat);
    }
    mine.emplace(op, std::move(sub));
    json::object out = Ok(json::object{
        {"subscriptionId", op}, {"operationId", op}, {"statistics", std::move(values)}});
    if (!errors.empty()) out["errors"] = std::move(errors);
    if (to_exact.empty()) return Json(200, out);
    std::shared_ptr<ExactWait> wait;
    if (deferred != nullptr) {
      wait = std::make_shared<ExactWait>();
      wait->out = std::move(out);
      wait->waiting = to_exact.size();
      wait->verbose = verbose;
      wait->r = *deferred;
    }
    for (const ToExact& t : to_exact) {
      const Ask& a = asks[t.ask];
      std::function<void(stats::Engine&, bool, const std::string&)> done =
          [](stats::Engine&, bool, const std::string&) {};
      if (wait) {
        done = [self = shared_from_this(), wait, index = t.index, stat = a.stat](
                   stats::Engine& en, bool exact_now, const std::string& note) {
          // The value now, exact or not (the subscription may be gone: then as opened).
          json::array& list = wait->out["data"].as_object()["statistics"].as_array();
          if (auto v = en.Get(stat.handle); v && index < list.size()) {
            list[index] = self->StatEntry(stat, *v, wait->verbose);
          }
          if (index < list.size()) {
            json::object& entry = list[index].as_object();
            entry["exact"] = exact_now;
            if (!exact_now) entry["exactNote"] = note;
          }
          if (--wait->waiting == 0) wait->r.Send(Json(200, wait->out));
        };
      }
      exact->Start(who.tenant, a.stat.handle, t.fields, a.ref, std::move(done));
    }
    if (wait) {
      HttpResponse deferred_answer;
      deferred_answer.status = 0;  // sent by the last statistic's completion
      return deferred_answer;
    }
    return Json(200, out);
  }

  void Unsubscribe(stats::Engine& e, const Principal& who, const std::string& id) {
    auto& mine = subscriptions[Key(who)];
    auto it = mine.find(id);
    if (it != mine.end()) {
      for (const auto& s : it->second.stats) {
        e.Close(s.handle);
        by_handle.erase(s.handle);
      }
      mine.erase(it);
    }
  }

  void DropSession(stats::Engine& e, const std::string& session) {
    for (auto& [key, mine] : subscriptions) {
      for (auto it = mine.begin(); it != mine.end();) {
        if (it->second.session == session) {
          for (const auto& s : it->second.stats) {
            e.Close(s.handle);
            by_handle.erase(s.handle);
          }
          it = mine.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  // Re-executes a journaled command (recovery, another node's record, or this node's own
  // continuation for records without a reply to send).
  bool Replay(std::string_view command, stats::Engine& e) {
    boost::system::error_code ec;
    json::value v = json::parse(command, ec);
    if (ec || !v.is_object()) return false;
    try {
      const auto& o = v.as_object();
      const std::string op(o.at("op").as_string());
      Principal who;
      who.tenant = std::string(o.at("tenant").as_string());
      who.subject = std::string(o.at("subject").as_string());
      if (op == "subscribe") {
        auto asks = Impl::AsksFrom(o.at("statistics").as_array());
        if (!asks) return false;
        std::string session;
        if (const auto* sv = o.if_contains("session"); sv != nullptr && sv->is_string()) {
          session = std::string(sv->as_string());
        }
        (void)Subscribe(e, who, std::string(o.at("operationId").as_string()), session, *asks, true,
                        "");
        return true;
      }
      if (op == "drop-session") {
        const std::string session(o.at("session").as_string());
        DropSession(e, session);
        identities.Remove(session);
        return true;
      }
      if (op == "session-open") {
        SessionIdentity s;
        s.client_id = std::string(o.at("session").as_string());
        s.principal = who;
        for (const auto& r : o.at("roles").as_array())
          s.principal.roles.emplace_back(r.as_string());
        s.browser = std::string(o.at("browser").as_string());
        for (const auto& c : o.at("channels").as_array()) s.channels.emplace_back(c.as_string());
        s.home = std::string(o.at("home").as_string());
        s.since = e.Now(who.tenant);
        identities.Put(std::move(s));
        return true;
      }
      if (op == "unsubscribe") {
        Unsubscribe(e, who, std::string(o.at("id").as_string()));
        return true;
      }
    } catch (const std::exception&) {
      return false;
    }
    return false;
  }

  // GET /statistics/v3/subscriptions/{id}/statistic-values
  void PeekSubscription(HttpRequest& req, const RouteParams& params, Responder r) {
    Principal who;
    if (!Admit(req, r, who)) return;
    bool ok = true;
    const auto q = ParseQuery(req.query, &ok);
    if (!ok) return r.Send(ErrorResponse(400, "the query string has a bad %-escape", req.path));
    auto verbose = Verbose(q);
    if (!verbose) return r.Send(ErrorResponse(verbose.error(), req.path));
    std::vector<std::string> ids;  // both "a,b" and repeated keys
    for (const auto& [k, v] : q) {
      if (k != "statisticIds") continue;
      size_t pos = 0;
      while (pos <= v.size()) {
        size_t comma = v.find(',', pos);
        if (comma == std::string::npos) comma = v.size();
        std::string id = v.substr(pos, comma - pos);
        id.erase(0, id.find_first_not_of(' '));
        id.erase(id.find_last_not_of(' ') + 1);
        if (!id.empty()) ids.push_back(id);
        pos = comma + 1;
      }
    }
    engine.Post([self = shared_from_this(), who, id = std::string(params.Get("id")), ids, r,
                 verbose = *verbose, path = req.path](stats::Engine& e) {
      auto& mine = self->subscriptions[Key(who)];
      auto it = mine.find(id);
      if (it == mine.end()) {
        return r.Send(ErrorResponse(404, "subscription '" + id + "' does not exist", path));
      }
      json::array values;
      json::array errors;
      auto add = [&](const OpenStat& s) {
        auto v = e.Get(s.handle);
        if (v) values.push_back(self->StatEntry(s, *v, verbose));
      };
      if (ids.empty()) {
        for (const auto& s : it->second.stats) add(s);
      } else {
        for (const auto& want : ids) {
          auto s = std::find_if(it->second.stats.begin(), it->second.stats.end(),
                                [&](const OpenStat& o) { return o.statistic_id == want; });
          if (s == it->second.stats.end()) {
            errors.push_back(
                ErrorEntry(404, "statisticId '" + want + "' is not in this subscription"));
          } else {
            add(*s);
          }
        }
      }
      SendOk(r, json::object{{"subscriptionId", id}, {"statistics", std::move(values)}},
             std::move(errors));
    });
  }

  // DELETE /statistics/v3/subscriptions/{id}: always 200 (fire and forget).
  void DeleteSubscription(HttpRequest& req, const RouteParams& params, Responder r) {
    Principal who;
    if (!Admit(req, r, who)) return;
    const std::string id(params.Get("id"));
    json::object command{
        {"op", "unsubscribe"}, {"tenant", who.tenant}, {"subject", who.subject}, {"id", id}};
    engine.Durable(
        who.tenant, json::serialize(command),
        [self = shared_from_this(), who, id, r, path = req.path](Result<stats::Engine*> e) {
          if (!e) return r.Send(ErrorResponse(e.error(), path));
          self->Unsubscribe(**e, who, id);
          r.Send(Json(200, json::object{{"status", json::object{{"code", 0}}}}));
        });
  }
};

StatisticsApi::StatisticsApi(EngineAccess& engine, Authenticator authenticate, Limits limits,
                             const Clock& clock, bayeux::Server* notifications)
    : impl_(std::make_shared<Impl>(engine, std::move(authenticate), limits, clock, notifications)) {
}

StatisticsApi::~StatisticsApi() = default;

void StatisticsApi::SetExactOpen(ExactOpen* exact) { impl_->exact = exact; }

void StatisticsApi::SetLimits(const Limits& limits) {
  std::lock_guard lock(impl_->limits_mu);
  impl_->limits = limits;
}

bool StatisticsApi::Replay(std::string_view command, stats::Engine& engine) {
  return impl_->Replay(command, engine);
}

// Layout: a marker (kWithIdentities; the first layout began with the count of principals),
// the subscriptions by principal, then the session identities.
constexpr std::uint64_t kWithIdentities = ~std::uint64_t{0} - 1;

std::string StatisticsApi::SaveState() const {
  BinaryWriter w;
  w.U64(kWithIdentities);
  const auto& subscriptions = impl_->subscriptions;
  w.U64(subscriptions.size());
  for (const auto& [key, mine] : subscriptions) {
    w.Str(key);
    w.U64(mine.size());
    for (const auto& [id, sub] : mine) {
      w.Str(sub.id);
      w.Str(sub.session);
      w.U64(sub.stats.size());
      for (const auto& s : sub.stats) {
        w.Str(s.statistic_id);
        w.Str(s.name);
        w.Str(s.object_id);
        w.Str(s.object_type);
        w.U64(s.handle);
      }
    }
  }
  impl_->identities.Save(w);
  return w.Take();
}

bool StatisticsApi::LoadState(std::string_view data) {
  BinaryReader r(data);
  std::map<std::string, std::map<std::string, Impl::Subscription>> subscriptions;
  std::unordered_map<std::uint64_t, UpdateTargetPtr> by_handle;
  BinaryReader peek(data);
  const bool with_identities = peek.U64() == kWithIdentities;
  if (with_identities) (void)r.U64();
  const size_t principals = r.Count(2);
  for (size_t i = 0; i < principals && r.Ok(); ++i) {
    const std::string key = r.Str();
    auto& mine = subscriptions[key];
    const size_t n = r.Count(3);
    for (size_t k = 0; k < n && r.Ok(); ++k) {
      Impl::Subscription sub;
      sub.id = r.Str();
      sub.session = r.Str();
      sub.stats.resize(r.Count(5));
      for (auto& s : sub.stats) {
        s.statistic_id = r.Str();
        s.name = r.Str();
        s.object_id = r.Str();
        s.object_type = r.Str();
        s.handle = r.U64();
        by_handle[s.handle] = Impl::TargetOf(key, sub.id, sub.session, s);
      }
      mine[sub.id] = std::move(sub);
    }
  }
  IdentityStore identities;
  if (with_identities && !identities.Load(r)) return false;
  if (!r.Ok() || !r.AtEnd()) return false;
  impl_->subscriptions = std::move(subscriptions);
  impl_->by_handle = std::move(by_handle);
  BinaryWriter copy;  // all parsed: the identities replace the current ones
  identities.Save(copy);
  const std::string bytes = copy.Take();
  BinaryReader again(bytes);
  return impl_->identities.Load(again);
}

IdentityStore& StatisticsApi::Identities() { return impl_->identities; }

void StatisticsApi::SetNode(std::string node) { impl_->node = std::move(node); }

void StatisticsApi::SessionOpened(const bayeux::Server::Identity& id) {
  json::array roles;
  for (const auto& r : id.principal.roles) roles.emplace_back(r);
  json::array channels;
  for (const auto& c : id.subscriptions) channels.emplace_back(c);
  json::object command{{"op", "session-open"},
                       {"tenant", id.principal.tenant},
                       {"subject", id.principal.subject},
                       {"roles", std::move(roles)},
                       {"session", id.client_id},
                       {"browser", id.browser},
                       {"channels", std::move(channels)},
                       {"home", impl_->node}};
  const std::string text = json::serialize(command);
  // Fire and forget: the identity is there once the record is applied (here, and on every node
  // of a cluster); a record that could not be stored leaves the session live but not durable.
  impl_->engine.Durable(id.principal.tenant, text, [impl = impl_, text](Result<stats::Engine*> e) {
    if (e) (void)impl->Replay(text, **e);  // the same effect as the record's replay
  });
}

void StatisticsApi::DropTenant(stats::Engine& engine, const std::string& tenant) {
  auto& I = *impl_;
  for (auto& [key, mine] : I.subscriptions) {
    if (key.compare(0, tenant.size() + 1, tenant + "\\") != 0) continue;
    for (auto& [id, sub] : mine) {
      for (const auto& s : sub.stats) {
        engine.Close(s.handle);
        I.by_handle.erase(s.handle);
      }
    }
    mine.clear();
  }
}

void StatisticsApi::SetDeliveryExecutor(std::function<void(std::function<void()>)> post) {
  impl_->updates.SetExecutor(std::move(post));
}

void StatisticsApi::Deliver(std::vector<stats::Notification>& notifications) {
  auto& I = *impl_;
  // On the engine thread only the destinations are looked up; the values are immutable.
  UpdateItems items;
  items.reserve(notifications.size());
  for (auto& n : notifications) {
    auto it = I.by_handle.find(n.handle);
    if (it == I.by_handle.end()) continue;
    items.emplace_back(it->second, std::move(n.value));
  }
  I.updates.Statistics(std::move(items));
}

void StatisticsApi::ServiceState(const std::string& tenant, bool available) {
  impl_->updates.ServiceState(tenant, available);
}

void StatisticsApi::SessionClosed(const bayeux::SessionInfo& session) {
  // A session that expired here after its client moved to another node (a cluster: the
  // identity's home is that node now) is not ended: it lives on there.
  if (session.expired) {
    auto identity = impl_->identities.Find(session.client_id);
    if (identity && !identity->home.empty() && identity->home != impl_->node) return;
  }
  json::object command{{"op", "drop-session"},
                       {"tenant", session.principal.tenant},
                       {"subject", session.principal.subject},
                       {"session", session.client_id}};
  impl_->engine.Durable(session.principal.tenant, json::serialize(command),
                        [impl = impl_, id = session.client_id](Result<stats::Engine*> e) {
                          if (!e) return;
                          impl->DropSession(**e, id);
                          impl->identities.Remove(id);
                        });
}

void StatisticsApi::SessionResumed(const bayeux::SessionInfo& session) {
  // A session that moved here from another node (or came back after a restart) is this
  // node's now: journaled, so its subscriptions live on and its old node lets it go.
  if (auto identity = impl_->identities.Find(session.client_id);
      identity && identity->home != impl_->node) {
    SessionOpened(bayeux::Server::Identity{identity->client_id, identity->principal,
                                           identity->browser, identity->channels});
  }
  impl_->engine.Post([impl = impl_, session](stats::Engine& e) {
    const std::string key = bayeux::PrincipalKey(session.principal);
    UpdateItems items;
    for (const auto& [handle, t] : impl->by_handle) {
      if (t->principal_key != key || (!t->session.empty() && t->session != session.client_id)) {
        continue;
      }
      auto v = e.Get(handle);
      if (v) items.emplace_back(t, std::move(*v));
    }
    // Only to the resumed session, even for principal-bound subscriptions; through the same
    // ordered path as updates, so it cannot overtake one queued before it.
    impl->updates.Statistics(std::move(items), session.client_id);
  });
}

std::vector<Route> StatisticsApi::Routes() {
  auto impl = impl_;
  const std::string base(kBase);
  return {
      {HttpMethod::kPost, base + "/operations/get-statistic-ex",
       [impl](HttpRequest& q, const RouteParams&, Responder r) { impl->GetStatisticEx(q, r); }},
      {HttpMethod::kGet, base + "/statistic-values/{statisticName}",
       [impl](HttpRequest& q, const RouteParams& p, Responder r) {
         impl->StatisticValue(q, p, r);
       }},
      {HttpMethod::kPost, base + "/subscriptions",
       [impl](HttpRequest& q, const RouteParams&, Responder r) { impl->CreateSubscription(q, r); }},
      {HttpMethod::kGet, base + "/subscriptions/{id}/statistic-values",
       [impl](HttpRequest& q, const RouteParams& p, Responder r) {
         impl->PeekSubscription(q, p, r);
       }},
      {HttpMethod::kDelete, base + "/subscriptions/{id}",
       [impl](HttpRequest& q, const RouteParams& p, Responder r) {
         impl->DeleteSubscription(q, p, r);
       }},
  };
}

}  // namespace tally::api
