#include "server/order_gate.h"

#include <gtest/gtest.h>

namespace tally::server {
namespace {

stats::Event At(const std::string& dn, TimeMs t, const std::string& sw = "default",
                const std::string& tenant = "acme") {
  stats::Event e;
  e.type = stats::EventType::kAgentReady;
  e.tenant = tenant;
  e.switch_id = sw;
  e.this_dn = dn;
  e.time = t;
  return e;
}

TEST(OrderGateTest, RefusesWithinABatchAndAgainstWhatWasAccepted) {
  OrderGate gate;
  auto within = gate.Check({At("1", 10), At("2", 5), At("1", 5)});
  ASSERT_TRUE(within);
  EXPECT_EQ(within->index, 2u);
  EXPECT_NE(within->message.find("an earlier event of this batch of DN '1'"), std::string::npos)
      << within->message;
  EXPECT_FALSE(gate.Check({At("1", 10), At("1", 10)})) << "equal times are fine";
  gate.Accept({At("1", 10)});
  auto later = gate.Check({At("1", 9)});
  ASSERT_TRUE(later);
  EXPECT_NE(later->message.find("the last accepted event of DN '1' (10)"), std::string::npos);
  EXPECT_FALSE(gate.Check({At("1", 9, "default", "globex")})) << "tenants are apart";
  EXPECT_FALSE(gate.Check({At("1", 9, "sw2")})) << "so are switches";
}

TEST(OrderGateTest, NamesTheDnAsTheEngineDoes) {
  OrderGate gate;
  gate.Accept({At("1@sw", 10)});
  // "1" on switch "sw" is the engine's DN "1@sw": the same rule applies.
  auto r = gate.Check({At("1", 5, "sw")});
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("DN '1' on switch 'sw'"), std::string::npos) << r->message;
}

TEST(OrderGateTest, ARollbackGoesBackToWhatIsStored) {
  OrderGate gate;
  gate.Accept({At("1", 10)});
  gate.Stored({At("1", 10)});
  gate.Accept({At("1", 20)});
  EXPECT_TRUE(gate.Check({At("1", 15)}));
  gate.Rollback({At("1", 20)});
  EXPECT_FALSE(gate.Check({At("1", 15)}));
  EXPECT_TRUE(gate.Check({At("1", 5)}));
}

// A cluster decides each record as it comes back against the stored level only: what this node
// accepted but has not seen come back does not count there.
TEST(OrderGateTest, CheckStoredIgnoresWhatIsOnlyAccepted) {
  OrderGate gate;
  gate.Observe(At("1", 10));
  gate.Accept({At("2", 20)});
  EXPECT_TRUE(gate.Check({At("2", 15)}));
  EXPECT_FALSE(gate.CheckStored({At("2", 15)})) << "accepted only";
  auto r = gate.CheckStored({At("2", 30), At("1", 9)});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->index, 1u);
  EXPECT_NE(r->message.find("the last stored event of DN '1' (10)"), std::string::npos)
      << r->message;
  EXPECT_TRUE(gate.CheckStored({At("3", 5), At("3", 4)})) << "within the batch too";
}

TEST(OrderGateTest, SavesTheStoredLevelAndReadsTheFirstLayout) {
  OrderGate gate;
  gate.Accept({At("1", 10)});
  gate.Stored({At("1", 10)});
  BinaryWriter w;
  gate.Save(w);
  const std::string bytes = w.Take();
  OrderGate loaded;
  BinaryReader r(bytes);
  ASSERT_TRUE(loaded.Load(r, false));
  EXPECT_TRUE(loaded.Check({At("1", 9)}));
  // The first layout keyed DNs as "tenant\x1fswitch\x1fdn".
  BinaryWriter old;
  old.U64(1);
  old.Str(std::string("acme\x1f") + "sw\x1f" + "7");
  old.I64(100);
  const std::string legacy = old.Take();
  OrderGate converted;
  BinaryReader lr(legacy);
  ASSERT_TRUE(converted.Load(lr, true));
  EXPECT_TRUE(converted.Check({At("7@sw", 50)}));
  EXPECT_TRUE(converted.Check({At("7", 50, "sw")}));
}

}  // namespace
}  // namespace tally::server
