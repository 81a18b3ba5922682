// Unit tests of the notifier against a fake source: insensitivity, the flush, Periodical and
// Reset timers, the bounded catch-up after a jump, independent clocks.
// Threading: single-threaded.
#include "stats/notifier.h"

#include <gtest/gtest.h>

namespace tally::stats {
namespace {

constexpr TimeMs kT0 = 1772355600000;  // 2026-03-01T09:00:00Z

// A source whose value the test sets, with window boundaries every `step` ms (0: none).
class FakeSource final : public NotifiedSource {
 public:
  explicit FakeSource(TimeMs step = 0) : step_(step) {}
  double value = 0;
  TimeMs now = kT0;
  double closed = 0;  // value of the interval the last reset closed

  StatValue ValueAt(TimeMs t) override {
    AdvanceTo(t);
    StatValue v;
    v.number = value;
    v.int_value = static_cast<std::int64_t>(value);
    v.timestamp = t;
    return v;
  }
  void AdvanceTo(TimeMs t) override {
    if (step_ == 0 || t < next_) return;
    closed = value;
    last_reset_ = t / step_ * step_;
    next_ = *last_reset_ + step_;
  }
  std::optional<TimeMs> LastResetAt() const override { return last_reset_; }
  std::optional<TimeMs> NextBoundary() const override {
    if (step_ == 0) return std::nullopt;
    return next_;
  }
  StatValue ClosedIntervalValue(TimeMs t) override {
    StatValue v;
    v.number = closed;
    v.timestamp = t;
    v.interval_length_s = step_ / 1000;
    return v;
  }
  TimeMs Now() const override { return now; }

 private:
  TimeMs step_;
  std::optional<TimeMs> last_reset_;
  TimeMs next_ = step_ == 0 ? 0 : (kT0 / step_ + 1) * step_;
};

StatValue Number(double v) {
  StatValue s;
  s.number = v;
  return s;
}

std::vector<double> Values(const std::vector<Notification>& out, std::uint64_t handle) {
  std::vector<double> v;
  for (const auto& n : out) {
    if (n.handle == handle) v.push_back(n.value.number);
  }
  return v;
}

TEST(NotifierTest, ShouldSendFollowsInsensitivity) {
  Subscription s;
  s.sent = true;
  s.last = 100;
  EXPECT_FALSE(Notifier::ShouldSend(s, Number(100), true));   // unchanged
  EXPECT_TRUE(Notifier::ShouldSend(s, Number(100.5), true));  // insensitivity 0: any change
  s.settings.insensitivity = 1;
  EXPECT_TRUE(Notifier::ShouldSend(s, Number(100.5), true));  // ≤ 1 means any change too
  s.settings.insensitivity = 10;
  EXPECT_FALSE(Notifier::ShouldSend(s, Number(109), true));  // 9 % of 100
  EXPECT_TRUE(Notifier::ShouldSend(s, Number(110), true));   // 10 %
  EXPECT_TRUE(Notifier::ShouldSend(s, Number(90), true));    // both directions
  s.last = 0;
  EXPECT_TRUE(Notifier::ShouldSend(s, Number(0.01), true));  // from 0: always
  s.sent = false;
  EXPECT_TRUE(Notifier::ShouldSend(s, Number(0), true));  // nothing sent yet
  // State trees: a changed status, or a changed tree (state_changed).
  s.sent = true;
  StatValue tree;
  tree.int_value = 4;
  tree.state = std::make_shared<StateTree>();
  s.last = 4;  // the status code sent
  EXPECT_FALSE(Notifier::ShouldSend(s, tree, false));
  EXPECT_TRUE(Notifier::ShouldSend(s, tree, true));
  StatValue other = tree;
  other.int_value = 8;
  EXPECT_TRUE(Notifier::ShouldSend(s, other, false));
}

TEST(NotifierTest, FlushSendsImmediateSubscribersOncePerDirtySource) {
  Notifier n;
  FakeSource src;
  const auto immediate = n.Subscribe(src, 0, kT0, {NotificationMode::kImmediate, 10'000, 0}, {});
  const auto quiet = n.Subscribe(src, 0, kT0, {NotificationMode::kNoNotification, 10'000, 0}, {});
  std::vector<Notification> out;
  src.value = 3;
  n.MarkDirty(src);
  n.MarkDirty(src);
  n.Flush(out);
  EXPECT_EQ(Values(out, immediate), std::vector<double>{3});
  EXPECT_TRUE(Values(out, quiet).empty());
  out.clear();
  n.MarkDirty(src);  // dirty but unchanged: nothing
  n.Flush(out);
  EXPECT_TRUE(out.empty());
  // A source nobody subscribes to is never queued.
  FakeSource lonely;
  n.MarkDirty(lonely);
  EXPECT_FALSE(lonely.dirty);
  EXPECT_EQ(n.Sent(), 1u);
}

TEST(NotifierTest, PeriodicalEveryFrequencyWithOptionalSuppression) {
  Notifier n;
  FakeSource src;
  src.value = 5;
  const auto every = n.Subscribe(src, 0, kT0, {NotificationMode::kPeriodical, 10'000, 0}, {});
  const auto changes =
      n.Subscribe(src, 0, kT0, {NotificationMode::kPeriodical, 10'000, 20}, Number(5));
  std::vector<Notification> out;
  TimeMs now = kT0;
  n.RunUntil(0, kT0 + 30'000, now, out);
  EXPECT_EQ(Values(out, every), (std::vector<double>{5, 5, 5}));  // unchanged values too
  EXPECT_TRUE(Values(out, changes).empty());                      // suppressed (insensitivity 20)
  EXPECT_EQ(now, kT0 + 30'000);
  out.clear();
  src.value = 7;  // +40 %
  n.RunUntil(0, kT0 + 40'000, now, out);
  EXPECT_EQ(Values(out, changes), std::vector<double>{7});
  EXPECT_EQ(out.back().value.timestamp, kT0 + 40'000);
}

TEST(NotifierTest, ResetSendsTheClosedIntervalAtEachBoundary) {
  Notifier n;
  FakeSource src(60'000);
  const auto h = n.Subscribe(src, 0, kT0, {NotificationMode::kReset, 10'000, 0}, {});
  std::vector<Notification> out;
  TimeMs now = kT0;
  src.value = 4;
  n.RunUntil(0, kT0 + 59'999, now, out);
  EXPECT_TRUE(out.empty());
  n.RunUntil(0, kT0 + 120'000, now, out);
  ASSERT_EQ(Values(out, h), (std::vector<double>{4, 4}));
  EXPECT_EQ(out[0].value.timestamp, kT0 + 60'000);
  EXPECT_EQ(out[0].value.interval_length_s, 60);
}

TEST(NotifierTest, AJumpFarAheadCatchesUpABoundedNumberOfPeriods) {
  Notifier n;
  FakeSource src(1000);
  const auto periodic = n.Subscribe(src, 0, kT0, {NotificationMode::kPeriodical, 1000, 0}, {});
  const auto reset = n.Subscribe(src, 0, kT0, {NotificationMode::kReset, 1000, 0}, {});
  std::vector<Notification> out;
  TimeMs now = kT0;
  const TimeMs week = 7LL * 86'400'000;
  n.RunUntil(0, kT0 + week, now, out);  // 604 800 periods behind
  EXPECT_EQ(Values(out, periodic).size(), static_cast<size_t>(Notifier::kCatchUp) + 1);
  EXPECT_EQ(Values(out, reset).size(), static_cast<size_t>(Notifier::kCatchUp) + 1);
  EXPECT_EQ(out.back().value.timestamp, kT0 + week);  // the jump lands on `now`
  EXPECT_EQ(now, kT0 + week);
  // Back to one period at a time afterwards.
  out.clear();
  n.RunUntil(0, kT0 + week + 3000, now, out);
  EXPECT_EQ(Values(out, periodic).size(), 3u);
  EXPECT_EQ(Values(out, reset).size(), 3u);
}

TEST(NotifierTest, ClocksAreIndependentAndUnsubscribeStopsTimers) {
  Notifier n;
  FakeSource a;
  FakeSource b;
  const auto ha = n.Subscribe(a, 0, kT0, {NotificationMode::kPeriodical, 10'000, 0}, {});
  const auto hb = n.Subscribe(b, 1, kT0, {NotificationMode::kPeriodical, 10'000, 0}, {});
  std::vector<Notification> out;
  TimeMs now_b = kT0;
  n.RunUntil(1, kT0 + 30LL * 86'400'000, now_b, out);  // clock 1 jumps 30 days
  EXPECT_TRUE(Values(out, ha).empty());                // clock 0 did not move
  EXPECT_FALSE(Values(out, hb).empty());
  out.clear();
  n.Unsubscribe(ha);
  EXPECT_TRUE(a.subscribers.empty());
  EXPECT_EQ(n.Find(ha), nullptr);
  TimeMs now_a = kT0;
  n.RunUntil(0, kT0 + 60'000, now_a, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(n.Timers().size(), 1u);  // only b's
}

TEST(NotifierTest, TimersPastTheValidRangeAreNotKept) {
  Notifier n;
  FakeSource src;
  n.Subscribe(src, 0, kMaxEventTime - 5000, {NotificationMode::kPeriodical, 10'000, 0}, {});
  EXPECT_TRUE(n.Timers().empty());
}

}  // namespace
}  // namespace tally::stats
