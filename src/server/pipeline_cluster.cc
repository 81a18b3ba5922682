// The write path on a JetStream journal (a cluster; docs/cluster.md). A batch passes the order
// gate as on one node, then goes out as one stream message per tenant with an ordered append on
// the tenant's events subject (cluster_log.h), and is applied — on every node, this one included
// — only when it comes back from the stream, in stream order. Another node that appended to the
// tenant meanwhile usually makes the append fail: this node catches up with what the other
// wrote, checks the batch again and resubmits. The append check is not the authority, though
// (JetStream 2.9 may let two conditional appends through at once, and a leader change forgets
// the appends in flight): the stream's order is. Every replica decides each record as it comes
// back, against the stored order level it has built from the records before it — the same
// level on every replica — and applies it or skips it whole; the client's answer is that
// verdict, so an acknowledged event is never refused at apply, and every replica agrees.
#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "events/codec.h"
#include "server/pipeline.h"
#include "server/reload.h"

namespace tally::server {
namespace {

// One client batch may span tenants (a multi-tenant ingest client): one message per tenant, each
// atomic; the client's answer waits for all of them.
struct Parts {
  std::mutex mu;
  size_t left = 0;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t count = 0;
  bool all_duplicates = true;
  std::optional<Error> error;
  api::EventSink::Done done;
};

// One tenant's part is settled: stored (its seq and event count), or failed.
void Settle(const std::shared_ptr<Parts>& parts, std::optional<Error> error, std::uint64_t seq,
            std::uint64_t count, bool duplicate) {
  bool last = false;
  {
    std::lock_guard l(parts->mu);
    if (error && !parts->error) parts->error = std::move(error);
    if (!error) {
      parts->first = parts->first == 0 ? seq : std::min(parts->first, seq);
      parts->last = std::max(parts->last, seq);
      parts->count += count;
      parts->all_duplicates = parts->all_duplicates && duplicate;
    }
    last = --parts->left == 0;
  }
  if (!last) return;
  if (parts->error) return parts->done(*parts->error);
  parts->done(api::IngestResult{parts->count, parts->first, parts->last, parts->all_duplicates});
}

}  // namespace

void Pipeline::UseCluster(ClusterSetup setup) { cluster_ = std::move(setup); }

void Pipeline::SubmitCluster(api::IngestBatch submitted, Done done, int attempt) {
  if (auto up = Available(""); !up) return done(up.error());
  std::vector<stats::Event>& events = submitted.events;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& carried = cluster_.tenants;
    if (std::find(carried.begin(), carried.end(), events[i].tenant) == carried.end()) {
      return done(Error{Errc::kMisdirected,
                        api::NameEvent(submitted.naming, i) + ": field 'tenant': '" +
                            events[i].tenant +
                            "' is not carried by this node (cluster.tenants): send it to a node "
                            "of its group"});
    }
  }
  std::map<std::string, std::vector<stats::Event>> by_tenant;
  TimeMs stamp = 0;
  std::optional<storage::BatchRange> stored_before;
  std::string refusal;
  std::map<std::string, std::uint64_t> basis;
  {
    std::lock_guard lock(mu_);
    if (auto refused = gate_.Check(events)) {
      refusal = api::NameEvent(submitted.naming, refused->index) + ": " + refused->message;
      // A retry of a batch stored before answers what was stored.
      if (!submitted.key.empty()) {
        auto it = recent_keys_.find(submitted.key);
        if (it == recent_keys_.end()) {
          it = recent_keys_.find(submitted.key + '\x1f' + events.front().tenant);
        }
        if (it != recent_keys_.end() && it->second.refused) {
          // The first attempt was refused as it came back from the stream: so is its retry.
          refusal = api::NameEvent(submitted.naming, it->second.refused->index) + ": " +
                    it->second.refused->message;
        } else if (it != recent_keys_.end()) {
          stored_before = storage::BatchRange{it->second.seq, it->second.seq, it->second.count,
                                              true, it->second.body_hash};
        }
      }
      if (!stored_before) ++stats_.refused_out_of_order;
    } else {
      gate_.Accept(events);
      stamp = Stamp();
      for (auto& e : events) by_tenant[e.tenant].push_back(std::move(e));
      for (const auto& [tenant, part] : by_tenant) basis[tenant] = gate_seen_[tenant];
      // A tenant back from a heartbeat outage: its link comes back before its events.
      for (auto& [tenant, part] : by_tenant) {
        const bool own_link = part.front().switch_id == kHeartbeatSwitch;
        if (!own_link && service_.NoteBatch(tenant, stamp)) {
          stats::Event up;
          up.type = stats::EventType::kLinkConnected;
          up.tenant = tenant;
          up.switch_id = std::string(kHeartbeatSwitch);
          up.time = part.front().time;
          part.insert(part.begin(), std::move(up));
        }
      }
    }
  }
  if (stored_before) return done(Duplicate(*stored_before, submitted.body_hash));
  if (!refusal.empty()) return done(Error{Errc::kOutOfOrder, refusal});
  auto parts = std::make_shared<Parts>();
  parts->left = by_tenant.size();
  parts->done = std::move(done);
  for (auto& [tenant_name, part_events] : by_tenant) {
    const std::string& tenant = tenant_name;  // a lambda below captures it (clang 14: no bindings)
    storage::StreamBatch b;
    b.kind = storage::StreamKind::kEvents;
    b.tenant = tenant;
    b.stamp = stamp;
    for (const auto& e : part_events) b.bodies.push_back(events::ToJson(e));
    if (!submitted.key.empty()) {
      b.key = by_tenant.size() > 1 ? submitted.key + '\x1f' + tenant : submitted.key;
      b.body_hash = submitted.body_hash;
    }
    b.origin = cluster_.node;
    b.request = ++next_request_;
    auto batch = std::make_shared<std::vector<stats::Event>>(std::move(part_events));
    auto retry = std::make_shared<api::IngestBatch>(
        api::IngestBatch{*batch, b.key, submitted.naming, submitted.body_hash});
    // The client's answer is the record's verdict as it comes back from the stream (every replica
    // reaches the same one): acknowledged, or refused whole because another node's batch got in
    // first with a newer event of one of its DNs.
    {
      Awaiting waiting;
      waiting.decided = [this, parts, batch, retry](std::uint64_t seq,
                                                    const std::optional<OrderGate::Refusal>& no) {
        if (!no) return Settle(parts, std::nullopt, seq, batch->size(), false);
        {
          std::lock_guard l(mu_);
          gate_.Rollback(*batch);
        }
        Settle(parts,
               Error{Errc::kOutOfOrder, api::NameEvent(retry->naming, no->index) + ": " +
                                            no->message + " (another node stored it first)"},
               0, 0, false);
      };
      // Decided after its answer timed out, a refusal still takes the batch out of this node's
      // order check.
      waiting.late = [this, batch](std::uint64_t, const std::optional<OrderGate::Refusal>& no) {
        if (!no) return;
        std::lock_guard l(mu_);
        gate_.Rollback(*batch);
      };
      // The answer when the stream stops delivering (it lost its quorum right after storing the
      // batch): within the bound, saying what the client may do.
      waiting.expire = [this, parts, tenant, keyed = !b.key.empty()](std::uint64_t seq) {
        const std::string stored =
            "tenant '" + tenant + "': the batch is stored in the stream (seq " +
            std::to_string(seq) + ") but this node has not received it back within " +
            std::to_string(cluster_.wait_bound_ms) + " ms (is NATS short of its quorum?); ";
        Settle(parts,
               Error{Errc::kUnavailable,
                     stored + (keyed ? "retry with the same Idempotency-Key to learn whether it "
                                       "was applied"
                                     : "it is applied once NATS delivers it: do not send it "
                                       "again (batches with an Idempotency-Key can be retried "
                                       "safely)")},
               0, 0, false);
      };
      std::lock_guard lock(pending_mu_);
      awaiting_[b.request] = std::move(waiting);
    }
    // True when the record will not come back for this request (it was not stored, or it was
    // stored before under its key): the ack answers instead.
    auto unawait = [this, request = b.request] {
      std::lock_guard lock(pending_mu_);
      return awaiting_.erase(request) == 1;
    };
    cluster_.log->Append(
        std::move(b), true,
        [this, parts, batch, retry, attempt, tenant, unawait,
         request = b.request](Result<storage::PublishAck> ack) {
          if (ack && !ack->duplicate) {
            // The record's verdict answers — unless the stream stops delivering (it lost its
            // quorum right after storing it): then the client hears so within the bound, and its
            // retry under the same key learns the verdict.
            // The timer holds only the request's number: the batch stays with its entry.
            const std::uint64_t seq = ack->seq;
            cluster_.log->After(cluster_.wait_bound_ms, [this, request, seq] {
              std::function<void(std::uint64_t)> expire;
              {
                std::lock_guard lock(pending_mu_);
                auto it = awaiting_.find(request);
                if (it == awaiting_.end()) return;  // decided in time
                expire = std::move(it->second.expire);
                it->second.decided = std::move(it->second.late);
              }
              if (expire) expire(seq);
            });
            return;
          }
          if (!unawait()) return;  // a lost ack of a stored record: it answered
          if (!ack && ack.error().code == Errc::kAlreadyExists) {
            {
              std::lock_guard l(mu_);
              gate_.Rollback(*batch);
            }
            if (attempt + 1 >= cluster_.max_conflict_retries) {
              return Settle(parts,
                            Error{Errc::kUnavailable,
                                  "tenant '" + tenant +
                                      "': other nodes kept appending to it; retry the batch"},
                            0, 0, false);
            }
            // Once this node sees what the other node appended, the batch is checked again.
            cluster_.log->AfterCatchUp(
                tenant, cluster_.wait_bound_ms,
                [this, parts, retry, attempt, tenant](bool caught_up) {
                  if (!caught_up) {
                    return Settle(
                        parts,
                        Error{Errc::kUnavailable,
                              "tenant '" + tenant +
                                  "': this node has not received what "
                                  "another node appended within " +
                                  std::to_string(cluster_.wait_bound_ms) +
                                  " ms (is NATS short of its quorum?); nothing of this batch "
                                  "was accepted"},
                        0, 0, false);
                  }
                  SubmitCluster(
                      *retry,
                      [parts](Result<api::IngestResult> r) {
                        if (r)
                          return Settle(parts, std::nullopt, r->first_seq, r->accepted,
                                        r->duplicate);
                        Settle(parts, r.error(), 0, 0, false);
                      },
                      attempt + 1);
                });
            return;
          }
          if (!ack) {
            {
              std::lock_guard l(mu_);
              ++stats_.storage_failures;
              gate_.Rollback(*batch);
            }
            TALLY_LOG_ERROR("journal: {}", ack.error().message);
            return Settle(parts,
                          Error{Errc::kUnavailable, "the journal cannot store events right now (" +
                                                        ack.error().message +
                                                        "); nothing of this batch was accepted"},
                          0, 0, false);
          }
          {
            std::lock_guard l(mu_);
            gate_.Rollback(*batch);
          }
          // Stored before under this key (an earlier attempt): once applied here, its record
          // says what it held, with which body, and whether it was refused.
          const std::uint64_t seq = ack->seq;
          AfterApplied(tenant, seq, [this, parts, batch, retry, seq, tenant](bool applied) {
            if (!applied) {
              return Settle(parts,
                            Error{Errc::kUnavailable,
                                  "tenant '" + tenant + "': the batch was stored before (seq " +
                                      std::to_string(seq) +
                                      ") but this node has not applied it "
                                      "within " +
                                      std::to_string(cluster_.wait_bound_ms) +
                                      " ms (is NATS short of its quorum?); retry with the same "
                                      "Idempotency-Key"},
                            0, 0, false);
            }
            std::optional<StoredKey> known;
            {
              std::lock_guard l(mu_);
              if (auto it = recent_keys_.find(retry->key); it != recent_keys_.end()) {
                known = it->second;
              }
            }
            if (known && known->refused) {
              return Settle(
                  parts,
                  Error{Errc::kOutOfOrder, api::NameEvent(retry->naming, known->refused->index) +
                                               ": " + known->refused->message},
                  0, 0, false);
            }
            auto answer = [this, parts, retry, seq](std::uint64_t count, std::string hash) {
              auto r = Duplicate(storage::BatchRange{seq, seq, count, true, std::move(hash)},
                                 retry->body_hash);
              if (!r) return Settle(parts, r.error(), 0, 0, false);
              Settle(parts, std::nullopt, seq, r->accepted, true);
            };
            if (known) return answer(known->count, known->body_hash);
            // Older than the keys this node remembers: the stored message is read (off the
            // engine thread).
            cluster_.log->Run([this, batch, seq, answer] {
              auto original = cluster_.log->Stream().Get(seq);
              if (!original) return answer(batch->size(), std::string());
              answer(original->bodies.size(), original->body_hash);
            });
          });
        },
        basis[tenant]);
  }
}

void Pipeline::DurableCluster(std::string tenant, std::string command,
                              std::function<void(Result<stats::Engine*>)> then) {
  const std::uint64_t request = ++next_request_;
  {
    std::lock_guard lock(pending_mu_);
    pending_[request] = std::move(then);
  }
  storage::StreamBatch b;
  b.kind = storage::StreamKind::kCommands;
  b.tenant = std::move(tenant);
  {
    std::lock_guard lock(mu_);
    b.stamp = Stamp();
  }
  b.bodies.push_back(std::move(command));
  b.origin = cluster_.node;
  b.request = request;
  cluster_.log->Append(std::move(b), false, [this, request](Result<storage::PublishAck> ack) {
    if (ack) {
      {
        std::lock_guard l(mu_);
        ++stats_.commands;
      }
      // `then` runs when the command comes back from the stream; should the stream stop
      // delivering, the client hears so within the bound (every node, this one included, applies
      // the command once it comes back).
      const std::uint64_t seq = ack->seq;
      cluster_.log->After(cluster_.wait_bound_ms, [this, request, seq] {
        auto waiting = TakePending(request);
        if (!waiting) return;
        waiting(Error{Errc::kUnavailable,
                      "the request is stored in the stream (seq " + std::to_string(seq) +
                          ") but this node has not received it back within " +
                          std::to_string(cluster_.wait_bound_ms) +
                          " ms (is NATS short of its quorum?); it takes effect once NATS delivers "
                          "it"});
      });
      return;
    }
    auto waiting = TakePending(request);
    if (!waiting) return;
    {
      std::lock_guard l(mu_);
      ++stats_.storage_failures;
    }
    waiting(Error{Errc::kUnavailable,
                  "the journal cannot store the request right now (" + ack.error().message + ")"});
  });
}

void Pipeline::OnDelivered(const std::string& tenant, storage::JetStream::Delivered&& d) {
  const std::uint64_t seq = d.seq;
  if (!d.ok) {
    {
      std::lock_guard l(mu_);
      ++stats_.apply_failures;
    }
    TALLY_LOG_ERROR("journal: tenant '{}' stream seq {} is unreadable ({}); skipped", tenant, seq,
                    d.error);
    engine_.Post([this, tenant, seq](stats::Engine&) {
      cluster_.log->Followed(tenant, seq, true);
      positions_[tenant] = seq;
      Reached(tenant, seq);
    });
    return;
  }
  storage::StreamBatch& b = d.batch;
  if (b.kind == storage::StreamKind::kEvents) {
    auto batch = std::make_shared<std::vector<stats::Event>>();
    batch->reserve(b.bodies.size());
    std::vector<std::string> unreadable;
    for (const auto& body : b.bodies) {
      auto e = events::ParseEvent(body, events::NormalizeOptions{tenant, b.stamp});
      if (e) {
        batch->push_back(std::move(*e));
      } else {
        unreadable.push_back(e.error().message);
      }
    }
    for (const auto& why : unreadable) {
      TALLY_LOG_ERROR("journal: tenant '{}' stream seq {}: unreadable event ({}); skipped", tenant,
                      seq, why);
    }
    {
      std::lock_guard l(mu_);
      last_stamp_ = std::max(last_stamp_, b.stamp);
    }
    service_.NoteApplied(tenant, b.stamp);
    auto record = std::make_shared<storage::StreamBatch>(std::move(b));
    engine_.Post([this, tenant, seq, record, batch](stats::Engine& engine) {
      ApplyDelivered(engine, tenant, seq, *record, *batch);
    });
    return;
  }
  // A command or a session record: the node that published it runs its own continuation (which
  // answers its client); every other node replays it. Both have the same effect.
  std::function<void(Result<stats::Engine*>)> then;
  if (b.origin == cluster_.node && b.request != 0) then = TakePending(b.request);
  {
    std::lock_guard l(mu_);
    last_stamp_ = std::max(last_stamp_, b.stamp);
  }
  service_.NoteApplied(tenant, b.stamp);
  engine_.Post([this, tenant, seq, stamp = b.stamp, body = std::move(b.bodies.front()),
                then = std::move(then)](stats::Engine& engine) mutable {
    if (mode_ == ClockMode::kWall && stamp > engine.Now(tenant)) {
      if (auto moved = engine.AdvanceTo(stamp, engine_.Notifications()); !moved) {
        TALLY_LOG_ERROR("journal: stream seq {}: {}", seq, moved.error().message);
      }
    }
    if (observer_ != nullptr && IsReconfigureCommand(body)) observer_->Reconfigured(tenant);
    if (then) {
      then(&engine);
    } else {
      bool replayed = false;
      try {
        replayed = app_->Replay(body, engine);
      } catch (const std::exception& ex) {
        TALLY_LOG_ERROR("journal: stream seq {}: {}", seq, ex.what());
      }
      if (!replayed) {
        std::lock_guard l(mu_);
        ++stats_.apply_failures;
        TALLY_LOG_ERROR("journal: tenant '{}' stream seq {}: unreadable command; skipped", tenant,
                        seq);
      }
    }
    positions_[tenant] = seq;
    snapshots_.Applied(0, 1);
    MaybeSnapshot(engine, false);
    Reached(tenant, seq);
  });
}

std::function<void(Result<stats::Engine*>)> Pipeline::TakePending(std::uint64_t request) {
  std::lock_guard lock(pending_mu_);
  auto it = pending_.find(request);
  if (it == pending_.end()) return nullptr;
  auto taken = std::move(it->second);
  pending_.erase(it);
  return taken;
}

void Pipeline::ApplyDelivered(stats::Engine& engine, const std::string& tenant, std::uint64_t seq,
                              const storage::StreamBatch& b,
                              const std::vector<stats::Event>& batch) {
  std::vector<stats::Notification>& out = engine_.Notifications();
  // Every replica applies the record at its stamp (wall clock: the engine trails the wall clock
  // by the apply delay, so the stamp is not behind the engine's time).
  if (mode_ == ClockMode::kWall && b.stamp > engine.Now(tenant)) {
    if (auto moved = engine.AdvanceTo(b.stamp, out); !moved) {
      TALLY_LOG_ERROR("journal: stream seq {}: {}", seq, moved.error().message);
    }
  }
  // The verdict: the stream's order decides. A record behind another node's newer event of one
  // of its DNs is skipped whole on every replica (the stored level is the same everywhere, and
  // so is the record's place in the stream); its client is told it was refused.
  std::optional<OrderGate::Refusal> refused;
  {
    std::lock_guard l(mu_);
    refused = gate_.CheckStored(batch);
    if (refused) {
      ++stats_.skipped_in_stream;
      if (b.origin == cluster_.node) ++stats_.refused_out_of_order;
    } else {
      for (const auto& e : batch) gate_.Observe(e);
    }
    gate_seen_[tenant] = std::max(gate_seen_[tenant], seq);
    if (!b.key.empty()) {
      recent_keys_[b.key] = StoredKey{seq, b.bodies.size(), b.body_hash, refused};
      key_order_.emplace_back(b.stamp, b.key);
      // Kept for the stream's duplicate window (what JetStream itself remembers).
      const TimeMs horizon = b.stamp - cluster_.log->Stream().options().duplicate_window_ms;
      while (!key_order_.empty() && key_order_.front().first < horizon) {
        recent_keys_.erase(key_order_.front().second);
        key_order_.pop_front();
      }
    }
  }
  cluster_.log->Followed(tenant, seq, b.origin != cluster_.node);
  if (refused) {
    TALLY_LOG_INFO("journal: tenant '{}' stream seq {} skipped: {} (event {} of the record)",
                   tenant, seq, refused->message, refused->index);
  } else {
    if (observer_ != nullptr && observer_->Watching()) {
      Observe(engine, std::make_shared<const std::vector<stats::Event>>(batch));
    }
    for (const stats::Event& e : batch) {
      if (auto failed = ApplyEvent(engine, e, out)) {
        {
          std::lock_guard l(mu_);
          ++stats_.apply_failures;
        }
        TALLY_LOG_ERROR("journal: tenant '{}' stream seq {} quarantined: {}", tenant, seq, *failed);
      }
      engine_.OnApplied(e);
    }
  }
  positions_[tenant] = seq;
  snapshots_.Applied(0, batch.size());
  MaybeSnapshot(engine, false);
  Reached(tenant, seq);
  if (b.origin == cluster_.node && b.request != 0) {
    Decided decided;
    {
      std::lock_guard lock(pending_mu_);
      if (auto it = awaiting_.find(b.request); it != awaiting_.end()) {
        decided = std::move(it->second.decided);
        awaiting_.erase(it);
      }
    }
    if (decided) decided(seq, refused);
  }
}

void Pipeline::AfterApplied(const std::string& tenant, std::uint64_t seq,
                            std::function<void(bool)> then) {
  engine_.Post([this, tenant, seq, then = std::move(then)](stats::Engine&) mutable {
    if (positions_[tenant] >= seq) return then(true);
    const std::uint64_t id = ++next_applied_waiter_;
    applied_waiters_[tenant].emplace(seq, AppliedWaiter{id, std::move(then)});
    cluster_.log->After(cluster_.wait_bound_ms, [this, tenant, id] {
      engine_.Post([this, tenant, id](stats::Engine&) {
        auto& waiting = applied_waiters_[tenant];
        for (auto it = waiting.begin(); it != waiting.end(); ++it) {
          if (it->second.id != id) continue;
          auto expired = std::move(it->second.then);
          waiting.erase(it);
          return expired(false);
        }
      });
    });
  });
}

std::uint64_t Pipeline::StreamApplied() const {
  std::lock_guard lock(catch_mu_);
  std::uint64_t newest = 0;
  for (const auto& [tenant, seq] : reached_) newest = std::max(newest, seq);
  return newest;
}

void Pipeline::Reached(const std::string& tenant, std::uint64_t seq) {
  if (auto w = applied_waiters_.find(tenant); w != applied_waiters_.end()) {
    while (!w->second.empty() && w->second.begin()->first <= seq) {
      auto then = std::move(w->second.begin()->second.then);
      w->second.erase(w->second.begin());
      then(true);
    }
  }
  {
    std::lock_guard lock(catch_mu_);
    auto& r = reached_[tenant];
    r = std::max(r, seq);
  }
  catch_cv_.notify_all();
}

Result<void> Pipeline::RecoverCluster(const std::vector<stats::TenantSetup>& tenants,
                                      const std::function<bool()>& stopping) {
  stats::Engine& engine = engine_.EngineForSetup();
  const auto started = std::chrono::steady_clock::now();
  // The snapshot as it was taken (its catalog, its objects): reload records after it apply at
  // their own stream points, the same on every replica (docs/operations.md "Live reload").
  const Snapshotter::Loaded loaded = snapshots_.LoadNewest(engine, tenants, true);
  storage::JetStream& js = cluster_.log->Stream();
  std::map<std::string, std::uint64_t> from;
  std::map<std::string, std::uint64_t> targets;
  for (const auto& tenant : cluster_.tenants) {
    auto it = loaded.positions.find(tenant);
    from[tenant] = it == loaded.positions.end() ? 0 : it->second;
    // A stream just created (or a NATS cluster electing leaders) answers late: retried.
    auto pending = js.Pending(tenant, from[tenant]);
    for (int attempt = 0; !pending && pending.error().code == Errc::kUnavailable && attempt < 120;
         ++attempt) {
      if (stopping()) return Error{Errc::kUnavailable, "stopped while catching up"};
      if (attempt % 10 == 0) TALLY_LOG_WARN("recovery: {}; retrying", pending.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      pending = js.Pending(tenant, from[tenant]);
    }
    if (!pending) return pending.error();
    targets[tenant] = from[tenant] + *pending;
    positions_[tenant] = from[tenant];
    {
      std::lock_guard lock(mu_);
      gate_seen_[tenant] = from[tenant];
    }
    Reached(tenant, from[tenant]);
  }
  std::uint64_t total = 0;
  for (const auto& [tenant, target] : targets) total += target - from[tenant];
  Progress(fmt::format(
      "recovery: following {} tenant(s) from {}; {} records to catch up", cluster_.tenants.size(),
      loaded.positions.empty() ? "the start of the stream" : "the snapshot", total));
  // Records apply at their stamps while catching up; the wall clock joins once caught up.
  engine_.HoldWallClock(true);
  engine_.Start();
  for (const auto& tenant : cluster_.tenants) {
    auto follow = [&] {
      return js.Follow(tenant, from[tenant], [this, tenant](storage::JetStream::Delivered&& d) {
        OnDelivered(tenant, std::move(d));
      });
    };
    auto followed = follow();
    for (int attempt = 0; !followed && followed.error().code == Errc::kUnavailable && attempt < 120;
         ++attempt) {
      if (stopping()) return Error{Errc::kUnavailable, "stopped while catching up"};
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      followed = follow();
    }
    if (!followed) return followed.error();
  }
  auto last_log = std::chrono::steady_clock::now();
  for (;;) {
    std::unique_lock lock(catch_mu_);
    std::uint64_t left = 0;
    for (const auto& [tenant, target] : targets) {
      const std::uint64_t at = reached_[tenant];
      if (at < target) left += target - at;
    }
    if (left == 0) break;
    if (stopping()) return Error{Errc::kUnavailable, "stopped while catching up"};
    catch_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(2)) {
      last_log = std::chrono::steady_clock::now();
      Progress(fmt::format("recovery: {} of {} records to catch up left", left, total));
    }
  }
  engine_.SetWallClockLag(cluster_.apply_delay_ms);
  engine_.HoldWallClock(false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  Progress(
      fmt::format("recovery: caught up with the stream ({} records) in {:.3f} s", total, seconds));
  return {};
}

}  // namespace tally::server
