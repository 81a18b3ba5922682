// Pipeline::Recover: the newest usable snapshot, then the journal after it, replayed into the
// engine before the doors open (see pipeline.h).
#include <charconv>
#include <chrono>
#include <unordered_set>

#include "common/log.h"
#include "events/codec.h"
#include "server/engine_setup.h"
#include "server/pipeline.h"
#include "server/reload.h"

namespace tally::server {

Result<void> Pipeline::Recover(storage::Journal& journal,
                               const std::vector<stats::TenantSetup>& tenants) {
  stats::Engine& engine = engine_.EngineForSetup();
  ApplicationState& api = *app_;
  const auto started = std::chrono::steady_clock::now();
  auto last_log = started;
  const Snapshotter::Loaded snapshot = snapshots_.LoadNewest(engine, tenants, true);
  const std::uint64_t from = snapshot.seq;
  if (!snapshot.loaded) {
    // The configured objects and catalog come in through journaled records ("reconfigure":
    // one per tenant at every start, and at every reload), so a replay from the first record
    // meets them where the original run did. A journal written before such records existed
    // starts from the configuration as it is now.
    bool by_records = true;
    if (auto first = journal.Scan(0,
                                  [&](const storage::Record& r) {
                                    by_records = r.kind == storage::RecordKind::kCommand &&
                                                 IsReconfigureCommand(r.body);
                                    return false;
                                  });
        !first) {
      return first.error();
    }
    if (by_records) ResetToBare(engine, tenants);
  }
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
  // Records quarantined by an earlier run (or live) are not applied again.
  std::unordered_set<std::uint64_t> quarantined;
  if (auto listed = journal.States("quarantine/"); listed) {
    for (const auto& [key, reason] : *listed) {
      std::uint64_t seq = 0;
      const std::string_view digits = std::string_view(key).substr(11);
      if (std::from_chars(digits.data(), digits.data() + digits.size(), seq).ec == std::errc{}) {
        quarantined.insert(seq);
      }
    }
  }
  auto quarantine = [&](std::uint64_t seq, const std::string& reason) {
    ++stats_.apply_failures;
    TALLY_LOG_ERROR("recovery: journal record seq {} quarantined: {}", seq, reason);
    if (auto put = journal.PutState(QuarantineKey(seq), reason); !put) {
      TALLY_LOG_ERROR("recovery: cannot list seq {} as quarantined: {}", seq, put.error().message);
    }
  };
  const std::uint64_t total = journal.LastSeq();
  applied_seq_ = from;  // what the snapshot holds
  Progress(fmt::format("recovery: replaying journal records {}..{} from {}", from + 1, total,
                       journal.Path()));
  auto scan = journal.Scan(from, [&](const storage::Record& r) {
    if (mode_ == ClockMode::kWall) {
      if (auto moved = engine.AdvanceTo(r.time, discard); !moved) {
        TALLY_LOG_ERROR("recovery: seq {}: {}", r.seq, moved.error().message);
      }
    }
    last_stamp_ = std::max(last_stamp_, r.time);
    engine_.BeginWork();
    if (quarantined.count(r.seq) != 0) {
      ++stats_.quarantined_skipped;
    } else if (r.kind == storage::RecordKind::kEvent) {
      auto e = events::ParseEvent(r.body, events::NormalizeOptions{r.tenant, r.time});
      if (!e) {
        ++bad_bodies;
        quarantine(r.seq, "unreadable event: " + e.error().message);
      } else {
        gate_.Observe(*e);
        if (auto refused = ApplyEvent(engine, *e, discard)) quarantine(r.seq, *refused);
        engine_.OnApplied(*e);
      }
    } else {
      bool replayed = false;
      try {
        replayed = api.Replay(r.body, engine);
      } catch (const std::exception& ex) {
        TALLY_LOG_ERROR("recovery: seq {}: {}", r.seq, ex.what());
      }
      if (!replayed) {
        ++bad_bodies;
        quarantine(r.seq, "unreadable command");
      }
    }
    engine_.EndWork();
    discard.clear();
    applied_seq_ = r.seq;
    ++stats_.recovered_records;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log > std::chrono::seconds(2)) {
      last_log = now;
      Progress(fmt::format("recovery: {} / {} records ({:.0f}%)", r.seq, total,
                           total == 0 ? 100.0 : 100.0 * static_cast<double>(r.seq) / total));
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
  if (mode_ == ClockMode::kWall) {
    if (auto moved = engine.AdvanceTo(clock_.NowMs(), discard); !moved) {
      TALLY_LOG_ERROR("recovery: {}", moved.error().message);
    }
  }
  applied_seq_ = std::max(from, scan->last_good_seq);
  snapshots_.Recovered(from, scan->last_good_seq, scan->records);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  Progress(fmt::format("recovery: done, {} records replayed up to seq {} in {:.3f} s{}",
                       scan->records, scan->last_good_seq, seconds,
                       bad_bodies > 0 ? fmt::format(" ({} unreadable)", bad_bodies) : ""));
  return {};
}

}  // namespace tally::server
