// History buckets are aligned in the tenant's time zone: local hours and days, across DST. History
// reads the SQLite journal of one node and the JetStream stream of a cluster (a real nats-server)
// alike: the same records give the same buckets, and the stream's own verdict (a batch behind a
// stored event of its DN is skipped on every replica) is history's too.
#include "server/history.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "server/cluster_log.h"
#include "storage/jetstream.h"
#include "storage/journal.h"
#include "storage/testing/nats_server.h"

namespace tally::server {
namespace {

constexpr std::int64_t kHour = 3'600'000;

// 2027-03-28: Europe/Paris goes from +01:00 to +02:00 at 02:00 local (01:00 UTC).
constexpr TimeMs kParisMidnightUtc =
    1'806'188'400'000;  // 2027-03-27T23:00:00Z = 28 Mar 00:00 local

TEST(HistoryBucketsTest, ADayAcrossTheSpringChangeHas23HoursAndStartsAtLocalMidnight) {
  auto b = BucketBounds("1d", "Europe/Paris", kParisMidnightUtc + 5 * kHour,
                        kParisMidnightUtc + 30 * kHour, 100);
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->size(), 3u);
  EXPECT_EQ((*b)[0], kParisMidnightUtc);
  EXPECT_EQ((*b)[1] - (*b)[0], 23 * kHour);
  EXPECT_EQ((*b)[2] - (*b)[1], 24 * kHour);
}

TEST(HistoryBucketsTest, HourBucketsAreLocalHoursAndQuarterHoursFollowAFortyFiveMinuteZone) {
  auto hours =
      BucketBounds("1h", "Europe/Paris", kParisMidnightUtc, kParisMidnightUtc + 4 * kHour, 100);
  ASSERT_TRUE(hours);
  ASSERT_EQ(hours->size(), 5u);
  for (size_t i = 1; i < hours->size(); ++i) EXPECT_EQ((*hours)[i] - (*hours)[i - 1], kHour);
  // Asia/Kathmandu is UTC+05:45: a local quarter hour starts at :00, :15, :30, :45 local, which
  // is :15, :30, :45, :00 UTC.
  const TimeMs utc_noon = 1'800'100'800'000;  // 2027-01-16T12:00:00Z
  auto quarters =
      BucketBounds("15m", "Asia/Kathmandu", utc_noon + 60'000, utc_noon + 20 * 60'000, 100);
  ASSERT_TRUE(quarters);
  EXPECT_EQ((*quarters)[0], utc_noon);  // 17:45 local
  EXPECT_EQ((*quarters)[1], utc_noon + 15 * 60'000);
  auto utc = BucketBounds("30m", "", utc_noon + 60'000, utc_noon + 31 * 60'000, 100);
  ASSERT_TRUE(utc);
  EXPECT_EQ((*utc)[0], utc_noon);
  EXPECT_EQ(utc->back(), utc_noon + 60 * 60'000);
}

TEST(HistoryBucketsTest, TooManyBucketsNameTheField) {
  auto b = BucketBounds("15m", "", 0, 365LL * 24 * kHour, 1000);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("data.to"), std::string::npos) << b.error().message;
}

constexpr TimeMs kB0 = 1'800'000'000'000;  // a quarter-hour boundary (UTC)
constexpr std::int64_t kQuarter = 15 * 60'000;

std::string Ev(const std::string& type, TimeMs t, const std::string& conn = "") {
  std::string e = "{\"type\":\"" + type + "\",\"thisDN\":\"7001\",\"time\":" + std::to_string(t);
  if (type == "EventAgentLogin") e += ",\"agentId\":\"a1\",\"placeId\":\"p1\"";
  if (!conn.empty()) e += ",\"connId\":\"" + conn + "\",\"callType\":\"Inbound\"";
  return e + "}";
}

// An inbound call answered and released on 7001 within [t, t + 3 min).
std::vector<std::string> Call(const std::string& conn, TimeMs t) {
  return {Ev("EventRinging", t, conn), Ev("EventEstablished", t + 10'000, conn),
          Ev("EventReleased", t + 120'000, conn)};
}

class HistoryFromLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string failed =
        nats_.Start(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(failed.empty()) << failed;
    auto js = nats_.Connect("HIST", "h");
    ASSERT_TRUE(js) << js.error().message;
    js_ = std::move(*js);
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tally-history-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto journal = storage::Journal::Open({(dir_ / "journal.db").string()});
    ASSERT_TRUE(journal) << journal.error().message;
    journal_ = std::move(*journal);
  }

  void TearDown() override {
    journal_.reset();
    js_.reset();
    nats_.Stop();
    std::filesystem::remove_all(dir_);
  }

  // One batch into the stream (as a node publishes it) and, unless `stream_only`, into the
  // journal (what a single node would have accepted).
  void Both(const std::vector<std::string>& bodies, bool stream_only = false) {
    storage::StreamBatch b;
    b.kind = storage::StreamKind::kEvents;
    b.tenant = "acme";
    b.stamp = kB0;
    b.bodies = bodies;
    b.origin = "node-a";
    ASSERT_TRUE(js_->Publish(b, std::nullopt));
    if (stream_only) return;
    std::vector<storage::Record> records;
    for (const auto& body : bodies) {
      records.push_back(storage::Record{0, storage::RecordKind::kEvent, "acme", kB0, body});
    }
    std::vector<storage::Journal::Batch> batches{{&records, "", ""}};
    ASSERT_TRUE(journal_->AppendBatches(batches));
  }

  HistorySource Source(bool stream) {
    HistorySource source;
    stats::TenantSetup acme;
    acme.name = "acme";
    acme.agents = {"a1"};
    acme.places = {{"p1", {"7001"}}};
    source.tenants = {acme};
    source.wall_clock = false;
    if (stream) {
      source.stream = [this] { return js_.get(); };
    } else {
      source.journal_path = (dir_ / "journal.db").string();
    }
    return source;
  }

  static HistoryRequest Request() {
    HistoryRequest r;
    r.tenant = "acme";
    r.from = kB0;
    r.to = kB0 + 4 * kQuarter;
    r.bucket = "15m";
    HistoryAsk calls;
    calls.statistic_id = "calls";
    calls.definition = {
        {"category", "TotalNumber"}, {"subject", "DNAction"}, {"mainMask", "CallInbound"}};
    calls.object = {stats::ObjectType::kAgent, "a1"};
    r.asks = {calls};
    return r;
  }

  static std::vector<std::string> Values(const Result<std::vector<HistorySeries>>& series) {
    std::vector<std::string> out;
    if (!series) return {"error: " + series.error().message};
    for (const auto& b : series->front().buckets) out.push_back(b.value.string_value);
    if (!series->front().error.empty()) out.push_back("error: " + series->front().error);
    return out;
  }

  storage::testing::NatsServer nats_;
  std::unique_ptr<storage::JetStream> js_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Journal> journal_;
};

TEST_F(HistoryFromLogTest, TheStreamGivesTheJournalsBucketsAndSkipsWhatItsOrderRefused) {
  Both({Ev("EventAgentLogin", kB0 - 60'000), Ev("EventAgentReady", kB0 - 50'000)});
  auto c1 = Call("c1", kB0 + 60'000);
  auto c2 = Call("c2", kB0 + 5 * 60'000);
  c1.insert(c1.end(), c2.begin(), c2.end());
  Both(c1);                                   // bucket 0: 2 calls
  Both(Call("c3", kB0 + kQuarter + 60'000));  // bucket 1: 1
  // Another node's batch whose first event is behind c3's on 7001: the stream refuses it whole,
  // its call in bucket 2 too (the engine alone would have refused only the first event).
  auto late = Call("late", kB0 + 2 * kQuarter + 60'000);
  late.insert(late.begin(), Ev("EventAgentNotReady", kB0 + kQuarter + 30'000));
  Both(late, true);
  Both(Call("c4", kB0 + 3 * kQuarter + 60'000));  // bucket 3: 1 (bucket 2: none)
  Both({"{\"type\":\"EventTick\",\"time\":" + std::to_string(kB0 + 4 * kQuarter) + "}"});

  const std::vector<std::string> expected{"2", "1", "0", "1"};
  EXPECT_EQ(Values(ComputeHistory(Source(false), Request())), expected);
  EXPECT_EQ(Values(ComputeHistory(Source(true), Request())), expected);
}

TEST_F(HistoryFromLogTest, AStreamWhoseStartRetentionRemovedNamesTheFromField) {
  Both({Ev("EventAgentLogin", kB0 - 60'000)});
  // Another tenant's mark, whose key starts with acme's, does not count for acme.
  ASSERT_TRUE(js_->PutValue(PurgedKey("acme-eu"), "1"));
  EXPECT_TRUE(ComputeHistory(Source(true), Request()));
  ASSERT_TRUE(js_->PutValue(PurgedKey("acme"), "1"));
  auto series = ComputeHistory(Source(true), Request());
  ASSERT_FALSE(series);
  EXPECT_EQ(series.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(series.error().message.rfind("data.from: ", 0), 0u) << series.error().message;
  // Not connected yet: 503-kind, saying so.
  HistorySource none = Source(true);
  none.stream = [] { return static_cast<storage::JetStream*>(nullptr); };
  auto unavailable = ComputeHistory(none, Request());
  ASSERT_FALSE(unavailable);
  EXPECT_EQ(unavailable.error().code, Errc::kUnavailable);
}

}  // namespace
}  // namespace tally::server
