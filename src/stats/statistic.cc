#include "stats/statistic.h"

#include <algorithm>

namespace tally::stats {
namespace {

const Attributes& NoAttributes() {
  static const Attributes empty;
  return empty;
}

bool NeedsStartSet(Category c) {
  return c == Category::kCurrentMaxTime || c == Category::kCurrentMinTime ||
         c == Category::kCurrentNumberInTimeRange ||
         c == Category::kCurrentNumberInTimeRangePercentage;
}

constexpr size_t kSmallMapLimit = 16;

}  // namespace

void StartMap::Put(std::uint64_t key, TimeMs start) {
  if (big_) {
    (*big_)[key] = start;
    return;
  }
  for (auto& [k, v] : small_) {
    if (k == key) {
      v = start;
      return;
    }
  }
  if (small_.size() < kSmallMapLimit) {
    small_.emplace_back(key, start);
    return;
  }
  big_ = std::make_unique<std::unordered_map<std::uint64_t, TimeMs>>(small_.begin(), small_.end());
  small_.clear();
  small_.shrink_to_fit();
  (*big_)[key] = start;
}

std::optional<TimeMs> StartMap::Take(std::uint64_t key) {
  if (big_) {
    auto it = big_->find(key);
    if (it == big_->end()) return std::nullopt;
    const TimeMs v = it->second;
    big_->erase(it);
    return v;
  }
  for (size_t i = 0; i < small_.size(); ++i) {
    if (small_[i].first == key) {
      const TimeMs v = small_[i].second;
      small_[i] = small_.back();
      small_.pop_back();
      return v;
    }
  }
  return std::nullopt;
}

std::optional<TimeMs> StartMap::Find(std::uint64_t key) const {
  if (big_) {
    auto it = big_->find(key);
    if (it == big_->end()) return std::nullopt;
    return it->second;
  }
  for (const auto& [k, v] : small_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::optional<TimeMs> StartMap::Min() const {
  std::optional<TimeMs> best;
  if (big_) {
    for (const auto& [k, v] : *big_) {
      if (!best || v < *best) best = v;
    }
    return best;
  }
  for (const auto& [k, v] : small_) {
    if (!best || v < *best) best = v;
  }
  return best;
}

std::vector<std::pair<std::uint64_t, TimeMs>> StartMap::Items() const {
  if (big_) return {big_->begin(), big_->end()};
  return small_;
}

void IntervalAgg::Add(const IntervalAgg& o) {
  n_started += o.n_started;
  n_closed += o.n_closed;
  closed_time += o.closed_time;
  adj_time += o.adj_time;
  if (o.max_dur >= 0) max_dur = std::max(max_dur, o.max_dur);
  if (o.min_dur >= 0) min_dur = min_dur < 0 ? o.min_dur : std::min(min_dur, o.min_dur);
  n_range += o.n_range;
  range_time += o.range_time;
  max_current = std::max(max_current, o.max_current);
  min_current = std::min(min_current, o.min_current);
  current_integral_x2 += o.current_integral_x2;
  count_integral += o.count_integral;
}

Statistic::Statistic(std::shared_ptr<const Definition> def, TimeMs created) : def_(std::move(def)) {
  history_ = !def_->IsCurrent();
  track_episodes_ = history_ || def_->category == Category::kCurrentContinuousTime;
  main_.mask = def_->main;
  main_.range = &def_->range;
  if (def_->rel) {
    rel_ = std::make_unique<Side>();
    rel_->mask = *def_->rel;
    rel_->range = def_->category == Category::kServiceFactor1
                      ? (def_->range2 ? &*def_->range2 : nullptr)
                      : &def_->range;
  }
  if (NeedsStartSet(def_->category)) {
    main_.cur_starts = std::make_unique<std::multiset<TimeMs>>();
  }
  StartWindow(created);
}

void Statistic::StartWindow(TimeMs t) {
  created_ = t;
  window_start_ = t;
  size_t n_buckets = 1;
  if (def_->interval == IntervalType::kGrowingWindow) {
    next_reset_ = NextReset(def_->growing, t);
  } else if (def_->interval == IntervalType::kSlidingWindow) {
    const std::int64_t step = def_->sliding_step_ms;
    n_buckets = static_cast<size_t>((def_->sliding_length_ms + step - 1) / step);
    bucket_end_ = (t / step + 1) * step;
  }
  if (history_) {
    next_boundary_ = def_->interval == IntervalType::kGrowingWindow   ? next_reset_
                     : def_->interval == IntervalType::kSlidingWindow ? bucket_end_
                                                                      : INT64_MAX;
  }
  for (Side* s : {&main_, rel_.get()}) {
    if (s == nullptr) continue;
    s->integral_t = t;
    if (history_) {
      s->buckets.assign(n_buckets, IntervalAgg{});
      s->agg = &s->buckets[0];
      if (def_->interval == IntervalType::kSelection) {
        s->selected.resize(static_cast<size_t>(def_->selection_size));
      }
    }
  }
}

bool Statistic::Matches(const Side& s, Status st, const Attributes* attrs) const {
  if (!s.mask.HasStatus(st)) return false;
  return !def_->filter || def_->filter->Matches(attrs != nullptr ? *attrs : NoAttributes());
}

bool Statistic::MatchesAction(const Side& s, Action a, const Attributes& attrs) const {
  return s.mask.HasAction(a) && (!def_->filter || def_->filter->Matches(attrs));
}

void Statistic::Integrate(Side& s, TimeMs t) {
  if (t <= s.integral_t) return;
  if (s.agg != nullptr) {
    const TimeMs l = s.integral_t;
    s.agg->current_integral_x2 +=
        static_cast<double>(t - l) * static_cast<double>(s.n_cur * (t + l) - 2 * s.sum_cur);
    s.agg->count_integral += static_cast<double>(s.n_cur * (t - l));
  }
  s.integral_t = t;
}

void Statistic::CurAdd(Side& s, TimeMs start, TimeMs t) {
  Integrate(s, t);
  ++s.n_cur;
  s.sum_cur += start;
  if (s.cur_starts) s.cur_starts->insert(start);
  if (s.agg != nullptr) s.agg->max_current = std::max(s.agg->max_current, s.n_cur);
}

void Statistic::CurRemove(Side& s, TimeMs start, TimeMs t) {
  Integrate(s, t);
  --s.n_cur;
  s.sum_cur -= start;
  if (s.cur_starts) {
    auto it = s.cur_starts->find(start);
    if (it != s.cur_starts->end()) s.cur_starts->erase(it);
  }
  if (s.agg != nullptr) s.agg->min_current = std::min(s.agg->min_current, s.n_cur);
}

void Statistic::Open(Side& s, TimeMs start, bool counted) {
  ++s.n_open;
  if (s.agg == nullptr) return;
  s.eff_sum += std::max(start, window_start_);
  if (counted && start >= window_start_) ++s.agg->n_started;
}

void Statistic::Ended(Side& s, std::int64_t duration) {
  IntervalAgg& a = *s.agg;
  ++a.n_closed;
  a.adj_time += duration;
  a.max_dur = std::max(a.max_dur, duration);
  a.min_dur = a.min_dur < 0 ? duration : std::min(a.min_dur, duration);
  const bool in_range = s.range != nullptr && s.range->Contains(duration);
  if (in_range) {
    ++a.n_range;
    a.range_time += duration;
  }
  if (!s.selected.empty()) {
    s.selected[s.selected_next] = SelectedItem{duration, in_range};
    s.selected_next = (s.selected_next + 1) % s.selected.size();
    s.selected_count =
        std::min<std::int64_t>(s.selected_count + 1, static_cast<std::int64_t>(s.selected.size()));
  }
}

void Statistic::Close(Side& s, TimeMs start, TimeMs end) {
  --s.n_open;
  if (s.agg == nullptr) return;
  const TimeMs eff = std::max(start, window_start_);
  s.eff_sum -= eff;
  s.agg->closed_time += std::max<std::int64_t>(0, end - eff);
  Ended(s, end - start);
}

void Statistic::Instant(Side& s, TimeMs duration, TimeMs /*t*/) {
  if (s.agg == nullptr) return;
  ++s.agg->n_started;
  s.agg->closed_time += duration;
  Ended(s, duration);
}

void Statistic::FlushPending(Side& s, TimeMs t) {
  if (s.pending.empty()) return;
  size_t kept = 0;
  for (size_t i = 0; i < s.pending.size(); ++i) {
    const auto p = s.pending[i];
    if (p.end < t) {
      Close(s, p.start, p.end);
    } else {
      s.pending[kept++] = p;
    }
  }
  s.pending.resize(kept);
}

void Statistic::OnStatus(std::uint64_t unit, const UnitStatus& before, const UnitStatus& after,
                         TimeMs t) {
  for (Side* s : {&main_, rel_.get()}) {
    if (s == nullptr) continue;
    FlushPending(*s, t);
    const bool old_in = before.present && Matches(*s, before.status, before.attrs);
    const bool new_in = after.present && Matches(*s, after.status, after.attrs);
    if (!old_in && !new_in) continue;
    const bool changed = before.present != after.present || before.status != after.status ||
                         before.start != after.start;
    if (old_in && (!new_in || changed)) CurRemove(*s, before.start, t);
    if (new_in && (!old_in || changed)) CurAdd(*s, after.start, t);
    if (!track_episodes_) continue;
    if (!old_in && new_in) {
      auto same_instant =
          std::find_if(s->pending.begin(), s->pending.end(),
                       [&](const Side::PendingClose& p) { return p.unit == unit && p.end == t; });
      if (same_instant != s->pending.end()) {
        // Left and re-entered the mask at the same instant: the episode goes on.
        s->open_starts.Put(unit, same_instant->start);
        s->pending.erase(same_instant);
        continue;
      }
      // A unit that joins the object mid-status brings the status' real start.
      const TimeMs start = before.present ? t : std::min(after.start, t);
      s->open_starts.Put(unit, start);
      Open(*s, start, true);
    } else if (old_in && !new_in) {
      const TimeMs start = s->open_starts.Take(unit).value_or(t);
      if (history_) {
        s->pending.push_back(Side::PendingClose{unit, start, t});
        has_pending_ = true;
      } else {
        Close(*s, start, t);
      }
    }
  }
}

void Statistic::OnActionStart(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs,
                              TimeMs t) {
  for (Side* s : {&main_, rel_.get()}) {
    if (s == nullptr || !MatchesAction(*s, kind, attrs)) continue;
    CurAdd(*s, start, t);
    if (!track_episodes_) continue;
    if (def_->filter) s->open_starts.Put(key, start);
    Open(*s, start, true);
  }
}

void Statistic::OnActionAttrs(std::uint64_t key, Action kind, TimeMs start,
                              const Attributes& before, const Attributes& after, TimeMs t) {
  if (!def_->filter) return;
  for (Side* s : {&main_, rel_.get()}) {
    if (s == nullptr || !s->mask.HasAction(kind)) continue;
    const bool old_in = def_->filter->Matches(before);
    const bool new_in = def_->filter->Matches(after);
    if (old_in == new_in) continue;
    if (new_in) {
      CurAdd(*s, start, t);
      if (!track_episodes_) continue;
      s->open_starts.Put(key, t);
      Open(*s, t, true);
    } else {
      CurRemove(*s, start, t);
      if (!track_episodes_) continue;
      Close(*s, s->open_starts.Take(key).value_or(start), t);
    }
  }
}

void Statistic::OnActionEnd(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs,
                            TimeMs t) {
  for (Side* s : {&main_, rel_.get()}) {
    if (s == nullptr || !MatchesAction(*s, kind, attrs)) continue;
    CurRemove(*s, start, t);
    if (!track_episodes_) continue;
    const TimeMs seg = def_->filter ? s->open_starts.Take(key).value_or(start) : start;
    Close(*s, seg, t);
  }
}

void Statistic::OnInstant(Action kind, TimeMs duration_ms, const Attributes& attrs, TimeMs t) {
  if (!history_) return;
  for (Side* s : {&main_, rel_.get()}) {
    if (s == nullptr || !MatchesAction(*s, kind, attrs)) continue;
    Instant(*s, duration_ms, t);
  }
}

void Statistic::ResetGrowing(TimeMs at) {
  for (Side* s : {&main_, rel_.get()}) {
    if (s == nullptr || s->agg == nullptr) continue;
    Integrate(*s, at);
    s->agg->Start(s->n_cur);
    s->eff_sum = s->n_open * at;
  }
  window_start_ = at;
}

void Statistic::OnLogin(TimeMs t) {
  if (def_->interval != IntervalType::kSinceLogin || !history_) return;
  ResetGrowing(t);
}

void Statistic::Roll(Side& s, TimeMs boundary) {
  if (s.agg == nullptr) return;
  Integrate(s, boundary);
  s.agg->closed_time += s.n_open * boundary - s.eff_sum;
  s.eff_sum = s.n_open * boundary;
  s.head = (s.head + 1) % s.buckets.size();
  s.agg = &s.buckets[s.head];
  s.agg->Start(s.n_cur);
}

bool Statistic::Advance(TimeMs now) {
  // Called for every statistic on every change it sees: keep the common case cheap.
  if (now < next_boundary_ && !has_pending_) return false;
  if (!history_) return false;
  bool reset = false;
  auto flush = [&](TimeMs t) {
    for (Side* s : {&main_, rel_.get()}) {
      if (s != nullptr) FlushPending(*s, t);
    }
  };
  if (def_->interval == IntervalType::kGrowingWindow) {
    while (now >= next_reset_) {
      flush(next_reset_ + 1);
      value_before_reset_ = NumberAt(next_reset_);
      ResetGrowing(next_reset_);
      next_reset_ = NextReset(def_->growing, next_reset_);
      reset = true;
      if (now >= next_reset_) {
        // Several resets passed without any change (a long idle gap, or the first event long
        // after start-up): the windows in between hold open items only, so jump to the reset
        // before the last one; the loop then closes the last full window as usual.
        const TimeMs last = LastReset(def_->growing, now);
        const TimeMs before_last = LastReset(def_->growing, last - 1);
        if (before_last > next_reset_) {
          ResetGrowing(before_last);
          next_reset_ = last;
        }
      }
    }
  } else if (def_->interval == IntervalType::kSlidingWindow) {
    const std::int64_t step = def_->sliding_step_ms;
    size_t rolls = 0;
    while (now >= bucket_end_) {
      if (rolls > main_.buckets.size() + 1) {
        // Every step is now made of open items only: skip to the step containing `now`.
        const std::int64_t skip = (now - bucket_end_) / step;
        bucket_end_ += skip * step;
        for (Side* s : {&main_, rel_.get()}) {
          if (s != nullptr) {
            s->integral_t = std::max(s->integral_t, bucket_end_ - step);
            s->eff_sum = s->n_open * (bucket_end_ - step);
          }
        }
        window_start_ = bucket_end_ - step;
        if (now < bucket_end_) break;
      }
      flush(bucket_end_ + 1);
      for (Side* s : {&main_, rel_.get()}) {
        if (s != nullptr) Roll(*s, bucket_end_);
      }
      window_start_ = bucket_end_;
      bucket_end_ += step;
      ++rolls;
    }
  }
  flush(now);
  has_pending_ = !main_.pending.empty() || (rel_ && !rel_->pending.empty());
  next_boundary_ = def_->interval == IntervalType::kGrowingWindow   ? next_reset_
                   : def_->interval == IntervalType::kSlidingWindow ? bucket_end_
                                                                    : INT64_MAX;
  return reset;
}

std::optional<TimeMs> Statistic::NextBoundary() const {
  if (!history_) return std::nullopt;
  if (def_->interval == IntervalType::kGrowingWindow) return next_reset_;
  if (def_->interval == IntervalType::kSlidingWindow) return bucket_end_;
  return std::nullopt;
}

std::int64_t Statistic::WindowStart(TimeMs now) const {
  (void)now;
  if (def_->interval == IntervalType::kSlidingWindow) {
    const std::int64_t n = static_cast<std::int64_t>(main_.buckets.size());
    return std::max(created_, window_start_ - (n - 1) * def_->sliding_step_ms);
  }
  return window_start_;
}

IntervalAgg Statistic::Sum(const Side& s, TimeMs now) const {
  IntervalAgg total;
  if (def_->interval == IntervalType::kSelection) {
    total.max_dur = -1;
    for (std::int64_t i = 0; i < s.selected_count; ++i) {
      const SelectedItem& it = s.selected[static_cast<size_t>(i)];
      ++total.n_started;
      ++total.n_closed;
      total.closed_time += it.duration_ms;
      total.adj_time += it.duration_ms;
      total.max_dur = std::max(total.max_dur, it.duration_ms);
      total.min_dur = total.min_dur < 0 ? it.duration_ms : std::min(total.min_dur, it.duration_ms);
      if (it.in_range) {
        ++total.n_range;
        total.range_time += it.duration_ms;
      }
    }
    return total;
  }
  if (s.buckets.empty()) return total;
  total = *s.agg;
  for (size_t i = 0; i < s.buckets.size(); ++i) {
    if (&s.buckets[i] != s.agg) total.Add(s.buckets[i]);
  }
  if (now > s.integral_t) {
    const TimeMs l = s.integral_t;
    total.current_integral_x2 +=
        static_cast<double>(now - l) * static_cast<double>(s.n_cur * (now + l) - 2 * s.sum_cur);
    total.count_integral += static_cast<double>(s.n_cur * (now - l));
  }
  return total;
}

std::int64_t Statistic::OpenTime(const Side& s, TimeMs now) const {
  if (def_->interval == IntervalType::kSelection) return 0;
  return s.n_open * now - s.eff_sum;
}

double Statistic::Number(TimeMs now) const { return NumberAt(now); }

double Statistic::NumberAt(TimeMs now) const {
  const Category c = def_->category;
  auto cur_time = [&](const Side& s) { return static_cast<double>(s.n_cur * now - s.sum_cur); };
  auto ratio = [](double a, double b) { return b != 0 ? a / b : 0.0; };
  switch (c) {
    case Category::kCurrentNumber: return static_cast<double>(main_.n_cur);
    case Category::kCurrentTime: return cur_time(main_) / 1000.0;
    case Category::kCurrentMaxTime:
      return main_.cur_starts->empty()
                 ? 0.0
                 : static_cast<double>(now - *main_.cur_starts->begin()) / 1000.0;
    case Category::kCurrentMinTime:
      return main_.cur_starts->empty()
                 ? 0.0
                 : static_cast<double>(now - *main_.cur_starts->rbegin()) / 1000.0;
    case Category::kCurrentAverageTime:
      return ratio(cur_time(main_), static_cast<double>(main_.n_cur)) / 1000.0;
    case Category::kCurrentRelativeNumberPercentage:
      return 100.0 * ratio(static_cast<double>(main_.n_cur), static_cast<double>(rel_->n_cur));
    case Category::kCurrentRelativeTimePercentage:
      return 100.0 * ratio(cur_time(main_), cur_time(*rel_));
    case Category::kCurrentContinuousTime: {
      const auto start = main_.open_starts.Min();
      return start ? static_cast<double>(now - *start) / 1000.0 : 0.0;
    }
    case Category::kCurrentNumberInTimeRange:
    case Category::kCurrentNumberInTimeRangePercentage: {
      std::int64_t n = 0;
      for (TimeMs s : *main_.cur_starts) {
        if (def_->range.Contains(now - s)) ++n;
      }
      if (c == Category::kCurrentNumberInTimeRange) return static_cast<double>(n);
      return 100.0 * ratio(static_cast<double>(n), static_cast<double>(main_.n_cur));
    }
    case Category::kCurrentState:
    case Category::kCurrentStateReasons: return 0.0;
    default: break;
  }

  const IntervalAgg a = Sum(main_, now);
  const bool status_subject = def_->subject != Subject::kDNAction;
  // Statuses in progress count; actions in progress do not (spec §3.2).
  auto total_time = [&](const Side& s, const IntervalAgg& agg) {
    return static_cast<double>(agg.closed_time + (status_subject ? OpenTime(s, now) : 0));
  };
  auto total_number = [&](const IntervalAgg& agg) {
    return static_cast<double>(status_subject ? agg.n_started : agg.n_closed);
  };
  const double elapsed = def_->interval == IntervalType::kSelection
                             ? 0.0
                             : static_cast<double>(now - WindowStart(now));
  switch (c) {
    case Category::kTotalNumber: return total_number(a);
    case Category::kTotalTime: return total_time(main_, a) / 1000.0;
    case Category::kTotalAdjustedNumber: return static_cast<double>(a.n_closed);
    case Category::kTotalAdjustedTime: return static_cast<double>(a.adj_time) / 1000.0;
    case Category::kAverageTime:
      return ratio(static_cast<double>(a.adj_time), static_cast<double>(a.n_closed)) / 1000.0;
    case Category::kMaxTime: return a.max_dur < 0 ? 0.0 : static_cast<double>(a.max_dur) / 1000.0;
    case Category::kMinTime: return a.min_dur < 0 ? 0.0 : static_cast<double>(a.min_dur) / 1000.0;
    case Category::kMaxNumber: return static_cast<double>(std::max(a.max_current, main_.n_cur));
    case Category::kMinNumber: return static_cast<double>(std::min(a.min_current, main_.n_cur));
    case Category::kElapsedTimePercentage: return 100.0 * ratio(total_time(main_, a), elapsed);
    case Category::kRelativeTimePercentage: {
      const IntervalAgg r = Sum(*rel_, now);
      return 100.0 * ratio(total_time(main_, a), total_time(*rel_, r));
    }
    case Category::kRelativeNumberPercentage: {
      const IntervalAgg r = Sum(*rel_, now);
      return 100.0 * ratio(total_number(a), total_number(r));
    }
    case Category::kRelativeNumber: {
      const IntervalAgg r = Sum(*rel_, now);
      return ratio(total_number(a), total_number(r));
    }
    case Category::kTotalNumberInTimeRange: return static_cast<double>(a.n_range);
    case Category::kTotalNumberInTimeRangePercentage:
      return 100.0 * ratio(static_cast<double>(a.n_range), static_cast<double>(a.n_closed));
    case Category::kTotalTimeInTimeRange: return static_cast<double>(a.range_time) / 1000.0;
    case Category::kTotalNumberPerSecond: return ratio(total_number(a), elapsed / 1000.0);
    case Category::kAverageNumberPerRelativeHour: {
      const IntervalAgg r = Sum(*rel_, now);
      return ratio(total_number(a) * 3'600'000.0, total_time(*rel_, r));
    }
    case Category::kAverageOfCurrentNumber: return ratio(a.count_integral, elapsed);
    case Category::kAverageOfCurrentTime:
      return ratio(a.current_integral_x2 / 2.0, elapsed) / 1000.0;
    case Category::kServiceFactor1: {
      double denom = static_cast<double>(a.n_closed);
      if (rel_) {
        const IntervalAgg r = Sum(*rel_, now);
        denom += static_cast<double>(r.n_closed - r.n_range);
      }
      return 100.0 * ratio(static_cast<double>(a.n_range), denom);
    }
    default: return 0.0;
  }
}

std::int64_t Statistic::IntervalLengthSeconds(TimeMs now) const {
  if (!history_ || def_->interval == IntervalType::kSelection) return 0;
  return (now - WindowStart(now)) / 1000;
}

size_t Statistic::ApproxBytes() const {
  size_t bytes = sizeof(*this);
  for (const Side* s : {static_cast<const Side*>(&main_), static_cast<const Side*>(rel_.get())}) {
    if (s == nullptr) continue;
    if (s != &main_) bytes += sizeof(Side);
    bytes += s->buckets.capacity() * sizeof(IntervalAgg);
    bytes += s->selected.capacity() * sizeof(SelectedItem);
    bytes += s->open_starts.Size() * 16;
    if (s->cur_starts) bytes += sizeof(std::multiset<TimeMs>) + s->cur_starts->size() * 40;
  }
  return bytes;
}

// ---------------------------------------------------------------- snapshots

namespace {

void SaveAgg(const IntervalAgg& a, BinaryWriter& w) {
  for (std::int64_t v : {a.n_started, a.n_closed, a.closed_time, a.adj_time, a.max_dur, a.min_dur,
                         a.n_range, a.range_time, a.max_current, a.min_current}) {
    w.I64(v);
  }
  w.F64(a.current_integral_x2);
  w.F64(a.count_integral);
}

void LoadAgg(IntervalAgg& a, BinaryReader& r) {
  for (std::int64_t* v : {&a.n_started, &a.n_closed, &a.closed_time, &a.adj_time, &a.max_dur,
                          &a.min_dur, &a.n_range, &a.range_time, &a.max_current, &a.min_current}) {
    *v = r.I64();
  }
  a.current_integral_x2 = r.F64();
  a.count_integral = r.F64();
}

}  // namespace

void Statistic::SaveSide(const Side& s, BinaryWriter& w) {
  w.I64(s.n_cur);
  w.I64(s.sum_cur);
  w.Bool(s.cur_starts != nullptr);
  if (s.cur_starts) {
    w.U64(s.cur_starts->size());
    for (TimeMs t : *s.cur_starts) w.I64(t);
  }
  w.I64(s.integral_t);
  const auto open = s.open_starts.Items();
  w.U64(open.size());
  for (const auto& [key, start] : open) {
    w.U64(key);
    w.I64(start);
  }
  w.I64(s.n_open);
  w.I64(s.eff_sum);
  w.U64(s.buckets.size());
  for (const IntervalAgg& a : s.buckets) SaveAgg(a, w);
  w.U64(s.head);
  w.U64(s.pending.size());
  for (const auto& p : s.pending) {
    w.U64(p.unit);
    w.I64(p.start);
    w.I64(p.end);
  }
  w.U64(s.selected.size());
  for (const SelectedItem& i : s.selected) {
    w.I64(i.duration_ms);
    w.Bool(i.in_range);
  }
  w.U64(s.selected_next);
  w.I64(s.selected_count);
}

bool Statistic::LoadSide(Side& s, BinaryReader& r) {
  s.n_cur = r.I64();
  s.sum_cur = r.I64();
  if (r.Bool() != (s.cur_starts != nullptr)) return false;
  if (s.cur_starts) {
    s.cur_starts->clear();
    const size_t n = r.Count();
    for (size_t i = 0; i < n; ++i) s.cur_starts->insert(r.I64());
  }
  s.integral_t = r.I64();
  s.open_starts = StartMap{};
  const size_t open = r.Count(2);
  for (size_t i = 0; i < open; ++i) {
    const std::uint64_t key = r.U64();
    s.open_starts.Put(key, r.I64());
  }
  s.n_open = r.I64();
  s.eff_sum = r.I64();
  // The window structure comes from the definition: the saved one must match it.
  if (r.Count(12) != s.buckets.size()) return false;
  for (IntervalAgg& a : s.buckets) LoadAgg(a, r);
  s.head = r.U64();
  if (!s.buckets.empty() && s.head >= s.buckets.size()) return false;
  s.agg = s.buckets.empty() ? nullptr : &s.buckets[s.head];
  s.pending.resize(r.Count(3));
  for (auto& p : s.pending) {
    p.unit = r.U64();
    p.start = r.I64();
    p.end = r.I64();
  }
  if (r.Count(2) != s.selected.size()) return false;
  for (SelectedItem& i : s.selected) {
    i.duration_ms = r.I64();
    i.in_range = r.Bool();
  }
  s.selected_next = r.U64();
  if (!s.selected.empty() && s.selected_next >= s.selected.size()) return false;
  s.selected_count = r.I64();
  return r.Ok();
}

void Statistic::Save(BinaryWriter& w) const {
  w.I64(window_start_);
  w.I64(next_reset_);
  w.I64(bucket_end_);
  w.I64(next_boundary_);
  w.Bool(has_pending_);
  w.I64(created_);
  w.F64(value_before_reset_);
  SaveSide(main_, w);
  w.Bool(rel_ != nullptr);
  if (rel_) SaveSide(*rel_, w);
}

bool Statistic::Load(BinaryReader& r) {
  window_start_ = r.I64();
  next_reset_ = r.I64();
  bucket_end_ = r.I64();
  next_boundary_ = r.I64();
  has_pending_ = r.Bool();
  created_ = r.I64();
  value_before_reset_ = r.F64();
  if (!LoadSide(main_, r)) return false;
  if (r.Bool() != (rel_ != nullptr)) return false;
  if (rel_ && !LoadSide(*rel_, r)) return false;
  return r.Ok();
}

}  // namespace tally::stats
