#include "server/session_store.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace tally::server {
namespace {

// Issue 18, weak spot 7: a damaged row in the durable state table aborted startup (session
// restore read JSON with throwing accessors).
TEST(SessionStoreTest, Issue18ADamagedStoredSessionIsSkippedNotFatal) {
  auto journal = storage::Journal::Open(storage::JournalOptions{":memory:"});
  ASSERT_TRUE(journal);
  auto& j = **journal;
  ASSERT_TRUE(j.PutState("session/good",
                         R"({"tenant":"acme","subject":"ann","roles":["statistics:read"],)"
                         R"("browser":"b1","subscriptions":["/statistics/v3/updates"]})"));
  int n = 0;
  for (const char* bad : {"not json", "[]", R"({"tenant":1})",
                          R"({"tenant":"acme","subject":"ann","roles":"x","browser":"b",)"
                          R"("subscriptions":[]})",
                          R"({"tenant":"acme","subject":"ann","roles":[],"browser":"b",)"
                          R"("subscriptions":[7]})"}) {
    ASSERT_TRUE(j.PutState("session/bad-" + std::to_string(n++), bad));
  }
  ASSERT_TRUE(j.PutState("session/", R"({"tenant":"a","subject":"b","roles":[],"browser":"c",)"
                                     R"("subscriptions":[]})"));
  ManualClock clock(1'000'000);
  bayeux::Server bayeux(bayeux::Options{}, clock);
  const RestoreResult r = RestoreIdentities(bayeux, j);
  EXPECT_EQ(r.restored, 1u);
  EXPECT_EQ(r.damaged, 6u);
  EXPECT_TRUE(bayeux.HasSession("good"));
  EXPECT_TRUE(bayeux.SessionOwnedBy("good", "acme\\ann"));
}

}  // namespace
}  // namespace tally::server
