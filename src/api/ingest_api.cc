#include "api/ingest_api.h"

#include <boost/json.hpp>

#include <mutex>

#include "common/binary.h"
#include "events/codec.h"

namespace tally::api {
namespace json = boost::json;

std::string NameEvent(EventNaming naming, size_t index) {
  switch (naming) {
    case EventNaming::kLine: return "line " + std::to_string(index + 1);
    case EventNaming::kIndex: return "event " + std::to_string(index);
    case EventNaming::kOrdinal: break;
  }
  return "event " + std::to_string(index + 1) + " of the batch";
}

namespace {

std::string ScopedKey(const Principal& who, const std::string& key) {
  if (key.empty()) return {};
  std::string scoped = who.tenant;
  scoped += '\\';
  scoped += who.subject;
  scoped += '\x1f';
  scoped += key;
  return scoped;
}

}  // namespace

struct IngestApi::Impl {
  Impl(EventSink& s, Authenticator a, IngestLimits l, std::set<std::string> t, const Clock& c)
      : sink(s), authenticate(std::move(a)), limits(l), tenants(std::move(t)), clock(c) {}

  EventSink& sink;
  Authenticator authenticate;
  IngestLimits limits;  // under limits_mu (a live reload replaces them)
  mutable std::mutex limits_mu;
  [[nodiscard]] IngestLimits Lim() const {
    std::lock_guard lock(limits_mu);
    return limits;
  }
  std::set<std::string> tenants;
  const Clock& clock;

  void Events(HttpRequest& req, Responder r) {
    auto who = authenticate(req);
    if (!who) return r.Send(ErrorResponse(who.error(), req.path));
    if (!who->HasRole("events:write")) {
      return r.Send(ErrorResponse(403, "role 'events:write' is required", req.path));
    }
    const std::string type(req.Header("content-type"));
    const std::string media = type.substr(0, type.find(';'));
    events::BatchFormat format;
    if (media == "application/x-ndjson" || media == "application/jsonl" ||
        media == "application/json-seq") {
      format = events::BatchFormat::kNdjson;
    } else if (media == "application/json" || media.empty()) {
      format = req.body.find_first_not_of(" \t\r\n") != std::string::npos &&
                       req.body[req.body.find_first_not_of(" \t\r\n")] == '['
                   ? events::BatchFormat::kJsonArray
                   : events::BatchFormat::kNdjson;
    } else {
      return r.Send(ErrorResponse(
          415, "Content-Type must be application/x-ndjson or application/json, not '" + type + "'",
          req.path));
    }
    std::string key(req.Header("idempotency-key"));
    if (key.size() > 200) {
      return r.Send(
          ErrorResponse(400, "header 'Idempotency-Key' is longer than 200 characters", req.path));
    }
    events::NormalizeOptions opts;
    opts.default_tenant = who->tenant;
    opts.now = clock.NowMs();
    opts.max_ahead_ms = Lim().max_future_ms;
    auto batch = events::ParseBatch(req.body, format, opts, Lim().events_per_batch);
    if (!batch) {
      const int status = batch.error().code == Errc::kTooLarge ? 413 : 400;
      return r.Send(ErrorResponse(status, batch.error().message, req.path));
    }
    if (batch->empty()) return r.Send(ErrorResponse(400, "the batch has no events", req.path));
    for (size_t i = 0; i < batch->size(); ++i) {
      const auto& e = (*batch)[i];
      const std::string where = format == events::BatchFormat::kNdjson
                                    ? "event on line " + std::to_string(i + 1)
                                    : "event " + std::to_string(i);
      if (!who->tenant.empty() && e.tenant != who->tenant) {
        return r.Send(ErrorResponse(403,
                                    where + ": field 'tenant': '" + e.tenant +
                                        "' is not the tenant of this client ('" + who->tenant +
                                        "')",
                                    req.path));
      }
      if (tenants.count(e.tenant) == 0) {
        return r.Send(ErrorResponse(
            400, where + ": field 'tenant': unknown tenant '" + e.tenant + "'", req.path));
      }
    }
    IngestBatch submitted{
        std::move(*batch), ScopedKey(*who, key),
        format == events::BatchFormat::kNdjson ? EventNaming::kLine : EventNaming::kIndex,
        key.empty() ? std::string() : Fingerprint(req.body)};
    sink.Submit(std::move(submitted), [r, path = req.path](Result<IngestResult> result) {
      if (!result) return r.Send(ErrorResponse(result.error(), path));
      json::object o{{"accepted", result->accepted},
                     {"firstSeq", result->first_seq},
                     {"lastSeq", result->last_seq}};
      if (result->duplicate) o["duplicate"] = true;
      HttpResponse res;
      res.status = 200;
      res.body = json::serialize(o);
      r.Send(std::move(res));
    });
  }
};

void IngestApi::SetLimits(const IngestLimits& limits) {
  std::lock_guard lock(impl_->limits_mu);
  impl_->limits = limits;
}

IngestApi::IngestApi(EventSink& sink, Authenticator authenticate, IngestLimits limits,
                     std::set<std::string> tenants, const Clock& clock)
    : impl_(std::make_shared<Impl>(sink, std::move(authenticate), limits, std::move(tenants),
                                   clock)) {}

IngestApi::~IngestApi() = default;

std::vector<Route> IngestApi::Routes() {
  auto impl = impl_;
  return {{HttpMethod::kPost, "/ingest/v1/events",
           [impl](HttpRequest& q, const RouteParams&, Responder r) { impl->Events(q, r); }}};
}

}  // namespace tally::api
