// Differential test of every category of docs/statistics.md §6, for every window (Growing with a
// reset, Sliding, Selection, SinceLogin): random but valid event streams (fixed seeds) drive the
// engine; every few events each statistic is compared with a naive reference that recomputes
// its value from the whole history — the agents' status timelines and the queue's call records
// — by brute force, with the formulas of §6 and the rules of §11 written out once more here.
// Subjects: AgentStatus on one agent (one unit) and on a group (three), DNAction on a queue;
// CurrentState and CurrentStateReasons by the status code of their tree.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "stats/engine.h"

namespace tally {
namespace {

using stats::CallType;
using stats::Event;
using stats::EventType;
using stats::KeyValues;
using stats::ObjectType;
using stats::Status;

constexpr TimeMs kStart = 1772359200000;  // 2026-03-01T10:00:00Z
constexpr TimeMs kReset = 1772366400000;  // 2026-03-01T12:00:00Z: the growing windows reset
constexpr TimeMs kStep = 60'000;          // sliding step: "600,60"
constexpr int kSteps = 10;
constexpr size_t kSelection = 5;
constexpr TimeMs kOpen = INT64_MAX;
constexpr int kAgents = 4;  // a1..a4; the group g holds a1..a3

// ---------------------------------------------------------------- reference model

struct Change {
  TimeMs t;
  std::uint64_t seq;  // global order of status changes (several may share a millisecond)
  Status s;
};

struct RefAgent {
  bool logged_in = false;
  Status mode = Status::kLoggedIn;
  enum { kNone, kRinging, kTalking } call = kNone;
  bool held = false;
  std::string conn;
  std::vector<Change> timeline;           // every status change, zero-length ones too
  std::vector<std::uint64_t> login_seqs;  // seq of each login (the SinceLogin resets)
  std::vector<TimeMs> logins;

  Status Now() const {
    if (!logged_in) return Status::kLoggedOut;
    if (call == kRinging) {
      return mode == Status::kAfterCallWork || mode == Status::kNotReadyForNextCall
                 ? mode
                 : Status::kCallRinging;
    }
    if (call == kTalking) return held ? Status::kCallOnHold : Status::kCallInbound;
    return mode;
  }
};

struct RefCall {
  TimeMs queued = 0;
  TimeMs left = kOpen;           // diverted or abandoned
  std::uint64_t queued_seq = 0;  // order of the events (several may share a millisecond)
  std::uint64_t left_seq = 0;
  std::uint64_t answered_seq = 0;
  bool abandoned = false;
  TimeMs answered = kOpen;
};

using Mask = std::vector<Status>;
bool In(const Mask& m, Status s) { return std::find(m.begin(), m.end(), s) != m.end(); }

struct Span {
  TimeMs start;
  TimeMs end;  // kOpen while going on
  std::uint64_t order = 0;
};

// An item of the historical categories: a status episode or a queue action.
struct Item {
  TimeMs start;
  TimeMs end;    // kOpen while going on
  bool instant;  // retrospective/momentary action: counted whole when reported
  std::uint64_t order;
  [[nodiscard]] TimeMs Duration() const { return end - start; }
};

TimeMs Overlap(TimeMs a0, TimeMs a1, TimeMs b0, TimeMs b1) {
  return std::max<TimeMs>(0, std::min(a1, b1) - std::max(a0, b0));
}

bool InRange(TimeMs duration, TimeMs lo_s, TimeMs hi_s) {
  const TimeMs s = duration / 1000;
  return s >= lo_s && s < hi_s;
}

double Ratio(double a, double b) { return b != 0 ? a / b : 0.0; }

// Status periods of a timeline inside `mask` (each change starts a period), known at `at`.
std::vector<Span> Periods(const std::vector<Change>& tl, const Mask& mask, TimeMs at) {
  std::vector<Span> out;
  for (size_t i = 0; i < tl.size(); ++i) {
    if (tl[i].t > at || !In(mask, tl[i].s)) continue;
    TimeMs end = i + 1 < tl.size() ? tl[i + 1].t : kOpen;
    if (end > at) end = kOpen;
    out.push_back({tl[i].t, end, tl[i].seq});
  }
  return out;
}

// Episodes: periods merged when one ends where the next begins.
std::vector<Span> Episodes(const std::vector<Change>& tl, const Mask& mask, TimeMs at) {
  std::vector<Span> merged;
  for (const Span& p : Periods(tl, mask, at)) {
    if (!merged.empty() && merged.back().end == p.start) {
      merged.back().end = p.end;
      merged.back().order = p.order;
    } else {
      merged.push_back(p);
    }
  }
  return merged;
}

// A window: [start, at]; `start_seq` orders changes at the start instant (SinceLogin resets in
// the middle of the login's millisecond); `selection` keeps the last N completed items.
struct Window {
  enum Kind { kGrowing, kSliding, kSelection, kSinceLogin } kind;
  TimeMs start = 0;
  std::uint64_t start_seq = 0;
};

// The values the engine's formulas read, for one mask on one object, in one window.
struct Sums {
  double started = 0;   // TotalNumber of status subjects
  double ended = 0;     // items ended in the window
  double time = 0;      // TotalTime (ms)
  double adj_time = 0;  // whole durations of ended items (ms)
  double max_dur = -1;
  double min_dur = -1;
  double n_range = 0;
  double range_time = 0;
  double max_n = 0;
  double min_n = 0;
  double n_integral = 0;     // ∫ CurrentNumber dt (ms)
  double time_integral = 0;  // ∫ CurrentTime dt (ms²)
};

class Reference {
 public:
  std::vector<RefAgent> agents{kAgents};
  std::map<std::string, RefCall> calls;
  std::uint64_t seq = 0;

  // ---- status subjects: units are agent indices
  Sums StatusSums(const std::vector<int>& units, const Mask& mask, const Window& w, TimeMs at,
                  TimeMs lo, TimeMs hi) const {
    Sums s;
    std::vector<Item> ended;
    for (int u : units) {
      const auto& tl = agents[u].timeline;
      for (const Span& e : Episodes(tl, mask, at)) {
        if (e.start >= w.start && e.start <= at) ++s.started;
        s.time += Overlap(e.start, e.end, w.start, at);
        // An episode ending exactly at a reset or step boundary belongs to the interval before.
        const bool in = w.kind == Window::kSelection || w.kind == Window::kSinceLogin
                            ? e.end >= w.start
                            : e.end > w.start || w.start == kStart;
        if (e.end != kOpen && e.end <= at && in) ended.push_back({e.start, e.end, false, e.order});
      }
      for (const Span& p : Periods(tl, mask, at)) {
        const TimeMs a = std::max(p.start, w.start);
        const TimeMs b = std::min(p.end, at);
        if (b <= a) continue;
        s.n_integral += static_cast<double>(b - a);
        // ∫_a^b (t - start) dt
        s.time_integral += (static_cast<double>(b - p.start) * static_cast<double>(b - p.start) -
                            static_cast<double>(a - p.start) * static_cast<double>(a - p.start)) /
                           2.0;
      }
    }
    Ended(s, ended, w, lo, hi);
    // CurrentNumber over the window: its value at the start, then after every change.
    struct UnitChange {
      std::uint64_t seq;
      int unit;
      TimeMs t;
      Status s;
    };
    std::vector<UnitChange> all;
    for (int u : units) {
      for (const Change& c : agents[u].timeline) all.push_back({c.seq, u, c.t, c.s});
    }
    std::sort(all.begin(), all.end(),
              [](const UnitChange& a, const UnitChange& b) { return a.seq < b.seq; });
    std::vector<Status> cur(kAgents, Status::kLoggedOut);
    auto count = [&]() {
      int n = 0;
      for (int u : units) n += In(mask, cur[u]) ? 1 : 0;
      return n;
    };
    bool started = false;
    for (const UnitChange& c : all) {
      const bool before = c.t < w.start || (c.t == w.start && c.seq < w.start_seq);
      if (!before && !started) {
        started = true;
        s.max_n = s.min_n = count();
      }
      if (c.t > at) break;
      cur[c.unit] = c.s;
      if (!before) {
        s.max_n = std::max<double>(s.max_n, count());
        s.min_n = std::min<double>(s.min_n, count());
      }
    }
    if (!started) s.max_n = s.min_n = count();
    return s;
  }

  // Current status periods of the units in `mask` at `at`: their starts.
  std::vector<TimeMs> CurrentStarts(const std::vector<int>& units, const Mask& mask) const {
    std::vector<TimeMs> out;
    for (int u : units) {
      const Change& c = agents[u].timeline.back();
      if (In(mask, c.s)) out.push_back(c.t);
    }
    return out;
  }

  // ---- the queue (DNAction): durable CallWait, and instantaneous actions
  enum class QueueMask { kWait, kEntered, kAbandoned, kAnswered };

  Sums QueueSums(QueueMask m, const Window& w, TimeMs at, TimeMs lo, TimeMs hi) const {
    Sums s;
    std::vector<Item> ended;
    std::uint64_t order = 0;
    struct Delta {
      TimeMs t;
      std::uint64_t seq;
      int d;
    };
    std::vector<Delta> changes;  // CurrentNumber changes
    for (const auto& [conn, c] : calls) {
      ++order;
      if (c.queued > at) continue;
      switch (m) {
        case QueueMask::kWait: {
          const TimeMs end = c.left <= at ? c.left : kOpen;
          if (end != kOpen && (end >= w.start || w.kind == Window::kSelection)) {
            ended.push_back({c.queued, end, false, c.left_seq});
            if (end >= w.start) s.time += static_cast<double>(end - std::max(c.queued, w.start));
          }
          const TimeMs a = std::max(c.queued, w.start);
          const TimeMs b = std::min(end, at);
          if (b > a) {
            s.n_integral += static_cast<double>(b - a);
            s.time_integral +=
                (static_cast<double>(b - c.queued) * static_cast<double>(b - c.queued) -
                 static_cast<double>(a - c.queued) * static_cast<double>(a - c.queued)) /
                2.0;
          }
          changes.push_back({c.queued, c.queued_seq, +1});
          if (end != kOpen) changes.push_back({end, c.left_seq, -1});
          break;
        }
        case QueueMask::kEntered: Instant(s, ended, w, c.queued, 0, at, c.queued_seq); break;
        case QueueMask::kAbandoned:
          if (c.abandoned && c.left <= at) {
            Instant(s, ended, w, c.left, c.left - c.queued, at, c.left_seq);
          }
          break;
        case QueueMask::kAnswered:
          if (c.answered <= at) {
            Instant(s, ended, w, c.answered, c.answered - c.queued, at, c.answered_seq);
          }
          break;
      }
    }
    Ended(s, ended, w, lo, hi);
    // Max/MinNumber of the waiting calls: the value at the window start, then every change, in
    // the order the events were applied.
    std::sort(changes.begin(), changes.end(),
              [](const Delta& a, const Delta& b) { return a.seq < b.seq; });
    int n = 0;
    bool started = false;
    for (const Delta& c : changes) {
      const TimeMs t = c.t;
      const int d = c.d;
      if (t >= w.start && !started) {
        started = true;
        s.max_n = s.min_n = n;
      }
      if (t > at) break;
      n += d;
      if (t >= w.start) {
        s.max_n = std::max<double>(s.max_n, n);
        s.min_n = std::min<double>(s.min_n, n);
      }
    }
    if (!started) s.max_n = s.min_n = n;
    return s;
  }

  std::vector<TimeMs> WaitingStarts(TimeMs at) const {
    std::vector<TimeMs> out;
    for (const auto& [conn, c] : calls) {
      if (c.queued <= at && c.left > at) out.push_back(c.queued);
    }
    return out;
  }

 private:
  static void Instant(Sums& s, std::vector<Item>& ended, const Window& w, TimeMs t, TimeMs d,
                      TimeMs at, std::uint64_t order) {
    if (t > at) return;
    if (t >= w.start || w.kind == Window::kSelection) {
      ended.push_back({t - d, t, true, order});
      if (t >= w.start) s.time += static_cast<double>(d);
    }
  }

  // The ended items of the window (or the last N of all for a selection).
  static void Ended(Sums& s, std::vector<Item> items, const Window& w, TimeMs lo, TimeMs hi) {
    if (w.kind == Window::kSelection) {
      // In the order they ended (the events' order; a status episode's end is its order).
      std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
        return a.end != b.end ? a.end < b.end : a.order < b.order;
      });
      if (items.size() > kSelection) items.erase(items.begin(), items.end() - kSelection);
      s.started = static_cast<double>(items.size());
      s.time = 0;
      for (const Item& i : items) s.time += static_cast<double>(i.Duration());
    }
    for (const Item& i : items) {
      const double d = static_cast<double>(i.Duration());
      ++s.ended;
      s.adj_time += d;
      s.max_dur = std::max(s.max_dur, d);
      s.min_dur = s.min_dur < 0 ? d : std::min(s.min_dur, d);
      if (InRange(i.Duration(), lo, hi)) {
        ++s.n_range;
        s.range_time += d;
      }
    }
  }
};

// ---------------------------------------------------------------- the statistics

enum class Subject { kAgentStatus, kQueue };

struct StatSpec {
  std::string name;
  ObjectType type;
  std::string id;
  KeyValues def;
  // Reference value at `at`.
  std::function<double(const Reference&, TimeMs)> want;
};

const Mask kReady = {Status::kWaitForNextCall};
const Mask kHandle = {Status::kCallInbound, Status::kCallOnHold, Status::kAfterCallWork};
const Mask kLogged = {
    Status::kLoggedIn,      Status::kWaitForNextCall, Status::kNotReadyForNextCall,
    Status::kAfterCallWork, Status::kCallRinging,     Status::kCallOnHold,
    Status::kCallInbound};
constexpr const char* kReadyText = "WaitForNextCall";
constexpr const char* kHandleText = "CallInbound,CallOnHold,AfterCallWork";
constexpr const char* kLoggedText = "*,~LoggedOut,~NotMonitored";

TimeMs SlidingStart(TimeMs at) {
  return std::max(kStart, (at / kStep) * kStep - (kSteps - 1) * kStep);
}

Window WindowAt(Window::Kind kind, const Reference& ref, int agent, TimeMs at) {
  Window w{kind};
  switch (kind) {
    case Window::kGrowing: w.start = at >= kReset ? kReset : kStart; break;
    case Window::kSliding: w.start = SlidingStart(at); break;
    case Window::kSelection: w.start = kStart; break;
    case Window::kSinceLogin: {
      w.start = kStart;
      const RefAgent& a = ref.agents[agent];
      for (size_t i = 0; i < a.logins.size(); ++i) {
        if (a.logins[i] <= at) {
          w.start = a.logins[i];
          w.start_seq = a.login_seqs[i];
        }
      }
      break;
    }
  }
  return w;
}

KeyValues WindowFields(Window::Kind kind) {
  switch (kind) {
    case Window::kGrowing:
      return {{"intervalType", "GrowingWindow"}, {"dynamicTimeProfile", "12:00"}};
    case Window::kSliding:
      return {{"intervalType", "SlidingWindow"}, {"dynamicTimeProfile", "600,60"}};
    case Window::kSelection:
      return {{"intervalType", "Selection"}, {"dynamicTimeProfile", std::to_string(kSelection)}};
    case Window::kSinceLogin: return {{"intervalType", "SinceLogin"}};
  }
  return {};
}

const char* WindowName(Window::Kind kind) {
  switch (kind) {
    case Window::kGrowing: return "growing";
    case Window::kSliding: return "sliding";
    case Window::kSelection: return "selection";
    case Window::kSinceLogin: return "since_login";
  }
  return "";
}

// The historical formulas of §6 on Sums (the two sides of a relative category given).
double Historical(const std::string& category, const Sums& m, const Sums& r, bool status_subject,
                  double elapsed_ms) {
  const double total_number = status_subject ? m.started : m.ended;
  const double rel_number = status_subject ? r.started : r.ended;
  if (category == "TotalNumber") return total_number;
  if (category == "TotalTime") return m.time / 1000;
  if (category == "TotalAdjustedNumber") return m.ended;
  if (category == "TotalAdjustedTime") return m.adj_time / 1000;
  if (category == "AverageTime") return Ratio(m.adj_time, m.ended) / 1000;
  if (category == "MaxTime") return m.max_dur < 0 ? 0 : m.max_dur / 1000;
  if (category == "MinTime") return m.min_dur < 0 ? 0 : m.min_dur / 1000;
  if (category == "MaxNumber") return m.max_n;
  if (category == "MinNumber") return m.min_n;
  if (category == "ElapsedTimePercentage") return 100 * Ratio(m.time, elapsed_ms);
  if (category == "RelativeTimePercentage") return 100 * Ratio(m.time, r.time);
  if (category == "RelativeNumberPercentage") return 100 * Ratio(total_number, rel_number);
  if (category == "RelativeNumber") return Ratio(total_number, rel_number);
  if (category == "TotalNumberInTimeRange") return m.n_range;
  if (category == "TotalNumberInTimeRangePercentage") return 100 * Ratio(m.n_range, m.ended);
  if (category == "TotalTimeInTimeRange") return m.range_time / 1000;
  if (category == "TotalNumberPerSecond") return Ratio(total_number, elapsed_ms / 1000);
  if (category == "AverageNumberPerRelativeHour") return Ratio(total_number * 3'600'000, r.time);
  if (category == "AverageOfCurrentNumber") return Ratio(m.n_integral, elapsed_ms);
  if (category == "AverageOfCurrentTime") return Ratio(m.time_integral, elapsed_ms) / 1000;
  ADD_FAILURE() << "no reference for " << category;
  return 0;
}

// Current formulas of §6 on the starts of the current items (and of the rel side).
double Current(const std::string& category, const std::vector<TimeMs>& m,
               const std::vector<TimeMs>& r, TimeMs at, TimeMs lo, TimeMs hi) {
  double time = 0;
  double rel_time = 0;
  int in_range = 0;
  for (TimeMs s : m) {
    time += static_cast<double>(at - s);
    if (InRange(at - s, lo, hi)) ++in_range;
  }
  for (TimeMs s : r) rel_time += static_cast<double>(at - s);
  const double n = static_cast<double>(m.size());
  if (category == "CurrentNumber") return n;
  if (category == "CurrentTime") return time / 1000;
  if (category == "CurrentMaxTime") {
    return m.empty() ? 0 : static_cast<double>(at - *std::min_element(m.begin(), m.end())) / 1000;
  }
  if (category == "CurrentMinTime") {
    return m.empty() ? 0 : static_cast<double>(at - *std::max_element(m.begin(), m.end())) / 1000;
  }
  if (category == "CurrentAverageTime") return Ratio(time, n) / 1000;
  if (category == "CurrentRelativeNumberPercentage") {
    return 100 * Ratio(n, static_cast<double>(r.size()));
  }
  if (category == "CurrentRelativeTimePercentage") return 100 * Ratio(time, rel_time);
  if (category == "CurrentNumberInTimeRange") return in_range;
  if (category == "CurrentNumberInTimeRangePercentage") return 100 * Ratio(in_range, n);
  ADD_FAILURE() << "no reference for " << category;
  return 0;
}

const std::vector<std::string> kCurrentCategories = {"CurrentNumber",
                                                     "CurrentTime",
                                                     "CurrentMaxTime",
                                                     "CurrentMinTime",
                                                     "CurrentAverageTime",
                                                     "CurrentRelativeNumberPercentage",
                                                     "CurrentRelativeTimePercentage",
                                                     "CurrentNumberInTimeRange",
                                                     "CurrentNumberInTimeRangePercentage"};
const std::vector<std::string> kHistoricalCategories = {"TotalNumber",
                                                        "TotalTime",
                                                        "TotalAdjustedNumber",
                                                        "TotalAdjustedTime",
                                                        "AverageTime",
                                                        "MaxTime",
                                                        "MinTime",
                                                        "MaxNumber",
                                                        "MinNumber",
                                                        "ElapsedTimePercentage",
                                                        "RelativeTimePercentage",
                                                        "RelativeNumberPercentage",
                                                        "RelativeNumber",
                                                        "TotalNumberInTimeRange",
                                                        "TotalNumberInTimeRangePercentage",
                                                        "TotalTimeInTimeRange",
                                                        "TotalNumberPerSecond",
                                                        "AverageNumberPerRelativeHour",
                                                        "AverageOfCurrentNumber",
                                                        "AverageOfCurrentTime"};

// Categories a Selection (a count of items, no duration) does not define.
bool NeedsElapsed(const std::string& c) {
  return c == "MaxNumber" || c == "MinNumber" || c == "ElapsedTimePercentage" ||
         c == "TotalNumberPerSecond" || c == "AverageNumberPerRelativeHour" ||
         c == "AverageOfCurrentNumber" || c == "AverageOfCurrentTime";
}
bool NeedsRel(const std::string& c) {
  return c.find("Relative") != std::string::npos || c == "AverageNumberPerRelativeHour";
}

std::vector<StatSpec> Specs() {
  std::vector<StatSpec> specs;
  const std::vector<std::pair<std::string, std::vector<int>>> status_objects = {{"a1", {0}},
                                                                                {"g", {0, 1, 2}}};
  for (const auto& [id, units] : status_objects) {
    const ObjectType type = id == "g" ? ObjectType::kGroupAgents : ObjectType::kAgent;
    // Current categories: main = logged-in statuses (rel: the same), or handling/ready.
    for (const std::string& c : kCurrentCategories) {
      const bool rel = NeedsRel(c);
      const Mask main = rel ? kHandle : kLogged;
      const char* main_text = rel ? kHandleText : kLoggedText;
      KeyValues def = {{"category", c},
                       {"subject", "AgentStatus"},
                       {"mainMask", main_text},
                       {"dynamicTimeRange", "0-60"}};
      if (rel) def.push_back({"relMask", kLoggedText});
      specs.push_back(
          {id + "." + c, type, id, def, [units = units, main, c](const Reference& ref, TimeMs at) {
             return Current(c, ref.CurrentStarts(units, main), ref.CurrentStarts(units, kLogged),
                            at, 0, 60);
           }});
    }
    // CurrentState / CurrentStateReasons: the status code of the tree (§7). A group's is the
    // highest status among its logged-in members, LoggedOut when none is.
    for (const char* c : {"CurrentState", "CurrentStateReasons"}) {
      specs.push_back({id + "." + c,
                       type,
                       id,
                       {{"category", c}, {"subject", "DNAction"}},
                       [units = units](const Reference& ref, TimeMs) {
                         if (units.size() == 1) {
                           return static_cast<double>(ref.agents[units[0]].timeline.back().s);
                         }
                         int best = -1;
                         for (int u : units) {
                           const Status st = ref.agents[u].timeline.back().s;
                           if (st != Status::kLoggedOut)
                             best = std::max(best, static_cast<int>(st));
                         }
                         return static_cast<double>(best < 0 ? 23 : best);
                       }});
    }
    if (id == "a1") {
      specs.push_back({"a1.CurrentContinuousTime",
                       type,
                       id,
                       {{"category", "CurrentContinuousTime"},
                        {"subject", "AgentStatus"},
                        {"mainMask", kHandleText}},
                       [](const Reference& ref, TimeMs at) {
                         const auto eps = Episodes(ref.agents[0].timeline, kHandle, at);
                         if (eps.empty() || eps.back().end != kOpen) return 0.0;
                         return static_cast<double>(at - eps.back().start) / 1000;
                       }});
    }
    for (Window::Kind kind :
         {Window::kGrowing, Window::kSliding, Window::kSelection, Window::kSinceLogin}) {
      if (kind == Window::kSinceLogin && id != "a1") continue;
      for (const std::string& c : kHistoricalCategories) {
        if (kind == Window::kSelection && NeedsElapsed(c)) continue;
        const bool numbers = c == "MaxNumber" || c == "MinNumber" || c == "AverageOfCurrentNumber";
        const Mask main = numbers ? kReady : kHandle;
        // RelativeNumber*: handling episodes per ready episode; the times: against logged in.
        const bool rel_is_ready = c == "RelativeNumberPercentage" || c == "RelativeNumber";
        const Mask rel = rel_is_ready ? kReady : kLogged;
        KeyValues def = {{"category", c},
                         {"subject", "AgentStatus"},
                         {"mainMask", numbers ? kReadyText : kHandleText},
                         {"dynamicTimeRange", "0-60"}};
        if (c == "ElapsedTimePercentage") def[2].second = kLoggedText;
        if (NeedsRel(c)) def.push_back({"relMask", rel_is_ready ? kReadyText : kLoggedText});
        for (const auto& kv : WindowFields(kind)) def.push_back(kv);
        const Mask m = c == "ElapsedTimePercentage" ? kLogged : main;
        specs.push_back({id + "." + WindowName(kind) + "." + c, type, id, def,
                         [units = units, m, rel, c, kind](const Reference& ref, TimeMs at) {
                           const Window w = WindowAt(kind, ref, 0, at);
                           const Sums ms = ref.StatusSums(units, m, w, at, 0, 60);
                           const Sums rs = ref.StatusSums(units, rel, w, at, 0, 60);
                           return Historical(c, ms, rs, true, static_cast<double>(at - w.start));
                         }});
      }
    }
  }
  // The queue.
  using QM = Reference::QueueMask;
  for (const std::string& c : kCurrentCategories) {
    KeyValues def = {{"category", c}, {"mainMask", "CallWait"}, {"dynamicTimeRange", "0-20"}};
    if (NeedsRel(c)) def.push_back({"relMask", "CallWait"});
    specs.push_back(
        {"q." + c, ObjectType::kQueue, "8001", def, [c](const Reference& ref, TimeMs at) {
           const auto starts = ref.WaitingStarts(at);
           return Current(c, starts, starts, at, 0, 20);
         }});
  }
  for (Window::Kind kind : {Window::kGrowing, Window::kSliding, Window::kSelection}) {
    for (const std::string& c : kHistoricalCategories) {
      if (kind == Window::kSelection && NeedsElapsed(c)) continue;
      // Relative ones: abandoned per entered (numbers), abandoned wait per wait (times),
      // answered per hour of waiting.
      QM main = QM::kWait;
      QM rel = QM::kWait;
      std::string main_text = "CallWait";
      std::string rel_text = "CallWait";
      if (c == "RelativeNumberPercentage" || c == "RelativeNumber") {
        main = QM::kAbandoned;
        rel = QM::kEntered;
        main_text = "CallAbandoned";
        rel_text = "CallEntered";
      } else if (c == "RelativeTimePercentage") {
        main = QM::kAbandoned;
        main_text = "CallAbandoned";
      } else if (c == "AverageNumberPerRelativeHour") {
        main = QM::kAnswered;
        main_text = "CallAnswered";
      }
      KeyValues def = {{"category", c}, {"mainMask", main_text}, {"dynamicTimeRange", "0-20"}};
      if (NeedsRel(c)) def.push_back({"relMask", rel_text});
      for (const auto& kv : WindowFields(kind)) def.push_back(kv);
      specs.push_back({std::string("q.") + WindowName(kind) + "." + c, ObjectType::kQueue, "8001",
                       def, [main, rel, c, kind](const Reference& ref, TimeMs at) {
                         const Window w = WindowAt(kind, ref, 0, at);
                         const Sums ms = ref.QueueSums(main, w, at, 0, 20);
                         const Sums rs = ref.QueueSums(rel, w, at, 0, 20);
                         return Historical(c, ms, rs, false, static_cast<double>(at - w.start));
                       }});
    }
    // ServiceFactor1: answered within 20 s / (answered + abandoned - abandoned within 10 s).
    if (kind == Window::kSelection) continue;
    specs.push_back({std::string("q.") + WindowName(kind) + ".ServiceFactor1", ObjectType::kQueue,
                     "8001",
                     [&] {
                       KeyValues def = {{"category", "ServiceFactor1"},
                                        {"mainMask", "CallAnswered"},
                                        {"relMask", "CallAbandoned"},
                                        {"dynamicTimeRange", "0-20"},
                                        {"dynamicTimeRange2", "0-10"}};
                       for (const auto& kv : WindowFields(kind)) def.push_back(kv);
                       return def;
                     }(),
                     [kind](const Reference& ref, TimeMs at) {
                       const Window w = WindowAt(kind, ref, 0, at);
                       const Sums a = ref.QueueSums(QM::kAnswered, w, at, 0, 20);
                       const Sums b = ref.QueueSums(QM::kAbandoned, w, at, 0, 10);
                       return 100 * Ratio(a.n_range, a.ended + b.ended - b.n_range);
                     }});
  }
  return specs;
}

// ---------------------------------------------------------------- the run

class CategoryRun {
 public:
  explicit CategoryRun(unsigned seed) : rng_(seed) {}

  void Go(int events) {
    stats::TenantSetup setup;
    setup.name = "t";
    for (int i = 1; i <= kAgents; ++i) {
      setup.agents.push_back("a" + std::to_string(i));
      setup.places.push_back({"p" + std::to_string(i), {std::to_string(7000 + i)}});
    }
    setup.groups = {{ObjectType::kGroupAgents, "g", {"a1", "a2", "a3"}}};
    setup.queues = {"8001"};
    ASSERT_TRUE(engine_.AddTenant(setup, kStart));
    for (auto& a : ref_.agents) a.timeline.push_back({kStart, ref_.seq++, Status::kLoggedOut});
    specs_ = Specs();
    for (const StatSpec& s : specs_) {
      auto r = engine_.OpenDefinition("t", s.def, stats::ObjectRef{s.type, s.id});
      ASSERT_TRUE(r) << s.name << ": " << r.error().message;
      handles_.push_back(r->handle);
    }
    now_ = kStart;
    for (int i = 0; i < events; ++i) {
      now_ += std::uniform_int_distribution<int>(0, 4)(rng_) == 0
                  ? 0
                  : std::uniform_int_distribution<int>(1, 40)(rng_) * 1000;
      Step();
      if (::testing::Test::HasFatalFailure()) return;
      if (i % 9 == 8) {
        Check(now_ + 500);
        now_ += 1000;
      }
      if (failures_ > 20) return;  // enough to see what is wrong
    }
    EXPECT_GT(checks_, 10'000);
  }

 private:
  void Apply(EventType type, const std::string& dn, const std::string& conn = "",
             const std::string& agent = "", const std::string& work_mode = "") {
    Event e;
    e.type = type;
    e.time = now_;
    e.tenant = "t";
    e.this_dn = dn;
    e.conn_id = conn;
    e.agent_id = agent;
    e.work_mode = work_mode;
    e.call_type = CallType::kInbound;
    auto r = engine_.Apply(e, notes_);
    ASSERT_TRUE(r) << r.error().message;
    notes_.clear();
  }

  void Record(int i) {
    RefAgent& a = ref_.agents[i];
    const Status s = a.Now();
    if (a.timeline.back().s != s) a.timeline.push_back({now_, ref_.seq++, s});
  }

  std::string Dn(int i) const { return std::to_string(7001 + i); }

  std::vector<std::string> Waiting() const {
    std::vector<std::string> w;
    for (const auto& [conn, c] : ref_.calls) {
      if (c.left == kOpen) w.push_back(conn);
    }
    return w;
  }

  void Step() {
    const int choice = std::uniform_int_distribution<int>(0, 9)(rng_);
    if (choice <= 2) {  // queue activity
      const auto waiting = Waiting();
      if (choice <= 1 || waiting.empty()) {
        char conn[16];
        std::snprintf(conn, sizeof conn, "c%05d", next_call_++);  // map order = queue order
        ref_.calls[conn].queued = now_;
        ref_.calls[conn].queued_seq = ref_.seq++;
        Apply(EventType::kQueued, "8001", conn);
      } else {
        const std::string conn = waiting[rng_() % waiting.size()];
        if (ref_.calls[conn].queued == now_) return;  // never queued and left in one ms
        ref_.calls[conn].left = now_;
        ref_.calls[conn].left_seq = ref_.seq++;
        ref_.calls[conn].abandoned = true;
        Apply(EventType::kAbandoned, "8001", conn);
      }
      return;
    }
    const int i = static_cast<int>(rng_() % kAgents);
    RefAgent& a = ref_.agents[i];
    const std::string agent = "a" + std::to_string(i + 1);
    if (!a.logged_in) {
      a.logged_in = true;
      a.mode = Status::kLoggedIn;
      a.logins.push_back(now_);
      a.login_seqs.push_back(ref_.seq);
      Apply(EventType::kAgentLogin, Dn(i), "", agent);
      Record(i);
      return;
    }
    const int r = static_cast<int>(rng_() % 6);
    if (a.call == RefAgent::kRinging) {
      if (r < 4) {
        a.call = RefAgent::kTalking;
        Apply(EventType::kEstablished, Dn(i), a.conn);
        auto it = ref_.calls.find(a.conn);
        if (it != ref_.calls.end() && it->second.answered == kOpen) {
          it->second.answered = now_;
          it->second.answered_seq = ref_.seq++;
        }
      } else {
        a.call = RefAgent::kNone;
        Apply(EventType::kReleased, Dn(i), a.conn);
      }
      Record(i);
      return;
    }
    if (a.call == RefAgent::kTalking) {
      if (r < 2) {
        a.held = !a.held;
        Apply(a.held ? EventType::kHeld : EventType::kRetrieved, Dn(i), a.conn);
        Record(i);
      } else {
        a.call = RefAgent::kNone;
        a.held = false;
        Apply(EventType::kReleased, Dn(i), a.conn);
        Record(i);
        if (r < 4) {  // after-call work at the same instant
          a.mode = Status::kAfterCallWork;
          Apply(EventType::kAgentNotReady, Dn(i), "", "", "AfterCallWork");
          Record(i);
        }
      }
      return;
    }
    const auto waiting = Waiting();
    if (r == 0 && a.mode == Status::kWaitForNextCall && !waiting.empty() &&
        ref_.calls[waiting[0]].queued != now_) {
      const std::string conn = waiting[0];
      ref_.calls[conn].left = now_;
      ref_.calls[conn].left_seq = ref_.seq++;
      Apply(EventType::kDiverted, "8001", conn);
      a.call = RefAgent::kRinging;
      a.conn = conn;
      Apply(EventType::kRinging, Dn(i), conn);
      Record(i);
    } else if (r == 2) {
      a.mode = Status::kNotReadyForNextCall;
      Apply(EventType::kAgentNotReady, Dn(i));
      Record(i);
    } else if (r == 3 && rng_() % 4 == 0) {
      a.logged_in = false;
      Apply(EventType::kAgentLogout, Dn(i), "", agent);
      Record(i);
    } else {
      a.mode = Status::kWaitForNextCall;
      Apply(EventType::kAgentReady, Dn(i));
      Record(i);
    }
  }

  void Check(TimeMs at) {
    std::vector<stats::Notification> ignored;
    ASSERT_TRUE(engine_.AdvanceTo(at, ignored));
    for (size_t k = 0; k < specs_.size(); ++k) {
      ++checks_;
      auto v = engine_.Get(handles_[k]);
      ASSERT_TRUE(v);
      const double want = std::round(specs_[k].want(ref_, at) * 1000) / 1000;
      if (std::fabs(v->number - want) > 0.0011 + 1e-9 * std::fabs(want)) {
        ++failures_;
        ADD_FAILURE() << specs_[k].name << " at +" << (at - kStart) / 1000.0 << " s: engine "
                      << v->number << ", reference " << want;
      }
    }
  }

  std::mt19937 rng_;
  stats::Engine engine_;
  Reference ref_;
  std::vector<StatSpec> specs_;
  std::vector<std::uint64_t> handles_;
  std::vector<stats::Notification> notes_;
  int next_call_ = 1;
  TimeMs now_ = kStart;
  int checks_ = 0;
  int failures_ = 0;
};

class CategoriesTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(CategoriesTest, EveryCategoryInEveryWindowMatchesTheReference) {
  CategoryRun(GetParam()).Go(1200);
}

INSTANTIATE_TEST_SUITE_P(Seeds, CategoriesTest, ::testing::Values(1u, 7u, 2026u));

}  // namespace
}  // namespace tally
