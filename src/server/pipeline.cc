#include "server/pipeline.h"

#include <algorithm>
#include <memory>

#include "common/binary.h"
#include "common/log.h"
#include "events/codec.h"
#include "server/reload.h"

namespace tally::server {

Pipeline::Pipeline(EngineThread& engine, storage::JournalWriter* writer, const Clock& clock,
                   ClockMode mode)
    : engine_(engine), writer_(writer), clock_(clock), mode_(mode), snapshots_(clock) {}

void Pipeline::Post(std::function<void(stats::Engine&)> work) { engine_.Post(std::move(work)); }

void Pipeline::Progress(const std::string& line) {
  TALLY_LOG_INFO("{}", line);
  if (progress_) progress_(line);
}

Result<void> Pipeline::Available(const std::string& tenant) const {
  if (!ready_.load()) return Fail(Errc::kUnavailable, "the server is recovering; retry shortly");
  if (!tenant.empty() && Clustered() &&
      std::find(cluster_.tenants.begin(), cluster_.tenants.end(), tenant) ==
          cluster_.tenants.end()) {
    return Fail(Errc::kMisdirected, "tenant '" + tenant +
                                        "' is not carried by this node (cluster.tenants): send "
                                        "its requests to a node of its group");
  }
  if (!tenant.empty() && !TenantUp(tenant)) {
    return Fail(Errc::kUnavailable, "the event source of tenant '" + tenant +
                                        "' is disconnected; statistics are unavailable until "
                                        "it is back (subscriptions must be created again)");
  }
  return {};
}

TimeMs Pipeline::Stamp() {
  last_stamp_ = std::max(last_stamp_, clock_.NowMs());
  return last_stamp_;
}

TimeMs Pipeline::HeldStamp() {
  if (mode_ != ClockMode::kWall) return Stamp();
  last_stamp_ = engine_.HoldStamp(std::max(last_stamp_, clock_.NowMs()));
  return last_stamp_;
}

void Pipeline::ApplyAtStamp(stats::Engine& engine, TimeMs stamp) {
  if (mode_ != ClockMode::kWall) return;
  if (auto moved = engine.AdvanceTo(stamp, engine_.Notifications()); !moved) {
    TALLY_LOG_ERROR("engine clock: {}", moved.error().message);
  }
  // The engine thread is the one that ticks: nothing moves it past the stamp before this work
  // returns.
  engine_.ReleaseStamp(stamp);
}

void Pipeline::ReleaseStamp(TimeMs stamp) {
  if (mode_ == ClockMode::kWall) engine_.ReleaseStamp(stamp);
}

PipelineStats Pipeline::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Pipeline::SetApplicationState(ApplicationState& app, SnapshotStore& store,
                                   SnapshotPolicy policy, bool take) {
  app_ = &app;
  PipelineSection section{[this] { return SaveState(); },
                          [this](std::string_view data) { return LoadState(data); }, nullptr};
  if (Clustered()) section.positions = [this] { return positions_; };
  snapshots_.Configure(app, std::move(section), store, policy, take);
}

// Layout: a marker (-2: this layout; a stamp ≥ 0: the first layout), the stamp, the gate, the
// links down. The first layout keyed the gate by "tenant\x1fswitch\x1fdn".
std::string Pipeline::SaveState() const {
  std::lock_guard lock(mu_);
  BinaryWriter w;
  w.I64(-2);
  w.I64(last_stamp_);
  gate_.Save(w);
  service_.Save(w);
  return w.Take();
}

bool Pipeline::LoadState(std::string_view data) {
  BinaryReader r(data);
  TimeMs stamp = r.I64();
  const bool legacy = stamp != -2;
  if (!legacy) stamp = r.I64();
  std::lock_guard lock(mu_);
  OrderGate gate;
  if (!r.Ok() || !gate.Load(r, legacy)) return false;
  ServiceState service;
  if (!service.Load(r) || !r.AtEnd()) return false;
  // All parsed: now it replaces the state.
  last_stamp_ = std::max(last_stamp_, stamp);
  gate_ = std::move(gate);
  service_.AdoptLinks(service);
  return true;
}

// A batch whose key is stored already answers the stored range, unless the key came with
// another body: a client reusing a key for a different batch is told so (409), and nothing of it
// is applied.
Result<api::IngestResult> Pipeline::Duplicate(const storage::BatchRange& stored,
                                              const std::string& body_hash) {
  std::lock_guard l(mu_);
  if (!stored.body_hash.empty() && stored.body_hash != body_hash) {
    ++stats_.key_conflicts;
    return Error{Errc::kAlreadyExists,
                 "header 'Idempotency-Key': this key was used for a different batch (journal "
                 "seq " +
                     std::to_string(stored.first_seq) + ".." + std::to_string(stored.last_seq) +
                     "); use a new key for new events"};
  }
  ++stats_.duplicates;
  return api::IngestResult{stored.count, stored.first_seq, stored.last_seq, true};
}

void Pipeline::Submit(api::IngestBatch submitted, Done done) {
  // Ready is set after UseCluster(): reading cluster_ is safe once Available() said ready.
  if (auto up = Available(""); !up) return done(up.error());
  if (Clustered()) return SubmitCluster(std::move(submitted), std::move(done), 0);
  std::vector<stats::Event> events = std::move(submitted.events);
  std::string key = std::move(submitted.key);
  std::string hash = std::move(submitted.body_hash);
  std::lock_guard lock(mu_);
  // Ordering: the batch is refused as a whole when one of its events goes back in time.
  std::string refusal;
  if (auto refused = gate_.Check(events)) {
    refusal = api::NameEvent(submitted.naming, refused->index) + ": " + refused->message;
  }
  if (!refusal.empty()) {
    if (key.empty()) {
      ++stats_.refused_out_of_order;
      return done(Error{Errc::kOutOfOrder, refusal});
    }
    // A retried batch that was stored before answers its stored result; otherwise the refusal.
    writer_->Submit(
        {}, key,
        [this, done, refusal, hash](Result<storage::BatchRange> r) {
          if (r && r->duplicate) return done(Duplicate(*r, hash));
          std::lock_guard l(mu_);
          ++stats_.refused_out_of_order;
          done(Error{Errc::kOutOfOrder, refusal});
        },
        hash);
    return;
  }
  gate_.Accept(events);
  const TimeMs stamp = HeldStamp();
  // A tenant back from a heartbeat outage: its link comes back before its events.
  std::vector<stats::Event> resumed;
  for (const auto& e : events) {
    if (e.switch_id == kHeartbeatSwitch) continue;  // the heartbeat's own link events
    if (service_.NoteBatch(e.tenant, stamp)) {
      stats::Event up;
      up.type = stats::EventType::kLinkConnected;
      up.tenant = e.tenant;
      up.switch_id = std::string(kHeartbeatSwitch);
      up.time = e.time;
      resumed.push_back(std::move(up));
    }
  }
  if (!resumed.empty()) events.insert(events.begin(), resumed.begin(), resumed.end());
  std::vector<storage::Record> records;
  records.reserve(events.size());
  for (const auto& e : events) {
    records.push_back(
        storage::Record{0, storage::RecordKind::kEvent, e.tenant, stamp, events::ToJson(e)});
  }
  auto batch = std::make_shared<std::vector<stats::Event>>(std::move(events));
  writer_->Submit(
      std::move(records), std::move(key),
      [this, batch, hash, stamp, done = std::move(done)](Result<storage::BatchRange> r) {
        if (!r || r->duplicate) ReleaseStamp(stamp);
        if (!r) {
          {
            std::lock_guard l(mu_);
            ++stats_.storage_failures;
            // The batch was not stored: its DNs' gate goes back to what is committed, so the
            // client's retry is not refused as out of order.
            gate_.Rollback(*batch);
          }
          TALLY_LOG_ERROR("journal: {}", r.error().message);
          return done(Error{Errc::kUnavailable, "the journal cannot store events right now (" +
                                                    r.error().message +
                                                    "); nothing of this batch was accepted"});
        }
        if (r->duplicate) return done(Duplicate(*r, hash));
        {
          std::lock_guard l(mu_);
          ++stats_.batches;
          stats_.events += batch->size();
          gate_.Stored(*batch);
        }
        // Posted from the writer thread in commit order, so the engine applies in seq order.
        engine_.Post(
            [this, batch, stamp, first = r->first_seq, last = r->last_seq](stats::Engine& engine) {
              std::vector<stats::Notification>& out = engine_.Notifications();
              ApplyAtStamp(engine, stamp);
              Observe(engine, batch);
              for (size_t i = 0; i < batch->size(); ++i) {
                const stats::Event& e = (*batch)[i];
                if (auto refused = ApplyEvent(engine, e, out)) Quarantine(first + i, *refused);
                engine_.OnApplied(e);
              }
              applied_seq_ = last;
              snapshots_.Applied(last, batch->size());
              MaybeSnapshot(engine, false);
            });
        done(api::IngestResult{r->count, r->first_seq, r->last_seq, false});
      },
      hash);
}

std::optional<std::string> Pipeline::ApplyEvent(stats::Engine& engine, const stats::Event& e,
                                                std::vector<stats::Notification>& out) {
  // The engine refuses what it cannot apply; nothing it throws may stop the write path.
  try {
    if (auto applied = engine.Apply(e, out); !applied) return applied.error().message;
  } catch (const std::exception& ex) {
    return std::string("the engine failed: ") + ex.what();
  }
  return std::nullopt;
}

void Pipeline::Quarantine(std::uint64_t seq, const std::string& reason) {
  {
    std::lock_guard l(mu_);
    ++stats_.apply_failures;
  }
  TALLY_LOG_ERROR("journal record seq {} quarantined: the engine cannot apply it: {}", seq, reason);
  if (writer_ != nullptr) writer_->SubmitState(QuarantineKey(seq), reason);
}

void Pipeline::MaybeSnapshot(stats::Engine& engine, bool force) {
  if (observer_ != nullptr && observer_->Watching()) {
    const auto now = std::chrono::steady_clock::now();
    if (held_since_ == std::chrono::steady_clock::time_point{}) held_since_ = now;
    if (force) {
      TALLY_LOG_INFO(
          "snapshot skipped: statistics are being made exact on open; the next start replays "
          "them from the journal");
      return;
    }
    if (now - held_since_ < std::chrono::minutes(1)) return;
    TALLY_LOG_WARN(
        "snapshot: statistics have been made exact on open for a minute; taking it anyway (one "
        "restored from it counts from its open)");
  }
  held_since_ = {};
  snapshots_.MaybeTake(engine, force);
}

std::uint64_t Pipeline::AppliedPosition(const std::string& tenant) const {
  if (!Clustered()) return applied_seq_;
  auto it = positions_.find(tenant);
  return it == positions_.end() ? 0 : it->second;
}

std::string QuarantineKey(std::uint64_t seq) { return "quarantine/" + std::to_string(seq); }

void Pipeline::Durable(std::string tenant, std::string command,
                       std::function<void(Result<stats::Engine*>)> then) {
  if (auto up = Available(""); !up) return then(up.error());
  DurableBeforeReady(std::move(tenant), std::move(command), std::move(then));
}

void Pipeline::DurableBeforeReady(std::string tenant, std::string command,
                                  std::function<void(Result<stats::Engine*>)> then) {
  if (Clustered()) return DurableCluster(std::move(tenant), std::move(command), std::move(then));
  std::lock_guard lock(mu_);
  const bool reconfigure = IsReconfigureCommand(command);
  const TimeMs stamp = HeldStamp();
  std::vector<storage::Record> records{
      storage::Record{0, storage::RecordKind::kCommand, tenant, stamp, std::move(command)}};
  writer_->Submit(
      std::move(records), "",
      [this, reconfigure, tenant, stamp, then = std::move(then)](Result<storage::BatchRange> r) {
        if (!r) {
          ReleaseStamp(stamp);
          {
            std::lock_guard l(mu_);
            ++stats_.storage_failures;
          }
          return then(Error{Errc::kUnavailable, "the journal cannot store the request right now (" +
                                                    r.error().message + ")"});
        }
        {
          std::lock_guard l(mu_);
          ++stats_.commands;
        }
        engine_.Post(
            [this, then, reconfigure, tenant, stamp, seq = r->last_seq](stats::Engine& engine) {
              ApplyAtStamp(engine, stamp);
              then(&engine);
              applied_seq_ = seq;
              if (reconfigure && observer_ != nullptr) observer_->Reconfigured(tenant);
              snapshots_.Applied(seq, 1);
              MaybeSnapshot(engine, false);
            });
      });
}

void Pipeline::CheckHeartbeats(const std::vector<std::string>& tenants, TimeMs timeout) {
  if (!ready_.load() || timeout <= 0) return;
  const TimeMs now = clock_.NowMs();
  std::vector<stats::Event> silent;
  for (const auto& t : service_.Silent(tenants, now, timeout)) {  // the clock starts when ready
    stats::Event down;
    down.type = stats::EventType::kLinkDisconnected;
    down.tenant = t;
    down.switch_id = std::string(kHeartbeatSwitch);
    down.time = now;
    silent.push_back(std::move(down));
    TALLY_LOG_WARN("tenant '{}': no event for {} ms: source heartbeat missed", t, timeout);
  }
  for (auto& e : silent) {
    Submit(api::IngestBatch{{std::move(e)}, "", api::EventNaming::kOrdinal, ""},
           [](Result<api::IngestResult> r) {
             if (!r) TALLY_LOG_ERROR("heartbeat: {}", r.error().message);
           });
  }
}

}  // namespace tally::server
