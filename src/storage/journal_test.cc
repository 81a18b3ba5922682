#include "storage/journal.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

namespace tally::storage {
namespace {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tally-journal-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "journal.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Journal> OpenJournal() {
    auto j = Journal::Open({path_, Durability::kNormal});
    EXPECT_TRUE(j) << (j ? "" : j.error().message);
    return j ? std::move(*j) : nullptr;
  }

  static std::vector<Record> Records(int n, const std::string& tag) {
    std::vector<Record> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(Record{0, RecordKind::kEvent, "acme", 1000 + i, tag + std::to_string(i)});
    }
    return out;
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(JournalTest, AppendsAssignSequencesAndScanReturnsThemInOrder) {
  auto j = OpenJournal();
  auto a = Records(3, "a");
  auto b = Records(2, "b");
  std::vector<Journal::Batch> batches{{&a, "", ""}, {&b, "key-b", ""}};
  ASSERT_TRUE(j->AppendBatches(batches));
  EXPECT_EQ(a[0].seq, 1u);
  EXPECT_EQ(b[1].seq, 5u);
  EXPECT_EQ(j->LastSeq(), 5u);
  j.reset();

  j = OpenJournal();
  EXPECT_EQ(j->LastSeq(), 5u);
  std::vector<std::string> bodies;
  auto scan = j->Scan(2, [&](const Record& r) {
    bodies.push_back(r.body);
    return true;
  });
  ASSERT_TRUE(scan);
  EXPECT_EQ(scan->records, 3u);
  EXPECT_EQ(scan->last_good_seq, 5u);
  EXPECT_FALSE(scan->damaged_seq);
  EXPECT_EQ(bodies, (std::vector<std::string>{"a2", "b0", "b1"}));
  auto found = j->FindBatch("key-b");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->first_seq, 4u);
  EXPECT_EQ((*found)->last_seq, 5u);
}

TEST_F(JournalTest, ChecksumMismatchStopsTheScanAndTheTailCanBeQuarantined) {
  {
    auto j = OpenJournal();
    auto a = Records(5, "x");
    std::vector<Journal::Batch> batches{{&a, "", ""}};
    ASSERT_TRUE(j->AppendBatches(batches));
  }
  Sql("UPDATE journal SET body = 'tampered' WHERE seq = 4");
  auto j = OpenJournal();
  int visited = 0;
  auto scan = j->Scan(0, [&](const Record&) { return ++visited, true; });
  ASSERT_TRUE(scan);
  EXPECT_EQ(visited, 3);
  EXPECT_EQ(scan->last_good_seq, 3u);
  ASSERT_TRUE(scan->damaged_seq);
  EXPECT_EQ(*scan->damaged_seq, 4u);
  EXPECT_EQ(scan->damage, "checksum mismatch");

  auto moved = j->QuarantineFrom(4, 42);
  ASSERT_TRUE(moved);
  EXPECT_EQ(*moved, 2u);
  EXPECT_EQ(j->LastSeq(), 3u);
  auto more = Records(1, "y");
  std::vector<Journal::Batch> batches{{&more, "", ""}};
  ASSERT_TRUE(j->AppendBatches(batches));
  EXPECT_EQ(more[0].seq, 4u);
  auto stats = j->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->records, 4u);
  EXPECT_EQ(stats->damaged, 2u);
}

TEST_F(JournalTest, AnotherFormatVersionIsRefusedWithTheVersionsNamed) {
  { OpenJournal(); }
  Sql("UPDATE meta SET value = '99' WHERE key = 'format'");
  auto j = Journal::Open({path_, Durability::kNormal});
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, Errc::kUnsupported);
  EXPECT_NE(j.error().message.find("version 99"), std::string::npos) << j.error().message;
}

TEST_F(JournalTest, StateKeysRoundTrip) {
  auto j = OpenJournal();
  ASSERT_TRUE(j->PutState("session/a", "1"));
  ASSERT_TRUE(j->PutState("session/b", "2"));
  ASSERT_TRUE(j->PutState("other", "3"));
  ASSERT_TRUE(j->PutState("session/a", "4"));
  ASSERT_TRUE(j->DeleteState("session/b"));
  auto all = j->States("session/");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].second, "4");
}

TEST_F(JournalTest, WriterGroupsConcurrentSubmissionsAndAnswersRepeatedKeys) {
  auto j = OpenJournal();
  JournalWriter writer(*j);
  writer.Start();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::atomic<bool> finished{false};
        writer.Submit(Records(3, "t"), "k" + std::to_string(t) + "-" + std::to_string(i),
                      [&](Result<BatchRange> r) {
                        if (!r || r->count != 3 || r->last_seq != r->first_seq + 2) ++failed;
                        ++done;
                        finished = true;
                        finished.notify_one();
                      });
        finished.wait(false);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(failed.load(), 0);

  std::atomic<bool> finished{false};
  BatchRange again;
  writer.Submit(Records(3, "t"), "k0-0", [&](Result<BatchRange> r) {
    again = *r;
    finished = true;
    finished.notify_one();
  });
  finished.wait(false);
  writer.Stop();
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.count, 3u);
  EXPECT_EQ(j->LastSeq(), static_cast<std::uint64_t>(kThreads * kPerThread * 3));
  const auto stats = writer.Stats();
  EXPECT_EQ(stats.records, static_cast<std::uint64_t>(kThreads * kPerThread * 3));
  // At most one commit per submission: the threads' and the repeated key's (when the machine is
  // so busy that no two submissions ever wait together).
  EXPECT_LE(stats.commits, static_cast<std::uint64_t>(kThreads * kPerThread + 1));
}

TEST_F(JournalTest, SnapshotsAreKeptNewestFirstUpToTheLimit) {
  auto j = OpenJournal();
  auto a = Records(10, "a");
  std::vector<Journal::Batch> batches{{&a, "", ""}};
  ASSERT_TRUE(j->AppendBatches(batches));
  ASSERT_TRUE(j->PutSnapshot(3, 100, "three", 2));
  ASSERT_TRUE(j->PutSnapshot(6, 200, "six", 2));
  ASSERT_TRUE(j->PutSnapshot(9, 300, std::string("nine\0bytes", 10), 2));
  auto list = j->Snapshots();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].seq, 9u);
  EXPECT_EQ((*list)[0].taken_at, 300);
  EXPECT_EQ((*list)[0].bytes, 10u);
  EXPECT_EQ((*list)[1].seq, 6u);
  EXPECT_EQ(*j->ReadSnapshot(9), std::string("nine\0bytes", 10));
  EXPECT_FALSE(j->ReadSnapshot(3)) << "the oldest was dropped";
  auto stats = j->Stats();
  EXPECT_EQ(stats->snapshots, 2u);
  EXPECT_EQ(stats->newest_snapshot_seq, 9u);
}

TEST_F(JournalTest, PruningDeletesAnOldPrefixCoveredByASnapshotAndTheSeqCarriesOn) {
  auto j = OpenJournal();
  auto a = Records(10, "a");  // stamps 1000..1009
  std::vector<Journal::Batch> batches{{&a, "key-a", ""}};
  ASSERT_TRUE(j->AppendBatches(batches));
  auto b = Records(5, "b");
  std::vector<Journal::Batch> more{{&b, "key-b", ""}};
  ASSERT_TRUE(j->AppendBatches(more));  // seq 11..15, stamps 1000..1004 again
  // Not older than 1000: nothing.
  auto none = j->Prune(1000, 15, 100);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->records, 0u);
  // Older than 1005 but never past the covering snapshot (seq 4), at most 2 per call.
  auto first = j->Prune(1005, 4, 2);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->records, 2u);
  EXPECT_EQ(first->pruned_through, 2u);
  auto second = j->Prune(1005, 4, 100);
  EXPECT_EQ(second->pruned_through, 4u);
  EXPECT_EQ(j->PrunedThrough(), 4u);
  auto scan = j->Scan(4, [](const Record&) { return true; });
  ASSERT_TRUE(scan);
  EXPECT_EQ(scan->records, 11u);
  EXPECT_FALSE(scan->damaged_seq);
  EXPECT_TRUE(*j->FindBatch("key-b"));
  // Everything pruned: the next append still continues the sequence, also after a reopen.
  ASSERT_TRUE(j->Prune(1'000'000, 15, 100));
  EXPECT_FALSE(*j->FindBatch("key-a")) << "keys of the pruned range go with it";
  EXPECT_FALSE(*j->FindBatch("key-b"));
  j.reset();
  j = OpenJournal();
  EXPECT_EQ(j->PrunedThrough(), 15u);
  EXPECT_EQ(j->LastSeq(), 15u);
  auto c = Records(1, "c");
  std::vector<Journal::Batch> last{{&c, "", ""}};
  ASSERT_TRUE(j->AppendBatches(last));
  EXPECT_EQ(c[0].seq, 16u);
  EXPECT_EQ(j->Stats()->pruned_through, 15u);
}

TEST_F(JournalTest, AScanAfterASnapshotReportsAGapToTheFirstRecord) {
  auto j = OpenJournal();
  auto a = Records(6, "a");
  std::vector<Journal::Batch> batches{{&a, "", ""}};
  ASSERT_TRUE(j->AppendBatches(batches));
  ASSERT_TRUE(j->Prune(1'000'000, 4, 100));
  auto scan = j->Scan(2, [](const Record&) { return true; });  // records 3 and 4 are gone
  ASSERT_TRUE(scan);
  ASSERT_TRUE(scan->damaged_seq);
  EXPECT_EQ(*scan->damaged_seq, 5u);
  EXPECT_NE(scan->damage.find("sequence gap"), std::string::npos);
}

TEST_F(JournalTest, TheWriterStoresSnapshotsAndPrunesByRetention) {
  auto j = OpenJournal();
  JournalWriter w(*j);
  w.SetRetention(0, 1);
  w.Start();
  std::promise<bool> acked;
  w.Submit(Records(5, "a"), "", [&](Result<BatchRange> r) { acked.set_value(r.has_value()); });
  ASSERT_TRUE(acked.get_future().get());  // a snapshot only covers committed records
  std::promise<Result<void>> stored;
  w.SubmitSnapshot(
      5, 2000, [] { return std::string("state"); }, [&](Result<void> r) { stored.set_value(r); });
  EXPECT_TRUE(stored.get_future().get());
  w.Stop();
  EXPECT_EQ(w.Stats().snapshots, 1u);
  EXPECT_EQ(w.Stats().pruned_records, 5u);
  EXPECT_EQ(j->PrunedThrough(), 5u);
  EXPECT_EQ(j->Snapshots()->at(0).seq, 5u);
}

}  // namespace
}  // namespace tally::storage
