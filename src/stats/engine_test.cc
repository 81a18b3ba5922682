#include "stats/engine.h"

#include <gtest/gtest.h>

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
    engine_.AdvanceTo(at, ignored);
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
  engine_.AdvanceTo(kT0 + 3600'000 + 5000, notes_);  // past 10:00
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

}  // namespace
}  // namespace tally::stats
