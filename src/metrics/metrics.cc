#include "metrics/metrics.h"

#include <cstdio>
#include <mutex>

namespace gatehouse::metrics {
namespace {

// Label values are escaped as the exposition format requires: backslash, quote, newline.
std::string escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

void Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name + "_bucket{" + labels + sep + "le=\"" + number(kLatencyBuckets[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  const std::uint64_t count = count_.load(std::memory_order_relaxed);
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(count) + "\n";
  out += name + "_sum" + (labels.empty() ? "" : "{" + labels + "}") + " " +
         number(static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6) + "\n";
  out += name + "_count" + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(count) + "\n";
}

template <class Child>
Child& Family<Child>::with(std::initializer_list<std::string_view> values) {
  std::vector<std::string> key(values.begin(), values.end());
  {
    std::shared_lock lock(mutex_);
    if (auto it = children_.find(key); it != children_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  auto& child = children_[std::move(key)];
  if (!child) child = std::make_unique<Child>();
  return *child;
}

template <class Child>
std::string Family<Child>::label_text(const std::vector<std::string>& values) const {
  std::string out;
  for (std::size_t i = 0; i < labels_.size() && i < values.size(); ++i) {
    if (i) out += ",";
    out += labels_[i] + "=\"" + escape(values[i]) + "\"";
  }
  return out;
}

template <class Child>
void Family<Child>::render(std::string& out) const {
  constexpr bool kCounter = std::is_same_v<Child, Counter>;
  out += "# HELP " + name_ + " " + help_ + "\n";
  out += "# TYPE " + name_ + (kCounter ? " counter\n" : " histogram\n");
  std::shared_lock lock(mutex_);
  for (const auto& [values, child] : children_) {
    if constexpr (kCounter) {
      out += name_ + "{" + label_text(values) + "} " + std::to_string(child->value()) + "\n";
    } else {
      child->render(out, name_, label_text(values));
    }
  }
}

template class Family<Counter>;
template class Family<Histogram>;

CounterFamily& http_requests() {
  static CounterFamily f("gatehouse_http_requests_total", "HTTP requests by route template, method and status.",
                         {"route", "method", "status"});
  return f;
}
HistogramFamily& http_duration() {
  static HistogramFamily f("gatehouse_http_request_duration_seconds",
                           "Time from a complete request to its response being ready, by route template.", {"route"});
  return f;
}
CounterFamily& authentications() {
  static CounterFamily f("gatehouse_authentications_total", "Credential checks by method and outcome.",
                         {"method", "outcome"});
  return f;
}
CounterFamily& lockouts() {
  static CounterFamily f("gatehouse_lockouts_total", "Locks started by failed logins, by scope.", {"scope"});
  return f;
}
CounterFamily& ratelimit_refusals() {
  static CounterFamily f("gatehouse_ratelimit_refusals_total", "Requests refused with 429 by a rate limit.",
                         {"principal"});
  return f;
}
CounterFamily& tokens_issued() {
  static CounterFamily f("gatehouse_tokens_issued_total", "Credentials issued, by kind.", {"kind"});
  return f;
}

CounterFamily& es256_signatures() {
  static CounterFamily f("gatehouse_es256_signatures_total",
                         "ES256 signatures made, by how: in a batch sharing its inversions, or one by one.", {"path"});
  return f;
}

std::string render_all() {
  std::string out;
  out.reserve(8192);
  http_requests().render(out);
  http_duration().render(out);
  authentications().render(out);
  lockouts().render(out);
  ratelimit_refusals().render(out);
  tokens_issued().render(out);
  es256_signatures().render(out);
  return out;
}

}  // namespace gatehouse::metrics
