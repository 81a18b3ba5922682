#include "server/cluster_log.h"

#include <algorithm>

#include "common/binary.h"
#include "common/log.h"
#include "server/snapshot.h"

namespace tally::server {

ClusterLog::ClusterLog(storage::JetStream& js, int publishers)
    : js_(js), publishers_(std::max(publishers, 1)) {}

ClusterLog::~ClusterLog() { Stop(); }

void ClusterLog::Start() {
  for (int i = 0; i < publishers_; ++i) threads_.emplace_back([this] { Work(); });
}

void ClusterLog::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // What never went out answers that the journal is gone.
  std::vector<Done> pending;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, t] : tenants_) {
      for (auto& item : t.queue) pending.push_back(std::move(item.done));
      t.queue.clear();
    }
  }
  for (auto& done : pending) {
    done(Error{Errc::kUnavailable, "the server is stopping; nothing of this batch was stored"});
  }
}

ClusterLog::Stats ClusterLog::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void ClusterLog::Append(storage::StreamBatch batch, bool ordered, Done done, std::uint64_t basis) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) {
      done(Error{Errc::kUnavailable, "the server is stopping"});
      return;
    }
    Tenant& t = tenants_[batch.tenant];
    const std::string name = batch.tenant;
    t.queue.push_back(Item{std::move(batch), ordered, std::move(done), basis});
    if (!t.busy && t.queue.size() == 1) ready_.push_back(name);
  }
  cv_.notify_one();
}

void ClusterLog::Run(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    chores_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void ClusterLog::After(std::int64_t ms, std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    timers_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(ms),
                    std::move(work));
  }
  cv_.notify_one();
}

void ClusterLog::Followed(const std::string& tenant, std::uint64_t seq, bool foreign) {
  std::vector<std::function<void(bool)>> due;
  {
    std::lock_guard lock(mu_);
    Tenant& t = tenants_[tenant];
    if (foreign) t.last_foreign = std::max(t.last_foreign, seq);
    t.followed = std::max(t.followed, seq);
    t.events_seen = std::max(t.events_seen, seq);
    for (auto it = t.waiters.begin(); it != t.waiters.end();) {
      if (it->target <= t.followed) {
        due.push_back(std::move(it->then));
        it = t.waiters.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : due) f(true);
}

void ClusterLog::AfterCatchUp(const std::string& tenant, std::int64_t bound_ms,
                              std::function<void(bool)> then) {
  // Answered once: by the delivery, or by the bound — which starts now, not when the pool gets
  // to the catch-up (its threads may all be publishing).
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto finish = [answered, then = std::move(then)](bool caught_up) {
    if (!answered->exchange(true)) then(caught_up);
  };
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = ++next_waiter_;
  }
  After(bound_ms, [this, tenant, id, finish] {
    {
      std::lock_guard lock(mu_);
      auto& waiters = tenants_[tenant].waiters;
      waiters.erase(std::remove_if(waiters.begin(), waiters.end(),
                                   [id](const Tenant::Waiter& w) { return w.id == id; }),
                    waiters.end());
    }
    finish(false);
  });
  Run([this, tenant, id, finish]() mutable {
    auto last = js_.LastEventsSeq(tenant);
    if (!last) {
      TALLY_LOG_WARN("cluster: tenant '{}': {}", tenant, last.error().message);
      return finish(true);  // the resubmission meets the same trouble and answers it
    }
    {
      std::lock_guard lock(mu_);
      Tenant& t = tenants_[tenant];
      if (*last > t.followed) {
        t.waiters.push_back(Tenant::Waiter{id, *last, finish});
        return;
      }
    }
    finish(true);
  });
}

void ClusterLog::Work() {
  for (;;) {
    std::function<void()> chore;
    Item item;
    std::string name;
    std::uint64_t expect = 0;
    bool stale = false;
    {
      std::unique_lock lock(mu_);
      const auto due = [this] {
        return !timers_.empty() && timers_.begin()->first <= std::chrono::steady_clock::now();
      };
      const auto work = [this, &due] {
        return stopping_ || !ready_.empty() || !chores_.empty() || due();
      };
      while (!work()) {
        if (timers_.empty()) {
          cv_.wait(lock);
        } else {
          // A copy: while this thread waits, another may take (and erase) that timer.
          const auto deadline = timers_.begin()->first;
          cv_.wait_until(lock, deadline);
        }
      }
      // Stopping: what is queued still goes out (a last snapshot, the simulator's end of day);
      // timers not yet due are dropped (what they bound ends with the server).
      if (stopping_ && ready_.empty() && chores_.empty() && !due()) return;
      if (due()) {
        // A due bound first: a stream that takes every publish to its timeout must not hold
        // the answers it bounds behind them.
        chore = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
      } else if (!ready_.empty()) {
        name = ready_.front();
        ready_.pop_front();
        Tenant& t = tenants_[name];
        if (t.queue.empty()) continue;
        t.busy = true;
        item = std::move(t.queue.front());
        t.queue.pop_front();
        expect = t.events_seen;
        // Checked before another node's batch came in: checked again instead of published (the
        // stream would take it — this node's view is current — but out of order).
        if (item.ordered && item.basis < t.last_foreign) stale = true;
      } else {
        chore = std::move(chores_.front());
        chores_.pop_front();
      }
    }
    if (chore) {
      try {
        chore();
      } catch (const std::exception& e) {
        TALLY_LOG_ERROR("cluster: background work failed: {}", e.what());
      }
      continue;
    }
    Result<storage::PublishAck> ack =
        stale ? Result<storage::PublishAck>(Error{
                    Errc::kAlreadyExists, "conflict: another node appended after the order check"})
              : js_.Publish(item.batch, item.ordered ? std::optional<std::uint64_t>(expect)
                                                     : std::optional<std::uint64_t>());
    std::vector<Item> conflicted;
    {
      std::lock_guard lock(mu_);
      Tenant& t = tenants_[name];
      t.busy = false;
      if (ack) {
        ++stats_.published;
        if (item.batch.kind == storage::StreamKind::kEvents && !ack->duplicate) {
          t.events_seen = std::max(t.events_seen, ack->seq);
        }
      } else if (ack.error().code == Errc::kAlreadyExists) {
        // The ordered batches queued behind were checked assuming this one would go in: they go
        // back too. Commands and sessions stay queued (they do not depend on the events).
        ++stats_.conflicts;
        std::deque<Item> keep;
        for (auto& queued : t.queue) {
          if (queued.ordered) {
            conflicted.push_back(std::move(queued));
          } else {
            keep.push_back(std::move(queued));
          }
        }
        t.queue.swap(keep);
      } else {
        ++stats_.failures;
      }
      if (!t.queue.empty()) {
        ready_.push_back(name);
        cv_.notify_one();
      }
    }
    item.done(std::move(ack));
    for (auto& c : conflicted) {
      c.done(Error{Errc::kAlreadyExists, "conflict: behind a conflicting batch of the tenant"});
    }
  }
}

std::string SnapshotGroup(std::vector<std::string> tenants) {
  std::sort(tenants.begin(), tenants.end());
  std::string joined;
  for (const auto& t : tenants) {
    joined += t;
    joined += '\x1f';
  }
  return "g" + Fingerprint(joined);
}

namespace {

// A bucket key for a tenant: hex of its name (keys allow few characters).
std::string HexKey(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out.empty() ? "00" : out;
}

std::string NodeToken(const std::string& node) {
  std::string out;
  for (const char c : node) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    out.push_back(ok ? c : '_');
  }
  return out;
}

}  // namespace

std::string PurgedKey(const std::string& tenant) { return "purged." + HexKey(tenant); }

ClusterSnapshots::ClusterSnapshots(ClusterLog& log, std::string group, std::string node, int keep,
                                   std::int64_t retention_ms, const Clock& clock)
    : log_(log),
      group_(std::move(group)),
      node_(NodeToken(node)),
      keep_(keep),
      retention_ms_(retention_ms),
      clock_(clock) {}

void ClusterSnapshots::Store(std::shared_ptr<const SnapshotParts> parts,
                             std::function<void(Result<void>)> done) {
  log_.Run([this, parts, done = std::move(done)] {
    const std::string bytes = EncodeSnapshot(*parts);
    storage::StreamSnapshotInfo info;
    info.id = std::to_string(parts->taken_at) + "-" + node_;
    info.taken_at = parts->taken_at;
    info.bytes = bytes.size();
    info.positions = parts->positions;
    auto stored = log_.Stream().PutSnapshot(group_, info, bytes, keep_);
    if (stored) Retain(*parts);
    done(std::move(stored));
  });
}

Result<std::vector<SnapshotStore::Listed>> ClusterSnapshots::List() {
  // A bucket just after a NATS node came back may not answer the first listing in time: a few
  // tries before recovery falls back to the whole stream.
  auto list = log_.Stream().Snapshots(group_);
  for (int attempt = 1; !list && list.error().code == Errc::kUnavailable && attempt < 3;
       ++attempt) {
    TALLY_LOG_WARN("recovery: listing the snapshots: {}; retrying", list.error().message);
    list = log_.Stream().Snapshots(group_);
  }
  if (!list) return list.error();
  std::vector<Listed> out;
  for (const auto& s : *list) out.push_back(Listed{s.id, 0, s.taken_at});
  return out;
}

Result<std::string> ClusterSnapshots::Read(const Listed& snapshot) {
  return log_.Stream().ReadSnapshot(group_, snapshot.id);
}

void ClusterSnapshots::Retain(const SnapshotParts& parts) {
  if (retention_ms_ < 0) return;
  storage::JetStream& js = log_.Stream();
  const TimeMs now = clock_.NowMs();
  const std::int64_t hour = now / 3'600'000;
  const std::int64_t cut_hour = (now - retention_ms_) / 3'600'000;
  // What every kept snapshot, of any group, still needs.
  auto all = js.AllSnapshots();
  if (!all) {
    TALLY_LOG_WARN("cluster: retention skipped: {}", all.error().message);
    return;
  }
  for (const auto& [tenant, position] : parts.positions) {
    std::uint64_t floor = position;
    for (const auto& s : *all) {
      auto it = s.positions.find(tenant);
      if (it != s.positions.end()) floor = std::min(floor, it->second);
    }
    const std::string prefix = "mark." + HexKey(tenant) + ".";
    (void)js.PutValue(prefix + std::to_string(hour), std::to_string(position));
    auto marks = js.Values(prefix);
    if (!marks) continue;
    // The newest mark at or before the retention cut says where the tenant was back then.
    std::int64_t best_hour = -1;
    std::uint64_t cut = 0;
    for (const auto& [key, value] : *marks) {
      const std::int64_t h = std::stoll(key.substr(prefix.size()));
      if (h <= cut_hour && h > best_hour) {
        best_hour = h;
        cut = std::stoull(value);
      }
    }
    if (best_hour < 0) continue;
    for (const auto& [key, value] : *marks) {
      if (std::stoll(key.substr(prefix.size())) < best_hour) js.DeleteValue(key);
    }
    const std::uint64_t before = std::min(cut, floor) + 1;
    if (before <= 1) continue;  // nothing of this tenant is old enough
    // Noted before anything goes: history must never read a stream whose start is gone without
    // knowing it (a failed purge after the note only makes history refuse early).
    if (auto noted = js.PutValue(PurgedKey(tenant), std::to_string(before - 1)); !noted) {
      TALLY_LOG_WARN("cluster: retention of tenant '{}' skipped: {}", tenant,
                     noted.error().message);
      continue;
    }
    if (auto purged = js.PurgeTenant(tenant, before); !purged) {
      TALLY_LOG_WARN("cluster: retention of tenant '{}': {}", tenant, purged.error().message);
    } else {
      purged_.store(std::max(purged_.load(), before - 1));
    }
  }
}

}  // namespace tally::server
