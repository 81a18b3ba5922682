#include "common/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

namespace tally {
namespace {

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

// Adds one label to an already rendered label set.
std::string WithLabel(const std::string& rendered, const std::string& name, const std::string& v) {
  const std::string extra = name + "=\"" + EscapeLabelValue(v) + "\"";
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (value > 0) {
    sum_micros_.fetch_add(static_cast<std::uint64_t>(std::llround(value * 1e6)),
                          std::memory_order_relaxed);
  }
}

std::uint64_t Histogram::CumulativeCount(size_t i) const {
  std::uint64_t total = 0;
  for (size_t k = 0; k <= i && k <= bounds_.size(); ++k) {
    total += buckets_[k].load(std::memory_order_relaxed);
  }
  return total;
}

double Histogram::Sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first;
    out += "=\"";
    out += EscapeLabelValue(labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(const std::string& name,
                                                    const std::string& help, Kind kind) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  } else if (it->second.kind != kind) {
    throw std::logic_error("metric '" + name + "' registered with two kinds");
  }
  return it->second;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Kind::kCounter);
  auto& slot = f.counters[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& bounds, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Kind::kHistogram);
  auto& slot = f.histograms[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

void MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                               std::function<double()> read, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Kind::kGauge);
  f.functions[RenderLabels(labels)] = std::move(read);
}

void MetricsRegistry::AddCounterFunction(const std::string& name, const std::string& help,
                                         std::function<double()> read, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Kind::kCounter);
  f.functions[RenderLabels(labels)] = std::move(read);
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::kCounter ? "counter"
                       : f.kind == Kind::kGauge ? "gauge"
                                                : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
    for (const auto& [labels, c] : f.counters) {
      out += fmt::format("{}{} {}\n", name, labels, c->Value());
    }
    for (const auto& [labels, read] : f.functions) {
      out += fmt::format("{}{} {}\n", name, labels, FormatDouble(read()));
    }
    for (const auto& [labels, h] : f.histograms) {
      const auto& bounds = h->Bounds();
      for (size_t i = 0; i <= bounds.size(); ++i) {
        const std::string le = i < bounds.size() ? FormatDouble(bounds[i]) : "+Inf";
        out += fmt::format("{}_bucket{} {}\n", name, WithLabel(labels, "le", le),
                           h->CumulativeCount(i));
      }
      out += fmt::format("{}_sum{} {}\n", name, labels, FormatDouble(h->Sum()));
      out += fmt::format("{}_count{} {}\n", name, labels, h->Count());
    }
  }
  return out;
}

std::uint64_t ProcessRssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0;
  unsigned long resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace tally
