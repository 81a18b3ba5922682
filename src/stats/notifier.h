// Notifier: the engine's notification policy, apart from what is notified (docs/statistics.md
// §9). It holds the subscriptions (handle → mode, frequency, insensitivity, last value sent),
// decides with ShouldSend whether a new value is worth sending, flushes the sources an event made
// dirty (Immediate), and runs the timers of each clock (Periodical every `frequency`, the window
// boundaries for Reset and Immediate) with a bounded catch-up after long jumps.
// What is notified is a NotifiedSource: anything that gives its value at a time and knows its
// window boundaries — the engine's statistic instances; the unit tests use a fake. Clocks are
// small integers (the engine uses one per tenant): a clock's timers run only when it moves.
// Threading: single-threaded (the engine thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "common/clock.h"
#include "stats/engine.h"
#include "stats/types.h"
#include "stats/value.h"

namespace tally::stats {

// The handles subscribed to one source: most sources have one, kept in place.
class SubscriberList {
 public:
  void push_back(std::uint64_t h) {
    if (!more_ && one_ == 0) {
      one_ = h;
      return;
    }
    if (!more_) {
      more_ = std::make_unique<std::vector<std::uint64_t>>();
      more_->push_back(one_);
      one_ = 0;
    }
    more_->push_back(h);
  }
  void erase(std::uint64_t h);
  [[nodiscard]] bool empty() const { return more_ ? more_->empty() : one_ == 0; }
  [[nodiscard]] size_t size() const { return more_ ? more_->size() : one_ != 0 ? 1 : 0; }
  [[nodiscard]] const std::uint64_t* begin() const { return more_ ? more_->data() : &one_; }
  [[nodiscard]] const std::uint64_t* end() const { return begin() + size(); }

 private:
  std::uint64_t one_ = 0;  // handles start at 1
  std::unique_ptr<std::vector<std::uint64_t>> more_;
};

class NotifiedSource {
 public:
  virtual ~NotifiedSource() = default;
  // The value at `t` (windows moved to `t` first).
  [[nodiscard]] virtual StatValue ValueAt(TimeMs t) = 0;
  // Moves the windows to `t`.
  virtual void AdvanceTo(TimeMs t) = 0;
  // When the last Growing reset happened (none: no resets, or not a Growing window). A Reset
  // timer armed for boundary b sends when this is at or after b — whoever moved the windows
  // there first (another subscriber of the same statistic, a periodic timer, a peek).
  [[nodiscard]] virtual std::optional<TimeMs> LastResetAt() const = 0;
  [[nodiscard]] virtual std::optional<TimeMs> NextBoundary() const = 0;
  // The value the last reset closed, stamped `t`: the ended interval's final value and length.
  [[nodiscard]] virtual StatValue ClosedIntervalValue(TimeMs t) = 0;
  // The time of the source's clock (where a flush computes its value).
  [[nodiscard]] virtual TimeMs Now() const = 0;

  // Kept on the source so that marking it dirty costs two loads and a store.
  SubscriberList subscribers;  // handles, in the order they subscribed
  bool dirty = false;
};

struct NotificationSettings {
  NotificationMode mode = NotificationMode::kImmediate;
  std::int64_t frequency_ms = 10'000;
  double insensitivity = 0;
};

// One subscription (its handle is its key in the notifier): where it listens, how, and what it
// was last sent — the number alone (a state's status code): ShouldSend needs no more.
struct Subscription {
  NotifiedSource* source = nullptr;
  NotificationSettings settings;
  double last = 0;
  int clock = 0;
  bool sent = false;
};

// A timer as kept (and saved in snapshots).
struct NotifierTimer {
  TimeMs time = 0;
  std::uint64_t seq = 0;
  std::uint64_t handle = 0;
  bool periodic = false;
  int due_again = 0;  // times it fell due again within the current move of time
  bool operator>(const NotifierTimer& o) const {
    return time != o.time ? time > o.time : seq > o.seq;
  }
};

class Notifier final {
 public:
  // A timer that falls due this many times within one move of time stops catching up period by
  // period and jumps to `now`, so the work of a jump never grows with the time it skips.
  static constexpr int kCatchUp = 1000;

  // Subscribes to `source` on `clock` at `now`; `initial` is the value delivered with the open
  // (it counts as sent). Returns the new handle.
  std::uint64_t Subscribe(NotifiedSource& source, int clock, TimeMs now,
                          const NotificationSettings& settings, StatValue initial);
  void Unsubscribe(std::uint64_t handle);
  [[nodiscard]] Subscription* Find(std::uint64_t handle);
  [[nodiscard]] const boost::unordered_flat_map<std::uint64_t, Subscription>& All() const {
    return subs_;
  }
  [[nodiscard]] size_t Size() const { return subs_.size(); }

  // The source changed: Immediate subscribers see it at the next Flush().
  void MarkDirty(NotifiedSource& source) {
    if (!source.subscribers.empty() && !source.dirty) {
      source.dirty = true;
      dirty_.push_back(&source);
    }
  }
  // The source is going away: forget that it was dirty.
  void Forget(NotifiedSource& source);
  // Immediate notifications of every dirty source, at its clock's time.
  void Flush(std::vector<Notification>& out);
  // Runs the timers of `clock` due until `t`; `now` is the clock's time, moved with them.
  void RunUntil(int clock, TimeMs t, TimeMs& now, std::vector<Notification>& out);

  // ShouldSend: is `v` worth sending after `s.last`? Immediate rule of docs/statistics.md §9
  // (any change; with insensitivity > 1, a change of at least that percentage of the last value,
  // always when the last was 0); `state_changed` for CurrentState trees (then `last` is the
  // status code sent).
  [[nodiscard]] static bool ShouldSend(const Subscription& s, const StatValue& v,
                                       bool state_changed);

  [[nodiscard]] std::uint64_t Sent() const { return sent_; }

  // Snapshots (the engine's codec writes these pieces in its own layout).
  [[nodiscard]] std::uint64_t NextHandle() const { return next_handle_; }
  [[nodiscard]] std::uint64_t NextSeq() const { return next_seq_; }
  [[nodiscard]] std::vector<std::pair<int, NotifierTimer>> Timers() const;  // per clock, in order
  // Restores a subscription as saved (no timers armed, nothing sent).
  [[nodiscard]] bool Restore(std::uint64_t handle, const Subscription& s);
  void RestoreTimer(int clock, const NotifierTimer& t);
  void RestoreCounters(std::uint64_t next_handle, std::uint64_t next_seq, std::uint64_t sent) {
    next_handle_ = next_handle;
    next_seq_ = next_seq;
    sent_ = sent;
  }

 private:
  using TimerQueue = std::priority_queue<NotifierTimer, std::vector<NotifierTimer>, std::greater<>>;
  void Arm(std::uint64_t handle, const Subscription& s, TimeMs now);
  void Push(int clock, TimeMs time, std::uint64_t handle, bool periodic, int due_again = 0);
  void Send(std::uint64_t handle, Subscription& s, StatValue v, std::vector<Notification>& out);
  TimerQueue& Clock(int clock);

  boost::unordered_flat_map<std::uint64_t, Subscription> subs_;
  std::vector<NotifiedSource*> dirty_;
  std::vector<TimerQueue> clocks_;
  std::uint64_t next_handle_ = 1;
  std::uint64_t next_seq_ = 0;
  std::uint64_t sent_ = 0;
};

}  // namespace tally::stats
