// Statistic: the accumulator of one statistic on one object — the aggregate-state shape of
// DuckDB/ClickHouse: a stateless Definition plus plain state fed with item events, read with
// Number(now). The engine translates object changes into item events:
//   OnStatus   — a unit (DN, agent, place or group) changed status (or joined/left the object),
//   OnAction*  — a durable action started, changed its attached data, or ended,
//   OnInstant  — an instantaneous action happened (with its duration when retrospective).
// Masks and filters are applied here. Status items for historical categories are *episodes*:
// maximal stretches in which the unit's status stays inside the mask (so talk→hold→talk→ACW is
// one handling episode); current categories see each status period (TimeInCurrentState resets on
// every status change). An episode that ends and restarts at the same millisecond continues.
// Formulas: docs/statistics.md.
//
// The state is a few 64-bit words laid out by a Shape, compiled once per definition: only the
// parts the category reads are there (a CurrentNumber keeps two words; a TotalNumber of actions
// its window and four counters; buckets, start sets and selection rings only where needed), so
// the engine lays the statistics of one object side by side in one block. StatRef runs the
// accumulator over such words; Statistic owns its words (ad-hoc statistics, tests).
// Threading: single-threaded (owned by the engine thread).
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "common/binary.h"
#include "common/clock.h"
#include "stats/definition.h"
#include "stats/event.h"

namespace tally::stats {

// Maps item keys to start times; a short vector that becomes a hash map when it grows.
class StartMap {
 public:
  void Put(std::uint64_t key, TimeMs start);
  std::optional<TimeMs> Take(std::uint64_t key);
  [[nodiscard]] std::optional<TimeMs> Find(std::uint64_t key) const;
  [[nodiscard]] std::optional<TimeMs> Min() const;
  [[nodiscard]] size_t Size() const { return big_ ? big_->size() : small_.size(); }
  // Calls fn(key, start) for every pair: in insertion order while small (Load puts them back in
  // that order), by key once large (a hash map's order is not kept), so equal states save equal
  // bytes.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    if (!big_) {
      for (const auto& [k, v] : small_) fn(k, v);
      return;
    }
    std::vector<std::pair<std::uint64_t, TimeMs>> items(big_->begin(), big_->end());
    std::sort(items.begin(), items.end());
    for (const auto& [k, v] : items) fn(k, v);
  }
  [[nodiscard]] size_t HeapBytes() const;

 private:
  std::vector<std::pair<std::uint64_t, TimeMs>> small_;
  std::unique_ptr<boost::unordered_flat_map<std::uint64_t, TimeMs>> big_;
};

// Aggregates of one interval (a growing window, or one step of a sliding window), as read.
// Stored as the first four fields alone (AggCounts) unless the category needs the others.
struct IntervalAgg {
  std::int64_t n_started = 0;    // items that started in the interval (+ instantaneous ones)
  std::int64_t n_closed = 0;     // items that ended in the interval (+ instantaneous ones)
  std::int64_t closed_time = 0;  // ms of ended items inside the interval (clipped at its start)
  std::int64_t adj_time = 0;     // ms of ended items, whole durations
  std::int64_t max_dur = -1;     // longest ended item (ms), -1 if none
  std::int64_t min_dur = -1;     // shortest ended item (ms), -1 if none
  std::int64_t n_range = 0;      // ended items with duration in the side's time range
  std::int64_t range_time = 0;   // their total duration (ms)
  std::int64_t max_current = 0;  // extremes of the current number during the interval
  std::int64_t min_current = 0;
  double current_integral_x2 = 0;  // 2 × ∫ CurrentTime dt (ms²), for AverageOfCurrentTime
  double count_integral = 0;       // ∫ CurrentNumber dt (ms), for AverageOfCurrentNumber

  void Add(const IntervalAgg& o);
};

// One ended item as a Selection window remembers it.
struct SelectedItem {
  std::int64_t duration_ms;
  bool in_range;
};

// What the formulas of a statistic read at one moment, gathered from its accumulator — or merged
// from the accumulators of the same definition on several objects (a group's statistic read as
// the sum of its members': Merge is the aggregate-state Merge of DuckDB/ClickHouse).
struct StatTotals {
  IntervalAgg agg[2];              // main, rel: the window's aggregates
  std::int64_t open_time[2] = {};  // status subjects: ms of statuses in progress in the window
  std::int64_t n_cur[2] = {};      // the current set
  double cur_time[2] = {};         // its Σ (now − start), ms
  TimeMs oldest = INT64_MAX;       // earliest and latest start in the current set (main)
  TimeMs newest = INT64_MIN;
  std::int64_t cur_in_range = 0;       // current items whose age is in the time range (main)
  std::optional<TimeMs> min_item;      // earliest open item (CurrentContinuousTime)
  std::optional<TimeMs> window_start;  // where the window began (historical categories)
  void Merge(const StatTotals& o);
};

// The value a Growing window had just before its last reset, and the length of the interval it
// covered: what a Reset notification sends. Kept only for statistics someone subscribed to.
struct ResetMemo {
  double value = 0;
  std::int64_t interval_s = 0;
};

// How the state of a statistic is laid out, compiled once from its definition. `one_unit`: the
// statistic's object is its subject's only unit (an agent's AgentStatus, a DN's DNStatus, a
// place's PlaceStatus, a group's GroupStatus), so episodes need no unit keys.
class Shape {
 public:
  Shape(std::shared_ptr<const Definition> def, bool one_unit);
  Shape(const Shape&) = delete;
  Shape& operator=(const Shape&) = delete;

  [[nodiscard]] const Definition& Def() const { return *def_; }
  [[nodiscard]] const std::shared_ptr<const Definition>& DefPtr() const { return def_; }
  [[nodiscard]] bool OneUnit() const { return one_unit_; }
  // 64-bit words of state (0 for state trees and current statistics that keep nothing).
  [[nodiscard]] std::uint32_t Words() const { return words_; }
  // Does the statistic keep the current set (n_cur, its starts)? The others need no call when
  // an action starts (DNAction) or a unit moves between two statuses of the same side (status
  // subjects): only episodes and ended items change them.
  [[nodiscard]] bool TracksCurrent() const { return track_current_; }
  [[nodiscard]] bool History() const { return history_; }

  // Lays out a fresh state at `words` (accumulation starts at `created`), frees what a state
  // owns, and counts the heap bytes it owns (memory benchmark).
  void Init(std::uint64_t* words, TimeMs created) const;
  void Destroy(std::uint64_t* words) const;
  [[nodiscard]] size_t HeapBytes(const std::uint64_t* words) const;

 private:
  friend class StatRef;
  struct SideLayout {
    bool present = false;
    Mask mask;
    const TimeRange* range = nullptr;
    // Word offsets of each part, -1 when absent.
    int cur = -1;      // n_cur, Σ start, (integral_t)
    int starts = -1;   // owned std::multiset<TimeMs>* (CurrentMax/Min/InTimeRange)
    int open = -1;     // n_open, Σ max(start, window start) (status subjects' episodes)
    int items = -1;    // open items: one unit: its start (or its pending close's); else StartMap*
    int pending = -1;  // closes that may continue (several units: the owned list)
    int pending_end = -1;  // the earliest end of a pending close (INT64_MAX: none)
    int ring = -1;         // owned SelectionRing* (Selection windows)
    int buckets = -1;      // n_buckets × agg words
  };
  std::shared_ptr<const Definition> def_;
  bool one_unit_ = false;
  bool history_ = false;
  bool track_current_ = true;
  bool track_episodes_ = false;
  bool status_subject_ = false;
  bool wide_ = false;      // buckets keep every IntervalAgg field, not only the four counts
  bool integral_ = false;  // AverageOf…: the current integrals (and integral_t) are kept
  bool sliding_ = false;
  bool growing_ = false;
  bool selection_ = false;
  std::uint32_t n_buckets_ = 0;
  std::uint32_t agg_words_ = 4;
  // Where each of the four interval counts is in a bucket (-1: the category does not read it);
  // wide buckets keep all twelve fields in order.
  std::int8_t field_[4] = {0, 1, 2, 3};
  std::uint32_t words_ = 0;
  // History header: window start, boundary (next reset / end of the sliding step / none);
  // sliding adds the creation time and the current bucket.
  int created_ = -1;
  int head_ = -1;
  SideLayout side_[2];
};

// The accumulator, run over words laid out by `shape`. `memo` (may be null) receives the value
// before each Growing reset.
class StatRef {
 public:
  StatRef(const Shape& shape, std::uint64_t* words, ResetMemo* memo = nullptr)
      : sh_(shape), w_(words), memo_(memo) {}

  [[nodiscard]] const Definition& Def() const { return sh_.Def(); }

  // --- item events (time never goes back; the engine guarantees it) ---
  // Status subjects. `unit`: a key unique within the object; Status::kNotMonitored with
  // `present=false` means "not a unit (any more)". `status_start` is when the new status began.
  struct UnitStatus {
    bool present = false;
    Status status = Status::kNotMonitored;
    TimeMs start = 0;
    const Attributes* attrs = nullptr;
  };
  void OnStatus(std::uint64_t unit, const UnitStatus& before, const UnitStatus& after, TimeMs t);
  // DNAction subject.
  void OnActionStart(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs,
                     TimeMs t);
  void OnActionAttrs(std::uint64_t key, Action kind, TimeMs start, const Attributes& before,
                     const Attributes& after, TimeMs t);
  void OnActionEnd(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs, TimeMs t);
  void OnInstant(Action kind, TimeMs duration_ms, const Attributes& attrs, TimeMs t);
  // SinceLogin windows restart when the agent logs in.
  void OnLogin(TimeMs t);

  // Moves windows to `now` (resets, sliding steps). Returns true if a Growing reset happened.
  // Called for every statistic on every change it sees: the common case is inline.
  bool Advance(TimeMs now) {
    if (!sh_.history_) return false;
    // (Pending closes are flushed only once they end before `now`.)
    if (now < W(kBoundary) && PendingEnd(0) >= now && PendingEnd(1) >= now) return false;
    return AdvanceSlow(now);
  }
  // When the last Growing reset happened, for Growing windows (the window start: before the
  // first reset it is the creation time, earlier than any reset a timer waits for).
  [[nodiscard]] std::optional<TimeMs> LastResetTime() const {
    if (!sh_.growing_ || !sh_.history_) return std::nullopt;
    return static_cast<TimeMs>(w_[kWindowStart]);
  }
  // Next Growing reset or sliding step after `now`, if the window has one.
  [[nodiscard]] std::optional<TimeMs> NextBoundary() const {
    if (!sh_.history_ || (!sh_.growing_ && !sh_.sliding_)) return std::nullopt;
    return static_cast<TimeMs>(w_[kBoundary]);
  }

  // The number of the statistic at `now` (call Advance(now) first), and its interval length.
  [[nodiscard]] double Number(TimeMs now) const { return Formula(sh_, Totals(now), now); }
  [[nodiscard]] std::int64_t IntervalLengthSeconds(TimeMs now) const {
    return IntervalLength(sh_, Totals(now), now);
  }
  // What the formulas read at `now` (call Advance(now) first), and the formulas themselves.
  [[nodiscard]] StatTotals Totals(TimeMs now) const;
  [[nodiscard]] static double Formula(const Shape& shape, const StatTotals& t, TimeMs now);
  [[nodiscard]] static std::int64_t IntervalLength(const Shape& shape, const StatTotals& t,
                                                   TimeMs now);

  // Snapshots: the state (not the definition). Load() into words initialised for the same shape
  // restores it exactly; false when the bytes do not fit the shape.
  void Save(BinaryWriter& w) const;
  [[nodiscard]] bool Load(BinaryReader& r);

 private:
  static constexpr int kWindowStart = 0;
  static constexpr int kBoundary = 1;
  using Side = Shape::SideLayout;

  [[nodiscard]] std::int64_t& W(int off) const {
    return reinterpret_cast<std::int64_t&>(w_[static_cast<size_t>(off)]);
  }
  // The earliest end of a pending close of side `i` (INT64_MAX: none).
  [[nodiscard]] TimeMs PendingEnd(int i) const {
    const int p = sh_.side_[i].pending_end;
    return p < 0 ? INT64_MAX : W(p);
  }
  // Adds to an interval count the category reads.
  void Count(std::int64_t* agg, int field, std::int64_t v) const {
    const int f = sh_.field_[field];
    if (f >= 0) agg[f] += v;
  }
  [[nodiscard]] TimeMs WindowStartWord() const { return W(kWindowStart); }
  [[nodiscard]] std::int64_t* Agg(const Side& s, std::uint32_t bucket) const {
    return &W(s.buckets + static_cast<int>(bucket * sh_.agg_words_));
  }
  [[nodiscard]] std::int64_t* CurAgg(const Side& s) const {
    return s.buckets < 0 ? nullptr
                         : Agg(s, sh_.head_ < 0 ? 0 : static_cast<std::uint32_t>(W(sh_.head_)));
  }
  void StartAgg(std::int64_t* a, std::int64_t current) const;
  [[nodiscard]] IntervalAgg ReadAgg(const std::int64_t* a) const;

  bool AdvanceSlow(TimeMs now);
  bool Matches(const Side& s, Status st, const Attributes* attrs) const;
  bool MatchesAction(const Side& s, Action a, const Attributes& attrs) const;
  void CurAdd(const Side& s, TimeMs start, TimeMs t);
  void CurRemove(const Side& s, TimeMs start, TimeMs t);
  void Integrate(const Side& s, TimeMs t);
  void Open(const Side& s, TimeMs start, bool counted);
  void Close(const Side& s, TimeMs start, TimeMs end);
  void Instant(const Side& s, TimeMs duration);
  void Ended(const Side& s, std::int64_t* agg, std::int64_t duration);
  // Open items (unit or action key → start).
  void PutItem(const Side& s, std::uint64_t key, TimeMs start);
  std::optional<TimeMs> TakeItem(const Side& s, std::uint64_t key);
  [[nodiscard]] std::optional<TimeMs> MinItem(const Side& s) const;
  // Pending closes.
  void PushPending(const Side& s, std::uint64_t unit, TimeMs start, TimeMs end);
  // Takes the pending close of `unit` that ended at `t`, if any: the episode goes on.
  std::optional<TimeMs> ResumePending(const Side& s, std::uint64_t unit, TimeMs t);
  // Closes pending episodes that ended before `t`.
  void FlushPending(const Side& s, TimeMs t) {
    if (s.pending_end >= 0 && W(s.pending_end) < t) FlushPendingSlow(s, t);
  }
  void FlushPendingSlow(const Side& s, TimeMs t);
  void FlushAll(TimeMs t);
  void Roll(const Side& s, TimeMs boundary, std::uint32_t next_head);
  void ResetGrowing(TimeMs at);
  [[nodiscard]] IntervalAgg Sum(const Side& s, TimeMs now) const;
  [[nodiscard]] std::int64_t OpenTime(const Side& s, TimeMs now) const;
  [[nodiscard]] std::int64_t WindowStart() const;
  void SaveSide(const Side& s, BinaryWriter& w) const;
  [[nodiscard]] bool LoadSide(const Side& s, BinaryReader& r);

  const Shape& sh_;
  std::uint64_t* w_;
  ResetMemo* memo_;
};

// A statistic that owns its state (ad-hoc statistics, tests).
class Statistic {
 public:
  using UnitStatus = StatRef::UnitStatus;
  // `created` is when accumulation starts (Stat Server semantics: from the moment requested).
  Statistic(std::shared_ptr<const Definition> def, TimeMs created, bool one_unit = false);
  Statistic(std::shared_ptr<const Shape> shape, TimeMs created);
  ~Statistic();
  Statistic(const Statistic&) = delete;
  Statistic& operator=(const Statistic&) = delete;

  [[nodiscard]] const Definition& Def() const { return shape_->Def(); }
  [[nodiscard]] const Shape& GetShape() const { return *shape_; }
  [[nodiscard]] StatRef Ref() { return StatRef(*shape_, words_.get(), &memo_); }
  [[nodiscard]] StatRef Ref() const {
    return StatRef(*shape_, words_.get(), const_cast<ResetMemo*>(&memo_));
  }
  [[nodiscard]] ResetMemo& Memo() { return memo_; }

  void OnStatus(std::uint64_t unit, const UnitStatus& before, const UnitStatus& after, TimeMs t) {
    Ref().OnStatus(unit, before, after, t);
  }
  void OnActionStart(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs,
                     TimeMs t) {
    Ref().OnActionStart(key, kind, start, attrs, t);
  }
  void OnActionAttrs(std::uint64_t key, Action kind, TimeMs start, const Attributes& before,
                     const Attributes& after, TimeMs t) {
    Ref().OnActionAttrs(key, kind, start, before, after, t);
  }
  void OnActionEnd(std::uint64_t key, Action kind, TimeMs start, const Attributes& attrs,
                   TimeMs t) {
    Ref().OnActionEnd(key, kind, start, attrs, t);
  }
  void OnInstant(Action kind, TimeMs duration_ms, const Attributes& attrs, TimeMs t) {
    Ref().OnInstant(kind, duration_ms, attrs, t);
  }
  void OnLogin(TimeMs t) { Ref().OnLogin(t); }
  bool Advance(TimeMs now) { return Ref().Advance(now); }
  [[nodiscard]] bool TracksCurrent() const { return shape_->TracksCurrent(); }
  [[nodiscard]] std::optional<TimeMs> LastResetTime() const { return Ref().LastResetTime(); }
  [[nodiscard]] std::optional<TimeMs> NextBoundary() const { return Ref().NextBoundary(); }
  [[nodiscard]] double ValueBeforeLastReset() const { return memo_.value; }
  [[nodiscard]] std::int64_t IntervalBeforeLastResetSeconds() const { return memo_.interval_s; }
  [[nodiscard]] double Number(TimeMs now) const { return Ref().Number(now); }
  [[nodiscard]] std::int64_t IntervalLengthSeconds(TimeMs now) const {
    return Ref().IntervalLengthSeconds(now);
  }
  // Heap bytes owned (memory benchmark).
  [[nodiscard]] size_t ApproxBytes() const;
  void Save(BinaryWriter& w) const { Ref().Save(w); }
  [[nodiscard]] bool Load(BinaryReader& r) { return Ref().Load(r); }

 private:
  std::shared_ptr<const Shape> shape_;
  std::unique_ptr<std::uint64_t[]> words_;
  ResetMemo memo_;
};

}  // namespace tally::stats
