// bench/ratelimit_bench.cc: ratelimit::Limiter::check rates (issue 5).
//
//   check_hot_key       every check on one key (one user hammering): the shard's mutex is
//                       contended when run on 2 threads
//   check_many_keys     checks spread over 100,000 keys (many users): shards rarely collide
// Each runs on 1 and 2 threads; items_per_second is per thread CPU second summed over threads.
// The limit is high enough that every check is allowed (the common case).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "ratelimit/limiter.h"

namespace {

using namespace gatehouse;

SystemClock g_clock;
ratelimit::Limiter g_limiter(g_clock);
const ratelimit::Limit kLimit{1'000'000'000, std::chrono::hours(1)};

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    for (int i = 0; i < 100000; ++i) v.push_back("user:01JD" + std::to_string(1000000 + i));
    return v;
  }();
  return k;
}

void check_hot_key(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(g_limiter.check("user:01JDHOTHOTHOT", kLimit));
  state.SetItemsProcessed(state.iterations());
}

void check_many_keys(benchmark::State& state) {
  const auto& k = keys();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    benchmark::DoNotOptimize(g_limiter.check(k[i % k.size()], kLimit));
    i += 13;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(check_hot_key)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(check_many_keys)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
