#include "common/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace tally {
namespace {

TEST(MetricsTest, CountersRenderWithLabels) {
  MetricsRegistry m;
  m.GetCounter("reqs_total", "Requests", {{"route", "/a"}, {"status", "200"}}).Inc(3);
  m.GetCounter("reqs_total", "Requests", {{"route", "/a"}, {"status", "200"}}).Inc();
  m.GetCounter("reqs_total", "Requests", {{"route", "/b\"x"}, {"status", "404"}}).Inc();
  const std::string text = m.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE reqs_total counter"), std::string::npos);
  EXPECT_NE(text.find("reqs_total{route=\"/a\",status=\"200\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("reqs_total{route=\"/b\\\"x\",status=\"404\"} 1\n"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry m;
  Histogram& h = m.GetHistogram("lat_seconds", "Latency", {0.1, 1.0}, {{"route", "/r"}});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  const std::string text = m.RenderPrometheus();
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/r\",le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/r\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/r\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count{route=\"/r\"} 3\n"), std::string::npos);
  EXPECT_NEAR(h.Sum(), 5.55, 1e-6);
}

TEST(MetricsTest, GaugesAreReadAtRenderTime) {
  MetricsRegistry m;
  double v = 1;
  m.AddGauge("open", "Open things", [&v] { return v; });
  EXPECT_NE(m.RenderPrometheus().find("open 1\n"), std::string::npos);
  v = 7;
  EXPECT_NE(m.RenderPrometheus().find("open 7\n"), std::string::npos);
}

TEST(MetricsTest, OneNameCannotHaveTwoKinds) {
  MetricsRegistry m;
  (void)m.GetCounter("x", "x");
  EXPECT_THROW(m.AddGauge("x", "x", [] { return 0.0; }), std::logic_error);
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry m;
  Counter& c = m.GetCounter("c_total", "c");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) c.Inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000u);
}

TEST(MetricsTest, ProcessRssIsReported) { EXPECT_GT(ProcessRssBytes(), 1024u * 1024u); }

}  // namespace
}  // namespace tally
