#include "server/snapshotter.h"

#include <chrono>
#include <memory>

#include "common/log.h"
#include "server/snapshot.h"

namespace tally::server {

void JournalSnapshots::Store(std::shared_ptr<const SnapshotParts> parts,
                             std::function<void(Result<void>)> done) {
  // Encoding (a copy and a CRC over every byte) is left to the writer thread.
  writer_.SubmitSnapshot(
      parts->seq, parts->taken_at, [parts] { return EncodeSnapshot(*parts); }, std::move(done));
}

Result<std::vector<SnapshotStore::Listed>> JournalSnapshots::List() {
  auto list = journal_.Snapshots();
  if (!list) return list.error();
  std::vector<Listed> out;
  for (const auto& info : *list)
    out.push_back(Listed{std::to_string(info.seq), info.seq, info.taken_at});
  return out;
}

Result<std::string> JournalSnapshots::Read(const Listed& snapshot) {
  return journal_.ReadSnapshot(snapshot.seq);
}

void Snapshotter::Configure(ApplicationState& app, PipelineSection pipeline, SnapshotStore& store,
                            SnapshotPolicy policy, bool take) {
  app_ = &app;
  store_ = &store;
  pipeline_ = std::move(pipeline);
  policy_ = policy;
  take_ = take;
}

SnapshotStats Snapshotter::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Snapshotter::Applied(std::uint64_t seq, std::uint64_t records) {
  applied_seq_ = std::max(applied_seq_, seq);
  since_snapshot_ += records;
}

void Snapshotter::Recovered(std::uint64_t from, std::uint64_t applied, std::uint64_t records) {
  applied_seq_ = applied;
  snapshot_seq_ = from;
  since_snapshot_ = records;
  last_snapshot_at_ = clock_.NowMs();
  std::lock_guard lock(mu_);
  stats_.recovered_from_seq = from;
}

void Snapshotter::MaybeTake(stats::Engine& engine, bool force) {
  if (!take_ || (applied_seq_ <= snapshot_seq_ && since_snapshot_ == 0)) return;
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
  parts.api = app_->Save();
  parts.pipeline = pipeline_.save();
  if (pipeline_.positions) parts.positions = pipeline_.positions();
  const std::size_t bytes = parts.engine.size() + parts.api.size() + parts.pipeline.size();
  const double pause_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  snapshot_seq_ = applied_seq_;
  since_snapshot_ = 0;
  last_snapshot_at_ = now;
  {
    std::lock_guard lock(mu_);
    ++stats_.taken;
    stats_.last_seq = parts.seq;
    stats_.last_bytes = bytes;
    stats_.last_pause_ms = pause_ms;
  }
  TALLY_LOG_DEBUG("snapshot: seq {}, {} bytes, engine paused {:.1f} ms", parts.seq, bytes,
                  pause_ms);
  auto shared = std::make_shared<const SnapshotParts>(std::move(parts));
  store_->Store(shared, [this, seq = shared->seq](Result<void> r) {
    std::lock_guard lock(mu_);
    if (r) {
      ++stats_.stored;
    } else {
      ++stats_.failed;
      TALLY_LOG_ERROR("snapshot at seq {} not stored: {}", seq, r.error().message);
    }
  });
}

Snapshotter::Loaded Snapshotter::LoadNewest(stats::Engine& engine,
                                            const std::vector<stats::TenantSetup>& tenants,
                                            bool by_records) {
  ApplicationState& api = *app_;
  auto list = store_->List();
  if (!list) {
    TALLY_LOG_ERROR("recovery: cannot list snapshots: {}", list.error().message);
    return {};
  }
  // What to go back to when a snapshot is refused half-way (the state built from the config).
  const std::string initial_engine = engine.Save();
  const std::string initial_api = api.Save();
  for (const SnapshotStore::Listed& info : *list) {
    const std::string name = info.seq != 0 ? "at seq " + info.id : info.id;
    const auto started = std::chrono::steady_clock::now();
    auto bytes = store_->Read(info);
    if (!bytes) {
      TALLY_LOG_ERROR("recovery: snapshot {}: {}", name, bytes.error().message);
      continue;
    }
    auto parts = DecodeSnapshot(*bytes);
    if (!parts) {
      TALLY_LOG_ERROR("recovery: snapshot {} refused: {}; trying an older one or the journal", name,
                      parts.error().message);
      continue;
    }
    if (info.seq != 0 && parts->seq != info.seq) {
      TALLY_LOG_ERROR("recovery: snapshot stored at seq {} says seq {}; refused", info.seq,
                      parts->seq);
      continue;
    }
    auto loaded = engine.Load(parts->engine, by_records);
    if (!loaded) {
      TALLY_LOG_ERROR("recovery: snapshot {} refused: {}", name, loaded.error().message);
      continue;
    }
    if (!api.Load(parts->api) || !pipeline_.load(parts->pipeline)) {
      TALLY_LOG_ERROR("recovery: snapshot {} refused: damaged registry section", name);
      (void)engine.Load(initial_engine);
      (void)api.Load(initial_api);
      continue;
    }
    for (const auto& note : *loaded) TALLY_LOG_WARN("recovery: {}", note);
    for (const auto& setup : tenants) {
      // By records, only a tenant the snapshot does not have yet comes from the file here (its
      // objects and the changes to the others come in records).
      if (by_records && engine.HasTenant(setup.name)) continue;
      auto merged = engine.MergeTenant(setup, engine.Now(setup.name));
      if (!merged) {
        TALLY_LOG_ERROR("recovery: tenant '{}': {}", setup.name, merged.error().message);
        continue;
      }
      for (const auto& note : *merged) TALLY_LOG_WARN("recovery: {}", note);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    TALLY_LOG_INFO("recovery: loaded the snapshot {} ({} bytes) in {:.3f} s", name, bytes->size(),
                   seconds);
    return Loaded{parts->seq, parts->positions, true};
  }
  return {};
}

}  // namespace tally::server
