// The StatisticUpdate entry text, written without a JSON tree, against the same entry built as
// one (the members REST and CometD show, in that order; strings escaped).
#include "api/updates.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/values.h"

namespace tally::api {
namespace {

namespace json = boost::json;

json::object AsTree(const UpdateTarget& t, const stats::StatValue& v) {
  json::object o;
  o["subscriptionId"] = t.subscription_id;
  o["statisticId"] = t.statistic_id;
  if (!t.name.empty()) o["name"] = t.name;
  o["objectId"] = t.object_id;
  o["objectType"] = t.object_type;
  o["value"] = ValueJson(v);
  o["timestamp"] = v.timestamp;
  return o;
}

TEST(UpdatesTest, AnEntryIsTheJsonOfItsTargetAndValue) {
  UpdateTarget t;
  t.subscription_id = "sub-1";
  t.statistic_id = "s\"1\\x";  // quotes and backslashes are escaped
  t.name = "TotalNumberOfCalls \xc3\xa9\t";
  t.object_id = "agent\x01";
  t.object_type = "Agent";
  stats::StatValue v;
  v.number = 12.5;
  v.int_value = 13;
  v.string_value = "12.5";
  v.timestamp = 1'764'000'000'123;
  const std::string text = Updates::EntryText(t, v);
  boost::system::error_code ec;
  const json::value parsed = json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  EXPECT_EQ(parsed, json::value(AsTree(t, v))) << text;
  // In REST's order, the value before the timestamp.
  EXPECT_EQ(text.rfind(R"({"subscriptionId":"sub-1","statisticId":)", 0), 0u) << text;
  EXPECT_LT(text.find(R"("value":)"), text.find(R"("timestamp":1764000000123})")) << text;
}

TEST(UpdatesTest, AnEntryWithoutACatalogNameHasNoName) {
  UpdateTarget t{"acme\\ann", "sub", "", "st", "", "q1", "Queue"};
  stats::StatValue v;
  const json::value parsed = json::parse(Updates::EntryText(t, v));
  EXPECT_FALSE(parsed.as_object().contains("name"));
  EXPECT_EQ(parsed, json::value(AsTree(t, v)));
}

}  // namespace
}  // namespace tally::api
