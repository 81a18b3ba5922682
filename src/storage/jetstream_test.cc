// The JetStream record log against a real nats-server (Debian nats-server 2.9, started by the
// test on a loopback port, stopped by PID).
#include "storage/jetstream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "storage/testing/nats_server.h"

namespace tally::storage {
namespace {

class JetStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string failed =
        nats_.Start(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(failed.empty()) << failed;
    auto js = nats_.Connect("TEST", "t");
    ASSERT_TRUE(js) << js.error().message;
    js_ = std::move(*js);
  }

  void TearDown() override {
    js_.reset();
    nats_.Stop();
  }

  static StreamBatch Events(const std::string& tenant, std::vector<std::string> bodies,
                            std::string key = "") {
    StreamBatch b;
    b.kind = StreamKind::kEvents;
    b.tenant = tenant;
    b.stamp = 1'800'000'000'000;
    b.bodies = std::move(bodies);
    b.key = std::move(key);
    b.body_hash = b.key.empty() ? "" : "hash-" + b.key;
    b.origin = "node-a";
    b.request = 7;
    return b;
  }

  testing::NatsServer nats_;
  std::unique_ptr<JetStream> js_;
};

TEST_F(JetStreamTest, PublishedBatchesComeBackInOrderPerTenantWithTheirHeaders) {
  ASSERT_TRUE(js_->Publish(Events("acme", {"{\"a\":1}", "{\"a\":2}"}), std::nullopt));
  ASSERT_TRUE(js_->Publish(Events("glo bex", {"{\"g\":1}"}), std::nullopt));
  ASSERT_TRUE(js_->Publish(Events("acme", {"{\"a\":3}"}), std::nullopt));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<JetStream::Delivered> got;
  ASSERT_TRUE(js_->Follow("acme", 0, [&](JetStream::Delivered&& d) {
    std::lock_guard lock(mu);
    got.push_back(std::move(d));
    cv.notify_all();
  }));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.size() == 2; }));
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(got[1].seq, 3u);
  EXPECT_EQ(got[1].pending, 0u);
  ASSERT_TRUE(got[0].ok) << got[0].error;
  EXPECT_EQ(got[0].batch.tenant, "acme");
  EXPECT_EQ(got[0].batch.bodies, (std::vector<std::string>{"{\"a\":1}", "{\"a\":2}"}));
  EXPECT_EQ(got[0].batch.stamp, 1'800'000'000'000);
  EXPECT_EQ(got[0].batch.origin, "node-a");
  EXPECT_EQ(got[0].batch.request, 7u);
  auto other = js_->Get(2);
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->tenant, "glo bex") << "tenant names survive as subject tokens";
}

TEST_F(JetStreamTest, AnOrderedAppendFailsWhenAnotherWriterWasFirst) {
  // Nothing on the tenant yet: "expect none" holds once.
  auto first = js_->Publish(Events("acme", {"{}"}), 0);
  ASSERT_TRUE(first) << first.error().message;
  auto second = js_->Publish(Events("acme", {"{}"}), 0);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::kAlreadyExists);
  // Commands on the same tenant do not count; the events subject ends at `first`.
  StreamBatch cmd = Events("acme", {"{\"op\":\"x\"}"});
  cmd.kind = StreamKind::kCommands;
  ASSERT_TRUE(js_->Publish(cmd, std::nullopt));
  auto last = js_->LastEventsSeq("acme");
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, first->seq);
  EXPECT_TRUE(js_->Publish(Events("acme", {"{}"}), first->seq));
  EXPECT_FALSE(js_->Publish(Events("acme", {"{}"}), first->seq));
  EXPECT_EQ(*js_->LastEventsSeq("other"), 0u);
}

TEST_F(JetStreamTest, ARetriedKeyIsStoredOnceAndTheDuplicateNamesTheOriginal) {
  auto a = js_->Publish(Events("acme", {"{}"}, "k1"), std::nullopt);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->duplicate);
  auto again = js_->Publish(Events("acme", {"{}"}, "k1"), std::nullopt);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->seq, a->seq);
  // Even with an expectation that no longer holds, the duplicate answers first.
  ASSERT_TRUE(js_->Publish(Events("acme", {"{}"}, "k2"), std::nullopt));
  auto stale = js_->Publish(Events("acme", {"{}"}, "k1"), a->seq - 1);
  ASSERT_TRUE(stale) << stale.error().message;
  EXPECT_TRUE(stale->duplicate);
  auto stored = js_->Get(a->seq);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->key, "k1");
  EXPECT_EQ(stored->body_hash, "hash-k1");
}

TEST_F(JetStreamTest, SnapshotsAreChunkedListedNewestFirstAndTrimmed) {
  std::string big(1'300'000, 'x');
  for (size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  for (int i = 1; i <= 3; ++i) {
    StreamSnapshotInfo info;
    info.id = std::to_string(1000 + i) + "-node-a";
    info.taken_at = 1000 + i;
    info.bytes = big.size();
    info.positions = {{"acme", 10u * i}, {"glo bex", 5u}};
    ASSERT_TRUE(js_->PutSnapshot("g1", info, big, 2));
  }
  auto list = js_->Snapshots("g1");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "1003-node-a");
  EXPECT_EQ((*list)[0].positions.at("acme"), 30u);
  EXPECT_EQ((*list)[0].positions.at("glo bex"), 5u);
  auto data = js_->ReadSnapshot("g1", (*list)[0].id);
  ASSERT_TRUE(data) << data.error().message;
  EXPECT_EQ(*data, big);
  EXPECT_FALSE(js_->ReadSnapshot("g1", "1001-node-a"));
  EXPECT_TRUE(js_->Snapshots("g2")->empty());
}

TEST_F(JetStreamTest, PurgingATenantKeepsTheRestAndTheSequence) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(js_->Publish(Events("acme", {"{}"}), std::nullopt));
  ASSERT_TRUE(js_->Publish(Events("globex", {"{}"}), std::nullopt));
  ASSERT_TRUE(js_->PurgeTenant("acme", 4));
  EXPECT_FALSE(js_->Get(3));
  EXPECT_TRUE(js_->Get(4));
  EXPECT_TRUE(js_->Get(6));
  EXPECT_EQ(*js_->LastSeq(), 6u);
  EXPECT_EQ(*js_->Pending("acme", 4), 1u);
  EXPECT_EQ(*js_->Pending("acme", 5), 0u);
}

TEST_F(JetStreamTest, ReadGivesATenantsMessagesUpToTheNewestInOrderAndCanStopEarly) {
  ASSERT_TRUE(js_->Publish(Events("acme", {"{\"a\":1}", "{\"a\":2}"}), std::nullopt));
  ASSERT_TRUE(js_->Publish(Events("globex", {"{\"g\":1}"}), std::nullopt));
  StreamBatch command = Events("acme", {"{\"op\":\"x\"}"});
  command.kind = StreamKind::kCommands;
  ASSERT_TRUE(js_->Publish(command, std::nullopt));
  ASSERT_TRUE(js_->Publish(Events("acme", {"{\"a\":3}"}), std::nullopt));

  std::vector<std::pair<std::uint64_t, std::string>> read;
  auto all = js_->Read("acme", 0, [&](JetStream::Delivered&& d) {
    EXPECT_TRUE(d.ok) << d.error;
    for (const auto& body : d.batch.bodies) read.emplace_back(d.seq, body);
    return true;
  });
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(*all, 4u);  // globex's message (2) is not read
  const std::vector<std::pair<std::uint64_t, std::string>> expected{
      {1, "{\"a\":1}"}, {1, "{\"a\":2}"}, {3, "{\"op\":\"x\"}"}, {4, "{\"a\":3}"}};
  EXPECT_EQ(read, expected);

  // From a position, and stopped by the callback.
  read.clear();
  auto first = js_->Read("acme", 1, [&](JetStream::Delivered&& d) {
    read.emplace_back(d.seq, d.batch.bodies.front());
    return false;
  });
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 3u);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read.front().first, 3u);

  // Nothing after the newest: no subscription, nothing called.
  auto none = js_->Read("acme", 4, [&](JetStream::Delivered&&) {
    ADD_FAILURE() << "nothing is after seq 4";
    return true;
  });
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 4u);

  // Asked to stop: kUnavailable, nothing read.
  const std::atomic<bool> stop{true};
  auto stopped = js_->Read(
      "acme", 0, [](JetStream::Delivered&&) { return true; }, &stop);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, Errc::kUnavailable);
}

}  // namespace
}  // namespace tally::storage
