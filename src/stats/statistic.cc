// Statistic (statistic.h): the shape of a statistic's state and the accumulator over it — current
// sets, episodes, growing and sliding windows, selections (values and the snapshot codec:
// statistic_read.cc).
// Threading: single-threaded (owned by the engine thread).
#include "stats/statistic.h"

#include <algorithm>

#include "stats/statistic_words.h"

namespace tally::stats {

using namespace words;  // NOLINT(google-build-using-namespace): the accumulator's own helpers

namespace {

const Attributes& NoAttributes() {
  static const AttributesPtr empty = [] {  // every engine shares it: it remembers no results
    auto a = std::make_shared<Attributes>();
    a->filter_memo.Disable();
    return AttributesPtr(std::move(a));
  }();
  return *empty;
}

bool NeedsStartSet(Category c) {
  return c == Category::kCurrentMaxTime || c == Category::kCurrentMinTime ||
         c == Category::kCurrentNumberInTimeRange ||
         c == Category::kCurrentNumberInTimeRangePercentage;
}

// Categories that read more of an interval than its four counts.
bool NeedsWideAgg(Category c) {
  switch (c) {
    case Category::kMaxTime:
    case Category::kMinTime:
    case Category::kMaxNumber:
    case Category::kMinNumber:
    case Category::kTotalNumberInTimeRange:
    case Category::kTotalNumberInTimeRangePercentage:
    case Category::kTotalTimeInTimeRange:
    case Category::kAverageOfCurrentNumber:
    case Category::kAverageOfCurrentTime:
    case Category::kServiceFactor1: return true;
    default: return false;
  }
}

constexpr size_t kSmallMapLimit = 16;

}  // namespace

// ---------------------------------------------------------------- StartMap

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
  big_ = std::make_unique<boost::unordered_flat_map<std::uint64_t, TimeMs>>(small_.begin(),
                                                                            small_.end());
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

size_t StartMap::HeapBytes() const {
  size_t bytes = sizeof(*this) + small_.capacity() * 16;
  if (big_) bytes += sizeof(*big_) + big_->bucket_count() * 17;
  return bytes;
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

// ---------------------------------------------------------------- Shape

Shape::Shape(std::shared_ptr<const Definition> def, bool one_unit) : def_(std::move(def)) {
  const Definition& d = *def_;
  const Category c = d.category;
  if (d.IsStateTree()) {
    track_current_ = false;
    return;  // read from the object model: no state
  }
  status_subject_ = d.subject != Subject::kDNAction;
  one_unit_ = one_unit && status_subject_;
  history_ = !d.IsCurrent();
  track_episodes_ = history_ || c == Category::kCurrentContinuousTime;
  track_current_ = !history_ || c == Category::kMaxNumber || c == Category::kMinNumber ||
                   c == Category::kAverageOfCurrentNumber || c == Category::kAverageOfCurrentTime;
  integral_ = c == Category::kAverageOfCurrentNumber || c == Category::kAverageOfCurrentTime;
  wide_ = NeedsWideAgg(c);
  agg_words_ = kWideWords;
  if (!wide_) {
    // Only the counts the formula reads (docs/statistics.md §6).
    const bool number = c == Category::kTotalNumber || c == Category::kRelativeNumber ||
                        c == Category::kRelativeNumberPercentage ||
                        c == Category::kTotalNumberPerSecond ||
                        c == Category::kAverageNumberPerRelativeHour;
    const bool status = d.subject != Subject::kDNAction;
    const bool read[4] = {
        number && status,  // n_started
        (number && !status) || c == Category::kTotalAdjustedNumber ||
            c == Category::kAverageTime,  // n_closed
        c == Category::kTotalTime || c == Category::kElapsedTimePercentage ||
            c == Category::kRelativeTimePercentage ||
            c == Category::kAverageNumberPerRelativeHour,                  // closed_time
        c == Category::kTotalAdjustedTime || c == Category::kAverageTime,  // adj_time
    };
    agg_words_ = 0;
    for (int f = 0; f < 4; ++f) {
      field_[f] = read[f] ? static_cast<std::int8_t>(agg_words_++) : std::int8_t{-1};
    }
  }
  growing_ = d.interval == IntervalType::kGrowingWindow;
  sliding_ = d.interval == IntervalType::kSlidingWindow;
  selection_ = d.interval == IntervalType::kSelection;
  n_buckets_ = 1;
  if (sliding_) {
    const std::int64_t step = d.sliding_step_ms;
    n_buckets_ = static_cast<std::uint32_t>((d.sliding_length_ms + step - 1) / step);
  }
  int off = 0;
  if (history_) {
    off = 2;  // window start, boundary
    if (sliding_) {
      created_ = off++;
      head_ = off++;
    }
  }
  side_[0].present = true;
  side_[0].mask = d.main;
  side_[0].range = &d.range;
  if (d.rel) {
    side_[1].present = true;
    side_[1].mask = *d.rel;
    side_[1].range = c == Category::kServiceFactor1 ? (d.range2 ? &*d.range2 : nullptr) : &d.range;
  }
  for (int i = 0; i < 2; ++i) {
    SideLayout& s = side_[i];
    if (!s.present) continue;
    if (track_current_) {
      s.cur = off;
      off += integral_ ? 3 : 2;
    }
    if (i == 0 && NeedsStartSet(c)) s.starts = off++;
    if (status_subject_ && history_) {
      s.open = off;
      off += 2;
    }
    if (track_episodes_ && (status_subject_ || d.filter)) s.items = off++;
    if (status_subject_ && track_episodes_) {
      if (!one_unit_) s.pending = off++;  // one unit: its pending close is its item's start
      s.pending_end = off++;
    }
    if (history_ && selection_) s.ring = off++;
    if (history_) {
      s.buckets = off;
      off += static_cast<int>(n_buckets_ * agg_words_);
    }
  }
  words_ = static_cast<std::uint32_t>(off);
}

void Shape::Init(std::uint64_t* words, TimeMs created) const {
  std::fill(words, words + words_, 0);
  auto W = [&](int off) -> std::int64_t& { return reinterpret_cast<std::int64_t&>(words[off]); };
  if (history_) {
    W(0) = created;
    W(1) = INT64_MAX;
    if (growing_) W(1) = NextReset(def_->growing, created);
    if (sliding_) {
      const std::int64_t step = def_->sliding_step_ms;
      W(1) = (created / step + 1) * step;
      W(created_) = created;
      W(head_) = 0;
    }
  }
  for (const SideLayout& s : side_) {
    if (!s.present) continue;
    if (s.cur >= 0 && integral_) W(s.cur + 2) = created;
    if (s.items >= 0 && one_unit_) W(s.items) = kNoStart;
    if (s.pending_end >= 0) W(s.pending_end) = INT64_MAX;
    if (s.ring >= 0) {
      auto* ring = new SelectionRing();
      ring->items.resize(static_cast<size_t>(def_->selection_size));
      words[s.ring] = Word(ring);
    }
    if (s.buckets >= 0 && wide_) {
      for (std::uint32_t b = 0; b < n_buckets_; ++b) {
        std::int64_t* a = &W(s.buckets + static_cast<int>(b * agg_words_));
        a[kMaxDur] = -1;
        a[kMinDur] = -1;
      }
    }
  }
}

void Shape::Destroy(std::uint64_t* words) const {
  for (const SideLayout& s : side_) {
    if (!s.present) continue;
    if (s.starts >= 0) delete Ptr<std::multiset<TimeMs>>(words[s.starts]);
    if (s.items >= 0 && !one_unit_) delete Ptr<StartMap>(words[s.items]);
    if (s.pending >= 0) delete Ptr<PendingList>(words[s.pending]);
    if (s.ring >= 0) delete Ptr<SelectionRing>(words[s.ring]);
  }
}

size_t Shape::HeapBytes(const std::uint64_t* words) const {
  size_t bytes = 0;
  for (const SideLayout& s : side_) {
    if (!s.present) continue;
    if (s.starts >= 0) {
      if (const auto* set = Ptr<std::multiset<TimeMs>>(words[s.starts])) {
        bytes += sizeof(*set) + set->size() * 40;
      }
    }
    if (s.items >= 0 && !one_unit_) {
      if (const auto* m = Ptr<StartMap>(words[s.items])) bytes += m->HeapBytes();
    }
    if (s.pending >= 0) {
      if (const auto* p = Ptr<PendingList>(words[s.pending])) {
        bytes += sizeof(*p) + p->capacity() * sizeof(PendingClose);
      }
    }
    if (s.ring >= 0) {
      const auto* ring = Ptr<SelectionRing>(words[s.ring]);
      bytes += sizeof(*ring) + ring->items.capacity() * sizeof(SelectedItem);
    }
  }
  return bytes;
}

// ---------------------------------------------------------------- the accumulator

void StatRef::StartAgg(std::int64_t* a, std::int64_t current) const {
  std::fill(a, a + sh_.agg_words_, 0);
  if (!sh_.wide_) return;
  a[kMaxDur] = -1;
  a[kMinDur] = -1;
  a[kMaxCurrent] = current;
  a[kMinCurrent] = current;
}

IntervalAgg StatRef::ReadAgg(const std::int64_t* a) const {
  IntervalAgg x;
  auto field = [&](int f) { return sh_.field_[f] < 0 ? 0 : a[sh_.field_[f]]; };
  x.n_started = field(kStarted);
  x.n_closed = field(kClosed);
  x.closed_time = field(kClosedTime);
  x.adj_time = field(kAdjTime);
  if (!sh_.wide_) return x;
  x.max_dur = a[kMaxDur];
  x.min_dur = a[kMinDur];
  x.n_range = a[kRange];
  x.range_time = a[kRangeTime];
  x.max_current = a[kMaxCurrent];
  x.min_current = a[kMinCurrent];
  x.current_integral_x2 = AsDouble(a[kIntegralX2]);
  x.count_integral = AsDouble(a[kCountIntegral]);
  return x;
}

bool StatRef::Matches(const Side& s, Status st, const Attributes* attrs) const {
  if (!s.mask.HasStatus(st)) return false;
  const Definition& d = sh_.Def();
  return !d.filter || d.filter->MatchesRecord(attrs != nullptr ? *attrs : NoAttributes());
}

bool StatRef::MatchesAction(const Side& s, Action a, const Attributes& attrs) const {
  const Definition& d = sh_.Def();
  return s.mask.HasAction(a) && (!d.filter || d.filter->MatchesRecord(attrs));
}

void StatRef::Integrate(const Side& s, TimeMs t) {
  if (!sh_.integral_) return;
  std::int64_t& integral_t = W(s.cur + 2);
  if (t <= integral_t) return;
  if (std::int64_t* a = CurAgg(s)) {
    const TimeMs l = integral_t;
    const std::int64_t n_cur = W(s.cur);
    const std::int64_t sum_cur = W(s.cur + 1);
    AddDouble(a[kIntegralX2],
              static_cast<double>(t - l) * static_cast<double>(n_cur * (t + l) - 2 * sum_cur));
    AddDouble(a[kCountIntegral], static_cast<double>(n_cur * (t - l)));
  }
  integral_t = t;
}

void StatRef::CurAdd(const Side& s, TimeMs start, TimeMs t) {
  if (s.cur < 0) return;
  Integrate(s, t);
  const std::int64_t n = ++W(s.cur);
  W(s.cur + 1) += start;
  if (s.starts >= 0) {
    auto* set = Ptr<std::multiset<TimeMs>>(w_[s.starts]);
    if (set == nullptr) {
      set = new std::multiset<TimeMs>();
      w_[s.starts] = Word(set);
    }
    set->insert(start);
  }
  if (sh_.wide_) {
    if (std::int64_t* a = CurAgg(s)) a[kMaxCurrent] = std::max(a[kMaxCurrent], n);
  }
}

void StatRef::CurRemove(const Side& s, TimeMs start, TimeMs t) {
  if (s.cur < 0) return;
  Integrate(s, t);
  const std::int64_t n = --W(s.cur);
  W(s.cur + 1) -= start;
  if (s.starts >= 0) {
    if (auto* set = Ptr<std::multiset<TimeMs>>(w_[s.starts])) {
      auto it = set->find(start);
      if (it != set->end()) set->erase(it);
    }
  }
  if (sh_.wide_) {
    if (std::int64_t* a = CurAgg(s)) a[kMinCurrent] = std::min(a[kMinCurrent], n);
  }
}

void StatRef::Open(const Side& s, TimeMs start, bool counted) {
  std::int64_t* a = CurAgg(s);
  if (a == nullptr) return;
  const TimeMs ws = WindowStartWord();
  if (s.open >= 0) {
    ++W(s.open);
    W(s.open + 1) += std::max(start, ws);
  }
  if (counted && start >= ws) Count(a, kStarted, 1);
}

void StatRef::Ended(const Side& s, std::int64_t* a, std::int64_t duration) {
  Count(a, kClosed, 1);
  Count(a, kAdjTime, duration);
  const bool in_range = s.range != nullptr && s.range->Contains(duration);
  if (sh_.wide_) {
    a[kMaxDur] = std::max(a[kMaxDur], duration);
    a[kMinDur] = a[kMinDur] < 0 ? duration : std::min(a[kMinDur], duration);
    if (in_range) {
      ++a[kRange];
      a[kRangeTime] += duration;
    }
  }
  if (s.ring >= 0) {
    auto& ring = *Ptr<SelectionRing>(w_[s.ring]);
    ring.items[ring.next] = SelectedItem{duration, in_range};
    ring.next = (ring.next + 1) % ring.items.size();
    ring.count =
        std::min<std::int64_t>(ring.count + 1, static_cast<std::int64_t>(ring.items.size()));
  }
}

void StatRef::Close(const Side& s, TimeMs start, TimeMs end) {
  std::int64_t* a = CurAgg(s);
  if (a == nullptr) return;
  const TimeMs ws = WindowStartWord();
  const TimeMs eff = std::max(start, ws);
  if (s.open >= 0) {
    --W(s.open);
    W(s.open + 1) -= eff;
  }
  if (!sh_.status_subject_ && sh_.n_buckets_ > 1) {
    // An action counts nothing while in progress (spec §3.2), so the steps it spanned got none of
    // its time as they rolled: now that it ended, each step of the window gets its part.
    const std::uint32_t n = sh_.n_buckets_;
    const std::uint32_t head = static_cast<std::uint32_t>(W(sh_.head_));
    const TimeMs created = W(sh_.created_);
    TimeMs step_start = ws;
    TimeMs step_end = end;
    for (std::uint32_t k = 0; k < n; ++k) {
      const TimeMs from = std::max({start, step_start, created});
      if (step_end > from) Count(Agg(s, (head + n - k) % n), kClosedTime, step_end - from);
      if (start >= step_start) break;
      step_end = step_start;
      step_start -= sh_.Def().sliding_step_ms;
    }
  } else {
    Count(a, kClosedTime, std::max<std::int64_t>(0, end - eff));
  }
  Ended(s, a, end - start);
}

void StatRef::Instant(const Side& s, TimeMs duration) {
  std::int64_t* a = CurAgg(s);
  if (a == nullptr) return;
  Count(a, kStarted, 1);
  Count(a, kClosedTime, duration);
  Ended(s, a, duration);
}

void StatRef::PutItem(const Side& s, std::uint64_t key, TimeMs start) {
  if (sh_.one_unit_) {
    W(s.items) = start;
    return;
  }
  auto* m = Ptr<StartMap>(w_[s.items]);
  if (m == nullptr) {
    m = new StartMap();
    w_[s.items] = Word(m);
  }
  m->Put(key, start);
}

std::optional<TimeMs> StatRef::TakeItem(const Side& s, std::uint64_t key) {
  if (sh_.one_unit_) {
    const TimeMs v = W(s.items);
    if (v == kNoStart || W(s.pending_end) != INT64_MAX) return std::nullopt;
    W(s.items) = kNoStart;
    return v;
  }
  auto* m = Ptr<StartMap>(w_[s.items]);
  return m == nullptr ? std::nullopt : m->Take(key);
}

std::optional<TimeMs> StatRef::MinItem(const Side& s) const {
  if (s.items < 0) return std::nullopt;
  if (sh_.one_unit_) {
    const TimeMs v = W(s.items);
    if (v == kNoStart || W(s.pending_end) != INT64_MAX) return std::nullopt;  // not open
    return v;
  }
  const auto* m = Ptr<StartMap>(w_[s.items]);
  return m == nullptr ? std::nullopt : m->Min();
}

void StatRef::PushPending(const Side& s, std::uint64_t unit, TimeMs start, TimeMs end) {
  std::int64_t& min_end = W(s.pending_end);
  if (sh_.one_unit_) {
    W(s.items) = start;  // one unit has at most one pending close, kept in its item
    min_end = end;
    return;
  }
  auto* list = Ptr<PendingList>(w_[s.pending]);
  if (list == nullptr) {
    list = new PendingList();
    w_[s.pending] = Word(list);
  }
  list->push_back(PendingClose{unit, start, end});
  min_end = std::min<std::int64_t>(min_end, end);
}

std::optional<TimeMs> StatRef::ResumePending(const Side& s, std::uint64_t unit, TimeMs t) {
  std::int64_t& min_end = W(s.pending_end);
  if (sh_.one_unit_) {
    if (min_end != t) return std::nullopt;
    min_end = INT64_MAX;
    return W(s.items);
  }
  auto* list = Ptr<PendingList>(w_[s.pending]);
  if (list == nullptr) return std::nullopt;
  auto it = std::find_if(list->begin(), list->end(),
                         [&](const PendingClose& p) { return p.unit == unit && p.end == t; });
  if (it == list->end()) return std::nullopt;
  const TimeMs start = it->start;
  list->erase(it);
  min_end = INT64_MAX;
  for (const PendingClose& p : *list) min_end = std::min<std::int64_t>(min_end, p.end);
  return start;
}

void StatRef::FlushPendingSlow(const Side& s, TimeMs t) {
  std::int64_t& min_end = W(s.pending_end);
  if (sh_.one_unit_) {
    const TimeMs end = min_end;
    const TimeMs start = W(s.items);
    min_end = INT64_MAX;
    W(s.items) = kNoStart;
    Close(s, start, end);
    return;
  }
  auto& list = *Ptr<PendingList>(w_[s.pending]);
  size_t kept = 0;
  min_end = INT64_MAX;
  for (size_t i = 0; i < list.size(); ++i) {
    const PendingClose p = list[i];
    if (p.end < t) {
      Close(s, p.start, p.end);
    } else {
      list[kept++] = p;
      min_end = std::min<std::int64_t>(min_end, p.end);
    }
  }
  list.resize(kept);
}

void StatRef::FlushAll(TimeMs t) {
  for (const Side& s : sh_.side_) {
    if (s.present) FlushPending(s, t);
  }
}

void StatRef::OnStatus(std::uint64_t unit, const UnitStatus& before, const UnitStatus& after,
                       TimeMs t) {
  for (const Side& s : sh_.side_) {
    if (!s.present) continue;
    FlushPending(s, t);
    const bool old_in = before.present && Matches(s, before.status, before.attrs);
    const bool new_in = after.present && Matches(s, after.status, after.attrs);
    if (!old_in && !new_in) continue;
    const bool changed = before.present != after.present || before.status != after.status ||
                         before.start != after.start;
    if (old_in && (!new_in || changed)) CurRemove(s, before.start, t);
    if (new_in && (!old_in || changed)) CurAdd(s, after.start, t);
    if (!sh_.track_episodes_) continue;
    if (!old_in && new_in) {
      if (const auto resumed = ResumePending(s, unit, t)) {
        // Left and re-entered the mask at the same instant: the episode goes on.
        PutItem(s, unit, *resumed);
        continue;
      }
      // A unit that joins the object mid-status brings the status' real start.
      const TimeMs start = before.present ? t : std::min(after.start, t);
      PutItem(s, unit, start);
      Open(s, start, true);
    } else if (old_in && !new_in) {
      const TimeMs start = TakeItem(s, unit).value_or(t);
      // A unit that leaves and re-enters the mask in one millisecond stays in its episode (for
      // CurrentContinuousTime too: a release and ACW with one timestamp are continuous work).
      PushPending(s, unit, start, t);
    }
  }
}

void StatRef::OnActionStart(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs,
                            TimeMs t) {
  for (const Side& s : sh_.side_) {
    if (!s.present || !MatchesAction(s, kind, attrs)) continue;
    CurAdd(s, start, t);
    if (!sh_.track_episodes_) continue;
    if (s.items >= 0) PutItem(s, key, start);
    Open(s, start, true);
  }
}

void StatRef::OnActionAttrs(std::uint64_t key, Action kind, TimeMs start, const Attributes& before,
                            const Attributes& after, TimeMs t) {
  const Definition& d = sh_.Def();
  if (!d.filter) return;
  for (const Side& s : sh_.side_) {
    if (!s.present || !s.mask.HasAction(kind)) continue;
    const bool old_in = d.filter->MatchesRecord(before);
    const bool new_in = d.filter->MatchesRecord(after);
    if (old_in == new_in) continue;
    if (new_in) {
      CurAdd(s, start, t);
      if (!sh_.track_episodes_) continue;
      PutItem(s, key, t);
      Open(s, t, true);
    } else {
      CurRemove(s, start, t);
      if (!sh_.track_episodes_) continue;
      Close(s, TakeItem(s, key).value_or(start), t);
    }
  }
}

void StatRef::OnActionEnd(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs,
                          TimeMs t) {
  for (const Side& s : sh_.side_) {
    if (!s.present || !MatchesAction(s, kind, attrs)) continue;
    CurRemove(s, start, t);
    if (!sh_.track_episodes_) continue;
    const TimeMs seg = s.items >= 0 ? TakeItem(s, key).value_or(start) : start;
    Close(s, seg, t);
  }
}

void StatRef::OnInstant(Action kind, TimeMs duration_ms, const Attributes& attrs, TimeMs /*t*/) {
  if (!sh_.history_) return;
  for (const Side& s : sh_.side_) {
    if (!s.present || !MatchesAction(s, kind, attrs)) continue;
    Instant(s, duration_ms);
  }
}

void StatRef::ResetGrowing(TimeMs at) {
  for (const Side& s : sh_.side_) {
    if (!s.present || s.buckets < 0) continue;
    Integrate(s, at);
    StartAgg(CurAgg(s), s.cur >= 0 ? W(s.cur) : 0);
    if (s.open >= 0) W(s.open + 1) = W(s.open) * at;
  }
  W(kWindowStart) = at;
}

void StatRef::OnLogin(TimeMs t) {
  if (sh_.Def().interval != IntervalType::kSinceLogin || !sh_.history_) return;
  ResetGrowing(t);
}

void StatRef::Roll(const Side& s, TimeMs boundary, std::uint32_t next_head) {
  if (s.buckets < 0) return;
  Integrate(s, boundary);
  // Statuses in progress count in the step they cover; actions only once they end (Close).
  if (s.open >= 0) {
    Count(CurAgg(s), kClosedTime, W(s.open) * boundary - W(s.open + 1));
    W(s.open + 1) = W(s.open) * boundary;
  }
  StartAgg(Agg(s, next_head), s.cur >= 0 ? W(s.cur) : 0);
}

bool StatRef::AdvanceSlow(TimeMs now) {
  bool reset = false;
  const Definition& d = sh_.Def();
  if (sh_.growing_) {
    std::int64_t& next_reset = W(kBoundary);
    while (now >= next_reset) {
      FlushAll(next_reset + 1);
      if (memo_ != nullptr) {
        memo_->value = Number(next_reset);
        memo_->interval_s = IntervalLengthSeconds(next_reset);
      }
      ResetGrowing(next_reset);
      next_reset = NextReset(d.growing, next_reset);
      reset = true;
      if (now >= next_reset) {
        // Several resets passed without any change (a long idle gap, or the first event long
        // after start-up): the windows in between hold open items only, so jump to the reset
        // before the last one; the loop then closes the last full window as usual.
        const TimeMs last = LastReset(d.growing, now);
        const TimeMs before_last = LastReset(d.growing, last - 1);
        if (before_last > next_reset) {
          ResetGrowing(before_last);
          next_reset = last;
        }
      }
    }
  } else if (sh_.sliding_) {
    const std::int64_t step = d.sliding_step_ms;
    std::int64_t& bucket_end = W(kBoundary);
    size_t rolls = 0;
    while (now >= bucket_end) {
      if (rolls > sh_.n_buckets_ + 1) {
        // Every step is now made of open items only: skip to the step containing `now`.
        const std::int64_t skip = (now - bucket_end) / step;
        bucket_end += skip * step;
        for (const Side& s : sh_.side_) {
          if (!s.present) continue;
          if (sh_.integral_) W(s.cur + 2) = std::max<TimeMs>(W(s.cur + 2), bucket_end - step);
          if (s.open >= 0) W(s.open + 1) = W(s.open) * (bucket_end - step);
        }
        W(kWindowStart) = bucket_end - step;
        if (now < bucket_end) break;
      }
      FlushAll(bucket_end + 1);
      const auto next_head = static_cast<std::uint32_t>((W(sh_.head_) + 1) % sh_.n_buckets_);
      for (const Side& s : sh_.side_) {
        if (s.present) Roll(s, bucket_end, next_head);
      }
      W(sh_.head_) = next_head;
      W(kWindowStart) = bucket_end;
      bucket_end += step;
      ++rolls;
    }
  }
  FlushAll(now);
  return reset;
}

// ---------------------------------------------------------------- Statistic

Statistic::Statistic(std::shared_ptr<const Definition> def, TimeMs created, bool one_unit)
    : Statistic(std::make_shared<const Shape>(std::move(def), one_unit), created) {}

Statistic::Statistic(std::shared_ptr<const Shape> shape, TimeMs created)
    : shape_(std::move(shape)),
      words_(std::make_unique<std::uint64_t[]>(std::max<std::uint32_t>(1, shape_->Words()))) {
  shape_->Init(words_.get(), created);
}

Statistic::~Statistic() { shape_->Destroy(words_.get()); }

size_t Statistic::ApproxBytes() const {
  return sizeof(*this) + shape_->Words() * 8 + shape_->HeapBytes(words_.get());
}

}  // namespace tally::stats
