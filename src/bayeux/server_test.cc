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
    o.channels = {"/statistics/v3/updates", "/statistics/v3/service"};
    o.required_role = "statistics:read";
    o.session_cookie = "STATISTICS_SESSIONID";
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

// The sweeper looks only at sessions with a deadline due (its agenda), so each must come up
// at its own deadline, also when that deadline moved after it was first set.
TEST_F(BayeuxTest, TheSweeperEndsEachSessionAtItsOwnDeadline) {
  const auto connect = [](const std::string& id) {
    return R"([{"channel":"/meta/connect","connectionType":"long-polling","clientId":")" + id +
           "\"}]";
  };
  const std::string idle = Handshake(Ctx("ann", "b1"));  // expires at +10 s
  const std::string busy = Handshake(Ctx("ann", "b2"));
  const std::string held = Handshake(Ctx("ann", "b3"));
  ASSERT_TRUE(Send(connect(held), Ctx("ann", "b3")));  // the first connect: answered at once
  clock_.AdvanceMs(5'000);
  // Any message pushes the expiry out (to +15 s); a second connect is held (until +35 s).
  ASSERT_TRUE(Send(R"([{"channel":"/meta/subscribe","subscription":"/statistics/v3/updates",)"
                   R"("clientId":")" +
                       busy + "\"}]",
                   Ctx("ann", "b2")));
  std::optional<json::array> later;
  ASSERT_FALSE(Send(connect(held), Ctx("ann", "b3"), &later));
  clock_.AdvanceMs(5'001);  // +10 s
  server_.Sweep();
  EXPECT_FALSE(server_.HasSession(idle));
  EXPECT_TRUE(server_.HasSession(busy));
  EXPECT_TRUE(server_.HasSession(held));
  clock_.AdvanceMs(5'000);  // +15 s
  server_.Sweep();
  EXPECT_FALSE(server_.HasSession(busy));
  EXPECT_TRUE(server_.HasSession(held));
  EXPECT_FALSE(later);
  clock_.AdvanceMs(20'000);  // +35 s: the held connect's timeout
  server_.Sweep();
  ASSERT_TRUE(later) << "the held connect was not answered at its timeout";
  EXPECT_TRUE(server_.HasSession(held));
  clock_.AdvanceMs(10'001);  // no connect since: it expires
  server_.Sweep();
  EXPECT_FALSE(server_.HasSession(held));
  EXPECT_EQ(server_.Stats().sessions_expired, 3u);
  EXPECT_EQ(server_.Stats().sessions, 0u);
}

TEST_F(BayeuxTest, ABatchOfDeliveriesReachesSessionsAndPrincipalsInOrder) {
  const auto subscribe = [this](const std::string& id, const Context& ctx) {
    ASSERT_TRUE(Send(R"([{"channel":"/meta/subscribe","subscription":"/statistics/v3/updates",)"
                     R"("clientId":")" +
                         id + "\"}]",
                     ctx));
  };
  const std::string a = Handshake(Ctx("ann", "b1"));
  const std::string b = Handshake(Ctx("ann", "b2"));
  const std::string c = Handshake(Ctx("bob", "b3"));
  subscribe(a, Ctx("ann", "b1"));
  subscribe(b, Ctx("ann", "b2"));
  subscribe(c, Ctx("bob", "b3"));
  const auto message = [](int v) {
    return MakeMessage("/statistics/v3/updates", "{\"v\":" + std::to_string(v) + "}");
  };
  server_.Deliver({{a, false, message(1)},
                   {"acme\\ann", true, message(2)},
                   {"no-such-session", false, message(3)},
                   {a, false, message(4)}});
  const auto values = [this](const std::string& id, const Context& ctx) {
    std::vector<std::int64_t> v;
    auto r = Send(
        R"([{"channel":"/meta/connect","connectionType":"long-polling","clientId":")" + id + "\"}]",
        ctx);
    EXPECT_TRUE(r);
    if (!r) return v;
    for (const auto& m : *r) {
      if (m.at("channel") == "/statistics/v3/updates") v.push_back(m.at("data").at("v").as_int64());
    }
    return v;
  };
  EXPECT_EQ(values(a, Ctx("ann", "b1")), (std::vector<std::int64_t>{1, 2, 4}));
  EXPECT_EQ(values(b, Ctx("ann", "b2")), (std::vector<std::int64_t>{2}));
  EXPECT_TRUE(values(c, Ctx("bob", "b3")).empty());
  EXPECT_EQ(server_.Stats().dropped_no_session, 1u);
}

TEST_F(BayeuxTest, AnOverflowingQueueKeepsTheNewestValuePerStatistic) {
  const std::string id = Handshake(Ctx());
  Send(R"([{"id":"2","channel":"/meta/subscribe","subscription":["/statistics/v3/updates",)"
       R"("/statistics/v3/service"],"clientId":")" +
           id + "\"}]",
       Ctx());
  auto update = [](const std::string& stat, int v) {
    return MakeKeyedMessage(
        "/statistics/v3/updates", R"({"name":"StatisticUpdate","data":{"statistics":[)",
        {Message::Part{"s/" + stat,
                       json::serialize(json::object{
                           {"subscriptionId", "s"}, {"statisticId", stat}, {"value", v}})}},
        "]}}");
  };
  server_.DeliverToSession(id, "/statistics/v3/service", json::object{{"kept", true}});
  for (int i = 0; i < 10; ++i) server_.DeliverToSession(id, update(i % 2 ? "a" : "b", i));
  // What waits is bounded by max_queue (4) and counted, bytes too.
  const QueuedStats waiting = server_.Queued();
  EXPECT_GE(waiting.messages, 2u);
  EXPECT_LE(waiting.messages, 4u);
  EXPECT_GT(waiting.bytes, waiting.messages * 20);
  auto r = Send(R"([{"id":"3","channel":"/meta/connect","clientId":")" + id + "\"}]", Ctx());
  ASSERT_TRUE(r);
  EXPECT_EQ(server_.Queued().messages, 0u);
  EXPECT_EQ(server_.Queued().bytes, 0u);
  std::map<std::string, int> last;
  ASSERT_GE(r->size(), 2u);
  EXPECT_EQ((*r)[0].at("channel").as_string(), "/statistics/v3/service");  // kept its place
  int updates = 0;
  for (const auto& m : *r) {
    if (m.at("channel") != "/statistics/v3/updates") continue;
    ++updates;
    for (const auto& s : m.at("data").at("data").at("statistics").as_array()) {
      last[std::string(s.at("statisticId").as_string())] =
          static_cast<int>(s.at("value").as_int64());
    }
  }
  EXPECT_EQ(last["a"], 9);
  EXPECT_EQ(last["b"], 8);
  EXPECT_LE(updates, 2);
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

// Issue 18, defect 0: the official client creates a subscription (bound to its session) before
// its /meta/subscribe to the updates channel is answered; updates produced meanwhile must not be
// dropped.
TEST_F(BayeuxTest, Issue18UpdatesForASessionArriveBeforeItsChannelSubscription) {
  const std::string id = Handshake(Ctx());
  ASSERT_TRUE(Send(R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]", Ctx()));
  std::optional<json::array> later;
  EXPECT_FALSE(
      Send(R"([{"id":"3","channel":"/meta/connect","clientId":")" + id + "\"}]", Ctx(), &later));
  // The update comes before the client's /meta/subscribe: kept, not dropped, and it does not
  // wake the connect with a message on a channel the client does not listen to yet.
  server_.DeliverToSession(id, "/statistics/v3/updates", json::object{{"v", 1}});
  EXPECT_FALSE(later);
  auto sub = Send(
      R"([{"id":"4","channel":"/meta/subscribe","subscription":"/statistics/v3/updates","clientId":")" +
          id + "\"}]",
      Ctx());
  ASSERT_TRUE(sub);
  ASSERT_TRUE(later) << "the subscription releases it to the held connect";
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].at("data").at("v").as_int64(), 1);
  // A session that is gone is counted, not silently forgotten; so is one that never subscribed.
  server_.DeliverToSession("no-such-session", "/statistics/v3/updates", json::object{{"v", 2}});
  EXPECT_EQ(server_.Stats().dropped_no_session, 1u);
  server_.DeliverToSession(id, "/statistics/v3/service", json::object{{"v", 3}});
  Send(R"([{"id":"5","channel":"/meta/disconnect","clientId":")" + id + "\"}]", Ctx());
  EXPECT_EQ(server_.Stats().dropped_unsubscribed, 1u);
}

// Issue 18, defect 4: every message must present the session's principal.
TEST_F(BayeuxTest, Issue18AClientIdWithoutTheSessionsCredentialsIsRefused) {
  const std::string id = Handshake(Ctx());
  const std::string connect = R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]";
  // Long-polling with the victim's browser cookie but no token: unknown session.
  Context none = Ctx();
  none.principal = Error{Errc::kUnauthenticated, "no credentials"};
  auto r = Send(connect, none);
  EXPECT_EQ((*r)[0].at("error").as_string(), "402::session_unknown");
  // A fresh WebSocket with the clientId and nothing else: unknown, and nothing is pushed to it.
  Context ws;
  ws.transport = Transport::kWebSocket;
  std::vector<std::string> pushed;
  r = Send(connect, ws);
  EXPECT_EQ((*r)[0].at("error").as_string(), "402::session_unknown");
  r = Send(R"([{"id":"3","channel":"/meta/subscribe","subscription":"/statistics/v3/updates",)"
           R"("clientId":")" +
               id + "\"}]",
           ws);
  EXPECT_EQ((*r)[0].at("error").as_string(), "402::session_unknown");
  // The owner still uses it.
  r = Send(connect, Ctx());
  EXPECT_TRUE((*r)[0].at("successful").as_bool());
}

TEST_F(BayeuxTest, Issue18AnExpiredTokenEndsTheSessionWithHandshakeAdvice) {
  std::vector<std::string> closed;
  server_.SetSessionClosed([&](const SessionInfo& s) { closed.push_back(s.client_id); });
  const std::string id = Handshake(Ctx());
  Context expired = Ctx();
  expired.principal = Error{Errc::kCredentialsExpired, "token expired"};
  auto r = Send(R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]", expired);
  const auto& m = (*r)[0].as_object();
  EXPECT_EQ(m.at("error").as_string(), "401::credentials_expired");
  EXPECT_EQ(m.at("advice").at("reconnect").as_string(), "handshake");
  EXPECT_FALSE(server_.HasSession(id));
  EXPECT_EQ(closed, std::vector<std::string>{id});
}

TEST_F(BayeuxTest, Issue18ASessionEndsWhenTheNewestCredentialsPresentedForItExpire) {
  Options o = MakeOptions();
  o.timeout_ms = 300'000;  // the held connect outlives both tokens
  Server server(o, clock_);
  Context ctx = Ctx();
  auto p = *ctx.principal;
  p.expires_at_ms = clock_.NowMs() + 60'000;
  ctx.principal = p;
  std::optional<json::array> now;
  std::optional<json::array> later;
  bool inline_call = false;  // outlives send(): a held reply arrives after it returned
  auto send = [&](const std::string& text, const Context& c) {
    now.reset();
    inline_call = true;
    server.Handle(json::parse(text).as_array(), c, [&](std::string reply) {
      (inline_call ? now : later) = json::parse(reply).as_array();
    });
    inline_call = false;
  };
  send(R"([{"id":"1","channel":"/meta/handshake"}])", ctx);
  const std::string id((*now)[0].at("clientId").as_string());
  const std::string connect = R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]";
  send(connect, ctx);
  // A refreshed token (same principal, later expiry) keeps the session going past the first.
  Context refreshed = ctx;
  p.expires_at_ms = clock_.NowMs() + 120'000;
  refreshed.principal = p;
  send(connect, refreshed);
  EXPECT_FALSE(now);  // held
  clock_.AdvanceMs(61'000);
  server.Sweep();
  EXPECT_TRUE(server.HasSession(id));
  EXPECT_FALSE(later);
  clock_.AdvanceMs(60'000);
  server.Sweep();
  EXPECT_FALSE(server.HasSession(id));
  ASSERT_TRUE(later);
  EXPECT_EQ((*later)[0].at("error").as_string(), "401::credentials_expired");
  EXPECT_EQ(server.Stats().sessions_token_expired, 1u);
}

TEST_F(BayeuxTest, Issue18ATokenInExtAuthenticatesAWebSocketConnection) {
  server_.SetTokenVerifier([](std::string_view bearer) -> Result<Principal> {
    if (bearer == "Bearer ann") return Principal{"ann", "acme", {"statistics:read"}};
    return Error{Errc::kUnauthenticated, "bad token"};
  });
  Context ws;
  ws.transport = Transport::kWebSocket;
  ws.principal = Error{Errc::kUnauthenticated, "no credentials"};
  const std::string id = Handshake(ws, R"({"authorization":"Bearer ann"})");
  // On a new socket, a connect that carries the token resumes the session.
  auto r = Send(R"([{"id":"2","channel":"/meta/connect","clientId":")" + id +
                    R"(","ext":{"authorization":"Bearer ann"}}])",
                ws);
  EXPECT_TRUE((*r)[0].at("successful").as_bool());
  r = Send(R"([{"id":"3","channel":"/meta/connect","clientId":")" + id +
               R"(","ext":{"authorization":"Bearer bob"}}])",
           ws);
  EXPECT_EQ((*r)[0].at("error").as_string(), "402::session_unknown");
}

// Issue 18, defect 5: numbers from the wire never throw and never produce invalid JSON.
TEST_F(BayeuxTest, Issue18AbsurdNumbersFromTheWireAreHandled) {
  const std::string id = Handshake(Ctx());
  ASSERT_TRUE(Send(R"([{"id":"2","channel":"/meta/connect","clientId":")" + id + "\"}]", Ctx()));
  std::optional<json::array> later;
  // advice.timeout 1e19 is brought down to the server's timeout: held, and released by it.
  EXPECT_FALSE(Send(R"([{"id":"3","channel":"/meta/connect","clientId":")" + id +
                        R"(","advice":{"timeout":1e19}}])",
                    Ctx(), &later));
  clock_.AdvanceMs(30'000);
  server_.Sweep();
  ASSERT_TRUE(later);
  EXPECT_TRUE((*later)[0].at("successful").as_bool());
  // An id that is not finite is refused; the reply is valid JSON (Send parses it).
  std::string reply;
  server_.Handle(json::parse(R"([{"id":1e400,"channel":"/meta/connect","clientId":")" + id + "\"}]")
                     .as_array(),
                 Ctx(), [&](std::string text) { reply = std::move(text); });
  EXPECT_EQ(reply.find("Infinity"), std::string::npos) << reply;
  auto parsed = json::parse(reply).as_array();
  EXPECT_EQ(parsed[0].at("error").as_string(), "400::message_invalid");
  // Ack numbers of any size.
  auto r = Send(R"([{"id":"4","channel":"/meta/connect","clientId":")" + id +
                    R"(","advice":{"timeout":-5},"ext":{"ack":1e300}}])",
                Ctx());
  EXPECT_TRUE((*r)[0].at("successful").as_bool());
}

// Issue 18, weak spot 7: sessions per principal are capped, one handshake per request.
TEST_F(BayeuxTest, Issue18HandshakesAreBoundedPerRequestAndPerPrincipal) {
  std::string many = "[";
  for (int i = 0; i < 50; ++i) {
    many += std::string(i ? "," : "") + R"({"id":")" + std::to_string(i) +
            R"(","channel":"/meta/handshake"})";
  }
  many += "]";
  auto r = Send(many, Ctx());
  int ok = 0;
  for (const auto& m : *r) ok += m.at("successful").as_bool() ? 1 : 0;
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(server_.Stats().sessions, 1u);
  Options o = MakeOptions();
  o.max_sessions_per_principal = 3;
  Server small(o, clock_);
  auto handshake = [&] {
    std::string text;
    small.Handle(json::parse(R"([{"id":"1","channel":"/meta/handshake"}])").as_array(), Ctx(),
                 [&](std::string t) { text = std::move(t); });
    return json::parse(text).as_array()[0].as_object();
  };
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(handshake().at("successful").as_bool());
  const auto denied = handshake();
  EXPECT_EQ(denied.at("error").as_string(), "403::handshake_denied");
  EXPECT_EQ(denied.at("advice").at("reconnect").as_string(), "handshake");
  EXPECT_EQ(small.Stats().sessions, 3u);
}

// Issue 14: bayeux is generic; the application's policy comes in through Options.
TEST(BayeuxPolicyTest, RoleCookieAndChannelsComeFromOptions) {
  ManualClock clock{1'000};
  Options o;
  o.channels = {"/chat"};
  o.session_cookie = "MY_SESSION";
  o.cookie_attributes = "Path=/x; HttpOnly; SameSite=Strict";
  Server server(o, clock);
  Context ctx;
  ctx.principal = Principal{"anyone", "t", {}};  // no role needed
  std::string text;
  auto result = server.Handle(json::parse(R"([{"id":"1","channel":"/meta/handshake"}])").as_array(),
                              ctx, [&](std::string t) { text = std::move(t); });
  const auto m = json::parse(text).as_array()[0].as_object();
  ASSERT_TRUE(m.at("successful").as_bool());
  const std::string id(m.at("clientId").as_string());
  ASSERT_EQ(result.set_cookies.size(), 2u);
  EXPECT_EQ(result.set_cookies[1], "MY_SESSION=" + id + "; Path=/x; HttpOnly; SameSite=Strict");
  ctx.browser = result.set_cookies[0].substr(15, 16);
  server.Handle(json::parse(R"([{"id":"2","channel":"/meta/subscribe","subscription":"/chat",)"
                            R"("clientId":")" +
                            id + "\"}]")
                    .as_array(),
                ctx, [&](std::string t) { text = std::move(t); });
  EXPECT_TRUE(json::parse(text).as_array()[0].at("successful").as_bool()) << text;
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

// Issue 18, found by the bayeux fuzz target (tests/fuzz/corpus/bayeux/issue18-websocket-close-
// drops-long-poll): a session handshaken over WebSocket whose client then long-polled with the
// same clientId had that HTTP connect dropped without an answer when the socket closed (the
// server answered 500 "dropped without an answer"). The long-poll is answered at its timeout.
TEST_F(BayeuxTest, Issue18ClosingTheWebSocketDoesNotDropALongPollOfTheSameSession) {
  Context ws = Ctx("ann", "");
  ws.transport = Transport::kWebSocket;
  const std::string id = Handshake(ws);
  int pushed = 0;
  server_.Attach(id, [&pushed](const MessagePtr&) { ++pushed; });
  const Context http = Ctx("ann", "");
  const std::string connect =
      R"([{"channel":"/meta/connect","clientId":")" + id + R"(","connectionType":"long-polling"}])";
  ASSERT_TRUE(Send(connect, http));  // the first connect is answered at once
  std::optional<json::array> later;
  ASSERT_FALSE(Send(connect, http, &later)) << "the second one is held";
  server_.Detach(id);  // the WebSocket closes
  EXPECT_FALSE(later);
  clock_.AdvanceMs(30'000);
  server_.Sweep();
  ASSERT_TRUE(later) << "the held long-poll was dropped with the WebSocket";
  EXPECT_TRUE(later->back().at("successful").as_bool());
  EXPECT_EQ(pushed, 0);
}

TEST_F(BayeuxTest, AWebSocketCutOffWithPushesLostRefreshesItsSessionAtTheNextConnect) {
  std::vector<std::string> resumed;
  server_.SetSessionResumed([&resumed](const SessionInfo& s) { resumed.push_back(s.client_id); });
  Context ws = Ctx("ann", "");
  ws.transport = Transport::kWebSocket;
  const std::string cut = Handshake(ws);
  const std::string closed = Handshake(ws);
  const auto connect = [&](const std::string& id) {
    return Send(R"([{"channel":"/meta/connect","clientId":")" + id +
                    R"(","connectionType":"websocket","advice":{"timeout":0}}])",
                ws);
  };
  for (const auto& id : {cut, closed}) {
    server_.Attach(id, [](const MessagePtr&) {});
    ASSERT_TRUE(connect(id));
  }
  EXPECT_TRUE(resumed.empty());
  server_.Detach(cut, true);  // cut off: pushes it had not taken are gone
  server_.Detach(closed);     // an ordinary close: nothing was lost
  ASSERT_TRUE(connect(cut));
  ASSERT_TRUE(connect(closed));
  EXPECT_EQ(resumed, std::vector<std::string>{cut});
  ASSERT_TRUE(connect(cut));  // once
  EXPECT_EQ(resumed.size(), 1u);
}

}  // namespace
}  // namespace tally::bayeux
