// Statistic (statistic.h): reading an accumulator — the formulas of docs/statistics.md §6 over
// its windows — and its snapshot codec.
// Threading: single-threaded (owned by the engine thread).
#include <algorithm>

#include "stats/statistic.h"
#include "stats/statistic_words.h"

namespace tally::stats {

using namespace words;  // NOLINT(google-build-using-namespace): the accumulator's own helpers

std::int64_t StatRef::WindowStart() const {
  if (sh_.sliding_) {
    const std::int64_t n = sh_.n_buckets_;
    return std::max<TimeMs>(W(sh_.created_), W(kWindowStart) - (n - 1) * sh_.Def().sliding_step_ms);
  }
  return W(kWindowStart);
}

IntervalAgg StatRef::Sum(const Side& s, TimeMs now) const {
  IntervalAgg total;
  if (sh_.selection_) {
    total.max_dur = -1;
    const auto& ring = *Ptr<SelectionRing>(w_[s.ring]);
    for (std::int64_t i = 0; i < ring.count; ++i) {
      const SelectedItem& it = ring.items[static_cast<size_t>(i)];
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
  if (s.buckets < 0) return total;
  const std::uint32_t head = sh_.head_ < 0 ? 0 : static_cast<std::uint32_t>(W(sh_.head_));
  total = ReadAgg(Agg(s, head));
  for (std::uint32_t i = 0; i < sh_.n_buckets_; ++i) {
    if (i != head) total.Add(ReadAgg(Agg(s, i)));
  }
  if (sh_.integral_) {
    const TimeMs l = W(s.cur + 2);
    if (now > l) {
      const std::int64_t n_cur = W(s.cur);
      const std::int64_t sum_cur = W(s.cur + 1);
      total.current_integral_x2 +=
          static_cast<double>(now - l) * static_cast<double>(n_cur * (now + l) - 2 * sum_cur);
      total.count_integral += static_cast<double>(n_cur * (now - l));
    }
  }
  return total;
}

std::int64_t StatRef::OpenTime(const Side& s, TimeMs now) const {
  if (sh_.selection_ || s.open < 0) return 0;
  return W(s.open) * now - W(s.open + 1);
}

void StatTotals::Merge(const StatTotals& o) {
  for (int i = 0; i < 2; ++i) {
    agg[i].Add(o.agg[i]);
    open_time[i] += o.open_time[i];
    n_cur[i] += o.n_cur[i];
    cur_time[i] += o.cur_time[i];
  }
  oldest = std::min(oldest, o.oldest);
  newest = std::max(newest, o.newest);
  cur_in_range += o.cur_in_range;
  if (o.min_item && (!min_item || *o.min_item < *min_item)) min_item = o.min_item;
  if (!window_start) window_start = o.window_start;
}

StatTotals StatRef::Totals(TimeMs now) const {
  StatTotals t;
  const Definition& d = sh_.Def();
  for (int i = 0; i < 2; ++i) {
    const Side& s = sh_.side_[i];
    if (!s.present) continue;
    if (s.cur >= 0) {
      t.n_cur[i] = W(s.cur);
      t.cur_time[i] = static_cast<double>(W(s.cur) * now - W(s.cur + 1));
    }
    if (sh_.history_) {
      t.agg[i] = Sum(s, now);
      t.open_time[i] = OpenTime(s, now);
    }
  }
  const Side& main = sh_.side_[0];
  if (main.starts >= 0) {
    if (const auto* set = Ptr<std::multiset<TimeMs>>(w_[main.starts]); set && !set->empty()) {
      t.oldest = *set->begin();
      t.newest = *set->rbegin();
      for (TimeMs start : *set) {
        if (d.range.Contains(now - start)) ++t.cur_in_range;
      }
    }
  }
  t.min_item = MinItem(main);
  if (sh_.history_) t.window_start = WindowStart();
  return t;
}

double StatRef::Formula(const Shape& sh, const StatTotals& t, TimeMs now) {
  const Definition& d = sh.Def();
  const Category c = d.category;
  auto ratio = [](double a, double b) { return b != 0 ? a / b : 0.0; };
  switch (c) {
    case Category::kCurrentNumber: return static_cast<double>(t.n_cur[0]);
    case Category::kCurrentTime: return t.cur_time[0] / 1000.0;
    case Category::kCurrentMaxTime:
      return t.oldest == INT64_MAX ? 0.0 : static_cast<double>(now - t.oldest) / 1000.0;
    case Category::kCurrentMinTime:
      return t.newest == INT64_MIN ? 0.0 : static_cast<double>(now - t.newest) / 1000.0;
    case Category::kCurrentAverageTime:
      return ratio(t.cur_time[0], static_cast<double>(t.n_cur[0])) / 1000.0;
    case Category::kCurrentRelativeNumberPercentage:
      return 100.0 * ratio(static_cast<double>(t.n_cur[0]), static_cast<double>(t.n_cur[1]));
    case Category::kCurrentRelativeTimePercentage:
      return 100.0 * ratio(t.cur_time[0], t.cur_time[1]);
    case Category::kCurrentContinuousTime:
      return t.min_item ? static_cast<double>(now - *t.min_item) / 1000.0 : 0.0;
    case Category::kCurrentNumberInTimeRange: return static_cast<double>(t.cur_in_range);
    case Category::kCurrentNumberInTimeRangePercentage:
      return 100.0 * ratio(static_cast<double>(t.cur_in_range), static_cast<double>(t.n_cur[0]));
    case Category::kCurrentState:
    case Category::kCurrentStateReasons: return 0.0;
    default: break;
  }

  const IntervalAgg& a = t.agg[0];
  const IntervalAgg& r = t.agg[1];
  const bool status_subject = d.subject != Subject::kDNAction;
  // Statuses in progress count; actions in progress do not (spec §3.2).
  auto total_time = [&](int side, const IntervalAgg& agg) {
    return static_cast<double>(agg.closed_time + (status_subject ? t.open_time[side] : 0));
  };
  auto total_number = [&](const IntervalAgg& agg) {
    return static_cast<double>(status_subject ? agg.n_started : agg.n_closed);
  };
  const double elapsed = d.interval == IntervalType::kSelection || !t.window_start
                             ? 0.0
                             : static_cast<double>(now - *t.window_start);
  switch (c) {
    case Category::kTotalNumber: return total_number(a);
    case Category::kTotalTime: return total_time(0, a) / 1000.0;
    case Category::kTotalAdjustedNumber: return static_cast<double>(a.n_closed);
    case Category::kTotalAdjustedTime: return static_cast<double>(a.adj_time) / 1000.0;
    case Category::kAverageTime:
      return ratio(static_cast<double>(a.adj_time), static_cast<double>(a.n_closed)) / 1000.0;
    case Category::kMaxTime: return a.max_dur < 0 ? 0.0 : static_cast<double>(a.max_dur) / 1000.0;
    case Category::kMinTime: return a.min_dur < 0 ? 0.0 : static_cast<double>(a.min_dur) / 1000.0;
    case Category::kMaxNumber: return static_cast<double>(std::max(a.max_current, t.n_cur[0]));
    case Category::kMinNumber: return static_cast<double>(std::min(a.min_current, t.n_cur[0]));
    case Category::kElapsedTimePercentage: return 100.0 * ratio(total_time(0, a), elapsed);
    case Category::kRelativeTimePercentage:
      return 100.0 * ratio(total_time(0, a), total_time(1, r));
    case Category::kRelativeNumberPercentage:
      return 100.0 * ratio(total_number(a), total_number(r));
    case Category::kRelativeNumber: return ratio(total_number(a), total_number(r));
    case Category::kTotalNumberInTimeRange: return static_cast<double>(a.n_range);
    case Category::kTotalNumberInTimeRangePercentage:
      return 100.0 * ratio(static_cast<double>(a.n_range), static_cast<double>(a.n_closed));
    case Category::kTotalTimeInTimeRange: return static_cast<double>(a.range_time) / 1000.0;
    case Category::kTotalNumberPerSecond: return ratio(total_number(a), elapsed / 1000.0);
    case Category::kAverageNumberPerRelativeHour:
      return ratio(total_number(a) * 3'600'000.0, total_time(1, r));
    case Category::kAverageOfCurrentNumber: return ratio(a.count_integral, elapsed);
    case Category::kAverageOfCurrentTime:
      return ratio(a.current_integral_x2 / 2.0, elapsed) / 1000.0;
    case Category::kServiceFactor1: {
      double denom = static_cast<double>(a.n_closed);
      if (d.rel) denom += static_cast<double>(r.n_closed - r.n_range);
      return 100.0 * ratio(static_cast<double>(a.n_range), denom);
    }
    default: return 0.0;
  }
}

std::int64_t StatRef::IntervalLength(const Shape& sh, const StatTotals& t, TimeMs now) {
  if (!sh.History() || sh.Def().interval == IntervalType::kSelection || !t.window_start) return 0;
  return (now - *t.window_start) / 1000;
}

// ---------------------------------------------------------------- snapshots
//
// The parts of the shape in order, each range-checked on load: the window (start, boundary;
// sliding: creation, current step), then per side the current set (count, Σ starts, integral
// time, start set), the episodes (count, Σ effective starts), the open items, the pending
// closes, the selection ring and the buckets.

void StatRef::SaveSide(const Side& s, BinaryWriter& w) const {
  if (s.cur >= 0) {
    w.I64(W(s.cur));
    w.I64(W(s.cur + 1));
    if (sh_.integral_) w.I64(W(s.cur + 2));
  }
  if (s.starts >= 0) {
    const auto* set = Ptr<std::multiset<TimeMs>>(w_[s.starts]);
    w.U64(set == nullptr ? 0 : set->size());
    if (set != nullptr) {
      for (TimeMs t : *set) w.I64(t);
    }
  }
  if (s.open >= 0) {
    w.I64(W(s.open));
    w.I64(W(s.open + 1));
  }
  if (s.items >= 0 && sh_.one_unit_) {
    // One unit: open (its start), pending (its start and the close's end), or neither.
    const bool pending = W(s.pending_end) != INT64_MAX;
    const bool open = !pending && W(s.items) != kNoStart;
    w.U64(open ? 1 : pending ? 2 : 0);
    if (open || pending) w.I64(W(s.items));
    if (pending) w.I64(W(s.pending_end));
  } else {
    if (s.items >= 0) {
      const auto* m = Ptr<StartMap>(w_[s.items]);
      w.U64(m == nullptr ? 0 : m->Size());
      if (m != nullptr) {
        m->ForEach([&](std::uint64_t key, TimeMs start) {
          w.U64(key);
          w.I64(start);
        });
      }
    }
    if (s.pending >= 0) {
      const auto* list = Ptr<PendingList>(w_[s.pending]);
      w.U64(list == nullptr ? 0 : list->size());
      if (list != nullptr) {
        for (const PendingClose& p : *list) {
          w.U64(p.unit);
          w.I64(p.start);
          w.I64(p.end);
        }
      }
    }
  }
  if (s.ring >= 0) {
    const auto& ring = *Ptr<SelectionRing>(w_[s.ring]);
    w.U64(ring.next);
    w.U64(static_cast<std::uint64_t>(ring.count));
    for (std::int64_t i = 0; i < ring.count; ++i) {
      w.I64(ring.items[static_cast<size_t>(i)].duration_ms);
      w.Bool(ring.items[static_cast<size_t>(i)].in_range);
    }
  }
  if (s.buckets >= 0) {
    for (std::uint32_t b = 0; b < sh_.n_buckets_; ++b) {
      const std::int64_t* a = Agg(s, b);
      const int ints = sh_.wide_ ? static_cast<int>(kIntegralX2) : static_cast<int>(sh_.agg_words_);
      for (int f = 0; f < ints; ++f) w.I64(a[f]);
      if (sh_.wide_) {
        w.F64(AsDouble(a[kIntegralX2]));
        w.F64(AsDouble(a[kCountIntegral]));
      }
    }
  }
}

bool StatRef::LoadSide(const Side& s, BinaryReader& r) {
  if (s.cur >= 0) {
    W(s.cur) = r.I64();
    W(s.cur + 1) = r.I64();
    if (sh_.integral_) W(s.cur + 2) = GetTime(r);
  }
  if (s.starts >= 0) {
    auto* set = Ptr<std::multiset<TimeMs>>(w_[s.starts]);
    if (set != nullptr) set->clear();
    const size_t n = r.Count();
    if (n > 0 && set == nullptr) {
      set = new std::multiset<TimeMs>();
      w_[s.starts] = Word(set);
    }
    for (size_t i = 0; i < n; ++i) set->insert(GetTime(r));
  }
  if (s.open >= 0) {
    W(s.open) = r.I64();
    W(s.open + 1) = r.I64();
  }
  if (s.pending_end >= 0) W(s.pending_end) = INT64_MAX;
  if (s.items >= 0 && sh_.one_unit_) {
    const std::uint64_t state = r.U64();
    if (state > 2) return false;
    W(s.items) = state == 0 ? kNoStart : GetTime(r);
    if (state == 2) W(s.pending_end) = GetTime(r);
  } else {
    if (s.items >= 0) {
      delete Ptr<StartMap>(w_[s.items]);
      w_[s.items] = 0;
      const size_t n = r.Count(2);
      StartMap* m = n > 0 ? new StartMap() : nullptr;
      w_[s.items] = Word(m);
      for (size_t i = 0; i < n; ++i) {
        const std::uint64_t key = r.U64();
        m->Put(key, GetTime(r));
      }
    }
    if (s.pending >= 0) {
      std::int64_t& min_end = W(s.pending_end);
      auto* list = Ptr<PendingList>(w_[s.pending]);
      const size_t n = r.Count(3);
      if (n > 0 && list == nullptr) {
        list = new PendingList();
        w_[s.pending] = Word(list);
      }
      if (list != nullptr) list->resize(n);
      for (size_t i = 0; i < n; ++i) {
        PendingClose& p = (*list)[i];
        p.unit = r.U64();
        p.start = GetTime(r);
        p.end = GetTime(r);
        min_end = std::min<std::int64_t>(min_end, p.end);
      }
    }
  }
  if (s.ring >= 0) {
    auto& ring = *Ptr<SelectionRing>(w_[s.ring]);
    ring.next = r.U64();
    const std::uint64_t count = r.U64();
    if (count > ring.items.size() || (!ring.items.empty() && ring.next >= ring.items.size()) ||
        (count < ring.items.size() && ring.next != count)) {
      return false;
    }
    ring.count = static_cast<std::int64_t>(count);
    for (std::uint64_t i = 0; i < count; ++i) {
      ring.items[i].duration_ms = r.I64();
      ring.items[i].in_range = r.Bool();
    }
  }
  if (s.buckets >= 0) {
    for (std::uint32_t b = 0; b < sh_.n_buckets_; ++b) {
      std::int64_t* a = Agg(s, b);
      const int ints = sh_.wide_ ? static_cast<int>(kIntegralX2) : static_cast<int>(sh_.agg_words_);
      for (int f = 0; f < ints; ++f) a[f] = r.I64();
      if (sh_.wide_) {
        SetDouble(a[kIntegralX2], r.F64());
        SetDouble(a[kCountIntegral], r.F64());
      }
    }
  }
  return r.Ok();
}

void StatRef::Save(BinaryWriter& w) const {
  if (sh_.history_) {
    w.I64(W(kWindowStart));
    w.I64(W(kBoundary));
    if (sh_.sliding_) {
      w.I64(W(sh_.created_));
      w.U64(static_cast<std::uint64_t>(W(sh_.head_)));
    }
  }
  for (const Side& s : sh_.side_) {
    if (s.present) SaveSide(s, w);
  }
}

bool StatRef::Load(BinaryReader& r) {
  if (sh_.history_) {
    W(kWindowStart) = GetTime(r);
    const TimeMs boundary = r.I64();
    if (boundary != INT64_MAX && (boundary < kMinEventTime || boundary > kMaxBoundary)) {
      return false;
    }
    // Only Growing and Sliding windows have boundaries, and a boundary lies ahead of its window.
    if ((boundary == INT64_MAX) != (!sh_.growing_ && !sh_.sliding_)) return false;
    if (boundary <= W(kWindowStart) && boundary != INT64_MAX) return false;
    W(kBoundary) = boundary;
    if (sh_.sliding_) {
      W(sh_.created_) = GetTime(r);
      const std::uint64_t head = r.U64();
      if (head >= sh_.n_buckets_) return false;
      W(sh_.head_) = static_cast<std::int64_t>(head);
    }
  }
  for (const Side& s : sh_.side_) {
    if (s.present && !LoadSide(s, r)) return false;
  }
  return r.Ok();
}

}  // namespace tally::stats
