#include "bayeux/server.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tally::bayeux {
namespace {

namespace json = boost::json;

class BayeuxTest : public ::testing::Test {
 protected:
  BayeuxTest() : server_(MakeOptions(), clock_) {}
  static Options MakeOptions() {
    Options o;
    o.timeout_ms = 30000;
    o.max_interval_ms = 10000;
    o.max_queue = 4;
    return o;
  }

  Context Ctx(const std::string& subject = "ann", const std::string& browser = "b1") {
    Context c;
    c.browser = browser;
    c.principal = Principal{subject, "acme", {"statistics:read"}};
    return c;
  }

  // Sends messages; returns the reply if it came at once. A later reply (a held connect) goes
  // to *later, which must outlive the held request.
  std::optional<json::array> Send(const std::string& text, const Context& ctx,
                                  std::optional<json::array>* later = nullptr) {
    struct State {
      bool inline_call = true;
      std::optional<json::array> now;
    };
    auto state = std::make_shared<State>();
    server_.Handle(json::parse(text).as_array(), ctx, [state, later](std::string reply) {
      json::array a = json::parse(reply).as_array();
      if (state->inline_call) {
        state->now = std::move(a);
      } else if (later != nullptr) {
        *later = std::move(a);
      }
    });
    state->inline_call = false;
    return std::move(state->now);
  }

  std::string Handshake(const Context& ctx, const std::string& ext = "") {
    auto r = Send(R"([{"id":"1","channel":"/meta/handshake","version":"1.0",)"
                  R"("supportedConnectionTypes":["long-polling"])" +
                      (ext.empty() ? "" : ",\"ext\":" + ext) + "}]",
                  ctx);
    EXPECT_TRUE(r);
    const auto& m = (*r)[0].as_object();
    EXPECT_TRUE(m.at("successful").as_bool());
    return std::string(m.at("clientId").as_string());
  }

  ManualClock clock_{1'000'000};
  Server server_;
};

TEST_F(BayeuxTest, HandshakeGivesARandomClientIdAndTheFieldsClientsNeed) {
  auto r = Send(R"([{"id":"7","channel":"/meta/handshake","version":"1.0"}])", Ctx());
  ASSERT_TRUE(r);
  const auto& m = (*r)[0].as_object();
  EXPECT_EQ(m.at("id").as_string(), "7");
  EXPECT_EQ(m.at("clientId").as_string().size(), 32u);
  EXPECT_EQ(m.at("version").as_string(), "1.0");
  EXPECT_TRUE(m.at("supportedConnectionTypes").as_array().size() >= 2);
  EXPECT_EQ(m.at("advice").at("reconnect").as_string(), "retry");
  EXPECT_NE(Handshake(Ctx()), Handshake(Ctx()));
}

TEST_F(BayeuxTest, HandshakeWithoutValidCredentialsIsDeniedWithReconnectNone) {
  Context ctx;
  ctx.principal = Error{Errc::kUnauthenticated, "token expired"};
  auto r = Send(R"([{"id":"1","channel":"/meta/handshake"}])", ctx);
  const auto& m = (*r)[0].as_object();
  EXPECT_FALSE(m.at("successful").as_bool());
  EXPECT_EQ(m.at("error").as_string(), "403::handshake_denied");
  EXPECT_EQ(m.at("advice").at("reconnect").as_string(), "none");
  Context reader = Ctx();
  reader.principal = Principal{"x", "acme", {"events:write"}};
  r = Send(R"([{"id":"1","channel":"/meta/handshake"}])", reader);
  EXPECT_EQ((*r)[0].at("error").as_string(), "403::handshake_denied");
}

TEST_F(BayeuxTest, UnknownOrForeignSessionsGet402WithHandshakeAdvice) {
  const std::string id = Handshake(Ctx());
  for (const auto& [ctx, text] : std::vector<std::pair<Context, std::string>>{
           {Ctx(), R"([{"id":"2","channel":"/meta/connect","clientId":"nope"}])"},
           {Ctx("ann", "other-browser"),
            R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]"},
           {Ctx("bob"), R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]"}}) {
    auto r = Send(text, ctx);
    const auto& m = (*r)[0].as_object();
    EXPECT_EQ(m.at("id").as_string(), "2");
    EXPECT_EQ(m.at("error").as_string(), "402::session_unknown");
    EXPECT_EQ(m.at("advice").at("reconnect").as_string(), "handshake");
  }
}

TEST_F(BayeuxTest, SecondConnectIsHeldUntilAnEventOrTheTimeout) {
  const std::string id = Handshake(Ctx());
  const std::string connect =
      R"([{"id":"3","channel":"/meta/connect","connectionType":"long-polling","clientId":")" + id +
      "\"}]";
  ASSERT_TRUE(Send(connect, Ctx()));  // the first connect answers at once
  auto sub = Send(
      R"([{"id":"4","channel":"/meta/subscribe","subscription":"/statistics/v3/updates","clientId":")" +
          id + "\"}]",
      Ctx());
  EXPECT_TRUE((*sub)[0].at("successful").as_bool());
  std::optional<json::array> later;
  EXPECT_FALSE(Send(connect, Ctx(), &later));  // held
  EXPECT_EQ(server_.Stats().held_connects, 1u);
  server_.DeliverToPrincipal("acme\\ann", "/statistics/v3/updates", json::object{{"v", 1}});
  ASSERT_TRUE(later);
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].at("data").at("v").as_int64(), 1);
  EXPECT_EQ((*later)[1].at("channel").as_string(), "/meta/connect");
  EXPECT_EQ((*later)[1].at("id").as_string(), "3");

  later.reset();
  EXPECT_FALSE(Send(connect, Ctx(), &later));
  clock_.AdvanceMs(29'000);
  server_.Sweep();
  EXPECT_FALSE(later);
  clock_.AdvanceMs(1'000);
  server_.Sweep();
  ASSERT_TRUE(later);
  EXPECT_TRUE((*later)[0].at("successful").as_bool());
}

TEST_F(BayeuxTest, ConnectWithTimeoutZeroOrWithOtherMessagesIsNotHeld) {
  const std::string id = Handshake(Ctx());
  ASSERT_TRUE(Send(R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]", Ctx()));
  EXPECT_TRUE(Send(
      R"([{"id":"3","channel":"/meta/connect","clientId":")" + id + R"(","advice":{"timeout":0}}])",
      Ctx()));
  EXPECT_TRUE(Send(
      R"([{"id":"4","channel":"/meta/connect","clientId":")" + id +
          R"("},{"id":"5","channel":"/meta/subscribe","subscription":"/statistics/v3/service","clientId":")" +
          id + "\"}]",
      Ctx()));
}

TEST_F(BayeuxTest, OnlyTheStatisticsChannelsMayBeSubscribedAndNothingMayBePublished) {
  const std::string id = Handshake(Ctx());
  auto r =
      Send(R"([{"id":"2","channel":"/meta/subscribe","subscription":"/chat/room","clientId":")" +
               id + "\"}]",
           Ctx());
  EXPECT_EQ((*r)[0].at("error").as_string(), "403::subscribe_denied");
  r = Send(R"([{"id":"3","channel":"/statistics/v3/updates","data":{},"clientId":")" + id + "\"}]",
           Ctx());
  EXPECT_EQ((*r)[0].at("error").as_string(), "403::publish_denied");
  r = Send(R"([{"id":"4","channel":"/meta/nonsense","clientId":")" + id + "\"}]", Ctx());
  EXPECT_EQ((*r)[0].at("error").as_string(), "405::channel_invalid");
  r = Send(R"([{"id":"5"}])", Ctx());
  EXPECT_EQ((*r)[0].at("error").as_string(), "400::channel_missing");
}

TEST_F(BayeuxTest, SessionsWithoutConnectsExpireAfterMaxInterval) {
  std::vector<std::string> closed;
  server_.SetSessionClosed([&](const SessionInfo& s) { closed.push_back(s.client_id); });
  const std::string id = Handshake(Ctx());
  clock_.AdvanceMs(9'000);
  server_.Sweep();
  EXPECT_TRUE(server_.HasSession(id));
  clock_.AdvanceMs(1'001);
  server_.Sweep();
  EXPECT_FALSE(server_.HasSession(id));
  EXPECT_EQ(closed, std::vector<std::string>{id});
  EXPECT_EQ(server_.Stats().sessions_expired, 1u);
}

TEST_F(BayeuxTest, AnOverflowingQueueKeepsTheNewestValuePerStatistic) {
  const std::string id = Handshake(Ctx());
  Send(
      R"([{"id":"2","channel":"/meta/subscribe","subscription":"/statistics/v3/updates","clientId":")" +
          id + "\"}]",
      Ctx());
  auto update = [](const std::string& stat, int v) {
    return json::object{
        {"name", "StatisticUpdate"},
        {"data", json::object{{"statistics", json::array{json::object{{"subscriptionId", "s"},
                                                                      {"statisticId", stat},
                                                                      {"value", v}}}}}}};
  };
  for (int i = 0; i < 10; ++i) {
    server_.DeliverToSession(id, "/statistics/v3/updates", update(i % 2 ? "a" : "b", i));
  }
  auto r = Send(R"([{"id":"3","channel":"/meta/connect","clientId":")" + id + "\"}]", Ctx());
  ASSERT_TRUE(r);
  std::map<std::string, int> last;
  for (const auto& m : *r) {
    if (m.at("channel") != "/statistics/v3/updates") continue;
    for (const auto& s : m.at("data").at("data").at("statistics").as_array()) {
      last[std::string(s.at("statisticId").as_string())] =
          static_cast<int>(s.at("value").as_int64());
    }
  }
  EXPECT_EQ(last["a"], 9);
  EXPECT_EQ(last["b"], 8);
  EXPECT_GT(server_.Stats().messages_coalesced, 0u);
}

TEST_F(BayeuxTest, AckExtensionRedeliversABatchTheClientDidNotAcknowledge) {
  const std::string id = Handshake(Ctx(), R"({"ack":true})");
  const auto connect = [&](int ack) {
    return R"([{"id":"c","channel":"/meta/connect","clientId":")" + id + R"(","ext":{"ack":)" +
           std::to_string(ack) + "}}]";
  };
  Send(
      R"([{"id":"2","channel":"/meta/subscribe","subscription":"/statistics/v3/service","clientId":")" +
          id + "\"}]",
      Ctx());
  server_.DeliverToSession(id, "/statistics/v3/service", json::object{{"n", 1}});
  auto r = Send(connect(0), Ctx());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].at("ext").at("ack").as_int64(), 1);
  // The client never saw batch 1 (its response was lost): it acknowledges 0 again.
  r = Send(connect(0), Ctx());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].at("data").at("n").as_int64(), 1);
  EXPECT_EQ(server_.Stats().messages_redelivered, 1u);
  // Acknowledged now: nothing more comes, and the next connect is held.
  std::optional<json::array> later;
  EXPECT_FALSE(Send(connect(2), Ctx(), &later));
}

TEST_F(BayeuxTest, ASecondTabOfTheSameBrowserIsToldAboutMultipleClients) {
  const std::string a = Handshake(Ctx());
  const std::string b = Handshake(Ctx());
  auto connect = [&](const std::string& id) {
    return R"([{"id":"c","channel":"/meta/connect","clientId":")" + id + "\"}]";
  };
  Send(connect(a), Ctx());
  Send(connect(b), Ctx());
  std::optional<json::array> later;
  EXPECT_FALSE(Send(connect(a), Ctx(), &later));
  auto r = Send(connect(b), Ctx());
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)[0].at("advice").at("multiple-clients").as_bool());
}

TEST(ChannelTest, WildcardsAndNames) {
  EXPECT_TRUE(ChannelMatches("/a/*", "/a/b"));
  EXPECT_FALSE(ChannelMatches("/a/*", "/a/b/c"));
  EXPECT_FALSE(ChannelMatches("/a/*", "/a"));
  EXPECT_TRUE(ChannelMatches("/a/**", "/a/b/c"));
  EXPECT_FALSE(ChannelMatches("/a/**", "/a"));
  EXPECT_TRUE(ValidChannel("/bench/room-1"));
  EXPECT_FALSE(ValidChannel("/a/*/b"));
  EXPECT_FALSE(ValidChannel("nope"));
  EXPECT_FALSE(ValidChannel("/a//b"));
}

}  // namespace
}  // namespace tally::bayeux
