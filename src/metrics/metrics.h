// metrics/metrics.h: the process's counters and histograms, rendered in the Prometheus text
// exposition format (version 0.0.4) at GET /metrics (SPEC §11).
//
// Families have fixed label names; a child per label-value set is created on first use and
// lives for the process. Label values are route templates, methods, statuses and small enums,
// never raw paths or user input, so the number of series stays bounded. Increments are one
// relaxed atomic add once a child is found (a shared lock on the family's map).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::metrics {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Latency buckets in seconds, from 100 µs to 10 s.
inline constexpr std::array<double, 12> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                            0.01,   0.025,   0.05,   0.1,   1.0,    10.0};

class Histogram {
 public:
  void observe(double seconds);
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> buckets_{};  // not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

template <class Child>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}
  // The child for these label values, in the order of the label names.
  Child& with(std::initializer_list<std::string_view> values);
  void render(std::string& out) const;

 private:
  std::string label_text(const std::vector<std::string>& values) const;

  std::string name_, help_;
  std::vector<std::string> labels_;
  mutable std::shared_mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Child>> children_;
};

using CounterFamily = Family<Counter>;
using HistogramFamily = Family<Histogram>;

// The metrics Gatehouse keeps.
CounterFamily& http_requests();        // route, method, status
HistogramFamily& http_duration();      // route
CounterFamily& authentications();      // method (jwt, opaque, api_key, basic), outcome
CounterFamily& lockouts();             // scope (username, ip)
CounterFamily& ratelimit_refusals();   // principal (user, key, ip)
CounterFamily& tokens_issued();        // kind (access, refresh, api_key, client_credentials)
CounterFamily& es256_signatures();     // path (shared: a batch with shared inversions; single)

// Everything, in the text exposition format.
std::string render_all();

}  // namespace gatehouse::metrics
