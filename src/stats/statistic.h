// Statistic: the accumulator of one statistic on one object — the aggregate-state shape of
// DuckDB/ClickHouse: a stateless Definition plus plain state fed with item events, read with
// Value(now). The engine translates object changes into item events:
//   OnStatus   — a unit (DN, agent, place or group) changed status (or joined/left the object),
//   OnAction*  — a durable action started, changed its attached data, or ended,
//   OnInstant  — an instantaneous action happened (with its duration when retrospective).
// Masks and filters are applied here. Status items for historical categories are *episodes*:
// maximal stretches in which the unit's status stays inside the mask (so talk→hold→talk→ACW is
// one handling episode); current categories see each status period (TimeInCurrentState resets on
// every status change). An episode that ends and restarts at the same millisecond continues.
// Formulas: docs/statistics.md.
// Threading: single-threaded (owned by the engine thread).
#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

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
  // Every (key, start) pair, in no particular order.
  [[nodiscard]] std::vector<std::pair<std::uint64_t, TimeMs>> Items() const;

 private:
  std::vector<std::pair<std::uint64_t, TimeMs>> small_;
  std::unique_ptr<std::unordered_map<std::uint64_t, TimeMs>> big_;
};

// Aggregates of one interval (a growing window, or one step of a sliding window).
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

  void Start(std::int64_t current) {
    *this = IntervalAgg{};
    max_current = min_current = current;
  }
  void Add(const IntervalAgg& o);
};

// One ended item as a Selection window remembers it.
struct SelectedItem {
  std::int64_t duration_ms;
  bool in_range;
};

class Statistic {
 public:
  // `created` is when accumulation starts (Stat Server semantics: from the moment requested).
  Statistic(std::shared_ptr<const Definition> def, TimeMs created);

  [[nodiscard]] const Definition& Def() const { return *def_; }
  [[nodiscard]] const std::shared_ptr<const Definition>& DefPtr() const { return def_; }

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
  bool Advance(TimeMs now);
  // Next Growing reset or sliding step after `now`, if the window has one.
  [[nodiscard]] std::optional<TimeMs> NextBoundary() const;
  // Value just before the last Growing reset (for Reset notifications).
  [[nodiscard]] double ValueBeforeLastReset() const { return value_before_reset_; }

  // The number of the statistic at `now` (call Advance(now) first), and its interval length.
  [[nodiscard]] double Number(TimeMs now) const;
  [[nodiscard]] std::int64_t IntervalLengthSeconds(TimeMs now) const;

  // Rough heap bytes owned (for the memory benchmark).
  [[nodiscard]] size_t ApproxBytes() const;

  // Snapshots: the accumulator state (not the definition). Load() into a Statistic constructed
  // with the same definition restores it exactly; false when the bytes do not fit the definition.
  void Save(BinaryWriter& w) const;
  [[nodiscard]] bool Load(BinaryReader& r);

 private:
  struct Side {
    Mask mask;
    const TimeRange* range = nullptr;
    // current set (status periods / ongoing actions)
    std::int64_t n_cur = 0;
    std::int64_t sum_cur = 0;                           // Σ start of current items
    std::unique_ptr<std::multiset<TimeMs>> cur_starts;  // only for max/min/range categories
    TimeMs integral_t = 0;  // last time the current integral was advanced
    // historical
    StartMap open_starts;  // status: unit → episode start; filtered actions
    std::int64_t n_open = 0;
    std::int64_t eff_sum = 0;          // Σ max(start, bucket start) over open items
    IntervalAgg* agg = nullptr;        // current interval
    std::vector<IntervalAgg> buckets;  // 1 (growing) or N (sliding)
    size_t head = 0;                   // current bucket index (sliding)
    // Status episodes that ended at `end` but may continue if the unit re-enters the mask at
    // the same instant (e.g. EventReleased then EventAgentNotReady(ACW) with one timestamp).
    struct PendingClose {
      std::uint64_t unit;
      TimeMs start;
      TimeMs end;
    };
    std::vector<PendingClose> pending;
    std::vector<SelectedItem> selected;  // Selection ring
    size_t selected_next = 0;
    std::int64_t selected_count = 0;
  };

  static void SaveSide(const Side& s, BinaryWriter& w);
  [[nodiscard]] static bool LoadSide(Side& s, BinaryReader& r);
  bool Matches(const Side& s, Status st, const Attributes* attrs) const;
  bool MatchesAction(const Side& s, Action a, const Attributes& attrs) const;
  void CurAdd(Side& s, TimeMs start, TimeMs t);
  void CurRemove(Side& s, TimeMs start, TimeMs t);
  void Integrate(Side& s, TimeMs t);
  void Open(Side& s, TimeMs start, bool counted);
  void Close(Side& s, TimeMs start, TimeMs end);
  void Instant(Side& s, TimeMs duration, TimeMs t);
  void Ended(Side& s, std::int64_t duration);
  void StartWindow(TimeMs t);
  // Closes pending episodes that ended before `t`.
  void FlushPending(Side& s, TimeMs t);
  void Roll(Side& s, TimeMs boundary);
  void ResetGrowing(TimeMs at);
  [[nodiscard]] IntervalAgg Sum(const Side& s, TimeMs now) const;
  [[nodiscard]] std::int64_t OpenTime(const Side& s, TimeMs now) const;
  [[nodiscard]] double NumberAt(TimeMs now) const;
  [[nodiscard]] std::int64_t WindowStart(TimeMs now) const;

  std::shared_ptr<const Definition> def_;
  bool history_ = false;  // the category needs historical aggregates
  Side main_;
  std::unique_ptr<Side> rel_;
  TimeMs window_start_ = 0;  // growing: last reset (or creation); sliding: current bucket start
  TimeMs next_reset_ = 0;    // growing: next reset
  TimeMs bucket_end_ = 0;    // sliding: end of the current step
  TimeMs next_boundary_ = INT64_MAX;  // earliest time Advance() has work (reset, step)
  bool has_pending_ = false;          // some episode close is pending
  bool track_episodes_ = false;
  TimeMs created_ = 0;
  double value_before_reset_ = 0;
};

}  // namespace tally::stats
