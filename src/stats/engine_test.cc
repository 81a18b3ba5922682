// Unit tests of the engine through its public interface (EngineTest::Feed/Get), and the
// regression tests named after the bugs they pin (issue 18 and others).
// Threading: single-threaded.
#include "stats/engine.h"

#include <gtest/gtest.h>

#include "common/binary.h"
#include "stats/key_interner.h"

namespace tally::stats {
namespace {

constexpr TimeMs kT0 = 1772355600000;  // 2026-03-01T09:00:00Z

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TenantSetup t;
    t.name = "acme";
    t.time_zone = "UTC";
    t.agents = {"a1", "a2"};
    t.places = {{"p1", {"7001"}}, {"p2", {"7002"}}};
    t.groups = {{ObjectType::kGroupAgents, "sales", {"a1", "a2"}},
                {ObjectType::kGroupQueues, "all-queues", {"8001"}}};
    t.queues = {"8001"};
    ASSERT_TRUE(engine_.AddTenant(t, kT0));
  }

  Event Ev(EventType type, std::string dn, TimeMs at) {
    Event e;
    e.type = type;
    e.tenant = "acme";
    e.this_dn = std::move(dn);
    e.time = at;
    return e;
  }

  void Feed(Event e) {
    auto r = engine_.Apply(e, notes_);
    ASSERT_TRUE(r) << r.error().message;
  }

  void Login(const std::string& agent, const std::string& dn, TimeMs at) {
    Event e = Ev(EventType::kAgentLogin, dn, at);
    e.agent_id = agent;
    Feed(e);
  }

  void Call(EventType type, const std::string& dn, const std::string& conn, TimeMs at,
            CallType ct = CallType::kUnknown) {
    Event e = Ev(type, dn, at);
    e.conn_id = conn;
    e.call_type = ct;
    Feed(e);
  }

  std::uint64_t Open(ObjectType type, const std::string& id, KeyValues def) {
    auto r = engine_.OpenDefinition("acme", def, ObjectRef{type, id});
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->handle : 0;
  }

  StatValue Get(std::uint64_t h, TimeMs at) {
    std::vector<Notification> ignored;
    EXPECT_TRUE(engine_.AdvanceTo(at, ignored));
    auto v = engine_.Get(h);
    EXPECT_TRUE(v);
    return v ? *v : StatValue{};
  }

  Engine engine_;
  std::vector<Notification> notes_;
};

TEST_F(EngineTest, AgentStatusFollowsTheCallFlow) {
  const auto state =
      Open(ObjectType::kAgent, "a1", {{"category", "CurrentState"}, {"subject", "DNAction"}});
  EXPECT_EQ(Get(state, kT0).int_value, 23);  // LoggedOut
  Login("a1", "7001", kT0 + 1000);
  EXPECT_EQ(Get(state, kT0 + 1000).string_value, "LoggedIn");
  Feed(Ev(EventType::kAgentReady, "7001", kT0 + 2000));
  EXPECT_EQ(Get(state, kT0 + 2000).string_value, "WaitForNextCall");
  Call(EventType::kRinging, "7001", "c1", kT0 + 3000);
  EXPECT_EQ(Get(state, kT0 + 3000).string_value, "CallRinging");
  Call(EventType::kEstablished, "7001", "c1", kT0 + 4000);
  EXPECT_EQ(Get(state, kT0 + 4000).int_value, 22);  // CallInbound
  Call(EventType::kHeld, "7001", "c1", kT0 + 5000);
  EXPECT_EQ(Get(state, kT0 + 5000).string_value, "CallOnHold");  // the held call is hidden
  Call(EventType::kRetrieved, "7001", "c1", kT0 + 6000);
  EXPECT_EQ(Get(state, kT0 + 6000).string_value, "CallInbound");
  Call(EventType::kReleased, "7001", "c1", kT0 + 7000);
  EXPECT_EQ(Get(state, kT0 + 7000).string_value, "WaitForNextCall");
  Event acw = Ev(EventType::kAgentNotReady, "7001", kT0 + 7000);
  acw.work_mode = "AfterCallWork";
  Feed(acw);
  const StatValue v = Get(state, kT0 + 8000);
  EXPECT_EQ(v.string_value, "AfterCallWork");
  ASSERT_TRUE(v.state);
  EXPECT_EQ(v.state->agent.agent_id, "a1");
  EXPECT_TRUE(v.state->agent.has_place);
  EXPECT_EQ(v.state->agent.place.place_id, "p1");
  ASSERT_EQ(v.state->agent.place.dns.size(), 1u);
  EXPECT_EQ(v.state->agent.place.dns[0].dn_id, "7001");
  Feed(Ev(EventType::kAgentLogout, "7001", kT0 + 9000));
  EXPECT_EQ(Get(state, kT0 + 9000).string_value, "LoggedOut");
}

TEST_F(EngineTest, GroupCountsReadyAgentsAndTheTenantToo) {
  const auto ready = Open(
      ObjectType::kGroupAgents, "sales",
      {{"category", "CurrentNumber"}, {"subject", "AgentStatus"}, {"mainMask", "WaitForNextCall"}});
  const auto tenant_ready = Open(
      ObjectType::kTenant, "acme",
      {{"category", "CurrentNumber"}, {"subject", "AgentStatus"}, {"mainMask", "WaitForNextCall"}});
  Login("a1", "7001", kT0 + 1000);
  Login("a2", "7002", kT0 + 1000);
  Feed(Ev(EventType::kAgentReady, "7001", kT0 + 2000));
  Feed(Ev(EventType::kAgentReady, "7002", kT0 + 3000));
  EXPECT_EQ(Get(ready, kT0 + 3000).int_value, 2);
  Call(EventType::kRinging, "7002", "c1", kT0 + 4000);
  EXPECT_EQ(Get(ready, kT0 + 4000).int_value, 1);
  EXPECT_EQ(Get(tenant_ready, kT0 + 4000).int_value, 1);
}

TEST_F(EngineTest, QueueWaitingAnsweredAndServiceLevel) {
  const auto waiting =
      Open(ObjectType::kQueue, "8001", {{"category", "CurrentNumber"}, {"mainMask", "CallWait"}});
  const auto longest = Open(ObjectType::kQueue, "8001@default",
                            {{"category", "CurrentMaxTime"}, {"mainMask", "CallWait"}});
  const auto sl = Open(ObjectType::kGroupQueues, "all-queues",
                       {{"category", "ServiceFactor1"},
                        {"mainMask", "CallAnswered"},
                        {"relMask", "CallAbandoned"},
                        {"dynamicTimeRange", "0-20"}});
  Login("a1", "7001", kT0);
  Call(EventType::kQueued, "8001", "c1", kT0 + 1000);
  Call(EventType::kQueued, "8001", "c2", kT0 + 2000);
  EXPECT_EQ(Get(waiting, kT0 + 5000).int_value, 2);
  EXPECT_EQ(Get(longest, kT0 + 5000).int_value, 4);
  Event div = Ev(EventType::kDiverted, "8001", kT0 + 6000);
  div.conn_id = "c1";
  div.other_dn = "7001";
  Feed(div);
  Call(EventType::kRinging, "7001", "c1", kT0 + 6000);
  Call(EventType::kEstablished, "7001", "c1", kT0 + 10'000);  // answered 9 s after queuing
  Call(EventType::kAbandoned, "8001", "c2", kT0 + 40'000);
  EXPECT_EQ(Get(waiting, kT0 + 40'000).int_value, 0);
  // 1 answered within 20 s out of 1 answered + 1 abandoned.
  EXPECT_DOUBLE_EQ(Get(sl, kT0 + 40'000).number, 50);
}

TEST_F(EngineTest, ImmediateNotificationsRespectInsensitivity) {
  const auto h = Open(ObjectType::kQueue, "8001",
                      {{"category", "CurrentNumber"},
                       {"mainMask", "CallWait"},
                       {"notificationMode", "Immediate"},
                       {"insensitivity", "50"}});
  notes_.clear();
  Call(EventType::kQueued, "8001", "c1", kT0 + 1000);  // 0 → 1: always sent
  Call(EventType::kQueued, "8001", "c2", kT0 + 2000);  // 1 → 2: +100 %
  Call(EventType::kQueued, "8001", "c3", kT0 + 3000);  // 2 → 3: +50 % (sent)
  Call(EventType::kQueued, "8001", "c4", kT0 + 4000);  // 3 → 4: +33 % (suppressed)
  std::vector<std::int64_t> sent;
  for (const auto& n : notes_) {
    if (n.handle == h) sent.push_back(n.value.int_value);
  }
  EXPECT_EQ(sent, (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_F(EngineTest, PeriodicalAndResetNotifications) {
  const auto periodic = Open(ObjectType::kQueue, "8001",
                             {{"category", "TotalNumber"},
                              {"mainMask", "CallEntered"},
                              {"notificationMode", "Periodical"},
                              {"notificationFrequency", "10"}});
  const auto reset = Open(ObjectType::kQueue, "8001",
                          {{"category", "TotalNumber"},
                           {"mainMask", "CallEntered"},
                           {"notificationMode", "Reset"},
                           {"dynamicTimeProfile", "10:00"}});
  notes_.clear();
  Call(EventType::kQueued, "8001", "c1", kT0 + 1000);
  Call(EventType::kQueued, "8001", "c2", kT0 + 12'000);
  ASSERT_TRUE(engine_.AdvanceTo(kT0 + 3600'000 + 5000, notes_));  // past 10:00
  int periodic_count = 0;
  std::vector<std::int64_t> resets;
  for (const auto& n : notes_) {
    if (n.handle == periodic) ++periodic_count;
    if (n.handle == reset) resets.push_back(n.value.int_value);
  }
  EXPECT_EQ(periodic_count, 360);  // every 10 s for an hour
  EXPECT_EQ(resets, std::vector<std::int64_t>{2});
  EXPECT_EQ(Get(reset, kT0 + 3600'000 + 5000).int_value, 0);
}

TEST_F(EngineTest, OutOfOrderEventForADnIsRejected) {
  Login("a1", "7001", kT0 + 5000);
  Event late = Ev(EventType::kAgentReady, "7001", kT0 + 1000);
  auto r = engine_.Apply(late, notes_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kOutOfOrder);
  EXPECT_NE(r.error().message.find("7001@default"), std::string::npos);
}

TEST_F(EngineTest, UnknownObjectsAndUnsupportedCombinationsAreRefused) {
  auto r = engine_.OpenDefinition("acme", {{"category", "CurrentNumber"}, {"mainMask", "*"}},
                                  ObjectRef{ObjectType::kAgent, "nobody"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  r = engine_.OpenDefinition(
      "acme", {{"category", "CurrentNumber"}, {"subject", "AgentStatus"}, {"mainMask", "*"}},
      ObjectRef{ObjectType::kQueue, "8001"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  r = engine_.OpenDefinition("nope", {{"category", "CurrentNumber"}, {"mainMask", "*"}},
                             ObjectRef{ObjectType::kAgent, "a1"});
  ASSERT_FALSE(r);
}

// Found while moving the notifier out: the first subscriber's reset timer moved the shared
// catalog statistic past the reset, so the second subscriber's timer saw no reset and sent
// nothing.
TEST(EngineRegression, EverySubscriberOfAResetCatalogStatisticIsNotified) {
  Engine engine;
  ASSERT_TRUE(engine.SetCatalog({{"Entered",
                                  {{"category", "TotalNumber"},
                                   {"mainMask", "CallEntered"},
                                   {"notificationMode", "Reset"},
                                   {"dynamicTimeProfile", "10:00"},
                                   {"objects", "Queue"}}}}));
  TenantSetup t;
  t.name = "acme";
  t.queues = {"8001"};
  ASSERT_TRUE(engine.AddTenant(t, kT0));
  auto a = engine.OpenCatalog("acme", "Entered", ObjectRef{ObjectType::kQueue, "8001"});
  auto b = engine.OpenCatalog("acme", "Entered", ObjectRef{ObjectType::kQueue, "8001"});
  ASSERT_TRUE(a && b);
  std::vector<Notification> out;
  Event q;
  q.type = EventType::kQueued;
  q.tenant = "acme";
  q.this_dn = "8001";
  q.conn_id = "c1";
  q.time = kT0 + 1000;
  ASSERT_TRUE(engine.Apply(q, out));
  ASSERT_TRUE(engine.AdvanceTo(kT0 + 3600'000, out));  // 10:00
  std::vector<std::uint64_t> notified;
  for (const auto& n : out) {
    EXPECT_EQ(n.value.int_value, 1);
    notified.push_back(n.handle);
  }
  EXPECT_EQ(notified, (std::vector<std::uint64_t>{a->handle, b->handle}));
}

// ---------------------------------------------------------------- issue 18: huge event times

// The zig-zag LEB128 bytes BinaryWriter::I64 writes for `v`.
std::string VarintI64(std::int64_t v) {
  std::uint64_t z = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  std::string out;
  do {
    std::uint8_t b = z & 0x7f;
    z >>= 7;
    if (z != 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (z != 0);
  return out;
}

// Regression tests of issue 18 use the same fixture.
class Issue18 : public EngineTest {};

Event Tick(TimeMs at) {
  Event e;
  e.type = EventType::kTick;
  e.tenant = "acme";
  e.time = at;
  return e;
}

TEST_F(Issue18, HugeEventTimeIsRefusedNamingTime) {
  const auto h = Open(ObjectType::kQueue, "8001",
                      {{"category", "TotalNumber"},
                       {"mainMask", "CallEntered"},
                       {"notificationMode", "Periodical"},
                       {"notificationFrequency", "1"}});
  for (TimeMs huge : {INT64_MAX, TimeMs{9223372036854000000}, kMaxEventTime + 1, TimeMs{-1}}) {
    auto r = engine_.Apply(Tick(huge), notes_);
    ASSERT_FALSE(r) << huge;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_NE(r.error().message.find("'time'"), std::string::npos) << r.error().message;
    auto moved = engine_.AdvanceTo(huge, notes_);
    ASSERT_FALSE(moved) << huge;
    EXPECT_NE(moved.error().message.find("'time'"), std::string::npos);
  }
  TenantSetup other;
  other.name = "other";
  auto added = engine_.AddTenant(other, INT64_MAX);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(engine_.HasTenant("other"));
  // Nothing moved: the engine still answers at its own time.
  Call(EventType::kQueued, "8001", "c1", kT0 + 1000);
  EXPECT_EQ(Get(h, kT0 + 1000).int_value, 1);
  EXPECT_EQ(engine_.Now("acme"), kT0 + 1000);
}

TEST_F(Issue18, JumpOfDecadesCompletesPromptly) {
  // Every kind of timer: a periodic one each second, sliding steps of one second, resets every
  // minute (Reset and Immediate), and status time that keeps growing.
  const auto periodic = Open(ObjectType::kQueue, "8001",
                             {{"category", "TotalNumber"},
                              {"mainMask", "CallEntered"},
                              {"notificationMode", "Periodical"},
                              {"notificationFrequency", "1"}});
  const auto sliding = Open(ObjectType::kAgent, "a1",
                            {{"category", "TotalTime"},
                             {"subject", "AgentStatus"},
                             {"mainMask", "WaitForNextCall"},
                             {"intervalType", "SlidingWindow"},
                             {"dynamicTimeProfile", "60,1"}});
  const auto reset = Open(ObjectType::kAgent, "a1",
                          {{"category", "TotalTime"},
                           {"subject", "AgentStatus"},
                           {"mainMask", "WaitForNextCall"},
                           {"notificationMode", "Reset"},
                           {"dynamicTimeProfile", "00:00+0:01"}});
  Login("a1", "7001", kT0);
  Feed(Ev(EventType::kAgentReady, "7001", kT0));
  Call(EventType::kQueued, "8001", "c1", kT0 + 500);
  notes_.clear();
  // 2026 → 9999: without saturation and catch-up limits this loops ~2.5e11 times.
  Feed(Tick(kMaxEventTime - 999));
  size_t periodic_sent = 0;
  size_t reset_sent = 0;
  for (const auto& n : notes_) {
    periodic_sent += n.handle == periodic ? 1 : 0;
    reset_sent += n.handle == reset ? 1 : 0;
  }
  // A bounded catch-up, then one jump.
  EXPECT_GE(periodic_sent, 1000u);
  EXPECT_LE(periodic_sent, 1001u);
  EXPECT_GE(reset_sent, 1u);
  EXPECT_LE(reset_sent, 1001u);
  EXPECT_LE(notes_.size(), 3100u);
  // The engine keeps answering, with values of the new time.
  EXPECT_EQ(Get(periodic, kMaxEventTime).int_value, 0);             // reset at midnight since
  EXPECT_NEAR(Get(sliding, kMaxEventTime).number, 59.999, 0.0005);  // ready all the window
  EXPECT_EQ(Get(reset, kMaxEventTime).interval_length_s, 59);
  Feed(Ev(EventType::kAgentNotReady, "7001", kMaxEventTime));
  EXPECT_NEAR(Get(sliding, kMaxEventTime).number, 59.999, 0.0005);
}

TEST_F(Issue18, SnapshotWithAbsurdTimeIsRefused) {
  constexpr TimeMs kMark = kT0 + 123'457;  // appears once in the snapshot: the engine's time
  ASSERT_TRUE(engine_.AdvanceTo(kMark, notes_));
  const std::string good = engine_.Save();
  const std::string mark = VarintI64(kMark);
  const size_t at = good.find(mark);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(good.find(mark, at + 1), std::string::npos);
  for (TimeMs absurd : {INT64_MAX, TimeMs{9223372036854000000}, TimeMs{-5}}) {
    std::string bad = good;
    bad.replace(at, mark.size(), VarintI64(absurd));
    Engine fresh;
    auto loaded = fresh.Load(bad);
    ASSERT_FALSE(loaded) << absurd;
    EXPECT_EQ(loaded.error().code, Errc::kInvalidArgument);
    EXPECT_NE(loaded.error().message.find("'time'"), std::string::npos) << loaded.error().message;
  }
  // The largest valid time loads and the engine goes on from there.
  std::string last = good;
  last.replace(at, mark.size(), VarintI64(kMaxEventTime - 1000));
  Engine fresh;
  ASSERT_TRUE(fresh.Load(last));
  std::vector<Notification> out;
  ASSERT_TRUE(fresh.AdvanceTo(kMaxEventTime, out));
  EXPECT_EQ(fresh.Now("acme"), kMaxEventTime);
}

TEST_F(Issue18, OlderEngineSnapshotFormatIsRefusedByName) {
  Engine e;
  BinaryWriter w;
  w.U64(0);  // version 1 began with the catalog size
  w.I64(kT0);
  auto loaded = e.Load(w.Data());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Errc::kUnsupported);
  EXPECT_NE(loaded.error().message.find("format version 1"), std::string::npos)
      << loaded.error().message;
}

TEST_F(Issue18, EngineSnapshotFormat4IsRefusedByName) {
  // Version 4 kept every accumulator at full size; this build reads the compact shapes of 5.
  Engine e;
  BinaryWriter w;
  w.Str("tally.engine");
  w.U64(4);
  auto loaded = e.Load(w.Data());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Errc::kUnsupported);
  EXPECT_NE(loaded.error().message.find("format version 4 is not supported"), std::string::npos)
      << loaded.error().message;
}

TEST_F(Issue18, ResetNotificationCarriesTheEndedIntervalLength) {
  // A count over 10:00-10:02 pushed at 10:02 covers 120 s (not the new window's 0).
  ASSERT_TRUE(engine_.AdvanceTo(kT0 + 3600'000, notes_));  // 10:00
  const auto h = Open(ObjectType::kQueue, "8001",
                      {{"category", "TotalNumber"},
                       {"mainMask", "CallEntered"},
                       {"notificationMode", "Reset"},
                       {"dynamicTimeProfile", "00:00+0:02"}});
  notes_.clear();
  Call(EventType::kQueued, "8001", "c1", kT0 + 3600'000 + 30'000);
  Call(EventType::kQueued, "8001", "c2", kT0 + 3600'000 + 90'000);
  ASSERT_TRUE(engine_.AdvanceTo(kT0 + 3600'000 + 120'000, notes_));  // 10:02
  ASSERT_EQ(notes_.size(), 1u);
  EXPECT_EQ(notes_[0].handle, h);
  EXPECT_EQ(notes_[0].value.int_value, 2);
  EXPECT_EQ(notes_[0].value.interval_length_s, 120);
  EXPECT_EQ(notes_[0].value.timestamp, kT0 + 3600'000 + 120'000);
  EXPECT_EQ(Get(h, kT0 + 3600'000 + 120'000).interval_length_s, 0);  // the new window
}

TEST_F(Issue18, EventClockIsPerTenant) {
  TenantSetup beta;
  beta.name = "beta";
  beta.agents = {"b1"};
  ASSERT_TRUE(engine_.AddTenant(beta, kT0));
  // Time in current state of a1, ReadyDuration of a1, and a periodic statistic of acme.
  const auto tics =
      Open(ObjectType::kAgent, "a1",
           {{"category", "CurrentTime"}, {"subject", "AgentStatus"}, {"mainMask", "*"}});
  const auto ready = Open(
      ObjectType::kAgent, "a1",
      {{"category", "TotalTime"}, {"subject", "AgentStatus"}, {"mainMask", "WaitForNextCall"}});
  const auto periodic = Open(ObjectType::kQueue, "8001",
                             {{"category", "TotalNumber"},
                              {"mainMask", "CallEntered"},
                              {"notificationMode", "Periodical"},
                              {"notificationFrequency", "10"}});
  Login("a1", "7001", kT0 + 1000);
  Feed(Ev(EventType::kAgentReady, "7001", kT0 + 2000));
  notes_.clear();
  // Tenant beta ticks 30 days ahead.
  Event tick;
  tick.type = EventType::kTick;
  tick.tenant = "beta";
  tick.time = kT0 + 30LL * 86'400'000;
  Feed(tick);
  EXPECT_EQ(engine_.Now("beta"), kT0 + 30LL * 86'400'000);
  EXPECT_EQ(engine_.Now("acme"), kT0 + 2000);
  EXPECT_EQ(engine_.LatestNow(), kT0 + 30LL * 86'400'000);
  EXPECT_TRUE(notes_.empty());  // none of acme's timers ran
  auto v = engine_.Get(tics);
  ASSERT_TRUE(v);
  EXPECT_DOUBLE_EQ(v->number, 0);  // not 2 592 000 s
  EXPECT_EQ(v->timestamp, kT0 + 2000);
  // acme's next event is applied at its own time, not re-stamped 30 days later.
  Feed(Ev(EventType::kAgentNotReady, "7001", kT0 + 5000));
  v = engine_.Get(ready);
  ASSERT_TRUE(v);
  EXPECT_DOUBLE_EQ(v->number, 3);
  EXPECT_EQ(engine_.Now("acme"), kT0 + 5000);
  size_t periodic_sent = 0;
  for (const auto& n : notes_) periodic_sent += n.handle == periodic ? 1 : 0;
  EXPECT_EQ(periodic_sent, 0u);  // acme's first period ends at 09:00:10
  // Snapshots keep each tenant's time and timers.
  Engine copy;
  ASSERT_TRUE(copy.Load(engine_.Save()));
  EXPECT_EQ(copy.Now("acme"), kT0 + 5000);
  EXPECT_EQ(copy.Now("beta"), kT0 + 30LL * 86'400'000);
  EXPECT_EQ(copy.Save(), engine_.Save());
  // The wall clock (AdvanceTo) moves every tenant.
  ASSERT_TRUE(engine_.AdvanceTo(kT0 + 30LL * 86'400'000, notes_));
  EXPECT_EQ(engine_.Now("acme"), kT0 + 30LL * 86'400'000);
  v = engine_.Get(tics);
  ASSERT_TRUE(v);
  EXPECT_NEAR(v->number, 30 * 86'400 - 5, 0.001);
}

// Events carrying the decoder's number of their DN key (KeyInterner) find the same DN as by
// the string, mixed with events without one, also when the key gets its DN only after the number
// was first seen (a DN added to a place by a reload).
TEST_F(EngineTest, InternedKeysFindTheDnLikeTheStringAndFollowNewObjects) {
  auto numbered = [](Event e) {
    e.key_id = KeyInterner::Global().Intern(e.tenant, OrderKey(e));
    EXPECT_NE(e.key_id, 0u);
    return e;
  };
  const KeyValues ready{
      {"category", "CurrentNumber"}, {"subject", "DNStatus"}, {"mainMask", "WaitForNextCall"}};
  const std::uint64_t p3 = [&] {
    // p3 and its DN 7003 do not exist yet: events for 7003 find nothing.
    Event e = numbered(Ev(EventType::kAgentLogin, "7003", kT0 + 1000));
    e.agent_id = "a1";
    Feed(e);
    Feed(numbered(Ev(EventType::kAgentReady, "7003", kT0 + 2000)));
    TenantSetup more;
    more.name = "acme";
    more.time_zone = "UTC";
    more.places = {{"p3", {"7003"}}};
    auto merged = engine_.MergeTenant(more, kT0 + 3000);
    EXPECT_TRUE(merged);
    return Open(ObjectType::kPlace, "p3", ready);
  }();
  // The same key, the same number: now it finds the new DN of p3.
  Event login = numbered(Ev(EventType::kAgentLogin, "7003", kT0 + 4000));
  login.agent_id = "a2";
  Feed(login);
  Feed(numbered(Ev(EventType::kAgentReady, "7003", kT0 + 5000)));
  EXPECT_EQ(Get(p3, kT0 + 6000).number, 1);
  // A known DN by number and by string: the same state.
  Event by_number = numbered(Ev(EventType::kAgentLogin, "7001", kT0 + 7000));
  by_number.agent_id = "a1";
  Feed(by_number);
  Feed(numbered(Ev(EventType::kAgentReady, "7001", kT0 + 8000)));
  const std::uint64_t p1 = Open(ObjectType::kPlace, "p1", ready);
  EXPECT_EQ(Get(p1, kT0 + 9000).number, 1);
  Feed(Ev(EventType::kAgentNotReady, "7001", kT0 + 10000));  // by string
  EXPECT_EQ(Get(p1, kT0 + 11000).number, 0);
  Feed(numbered(Ev(EventType::kAgentReady, "7001", kT0 + 12000)));
  EXPECT_EQ(Get(p1, kT0 + 13000).number, 1);
}

TEST(KeyInternerTest, TheSameKeyTheSameNumberPerTenant) {
  KeyInterner& k = KeyInterner::Global();
  const std::uint32_t a = k.Intern("t1", "7001@default");
  EXPECT_NE(a, 0u);
  EXPECT_EQ(k.Intern("t1", "7001@default"), a);
  EXPECT_NE(k.Intern("t2", "7001@default"), a);
  EXPECT_NE(k.Intern("t1", "7002@default"), a);
  EXPECT_EQ(k.Intern("t1", ""), 0u);
}

}  // namespace
}  // namespace tally::stats

namespace tally::stats {
namespace {

// Exact on open (server/exact_open.h) moves an ad-hoc statistic's state between two engines fed
// the same events: the one opened late takes the state of the one open since the start.
TEST_F(EngineTest, SaveStatisticAndLoadStatisticMoveAnAccumulatorBetweenOpens) {
  const KeyValues def{{"category", "TotalNumber"}, {"mainMask", "CallInbound"}};
  const auto early = Open(ObjectType::kAgent, "a1", def);
  Login("a1", "7001", kT0 + 1000);
  for (int c = 0; c < 3; ++c) {
    const std::string conn = "c" + std::to_string(c);
    const TimeMs at = kT0 + 10'000 * (c + 1);
    Call(EventType::kRinging, "7001", conn, at, CallType::kInbound);
    Call(EventType::kEstablished, "7001", conn, at + 1000, CallType::kInbound);
    Call(EventType::kReleased, "7001", conn, at + 5000, CallType::kInbound);
  }
  const auto late = Open(ObjectType::kAgent, "a1", def);
  EXPECT_EQ(Get(early, kT0 + 60'000).int_value, 3);
  EXPECT_EQ(Get(late, kT0 + 60'000).int_value, 0);  // Stat Server: from the open

  auto bytes = engine_.SaveStatistic(early);
  ASSERT_TRUE(bytes) << bytes.error().message;
  std::vector<Notification> out;
  ASSERT_TRUE(engine_.LoadStatistic(late, *bytes, out));
  EXPECT_EQ(Get(late, kT0 + 60'000).int_value, 3);
  ASSERT_FALSE(out.empty());  // the new value goes to its (Immediate) subscriber
  EXPECT_EQ(out.back().handle, late);
  EXPECT_EQ(out.back().value.int_value, 3);
  // From then on both count the same.
  Call(EventType::kRinging, "7001", "c9", kT0 + 70'000, CallType::kInbound);
  Call(EventType::kEstablished, "7001", "c9", kT0 + 71'000, CallType::kInbound);
  Call(EventType::kReleased, "7001", "c9", kT0 + 75'000, CallType::kInbound);
  EXPECT_EQ(Get(early, kT0 + 80'000).int_value, 4);
  EXPECT_EQ(Get(late, kT0 + 80'000).int_value, 4);

  // Bytes that do not fit are refused whole; the statistic keeps what it had.
  auto bad = engine_.LoadStatistic(late, bytes->substr(0, bytes->size() / 2), out);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(Get(late, kT0 + 80'000).int_value, 4);
  const auto other = Open(ObjectType::kAgent, "a1",
                          {{"category", "AverageTime"},
                           {"mainMask", "CallInbound"},
                           {"intervalType", "SlidingWindow"},
                           {"intervalLength", "600"}});
  EXPECT_FALSE(engine_.LoadStatistic(other, *bytes, out));
  // Catalog statistics and unknown handles are not ad-hoc statistics.
  EXPECT_EQ(engine_.SaveStatistic(999'999).error().code, Errc::kNotFound);
}

// A replay opens ad-hoc statistics on objects the log creates later from the hook: they see the
// event that created their object.
TEST_F(EngineTest, ObjectCreatedHookOpensBeforeTheCreatingEventHasEffect) {
  std::uint64_t handle = 0;
  int calls = 0;
  engine_.SetObjectCreatedHook([&] {
    ++calls;
    if (handle != 0) return;
    auto r =
        engine_.OpenDefinition("acme", {{"category", "TotalNumber"}, {"mainMask", "CallRinging"}},
                               ObjectRef{ObjectType::kRegDN, "7050"});
    if (r) handle = r->handle;
  });
  Call(EventType::kRinging, "7050", "n1", kT0 + 1000, CallType::kInbound);  // creates DN 7050
  Call(EventType::kReleased, "7050", "n1", kT0 + 3000, CallType::kInbound);
  ASSERT_NE(handle, 0U);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(Get(handle, kT0 + 5000).int_value, 1);
  engine_.SetObjectCreatedHook({});
}

}  // namespace
}  // namespace tally::stats
