// The cluster write path's waits for the stream are bounded: against a real nats-server, a
// catch-up the consumer never delivers answers "not caught up" after its bound instead of holding
// the client's request for ever (without a quorum the stream answers reads but delivers nothing).
#include "server/cluster_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "storage/testing/nats_server.h"

namespace tally::server {
namespace {

class ClusterLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string failed =
        nats_.Start(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(failed.empty()) << failed;
    auto js = nats_.Connect("TEST", "t");
    ASSERT_TRUE(js) << js.error().message;
    js_ = std::move(*js);
    log_ = std::make_unique<ClusterLog>(*js_, 2);
    log_->Start();
  }

  void TearDown() override {
    log_.reset();
    js_.reset();
    nats_.Stop();
  }

  // Another node's batch, straight into the stream (this node's consumer is not running).
  std::uint64_t ForeignBatch(const std::string& tenant) {
    storage::StreamBatch b;
    b.kind = storage::StreamKind::kEvents;
    b.tenant = tenant;
    b.stamp = 1'800'000'000'000;
    b.bodies = {"{}"};
    b.origin = "other-node";
    auto ack = js_->Publish(b, std::nullopt);
    EXPECT_TRUE(ack) << ack.error().message;
    return ack ? ack->seq : 0;
  }

  storage::testing::NatsServer nats_;
  std::unique_ptr<storage::JetStream> js_;
  std::unique_ptr<ClusterLog> log_;
};

TEST_F(ClusterLogTest, ACatchUpTheStreamNeverDeliversAnswersNotCaughtUpAfterItsBound) {
  ForeignBatch("acme");
  std::promise<bool> answer;
  const auto asked = std::chrono::steady_clock::now();
  log_->AfterCatchUp("acme", 300, [&answer](bool caught_up) { answer.set_value(caught_up); });
  auto f = answer.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready)
      << "the wait was not bounded";
  EXPECT_FALSE(f.get());
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(300));
}

TEST_F(ClusterLogTest, ACatchUpAnswersCaughtUpOnceTheConsumerDeliversAndNeverTwice) {
  const std::uint64_t seq = ForeignBatch("acme");
  std::promise<bool> answer;
  std::atomic<int> answers{0};
  log_->AfterCatchUp("acme", 1'000, [&](bool caught_up) {
    if (answers.fetch_add(1) == 0) answer.set_value(caught_up);
  });
  auto f = answer.get_future();
  // The catch-up reads the stream's last sequence first (on the pool); then the delivery comes.
  EXPECT_EQ(f.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  log_->Followed("acme", seq, true);
  ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_TRUE(f.get());
  // Past the bound: the expired timer finds nothing to answer.
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));
  EXPECT_EQ(answers.load(), 1);
}

TEST_F(ClusterLogTest, ACatchUpAlreadyFollowedAnswersAtOnce) {
  const std::uint64_t seq = ForeignBatch("acme");
  log_->Followed("acme", seq, true);
  std::promise<bool> answer;
  log_->AfterCatchUp("acme", 60'000, [&answer](bool caught_up) { answer.set_value(caught_up); });
  auto f = answer.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_TRUE(f.get());
}

TEST_F(ClusterLogTest, TimedWorkRunsAfterItsDelayInDueOrder) {
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> both;
  const auto asked = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration first_after{};
  log_->After(400, [&] {
    std::lock_guard lock(mu);
    order.push_back(2);
    both.set_value();
  });
  log_->After(100, [&] {
    std::lock_guard lock(mu);
    first_after = std::chrono::steady_clock::now() - asked;
    order.push_back(1);
  });
  ASSERT_EQ(both.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_GE(first_after, std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace tally::server
