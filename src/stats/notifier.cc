// Notifier (notifier.h): subscriptions, ShouldSend, the dirty flush and the timers per clock.
// Threading: single-threaded (the engine thread).
#include "stats/notifier.h"

#include <algorithm>
#include <cmath>

namespace tally::stats {

void SubscriberList::erase(std::uint64_t h) {
  if (!more_) {
    if (one_ == h) one_ = 0;
    return;
  }
  more_->erase(std::remove(more_->begin(), more_->end(), h), more_->end());
}

std::uint64_t Notifier::Subscribe(NotifiedSource& source, int clock, TimeMs now,
                                  const NotificationSettings& settings, StatValue initial) {
  const std::uint64_t handle = next_handle_++;
  Subscription s;
  s.source = &source;
  s.clock = clock;
  s.settings = settings;
  s.sent = true;  // the initial value is delivered with the open
  s.last = initial.number;
  source.subscribers.push_back(handle);
  subs_.emplace(handle, s);
  Arm(handle, s, now);
  return handle;
}

void Notifier::Unsubscribe(std::uint64_t handle) {
  auto it = subs_.find(handle);
  if (it == subs_.end()) return;
  it->second.source->subscribers.erase(handle);
  subs_.erase(it);  // its timers find no subscription and are dropped when they fall due
}

Subscription* Notifier::Find(std::uint64_t handle) {
  auto it = subs_.find(handle);
  return it == subs_.end() ? nullptr : &it->second;
}

void Notifier::Forget(NotifiedSource& source) {
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), &source), dirty_.end());
  source.dirty = false;
}

bool Notifier::ShouldSend(const Subscription& s, const StatValue& v, bool state_changed) {
  if (!s.sent) return true;
  if (v.state) return state_changed || static_cast<double>(v.int_value) != s.last;
  const double last = s.last;
  if (v.number == last) return false;
  const double insensitivity = s.settings.insensitivity;
  if (insensitivity <= 1 || last == 0) return true;
  return std::fabs(v.number - last) >= insensitivity / 100.0 * std::fabs(last);
}

void Notifier::Send(std::uint64_t handle, Subscription& s, StatValue v,
                    std::vector<Notification>& out) {
  s.sent = true;
  s.last = v.state ? static_cast<double>(v.int_value) : v.number;
  ++sent_;
  out.push_back(Notification{handle, std::move(v)});
}

void Notifier::Flush(std::vector<Notification>& out) {
  for (NotifiedSource* source : dirty_) {
    source->dirty = false;
    bool any_immediate = false;
    for (std::uint64_t h : source->subscribers) {
      any_immediate |= subs_.at(h).settings.mode == NotificationMode::kImmediate;
    }
    if (!any_immediate) continue;
    const StatValue v = source->ValueAt(source->Now());
    for (std::uint64_t h : source->subscribers) {
      Subscription& s = subs_.at(h);
      if (s.settings.mode != NotificationMode::kImmediate) continue;
      if (ShouldSend(s, v, true)) Send(h, s, v, out);
    }
  }
  dirty_.clear();
}

Notifier::TimerQueue& Notifier::Clock(int clock) {
  if (clock >= static_cast<int>(clocks_.size())) clocks_.resize(static_cast<size_t>(clock) + 1);
  return clocks_[static_cast<size_t>(clock)];
}

void Notifier::Push(int clock, TimeMs time, std::uint64_t handle, bool periodic, int due_again) {
  if (time > kMaxEventTime) return;  // can never fall due
  Clock(clock).push(NotifierTimer{time, next_seq_++, handle, periodic, due_again});
}

void Notifier::Arm(std::uint64_t handle, const Subscription& s, TimeMs now) {
  const NotificationMode mode = s.settings.mode;
  if (mode == NotificationMode::kPeriodical) {
    Push(s.clock, AddTime(now, s.settings.frequency_ms), handle, true);
  }
  if (mode == NotificationMode::kReset || mode == NotificationMode::kImmediate) {
    if (auto b = s.source->NextBoundary()) Push(s.clock, *b, handle, false);
  }
}

void Notifier::RunUntil(int clock, TimeMs t, TimeMs& now, std::vector<Notification>& out) {
  TimerQueue& timers = Clock(clock);
  while (!timers.empty() && timers.top().time <= t) {
    const NotifierTimer timer = timers.top();
    timers.pop();
    Subscription* sp = Find(timer.handle);
    if (sp == nullptr) continue;
    Subscription& s = *sp;
    now = std::max(now, timer.time);
    if (timer.periodic) {
      StatValue v = s.source->ValueAt(timer.time);
      const bool suppress = s.settings.insensitivity > 1 && s.sent && !ShouldSend(s, v, false);
      if (!suppress) Send(timer.handle, s, std::move(v), out);
      const std::int64_t f = s.settings.frequency_ms;
      TimeMs next = AddTime(timer.time, f);
      const int again = next <= t ? timer.due_again + 1 : 0;
      // Far behind: the missed periods are skipped; the next one is the last due by `t`.
      if (again >= kCatchUp) next = AddTime(next, (t - next) / f * f);
      Push(clock, next, timer.handle, true, again >= kCatchUp ? 0 : again);
      continue;
    }
    // Far behind: the source jumps straight to `t` (its own windows skip empty intervals).
    const TimeMs at = timer.due_again >= kCatchUp ? t : timer.time;
    now = std::max(now, at);
    s.source->AdvanceTo(at);
    const auto last_reset = s.source->LastResetAt();
    if (s.settings.mode == NotificationMode::kReset && last_reset && *last_reset >= timer.time) {
      Send(timer.handle, s, s.source->ClosedIntervalValue(at), out);
    } else if (s.settings.mode == NotificationMode::kImmediate) {
      StatValue v = s.source->ValueAt(at);
      if (ShouldSend(s, v, false)) Send(timer.handle, s, std::move(v), out);
    }
    if (auto b = s.source->NextBoundary()) {
      Push(clock, *b, timer.handle, false, *b <= t ? timer.due_again + 1 : 0);
    }
  }
  now = std::max(now, t);
}

std::vector<std::pair<int, NotifierTimer>> Notifier::Timers() const {
  std::vector<std::pair<int, NotifierTimer>> all;
  for (size_t c = 0; c < clocks_.size(); ++c) {
    auto copy = clocks_[c];
    while (!copy.empty()) {
      all.emplace_back(static_cast<int>(c), copy.top());
      copy.pop();
    }
  }
  return all;
}

bool Notifier::Restore(std::uint64_t handle, const Subscription& s) {
  return subs_.emplace(handle, s).second;
}

void Notifier::RestoreTimer(int clock, const NotifierTimer& t) { Clock(clock).push(t); }

}  // namespace tally::stats
