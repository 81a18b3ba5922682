#include "server/pipeline.h"

#include <algorithm>
#include <chrono>

#include "common/binary.h"
#include "common/log.h"
#include "events/codec.h"
#include "server/snapshot.h"

namespace tally::server {

Pipeline::Pipeline(EngineThread& engine, storage::JournalWriter& writer, const Clock& clock,
                   ClockMode mode)
    : engine_(engine), writer_(writer), clock_(clock), mode_(mode) {}

void Pipeline::Post(std::function<void(stats::Engine&)> work) { engine_.Post(std::move(work)); }

Result<void> Pipeline::Available(const std::string& tenant) const {
  if (!ready_.load()) return Fail(Errc::kUnavailable, "the server is recovering; retry shortly");
  if (!tenant.empty() && !TenantUp(tenant)) {
    return Fail(Errc::kUnavailable, "the event source of tenant '" + tenant +
                                        "' is disconnected; statistics are unavailable until "
                                        "it is back (subscriptions must be created again)");
  }
  return {};
}

bool Pipeline::TenantUp(const std::string& tenant) const {
  std::lock_guard lock(mu_);
  auto it = links_down_.find(tenant);
  return it == links_down_.end() || it->second.empty();
}

bool Pipeline::OnLink(const stats::Event& e) {
  std::lock_guard lock(mu_);
  auto& down = links_down_[e.tenant];
  const bool was_up = down.empty();
  auto it = std::find(down.begin(), down.end(), e.switch_id);
  if (e.type == stats::EventType::kLinkDisconnected) {
    if (it == down.end()) down.push_back(e.switch_id);
  } else if (it != down.end()) {
    down.erase(it);
  }
  return was_up != down.empty();
}

std::string Pipeline::DnKey(const stats::Event& e) {
  std::string key = e.tenant;
  key += '\x1f';
  key += e.switch_id;
  key += '\x1f';
  key += e.this_dn;
  return key;
}

TimeMs Pipeline::Stamp() {
  last_stamp_ = std::max(last_stamp_, clock_.NowMs());
  return last_stamp_;
}

PipelineStats Pipeline::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Pipeline::Submit(std::vector<stats::Event> events, std::string key, Done done) {
  if (auto up = Available(""); !up) return done(up.error());
  std::lock_guard lock(mu_);
  // Ordering: the batch is refused as a whole when one of its events is older than the newest
  // accepted event of its DN (inside the batch, the codec has checked already).
  std::string refusal;
  for (size_t i = 0; i < events.size() && refusal.empty(); ++i) {
    const auto& e = events[i];
    if (e.this_dn.empty()) continue;
    auto it = last_time_.find(DnKey(e));
    if (it != last_time_.end() && e.time < it->second) {
      refusal = "event " + std::to_string(i + 1) +
                " of the batch: field 'time': " + std::to_string(e.time) +
                " is older than the last accepted event of DN '" + e.this_dn + "' (" +
                std::to_string(it->second) +
                "); events of a DN must not go "
                "back in time";
    }
  }
  if (!refusal.empty()) {
    if (key.empty()) {
      ++stats_.refused_out_of_order;
      return done(Error{Errc::kOutOfOrder, refusal});
    }
    // A retried batch that was stored before answers its stored result; otherwise the refusal.
    writer_.Submit({}, key, [this, done, refusal](Result<storage::BatchRange> r) {
      if (r && r->duplicate) {
        std::lock_guard l(mu_);
        ++stats_.duplicates;
        return done(api::IngestResult{r->count, r->first_seq, r->last_seq, true});
      }
      std::lock_guard l(mu_);
      ++stats_.refused_out_of_order;
      done(Error{Errc::kOutOfOrder, refusal});
    });
    return;
  }
  for (const auto& e : events) {
    if (e.this_dn.empty()) continue;
    auto& t = last_time_[DnKey(e)];
    t = std::max(t, e.time);
  }
  const TimeMs stamp = Stamp();
  // A tenant back from a heartbeat outage: its link comes back before its events.
  std::vector<stats::Event> resumed;
  for (const auto& e : events) {
    if (e.switch_id == "heartbeat") continue;  // the heartbeat's own link events
    last_event_at_[e.tenant] = stamp;
    auto down = heartbeat_down_.find(e.tenant);
    if (down != heartbeat_down_.end() && down->second) {
      down->second = false;
      stats::Event up;
      up.type = stats::EventType::kLinkConnected;
      up.tenant = e.tenant;
      up.switch_id = "heartbeat";
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
  writer_.Submit(
      std::move(records), std::move(key),
      [this, batch, done = std::move(done)](Result<storage::BatchRange> r) {
        if (!r) {
          {
            std::lock_guard l(mu_);
            ++stats_.storage_failures;
            // The batch was not stored: its DNs' gate goes back to what is committed, so the
            // client's retry is not refused as out of order.
            for (const auto& e : *batch) {
              if (e.this_dn.empty()) continue;
              const std::string k = DnKey(e);
              auto c = committed_time_.find(k);
              if (c != committed_time_.end()) {
                last_time_[k] = c->second;
              } else {
                last_time_.erase(k);
              }
            }
          }
          TALLY_LOG_ERROR("journal: {}", r.error().message);
          return done(Error{Errc::kUnavailable, "the journal cannot store events right now (" +
                                                    r.error().message +
                                                    "); nothing of this batch was accepted"});
        }
        if (r->duplicate) {
          {
            std::lock_guard l(mu_);
            ++stats_.duplicates;
          }
          return done(api::IngestResult{r->count, r->first_seq, r->last_seq, true});
        }
        {
          std::lock_guard l(mu_);
          ++stats_.batches;
          stats_.events += batch->size();
          for (const auto& e : *batch) {
            if (e.this_dn.empty()) continue;
            auto& t = committed_time_[DnKey(e)];
            t = std::max(t, e.time);
          }
        }
        // Posted from the writer thread in commit order, so the engine applies in seq order.
        engine_.Post([this, batch, last = r->last_seq](stats::Engine& engine) {
          std::vector<stats::Notification>& out = engine_.Notifications();
          for (const auto& e : *batch) {
            if (auto applied = engine.Apply(e, out); !applied) {
              std::lock_guard l(mu_);
              ++stats_.apply_failures;
              TALLY_LOG_ERROR("engine refused a journaled event: {}", applied.error().message);
            }
            engine_.OnApplied(e);
          }
          Applied(last, batch->size());
          MaybeSnapshot(engine, false);
        });
        done(api::IngestResult{r->count, r->first_seq, r->last_seq, false});
      });
}

void Pipeline::Durable(std::string tenant, std::string command,
                       std::function<void(Result<stats::Engine*>)> then) {
  if (auto up = Available(""); !up) return then(up.error());
  std::lock_guard lock(mu_);
  std::vector<storage::Record> records{storage::Record{
      0, storage::RecordKind::kCommand, std::move(tenant), Stamp(), std::move(command)}};
  writer_.Submit(
      std::move(records), "", [this, then = std::move(then)](Result<storage::BatchRange> r) {
        if (!r) {
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
        engine_.Post([this, then, seq = r->last_seq](stats::Engine& engine) {
          then(&engine);
          Applied(seq, 1);
          MaybeSnapshot(engine, false);
        });
      });
}

void Pipeline::CheckHeartbeats(const std::vector<std::string>& tenants, TimeMs timeout) {
  if (!ready_.load() || timeout <= 0) return;
  std::vector<stats::Event> silent;
  {
    std::lock_guard lock(mu_);
    const TimeMs now = clock_.NowMs();
    for (const auto& t : tenants) {
      auto [it, fresh] = last_event_at_.try_emplace(t, now);  // the clock starts when ready
      if (fresh || heartbeat_down_[t] || now - it->second < timeout) continue;
      heartbeat_down_[t] = true;
      stats::Event down;
      down.type = stats::EventType::kLinkDisconnected;
      down.tenant = t;
      down.switch_id = "heartbeat";
      down.time = now;
      silent.push_back(std::move(down));
      TALLY_LOG_WARN("tenant '{}': no event for {} ms: source heartbeat missed", t, timeout);
    }
  }
  for (auto& e : silent) {
    Submit({std::move(e)}, "", [](Result<api::IngestResult> r) {
      if (!r) TALLY_LOG_ERROR("heartbeat: {}", r.error().message);
    });
  }
}

void Pipeline::SetSnapshots(api::StatisticsApi* api, SnapshotPolicy policy) {
  api_ = api;
  policy_ = policy;
}

SnapshotStats Pipeline::Snapshots() const {
  std::lock_guard lock(snap_mu_);
  return snap_stats_;
}

void Pipeline::Applied(std::uint64_t seq, std::uint64_t records) {
  applied_seq_ = std::max(applied_seq_, seq);
  since_snapshot_ += records;
}

std::string Pipeline::SaveState() const {
  std::lock_guard lock(mu_);
  BinaryWriter w;
  w.I64(last_stamp_);
  w.U64(committed_time_.size());
  for (const auto& [key, t] : committed_time_) {
    w.Str(key);
    w.I64(t);
  }
  w.U64(links_down_.size());
  for (const auto& [tenant, switches] : links_down_) {
    w.Str(tenant);
    w.U64(switches.size());
    for (const auto& sw : switches) w.Str(sw);
  }
  return w.Take();
}

bool Pipeline::LoadState(std::string_view data) {
  BinaryReader r(data);
  const TimeMs stamp = r.I64();
  std::unordered_map<std::string, TimeMs> times;
  const size_t n = r.Count(2);
  for (size_t i = 0; i < n && r.Ok(); ++i) {
    std::string key = r.Str();
    times[std::move(key)] = r.I64();
  }
  std::unordered_map<std::string, std::vector<std::string>> links;
  const size_t tenants = r.Count(2);
  for (size_t i = 0; i < tenants && r.Ok(); ++i) {
    auto& down = links[r.Str()];
    down.resize(r.Count());
    for (auto& sw : down) sw = r.Str();
  }
  if (!r.Ok() || !r.AtEnd()) return false;
  std::lock_guard lock(mu_);
  last_stamp_ = std::max(last_stamp_, stamp);
  last_time_ = times;
  committed_time_ = std::move(times);
  links_down_ = std::move(links);
  return true;
}

void Pipeline::MaybeSnapshot(stats::Engine& engine, bool force) {
  if (api_ == nullptr || applied_seq_ <= snapshot_seq_) return;
  const TimeMs now = clock_.NowMs();
  if (!force && since_snapshot_ < policy_.every_records &&
      now - last_snapshot_at_ < policy_.interval_ms) {
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  SnapshotParts parts;
  parts.seq = applied_seq_;
  parts.taken_at = now;
  parts.engine = engine.Save();
  parts.api = api_->SaveState();
  parts.pipeline = SaveState();
  const std::size_t bytes = parts.engine.size() + parts.api.size() + parts.pipeline.size();
  const double pause_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  snapshot_seq_ = applied_seq_;
  since_snapshot_ = 0;
  last_snapshot_at_ = now;
  {
    std::lock_guard lock(snap_mu_);
    ++snap_stats_.taken;
    snap_stats_.last_seq = parts.seq;
    snap_stats_.last_bytes = bytes;
    snap_stats_.last_pause_ms = pause_ms;
  }
  TALLY_LOG_DEBUG("snapshot: seq {}, {} bytes, engine paused {:.1f} ms", parts.seq, bytes,
                  pause_ms);
  // Encoding (a copy and a CRC over every byte) is left to the writer thread.
  auto shared = std::make_shared<SnapshotParts>(std::move(parts));
  writer_.SubmitSnapshot(
      shared->seq, now, [shared] { return EncodeSnapshot(*shared); },
      [this, seq = shared->seq](Result<void> r) {
        std::lock_guard lock(snap_mu_);
        if (r) {
          ++snap_stats_.stored;
        } else {
          ++snap_stats_.failed;
          TALLY_LOG_ERROR("snapshot at seq {} not stored: {}", seq, r.error().message);
        }
      });
}

std::uint64_t Pipeline::LoadNewestSnapshot(storage::Journal& journal, api::StatisticsApi& api,
                                           const std::vector<stats::TenantSetup>& tenants) {
  stats::Engine& engine = engine_.EngineForSetup();
  auto list = journal.Snapshots();
  if (!list) {
    TALLY_LOG_ERROR("recovery: cannot list snapshots: {}", list.error().message);
    return 0;
  }
  // What to go back to when a snapshot is refused half-way (the state built from the config).
  const std::string initial_engine = engine.Save();
  const std::string initial_api = api.SaveState();
  for (const storage::SnapshotInfo& info : *list) {
    const auto started = std::chrono::steady_clock::now();
    auto bytes = journal.ReadSnapshot(info.seq);
    if (!bytes) {
      TALLY_LOG_ERROR("recovery: snapshot at seq {}: {}", info.seq, bytes.error().message);
      continue;
    }
    auto parts = DecodeSnapshot(*bytes);
    if (!parts) {
      TALLY_LOG_ERROR(
          "recovery: snapshot at seq {} refused: {}; trying an older one or the journal", info.seq,
          parts.error().message);
      continue;
    }
    if (parts->seq != info.seq) {
      TALLY_LOG_ERROR("recovery: snapshot stored at seq {} says seq {}; refused", info.seq,
                      parts->seq);
      continue;
    }
    auto loaded = engine.Load(parts->engine);
    if (!loaded) {
      TALLY_LOG_ERROR("recovery: snapshot at seq {} refused: {}", info.seq, loaded.error().message);
      continue;
    }
    if (!api.LoadState(parts->api) || !LoadState(parts->pipeline)) {
      TALLY_LOG_ERROR("recovery: snapshot at seq {} refused: damaged registry section", info.seq);
      (void)engine.Load(initial_engine);
      (void)api.LoadState(initial_api);
      continue;
    }
    for (const auto& note : *loaded) TALLY_LOG_WARN("recovery: {}", note);
    for (const auto& setup : tenants) {
      auto merged = engine.MergeTenant(setup, engine.Now());
      if (!merged) {
        TALLY_LOG_ERROR("recovery: tenant '{}': {}", setup.name, merged.error().message);
        continue;
      }
      for (const auto& note : *merged) TALLY_LOG_WARN("recovery: {}", note);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    TALLY_LOG_INFO("recovery: loaded the snapshot at seq {} ({} bytes) in {:.3f} s", info.seq,
                   bytes->size(), seconds);
    return info.seq;
  }
  return 0;
}

Result<void> Pipeline::Recover(storage::Journal& journal, api::StatisticsApi& api,
                               const std::vector<stats::TenantSetup>& tenants) {
  stats::Engine& engine = engine_.EngineForSetup();
  const auto started = std::chrono::steady_clock::now();
  auto last_log = started;
  const std::uint64_t from = LoadNewestSnapshot(journal, api, tenants);
  if (from < journal.PrunedThrough()) {
    return Error{Errc::kUnavailable,
                 "the journal was pruned by retention up to seq " +
                     std::to_string(journal.PrunedThrough()) +
                     " and no usable snapshot covers it (see the errors above): starting would "
                     "give incomplete statistics. Use a build that reads the snapshot, restore " +
                     journal.Path() + " from a backup, or move it away to start empty"};
  }
  std::vector<stats::Notification> discard;
  std::uint64_t bad_bodies = 0;
  const std::uint64_t total = journal.LastSeq();
  TALLY_LOG_INFO("recovery: replaying journal records {}..{} from {}", from + 1, total,
                 journal.Path());
  auto scan = journal.Scan(from, [&](const storage::Record& r) {
    if (mode_ == ClockMode::kWall) engine.AdvanceTo(r.time, discard);
    last_stamp_ = std::max(last_stamp_, r.time);
    if (r.kind == storage::RecordKind::kEvent) {
      auto e = events::ParseEvent(r.body, events::NormalizeOptions{r.tenant, r.time});
      if (!e) {
        ++bad_bodies;
        TALLY_LOG_ERROR("recovery: seq {}: unreadable event ({})", r.seq, e.error().message);
      } else {
        if (!e->this_dn.empty()) {
          auto& t = last_time_[DnKey(*e)];
          t = std::max(t, e->time);
          auto& c = committed_time_[DnKey(*e)];
          c = std::max(c, e->time);
        }
        if (auto applied = engine.Apply(*e, discard); !applied) ++stats_.apply_failures;
        engine_.OnApplied(*e);
      }
    } else if (!api.Replay(r.body, engine)) {
      ++bad_bodies;
      TALLY_LOG_ERROR("recovery: seq {}: unreadable command", r.seq);
    }
    discard.clear();
    ++stats_.recovered_records;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log > std::chrono::seconds(2)) {
      last_log = now;
      TALLY_LOG_INFO("recovery: {} / {} records ({:.0f}%)", r.seq, total,
                     total == 0 ? 100.0 : 100.0 * static_cast<double>(r.seq) / total);
    }
    return true;
  });
  if (!scan) return scan.error();
  if (scan->damaged_seq) {
    TALLY_LOG_ERROR(
        "recovery: journal record seq {} is damaged ({}); recovering up to seq {}, the last "
        "good record, and moving the damaged tail into journal_damaged",
        *scan->damaged_seq, scan->damage, scan->last_good_seq);
    auto moved = journal.QuarantineFrom(*scan->damaged_seq, clock_.NowMs());
    if (!moved) return moved.error();
    TALLY_LOG_WARN("recovery: {} records moved to journal_damaged", *moved);
  }
  if (mode_ == ClockMode::kWall) engine.AdvanceTo(clock_.NowMs(), discard);
  applied_seq_ = scan->last_good_seq;
  snapshot_seq_ = from;
  since_snapshot_ = scan->records;
  last_snapshot_at_ = clock_.NowMs();
  {
    std::lock_guard lock(snap_mu_);
    snap_stats_.recovered_from_seq = from;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  TALLY_LOG_INFO("recovery: done, {} records replayed up to seq {} in {:.3f} s{}", scan->records,
                 scan->last_good_seq, seconds,
                 bad_bodies > 0 ? fmt::format(" ({} unreadable)", bad_bodies) : "");
  return {};
}

}  // namespace tally::server
