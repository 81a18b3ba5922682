#include "events/codec.h"

#include <gtest/gtest.h>

namespace tally::events {
namespace {

NormalizeOptions Opts() { return NormalizeOptions{"acme", 1'000}; }

TEST(CodecTest, ParsesAFullEvent) {
  auto e = ParseEvent(
      R"({"type":"EventRinging","time":"2026-03-01T08:00:00.250Z","thisDN":7001,"connId":"c1",)"
      R"("callType":"Inbound","ANI":"555","userData":{"Lang":"EN","Tier":3,"Score":4.5},)"
      R"("reasons":{"Code":"X"}})",
      Opts());
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->type, stats::EventType::kRinging);
  EXPECT_EQ(e->time, 1772352000250);
  EXPECT_EQ(e->this_dn, "7001");
  EXPECT_EQ(e->tenant, "acme");
  EXPECT_EQ(e->switch_id, "default");
  EXPECT_EQ(e->call_type, stats::CallType::kInbound);
  ASSERT_EQ(e->user_data.size(), 3u);
  EXPECT_EQ(e->user_data[1].second, "3");
  EXPECT_EQ(e->user_data[2].second, "4.5");
}

TEST(CodecTest, StampsTimeAndDefaults) {
  auto e = ParseEvent(R"({"type":"EventAgentReady","thisDN":"7001"})", Opts());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->time, 1'000);
  EXPECT_EQ(e->media_type, "voice");
}

TEST(CodecTest, Rfc3339WithOffsets) {
  TimeMs t = 0;
  EXPECT_TRUE(ParseRfc3339("2026-03-01T09:00:00+01:00", t));
  EXPECT_EQ(t, 1772352000000);
  EXPECT_TRUE(ParseRfc3339("1970-01-01T00:00:01.5Z", t));
  EXPECT_EQ(t, 1500);
  EXPECT_FALSE(ParseRfc3339("2026-03-01 09:00", t));
  EXPECT_FALSE(ParseRfc3339("2026-13-01T00:00:00Z", t));
}

TEST(CodecTest, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"thisDN":"1"})", "field 'type': is required"},
      {R"({"type":"EventDance","thisDN":"1"})", "field 'type': unknown event type 'EventDance'"},
      {R"({"type":"EventAgentReady","thisDN":true})",
       "field 'thisDN': expected a string, got a boolean"},
      {R"({"type":"EventAgentReady","thisDN":"1","time":"yesterday"})",
       "field 'time': expected epoch milliseconds or RFC 3339, got 'yesterday'"},
      {R"({"type":"EventAgentReady","thisDN":"1","time":-5})",
       "field 'time': must not be negative"},
      {R"({"type":"EventAgentReady","thisDn":"1"})",
       "field 'thisDn': unknown field (see docs/events.md)"},
      {R"({"type":"EventRinging","thisDN":"1"})", "field 'connId': is required for EventRinging"},
      {R"({"type":"EventAgentLogin","thisDN":"1"})",
       "field 'agentId': is required for EventAgentLogin"},
      {R"({"type":"EventRinging","thisDN":"1","connId":"c","callType":"Sideways"})",
       "field 'callType': expected Inbound, Outbound, Internal, Consult or Unknown, got "
       "'Sideways'"},
      {R"({"type":"EventRinging","thisDN":"1","connId":"c","userData":{"a":[1]}})",
       "field 'userData.a': expected a string or a number, got an array"},
      {R"({"type":"EventAgentNotReady","thisDN":"1","reasons":{"a":1}})",
       "field 'reasons.a': expected a string, got an integer"},
      {R"([1,2])", "expected a JSON object, got an array"},
  };
  for (const auto& c : cases) {
    auto e = ParseEvent(c.json, Opts());
    ASSERT_FALSE(e) << c.json;
    EXPECT_EQ(e.error().message, c.message);
  }
  auto e = ParseEvent(R"({"type":"EventAgentReady","thisDN":"1"})", NormalizeOptions{"", 0});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, "field 'tenant': is required for this ingest client");
  EXPECT_FALSE(ParseEvent("{not json", Opts()));
}

TEST(CodecTest, NdjsonBatchNamesTheLine) {
  const std::string body =
      "{\"type\":\"EventAgentReady\",\"thisDN\":\"1\",\"time\":10}\n"
      "\n"
      "{\"type\":\"EventAgentReady\",\"thisDN\":\"1\",\"time\":5}\n";
  auto b = ParseBatch(body, BatchFormat::kNdjson, Opts(), 100);
  ASSERT_TRUE(b) << "ordering is the order gate's (server/order_gate.h)";
  EXPECT_EQ(b->size(), 2u);
  auto bad = ParseBatch("{\"type\":\"EventAgentReady\",\"thisDN\":\"1\"}\n{\"type\":1}\n",
                        BatchFormat::kNdjson, Opts(), 100);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "line 2: field 'type': expected a string, got an integer");
}

TEST(CodecTest, ArrayBatchAndLimits) {
  auto b = ParseBatch(R"([{"type":"EventTick"},{"type":"EventAgentReady","thisDN":"2"}])",
                      BatchFormat::kJsonArray, Opts(), 100);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 2u);
  auto too_many = ParseBatch(R"([{"type":"EventTick"},{"type":"EventTick"}])",
                             BatchFormat::kJsonArray, Opts(), 1);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, Errc::kTooLarge);
  auto bad = ParseBatch(R"([{"type":"EventTick"},"x"])", BatchFormat::kJsonArray, Opts(), 10);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "event 1: expected an object, got a string");
  EXPECT_FALSE(ParseBatch("", BatchFormat::kNdjson, Opts(), 10));
}

TEST(CodecTest, ToJsonRoundTrips) {
  auto e = ParseEvent(
      R"({"type":"EventAgentNotReady","time":5,"thisDN":"7001","workMode":"AfterCallWork",)"
      R"("reasons":{"Code":"Lunch"},"switch":"SIP"})",
      Opts());
  ASSERT_TRUE(e);
  auto again = ParseEvent(ToJson(*e), Opts());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(ToJson(*again), ToJson(*e));
  EXPECT_EQ(again->switch_id, "SIP");
  EXPECT_EQ(again->reasons, e->reasons);
}

}  // namespace
}  // namespace tally::events
