#include "server/log_replay.h"

#include <unistd.h>

#include <algorithm>

#include "events/codec.h"
#include "server/cluster_log.h"
#include "server/reload.h"
#include "storage/jetstream.h"

namespace tally::server {

namespace {

class JournalReader final : public LogReader {
 public:
  JournalReader(std::unique_ptr<storage::Journal> journal, std::string tenant)
      : journal_(std::move(journal)), tenant_(std::move(tenant)) {}
  Result<void> First(const OnLogUnit& on) override {
    auto r = journal_->Scan(0, [&](const storage::Record& rec) {
      (void)on(LogUnit{rec.kind, rec.time, &rec.body, 1, false, rec.seq});
      return false;
    });
    if (!r) return r.error();
    return {};
  }
  Result<void> Scan(std::uint64_t after, std::uint64_t until, const OnLogUnit& on) override {
    auto r = journal_->Scan(after, [&](const storage::Record& rec) {
      if (rec.seq > until) return false;
      if (rec.tenant != tenant_) return true;
      return on(LogUnit{rec.kind, rec.time, &rec.body, 1, false, rec.seq});
    });
    if (!r) return r.error();
    return {};
  }

 private:
  std::unique_ptr<storage::Journal> journal_;
  std::string tenant_;
};

class StreamReader final : public LogReader {
 public:
  StreamReader(storage::JetStream& js, std::string tenant, const std::atomic<bool>* stop)
      : js_(js), tenant_(std::move(tenant)), stop_(stop) {}
  Result<void> First(const OnLogUnit& on) override { return Read(0, UINT64_MAX, on, true); }
  Result<void> Scan(std::uint64_t after, std::uint64_t until, const OnLogUnit& on) override {
    return Read(after, until, on, false);
  }

 private:
  Result<void> Read(std::uint64_t after, std::uint64_t until, const OnLogUnit& on, bool first) {
    auto r = js_.Read(
        tenant_, after,
        [&](storage::JetStream::Delivered&& d) {
          if (d.seq > until) return false;
          if (!d.ok || d.batch.bodies.empty()) return true;  // skipped live too
          if (d.batch.kind == storage::StreamKind::kSessions) return true;
          const bool events = d.batch.kind == storage::StreamKind::kEvents;
          const bool more = on(LogUnit{
              events ? storage::RecordKind::kEvent : storage::RecordKind::kCommand, d.batch.stamp,
              d.batch.bodies.data(), events ? d.batch.bodies.size() : 1, events, d.seq});
          return more && !first;
        },
        stop_);
    if (!r) return r.error();
    return {};
  }

  storage::JetStream& js_;
  std::string tenant_;
  const std::atomic<bool>* stop_;
};

Error Bad(const std::string& field, const std::string& message) {
  return Error{Errc::kInvalidArgument, field + ": " + message};
}

}  // namespace

Result<std::unique_ptr<LogReader>> OpenLog(const LogSource& source, const std::string& tenant,
                                           const std::atomic<bool>* stop) {
  if (source.stream) {
    storage::JetStream* js = source.stream();
    if (js == nullptr) {
      return Error{Errc::kUnavailable,
                   "this node is not connected to the stream yet: retry in a moment"};
    }
    const std::string key = PurgedKey(tenant);
    auto purged = js->Values(key);  // by prefix: another tenant's key may start with this one
    if (!purged) return purged.error();
    for (const auto& [k, through] : *purged) {
      if (k != key) continue;
      return Bad("data.from",
                 "the stream's first records of this tenant were removed by retention (up to seq " +
                     through +
                     "): this version computes history from a stream that holds its start");
    }
    return std::unique_ptr<LogReader>(std::make_unique<StreamReader>(*js, tenant, stop));
  }
  if (source.journal_path.empty() || ::access(source.journal_path.c_str(), R_OK) != 0) {
    return Error{Errc::kUnavailable,
                 "history and exact-on-open values are computed from the journal (the SQLite "
                 "file of storage.path, or the JetStream stream): this server has neither (a "
                 "volatile journal)"};
  }
  auto opened = storage::Journal::Open({source.journal_path, storage::Durability::kNormal});
  if (!opened) return opened.error();
  if ((*opened)->PrunedThrough() > 0) {
    return Bad("data.from",
               "the journal's first records were removed by retention (up to seq " +
                   std::to_string((*opened)->PrunedThrough()) +
                   "): this version computes history from a journal that holds its start");
  }
  return std::unique_ptr<LogReader>(std::make_unique<JournalReader>(std::move(*opened), tenant));
}

Result<void> BuildScratch(const LogSource& source, const stats::TenantSetup& setup, LogReader& log,
                          stats::Engine& engine, TimeMs& first_time, bool with_catalog) {
  bool by_records = true;
  first_time = 0;
  if (auto first = log.First([&](const LogUnit& u) {
        by_records = u.kind == storage::RecordKind::kCommand && IsReconfigureCommand(u.bodies[0]);
        first_time = u.time;
        return false;
      });
      !first) {
    return first.error();
  }
  const TimeMs at = source.wall_clock ? first_time : 0;
  if (by_records) {
    stats::TenantSetup bare;
    bare.name = setup.name;
    bare.time_zone = setup.time_zone;
    return engine.AddTenant(bare, at);
  }
  if (with_catalog) {
    if (auto r = engine.SetCatalog(source.catalog); !r) return r.error();
  }
  return engine.AddTenant(setup, at);
}

bool UnitDecoder::Decode(const LogUnit& u, std::vector<stats::Event>& batch) {
  batch.clear();
  for (size_t i = 0; i < u.count; ++i) {
    auto e = events::ParseEvent(u.bodies[i], events::NormalizeOptions{tenant_, u.time});
    if (e) batch.push_back(std::move(*e));  // what recovery quarantines is skipped here too
  }
  if (u.gated) {
    if (gate_.CheckStored(batch)) return false;
    for (const auto& e : batch) gate_.Observe(e);
  }
  return true;
}

}  // namespace tally::server
