// Metrics: counters, gauges and histograms rendered in the Prometheus text format (0.0.4).
// Any module may register metrics; the server exposes them at GET /metrics.
// Threading: registration and rendering take a mutex; updating a Counter/Histogram obtained from
// the registry is lock-free (atomics) and safe from any thread. Returned references stay valid
// for the registry's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tally {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter final {
 public:
  void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Histogram final {
 public:
  // `bounds` are the upper bounds of the buckets in ascending order (+Inf is implicit).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  [[nodiscard]] const std::vector<double>& Bounds() const { return bounds_; }
  // Cumulative count of observations <= Bounds()[i]; index Bounds().size() is +Inf.
  [[nodiscard]] std::uint64_t CumulativeCount(size_t i) const;
  [[nodiscard]] double Sum() const;
  [[nodiscard]] std::uint64_t Count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // non-cumulative, size bounds_+1
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};  // sum in millionths, to stay lock-free
};

class MetricsRegistry final {
 public:
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& bounds, const Labels& labels = {});
  // A gauge whose value is read when rendering.
  void AddGauge(const std::string& name, const std::string& help, std::function<double()> read,
                const Labels& labels = {});
  // A counter owned elsewhere (e.g. an atomic in the net layer), read when rendering.
  void AddCounterFunction(const std::string& name, const std::string& help,
                          std::function<double()> read, const Labels& labels = {});

  [[nodiscard]] std::string RenderPrometheus() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // key: rendered labels
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::map<std::string, std::function<double()>> functions;  // gauges and counter functions
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Kind kind);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// Renders labels as `{a="x",b="y"}` with Prometheus escaping ("" for no labels).
[[nodiscard]] std::string RenderLabels(const Labels& labels);

// Resident set size of this process in bytes (from /proc/self/statm), 0 if unknown.
[[nodiscard]] std::uint64_t ProcessRssBytes();

}  // namespace tally
