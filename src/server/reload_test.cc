// The journaled reload record: what ReconfigureCommand writes, ApplyReconfigure applies the same
// on every replica and in recovery — objects, group members and the catalog; a damaged record is
// refused without touching the engine.
#include "server/reload.h"

#include <gtest/gtest.h>

namespace tally::server {
namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;

stats::TenantSetup Acme(std::vector<std::string> sales) {
  stats::TenantSetup s;
  s.name = "acme";
  s.time_zone = "Europe/Paris";
  s.agents = {"a1", "a2", "a3"};
  s.places = {{"p1", {"7001"}}, {"p2", {"7002@sw"}}};
  s.groups = {{stats::ObjectType::kGroupAgents, "sales", std::move(sales)}};
  s.queues = {"8001"};
  s.routing_points = {"9001"};
  return s;
}

std::vector<stats::CatalogEntry> Catalog(bool with_new) {
  std::vector<stats::CatalogEntry> c = {{"Inbound",
                                         {{"category", "TotalNumber"},
                                          {"subject", "DNAction"},
                                          {"mainMask", "CallInbound"},
                                          {"intervalType", "GrowingWindow"},
                                          {"objects", "Agent, GroupAgents"}}}};
  if (with_new) {
    c.push_back({"Ready",
                 {{"category", "CurrentNumber"},
                  {"subject", "AgentStatus"},
                  {"mainMask", "WaitForNextCall"},
                  {"objects", "GroupAgents"}}});
  }
  return c;
}

TEST(ReloadRecordTest, IsRecognizedAndOnlyItself) {
  const std::string command = ReconfigureCommand(Acme({"a1"}), Catalog(false));
  EXPECT_TRUE(IsReconfigureCommand(command));
  EXPECT_FALSE(IsReconfigureCommand(R"({"op":"subscribe","tenant":"acme"})"));
  EXPECT_FALSE(IsReconfigureCommand(""));
}

TEST(ReloadRecordTest, AppliesObjectsMembersAndCatalogAsAnEngineBuiltWithThemWouldHaveThem) {
  stats::Engine engine;
  ASSERT_TRUE(engine.SetCatalog(Catalog(false)));
  ASSERT_TRUE(engine.AddTenant(Acme({"a1"}), kT0));
  EXPECT_FALSE(engine.Peek("acme", "Ready", {stats::ObjectType::kGroupAgents, "sales"}));
  stats::TenantSetup next = Acme({"a1", "a3"});
  next.agents.push_back("a4");
  next.queues.push_back("8002");
  auto notes = ApplyReconfigure(ReconfigureCommand(next, Catalog(true)), engine);
  ASSERT_TRUE(notes) << notes.error().message;
  std::string all;
  for (const auto& n : *notes) all += n + "\n";
  EXPECT_NE(all.find("member 'a3' joined"), std::string::npos) << all;
  EXPECT_NE(all.find("catalog changed"), std::string::npos) << all;
  EXPECT_TRUE(engine.Peek("acme", "Inbound", {stats::ObjectType::kAgent, "a4"}));
  EXPECT_TRUE(engine.Peek("acme", "Ready", {stats::ObjectType::kGroupAgents, "sales"}));
  EXPECT_EQ(engine.Catalog(), Catalog(true));
  // The same record again changes nothing.
  auto again = ApplyReconfigure(ReconfigureCommand(next, Catalog(true)), engine);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << (*again)[0];
}

TEST(ReloadRecordTest, ADamagedRecordOrAnUnknownTenantIsRefusedAndTheEngineKept) {
  stats::Engine engine;
  ASSERT_TRUE(engine.SetCatalog(Catalog(false)));
  ASSERT_TRUE(engine.AddTenant(Acme({"a1"}), kT0));
  const std::string before = engine.Save();
  EXPECT_FALSE(ApplyReconfigure(R"({"op":"reconfigure","tenant":"acme"})", engine));
  EXPECT_FALSE(ApplyReconfigure(R"({"op":"reconfigure")", engine));
  std::vector<stats::CatalogEntry> bad = Catalog(false);
  bad[0].fields[0].second = "NoSuchCategory";
  EXPECT_FALSE(ApplyReconfigure(ReconfigureCommand(Acme({"a1"}), bad), engine));
  EXPECT_EQ(engine.Save(), before);
}

// A tenant added to the file while the server was stopped, whose snapshot predates it: its
// start record creates it, with its time zone and objects.
TEST(ReloadRecordTest, ARecordOfATenantTheEngineLacksCreatesIt) {
  stats::Engine engine;
  ASSERT_TRUE(engine.SetCatalog(Catalog(false)));
  ASSERT_TRUE(engine.AddTenant(Acme({"a1"}), kT0));
  stats::TenantSetup other = Acme({"a1", "a2"});
  other.name = "other";
  auto added = ApplyReconfigure(ReconfigureCommand(other, Catalog(false)), engine);
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_TRUE(engine.HasTenant("other"));
  EXPECT_TRUE(engine.Peek("other", "Inbound", {stats::ObjectType::kGroupAgents, "sales"}));
}

}  // namespace
}  // namespace tally::server
