// metrics/metrics: counters, histograms and the Prometheus text exposition.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

namespace gatehouse::metrics {
namespace {

TEST(Metrics, CountersRenderWithTheirLabels) {
  CounterFamily f("test_total", "A test counter.", {"method", "outcome"});
  f.with({"jwt", "success"}).inc();
  f.with({"jwt", "success"}).inc(2);
  f.with({"basic", "fail\"ure\\\n"}).inc();
  std::string out;
  f.render(out);
  EXPECT_NE(out.find("# HELP test_total A test counter.\n# TYPE test_total counter\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_total{method=\"jwt\",outcome=\"success\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_total{method=\"basic\",outcome=\"fail\\\"ure\\\\\\n\"} 1\n"), std::string::npos) << out;
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  HistogramFamily f("test_seconds", "A test histogram.", {"route"});
  auto& h = f.with({"/x"});
  h.observe(0.00005);  // first bucket
  h.observe(0.003);    // <= 0.005
  h.observe(20);       // only +Inf
  std::string out;
  f.render(out);
  EXPECT_NE(out.find("# TYPE test_seconds histogram"), std::string::npos);
  EXPECT_NE(out.find("test_seconds_bucket{route=\"/x\",le=\"0.0001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_bucket{route=\"/x\",le=\"0.005\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_bucket{route=\"/x\",le=\"10\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_count{route=\"/x\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("test_seconds_sum{route=\"/x\"} 20.0031"), std::string::npos) << out;
}

TEST(Metrics, EveryFamilyIsExposed) {
  tokens_issued().with({"access"}).inc();
  const std::string all = render_all();
  for (const char* name : {"gatehouse_http_requests_total", "gatehouse_http_request_duration_seconds",
                           "gatehouse_authentications_total", "gatehouse_lockouts_total",
                           "gatehouse_ratelimit_refusals_total", "gatehouse_tokens_issued_total"})
    EXPECT_NE(all.find(std::string("# TYPE ") + name), std::string::npos) << name;
  EXPECT_NE(all.find("gatehouse_tokens_issued_total{kind=\"access\"}"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::metrics
