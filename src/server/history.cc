#include "server/history.h"

#include <algorithm>
#include <map>
#include <optional>

#include <date/date.h>
#include <boost/json.hpp>

#include "api/values.h"
#include "server/reload.h"
#include "stats/definition.h"

namespace tally::server {

namespace {

// The growing-window profile whose resets are the bucket boundaries (local time).
std::string Profile(const std::string& bucket) {
  if (bucket == "15m") return "00:00+0:15";
  if (bucket == "30m") return "00:00+0:30";
  if (bucket == "1h") return "00:00+1:00";
  return "00:00";
}

void Set(stats::KeyValues& kv, const std::string& key, const std::string& value) {
  for (auto& [k, v] : kv) {
    if (k == key) {
      v = value;
      return;
    }
  }
  kv.emplace_back(key, value);
}

void Drop(stats::KeyValues& kv, const std::string& key) {
  kv.erase(std::remove_if(kv.begin(), kv.end(), [&](const auto& p) { return p.first == key; }),
           kv.end());
}

struct Series {
  stats::KeyValues fields;
  bool current = false;
  std::uint64_t handle = 0;
  TimeMs opened_at = 0;                       // buckets starting before it are partial
  std::map<TimeMs, stats::StatValue> closed;  // bucket end → value
};

Error Bad(const std::string& field, const std::string& message) {
  return Error{Errc::kInvalidArgument, field + ": " + message};
}

}  // namespace

std::int64_t BucketMs(const std::string& bucket) {
  if (bucket == "15m") return 15 * 60'000LL;
  if (bucket == "30m") return 30 * 60'000LL;
  if (bucket == "1h") return 60 * 60'000LL;
  if (bucket == "1d") return 24 * 60 * 60'000LL;
  return 0;
}

Result<std::vector<TimeMs>> BucketBounds(const std::string& bucket, const std::string& zone,
                                         TimeMs from, TimeMs to, size_t max_buckets) {
  // The growing profile's own resets, in the zone: local midnight + k × the bucket length.
  auto profile = stats::ParseGrowingProfile(Profile(bucket), "data.bucket");
  if (!profile) return profile.error();
  profile->zone = zone.empty() ? nullptr : stats::FindZone(zone);
  std::vector<TimeMs> bounds{stats::LastReset(*profile, from)};
  while (bounds.back() < to) {
    bounds.push_back(stats::NextReset(*profile, bounds.back()));
    if (bounds.size() - 1 > max_buckets) {
      return Error{Errc::kInvalidArgument,
                   "data.to: more than " + std::to_string(max_buckets) +
                       " buckets per statistic in one request (statistics × buckets at most "
                       "20 000): ask for a shorter range or a longer bucket"};
    }
  }
  return bounds;
}

Result<std::vector<HistorySeries>> ComputeHistory(const HistorySource& source,
                                                  const HistoryRequest& request,
                                                  const std::atomic<bool>* stop) {
  const std::int64_t length = BucketMs(request.bucket);
  if (length == 0) return Bad("data.bucket", "expected \"15m\", \"30m\", \"1h\" or \"1d\"");
  if (!stats::IsValidEventTime(request.from)) return Bad("data.from", "not a valid time (ms)");
  if (!stats::IsValidEventTime(request.to) || request.to <= request.from) {
    return Bad("data.to", "must be a time (ms) after data.from");
  }
  const auto setup = std::find_if(source.tenants.begin(), source.tenants.end(),
                                  [&](const auto& t) { return t.name == request.tenant; });
  if (setup == source.tenants.end()) {
    return Error{Errc::kNotFound, "tenant '" + request.tenant + "' is not configured here"};
  }
  const size_t per_bucket = std::max<size_t>(1, request.asks.size());
  auto bounded = BucketBounds(request.bucket, setup->time_zone, request.from, request.to,
                              source.max_buckets / per_bucket);
  if (!bounded) return bounded.error();
  const std::vector<TimeMs> bounds = std::move(*bounded);
  auto log = OpenLog(source, request.tenant, stop);
  if (!log) return log.error();

  // The scratch engine, built as recovery builds it (log_replay.h).
  stats::Engine engine;
  TimeMs first_time = 0;
  if (auto built = BuildScratch(source, *setup, **log, engine, first_time); !built) {
    return built.error();
  }

  std::vector<Series> series(request.asks.size());
  std::vector<HistorySeries> answer(request.asks.size());
  for (size_t i = 0; i < request.asks.size(); ++i) {
    const HistoryAsk& ask = request.asks[i];
    stats::KeyValues fields = ask.definition;
    if (!ask.name.empty()) {
      auto it = std::find_if(source.catalog.begin(), source.catalog.end(),
                             [&](const auto& e) { return e.name == ask.name; });
      if (it == source.catalog.end()) {
        answer[i].error = "name: '" + ask.name + "' is not in the catalog";
        continue;
      }
      fields = it->fields;
    }
    Drop(fields, "objects");
    auto def = stats::ParseDefinition(fields, nullptr);
    if (!def) {
      answer[i].error = "definition: " + def.error().message;
      continue;
    }
    series[i].current = def->IsCurrent();
    if (!series[i].current) {
      // The same definition, its growing window reset at each bucket start: the value before
      // each reset is the bucket's.
      Set(fields, "intervalType", "GrowingWindow");
      Set(fields, "dynamicTimeProfile", Profile(request.bucket));
      Drop(fields, "intervalLength");
      Set(fields, "notificationMode", "Reset");
    }
    series[i].fields = std::move(fields);
  }

  std::vector<stats::Notification> out;
  size_t next = 1;  // the next boundary to close
  // Opens what is not open yet (an object may come with a later configuration record).
  auto open = [&](TimeMs now) {
    for (size_t i = 0; i < series.size(); ++i) {
      Series& s = series[i];
      if (s.handle != 0 || s.fields.empty() || !answer[i].error.empty()) continue;
      auto opened_stat = engine.OpenDefinition(request.tenant, s.fields, request.asks[i].object);
      if (!opened_stat) continue;
      s.handle = opened_stat->handle;
      s.opened_at = now;
    }
  };
  bool started = false;
  auto start = [&] {
    if (started) return;
    started = true;
    open(bounds.front());
    (void)engine.AdvanceTo(bounds.front(), out);  // the first bucket's window starts here
    out.clear();
  };
  // Closes the buckets ending at or before `t`: each Reset notification of this advance is the
  // bucket's value; current categories are read at the boundary.
  auto close_until = [&](TimeMs t) {
    while (next < bounds.size() && bounds[next] <= t) {
      (void)engine.AdvanceTo(bounds[next], out);
      for (const auto& n : out) {
        for (auto& s : series) {
          if (s.handle == n.handle && !s.current) s.closed[bounds[next]] = n.value;
        }
      }
      out.clear();
      for (auto& s : series) {
        if (!s.current || s.handle == 0) continue;
        if (auto v = engine.Get(s.handle)) s.closed[bounds[next]] = *v;
      }
      open(bounds[next]);
      ++next;
    }
  };
  TimeMs last_time = source.wall_clock ? first_time : stats::kMinEventTime;
  UnitDecoder decoder(request.tenant);  // the stream's verdict, as every replica decides it
  std::vector<stats::Event> batch;
  // One record: time moves as in the live engine — with the wall clock at the record's stamp,
  // with the event clock at each event's own time. False once past the range.
  auto apply = [&](TimeMs stamp, const stats::Event* event, const std::string* command) {
    const TimeMs t = source.wall_clock ? stamp : event ? event->time : engine.Now(request.tenant);
    if (t >= bounds.front()) start();
    close_until(t);
    if (next >= bounds.size()) return false;
    if (source.wall_clock) (void)engine.AdvanceTo(stamp, out);
    out.clear();
    last_time = std::max(last_time, t);
    if (event) {
      try {
        (void)engine.Apply(*event, out);
      } catch (const std::exception&) {
        // what recovery quarantines is skipped here too
      }
    } else {
      (void)ApplyReconfigure(*command, engine);
    }
    out.clear();
    return true;
  };
  bool stopped = false;
  auto scan = (*log)->Scan(0, UINT64_MAX, [&](const LogUnit& u) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      stopped = true;
      return false;
    }
    if (u.kind != storage::RecordKind::kEvent) {
      // subscriptions and sessions do not change the statistics' values
      if (!IsReconfigureCommand(u.bodies[0])) return true;
      return apply(u.time, nullptr, &u.bodies[0]);
    }
    if (!decoder.Decode(u, batch)) return true;
    for (const auto& e : batch) {
      if (!apply(u.time, &e, nullptr)) return false;
    }
    return true;
  });
  if (!scan) return scan.error();
  if (stopped) return Error{Errc::kUnavailable, "the server is stopping; retry the request"};
  if (last_time >= bounds.front()) start();
  close_until(last_time);
  // The buckets the journal ends in: their value so far.
  for (size_t i = 0; i < series.size(); ++i) {
    Series& s = series[i];
    if (!answer[i].error.empty()) continue;
    if (s.handle == 0) {
      answer[i].error =
          "objectId: " + std::string(stats::ObjectTypeName(request.asks[i].object.type)) + " '" +
          request.asks[i].object.id + "' does not exist in this tenant";
      continue;
    }
    for (size_t b = 1; b < bounds.size(); ++b) {
      HistoryBucket bucket{bounds[b - 1], bounds[b], {}, bounds[b - 1] >= s.opened_at};
      if (bounds[b - 1] < s.opened_at) {
        bucket.value.timestamp = bounds[b - 1];  // before the object existed here
        bucket.value.string_value = "0";
      } else if (auto it = s.closed.find(bounds[b]); it != s.closed.end()) {
        bucket.value = it->second;
      } else if (bounds[b - 1] <= last_time) {
        bucket.complete = false;
        if (auto v = engine.Get(s.handle)) bucket.value = *v;
      } else {
        bucket.complete = false;  // after the journal's end: nothing yet
        bucket.value.timestamp = bounds[b - 1];
        bucket.value.string_value = "0";
      }
      answer[i].buckets.push_back(std::move(bucket));
    }
    engine.Close(s.handle);
  }
  return answer;
}

namespace {

namespace json = boost::json;

std::string Iso(TimeMs t) {
  return date::format(
      "%FT%TZ",
      date::floor<std::chrono::milliseconds>(
          std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(t))));
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

HttpResponse JsonAnswer(int status, const json::object& body) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

// The request body: {"data": {"statistics": [{statisticId, name | definition, objectId,
// objectType}], "from": ms, "to": ms, "bucket": "15m"}}; errors name the field.
Result<HistoryRequest> ParseRequest(const std::string& body, const std::string& tenant) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return Bad("body", "expected a JSON object");
  const json::object* data =
      v.as_object().if_contains("data") != nullptr ? v.as_object().at("data").if_object() : nullptr;
  if (data == nullptr) return Bad("data", "expected an object");
  HistoryRequest req;
  req.tenant = tenant;
  auto time = [&](const char* key, TimeMs& out) -> bool {
    const json::value* t = data->if_contains(key);
    if (t == nullptr || !t->is_number()) return false;
    if (t->is_int64()) {
      out = t->as_int64();
    } else if (t->is_uint64() &&
               t->as_uint64() <= static_cast<std::uint64_t>(stats::kMaxEventTime)) {
      out = static_cast<TimeMs>(t->as_uint64());
    } else {
      return false;
    }
    return true;
  };
  if (!time("from", req.from)) return Bad("data.from", "expected a time in ms since the epoch");
  if (!time("to", req.to)) return Bad("data.to", "expected a time in ms since the epoch");
  const json::value* bucket = data->if_contains("bucket");
  if (bucket == nullptr || !bucket->is_string()) {
    return Bad("data.bucket", "expected \"15m\", \"30m\", \"1h\" or \"1d\"");
  }
  req.bucket = std::string(bucket->as_string());
  const json::value* list = data->if_contains("statistics");
  if (list == nullptr || !list->is_array() || list->as_array().empty()) {
    return Bad("data.statistics", "expected a non-empty array");
  }
  size_t i = 0;
  for (const auto& item : list->as_array()) {
    const std::string at = "data.statistics[" + std::to_string(i++) + "]";
    if (!item.is_object()) return Bad(at, "expected an object");
    const auto& o = item.as_object();
    HistoryAsk ask;
    auto str = [&](const char* key) -> std::string {
      const json::value* x = o.if_contains(key);
      return x != nullptr && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    ask.statistic_id = str("statisticId");
    ask.name = str("name");
    ask.object.id = str("objectId");
    auto type = stats::ParseObjectType(str("objectType"));
    if (!type) return Bad(at + ".objectType", "unknown object type '" + str("objectType") + "'");
    ask.object.type = *type;
    if (ask.object.id.empty() && *type != stats::ObjectType::kTenant) {
      return Bad(at + ".objectId", "required");
    }
    if (const json::value* d = o.if_contains("definition"); d != nullptr && !d->is_null()) {
      if (!d->is_object()) return Bad(at + ".definition", "expected an object");
      for (const auto& [k, x] : d->as_object()) {
        if (x.is_string()) {
          ask.definition.emplace_back(std::string(k), std::string(x.as_string()));
        } else if (x.is_number() || x.is_bool()) {
          ask.definition.emplace_back(std::string(k), json::serialize(x));
        } else {
          return Bad(at + ".definition." + std::string(k), "expected a string or a number");
        }
      }
    }
    if (ask.name.empty() == ask.definition.empty()) {
      return Bad(at, "give either a catalog name or a definition");
    }
    if (ask.statistic_id.empty()) ask.statistic_id = std::to_string(i - 1);
    req.asks.push_back(std::move(ask));
  }
  return req;
}

HttpResponse Render(const HistoryRequest& req, const std::vector<HistorySeries>& series, bool csv) {
  if (csv) {
    HttpResponse r;
    r.content_type = "text/csv; charset=utf-8";
    r.body =
        "statisticId,name,objectType,objectId,bucketStart,bucketEnd,complete,value,"
        "intervalLengthSeconds\r\n";
    for (size_t i = 0; i < series.size(); ++i) {
      const HistoryAsk& a = req.asks[i];
      for (const auto& b : series[i].buckets) {
        r.body += CsvField(a.statistic_id) + "," + CsvField(a.name) + "," +
                  std::string(stats::ObjectTypeName(a.object.type)) + "," + CsvField(a.object.id) +
                  "," + Iso(b.start) + "," + Iso(b.end) + "," + (b.complete ? "true" : "false") +
                  "," + CsvField(b.value.string_value) + "," +
                  std::to_string(b.value.interval_length_s) + "\r\n";
      }
    }
    return r;
  }
  json::array statistics;
  json::array errors;
  for (size_t i = 0; i < series.size(); ++i) {
    const HistoryAsk& a = req.asks[i];
    if (!series[i].error.empty()) {
      errors.push_back(
          json::object{{"statisticId", a.statistic_id},
                       {"status", json::object{{"code", 400}, {"message", series[i].error}}}});
      continue;
    }
    json::array buckets;
    for (const auto& b : series[i].buckets) {
      buckets.push_back(json::object{{"start", b.start},
                                     {"end", b.end},
                                     {"complete", b.complete},
                                     {"value", api::ValueJson(b.value)}});
    }
    json::object s{{"statisticId", a.statistic_id},
                   {"objectId", a.object.id},
                   {"objectType", std::string(stats::ObjectTypeName(a.object.type))},
                   {"buckets", std::move(buckets)}};
    if (!a.name.empty()) s["name"] = a.name;
    statistics.push_back(std::move(s));
  }
  json::object data{{"bucket", req.bucket},
                    {"from", req.from},
                    {"to", req.to},
                    {"statistics", std::move(statistics)}};
  json::object body{{"status", json::object{{"code", 0}}}, {"data", std::move(data)}};
  if (!errors.empty()) body["errors"] = std::move(errors);
  return JsonAnswer(200, body);
}

}  // namespace

HttpHandler HistoryRunner::Handler(
    std::function<Result<Principal>(const HttpRequest&)> authenticate) {
  return [this, authenticate = std::move(authenticate)](HttpRequest& q, const RouteParams&,
                                                        Responder r) {
    auto who = authenticate(q);
    if (!who) return r.Send(ErrorResponse(who.error(), q.path));
    if (!who->HasRole("statistics:read")) {
      return r.Send(ErrorResponse(403, "role 'statistics:read' is required", q.path));
    }
    if (who->tenant.empty()) {
      return r.Send(ErrorResponse(403, "the token is not bound to a tenant", q.path));
    }
    auto req = ParseRequest(q.body, who->tenant);
    if (!req) return r.Send(ErrorResponse(req.error(), q.path));
    const bool csv = q.Header("accept").find("text/csv") != std::string_view::npos;
    std::lock_guard lock(mu_);
    if (stopping_) return r.Send(ErrorResponse(503, "the server is stopping", q.path));
    if (running_ >= parallel_) {
      HttpResponse busy = ErrorResponse(
          503,
          "history: " + std::to_string(parallel_) + " requests are being computed; retry shortly",
          q.path);
      busy.headers.emplace_back("Retry-After", "1");
      return r.Send(std::move(busy));
    }
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    ++running_;
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back(
        Worker{std::thread([this, req = std::move(*req), csv, r, path = q.path, done] {
                 auto series = ComputeHistory(source_, req, &stop_);
                 if (!series) {
                   r.Send(ErrorResponse(series.error(), path));
                 } else {
                   r.Send(Render(req, *series, csv));
                 }
                 {
                   std::lock_guard lock_done(mu_);
                   --running_;
                 }
                 done->store(true);
               }),
               done});
  };
}

void HistoryRunner::Stop() {
  std::vector<Worker> workers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stop_.store(true);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
}

}  // namespace tally::server
