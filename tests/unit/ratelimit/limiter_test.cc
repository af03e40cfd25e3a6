// ratelimit/limiter: GCRA semantics with a fake clock, limit parsing, policy choice, memory.
#include "ratelimit/limiter.h"

#include <gtest/gtest.h>

#include <thread>

#include "support/fake_clock.h"

namespace gatehouse::ratelimit {
namespace {

using testing::FakeClock;

TEST(Limits, Parse) {
  EXPECT_EQ(parse_limit("1000/hour"), (Limit{1000, std::chrono::hours(1)}));
  EXPECT_EQ(parse_limit("10/minute"), (Limit{10, std::chrono::minutes(1)}));
  EXPECT_EQ(parse_limit("5/second"), (Limit{5, std::chrono::seconds(1)}));
  EXPECT_EQ(parse_limit("100/day"), (Limit{100, std::chrono::hours(24)}));
  EXPECT_EQ(parse_limit("30/15m"), (Limit{30, std::chrono::minutes(15)}));
  for (const char* bad : {"", "1000", "/hour", "0/hour", "-1/hour", "x/hour", "10/fortnight", "10/", "1e3/hour",
                          "10/0s", "99999999999/hour"})
    EXPECT_FALSE(parse_limit(bad)) << bad;
  EXPECT_EQ(to_string(Limit{1000, std::chrono::hours(1)}), "1000/hour");
  EXPECT_EQ(to_string(Limit{30, std::chrono::minutes(15)}), "30/900s");
}

TEST(Limiter, AllowsTheQuotaThenRefusesWithRetryAfterAndRefills) {
  FakeClock clock;
  Limiter limiter(clock);
  const Limit limit{3, std::chrono::seconds(60)};
  for (int i = 0; i < 3; ++i) {
    auto d = limiter.check("user:a", limit);
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 3);
    EXPECT_EQ(d.remaining, 2 - i);
  }
  auto refused = limiter.check("user:a", limit);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after, 20) << "one request every 60/3 s";
  EXPECT_TRUE(refused.first_refusal);
  EXPECT_FALSE(limiter.check("user:a", limit).first_refusal) << "reported once per period";
  EXPECT_TRUE(limiter.check("user:b", limit).allowed) << "keys do not share a bucket";
  clock.advance(std::chrono::seconds(20));
  EXPECT_TRUE(limiter.check("user:a", limit).allowed);
  EXPECT_FALSE(limiter.check("user:a", limit).allowed);
  clock.advance(std::chrono::seconds(60));
  auto full = limiter.check("user:a", limit);
  EXPECT_TRUE(full.allowed);
  EXPECT_EQ(full.remaining, 2) << "a full period later the whole quota is back";
}

TEST(Limiter, NeverLetsMoreThanTheLimitThroughInAnyWindow) {
  FakeClock clock;
  Limiter limiter(clock);
  const Limit limit{10, std::chrono::seconds(10)};
  // One attempt every 100 ms for a minute: at most 10 + (elapsed / 1 s) allowed, i.e. no
  // window-edge doubling.
  int allowed = 0;
  for (int step = 0; step < 600; ++step) {
    allowed += limiter.check("k", limit).allowed;
    clock.advance(std::chrono::milliseconds(100));
    EXPECT_LE(allowed, 10 + (step + 1) / 10) << step;
  }
  EXPECT_GE(allowed, 10 + 59);
}

TEST(Limiter, ResetCountsTheSecondsUntilTheQuotaIsFull) {
  FakeClock clock;
  Limiter limiter(clock);
  const Limit limit{4, std::chrono::seconds(8)};
  EXPECT_EQ(limiter.check("k", limit).reset, 2);
  EXPECT_EQ(limiter.check("k", limit).reset, 4);
}

TEST(Limiter, IdleKeysAreDroppedAndMemoryIsBounded) {
  FakeClock clock;
  Limiter limiter(clock, /*max_keys=*/64 * 16);
  const Limit limit{5, std::chrono::seconds(1)};
  for (int i = 0; i < 10000; ++i) limiter.check("ip:" + std::to_string(i), limit);
  EXPECT_LE(limiter.size(), 64u * 16u);
  clock.advance(std::chrono::seconds(2));
  limiter.sweep();
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(Limiter, ConcurrentChecksOnOneKeyAllowExactlyTheQuota) {
  FakeClock clock;
  Limiter limiter(clock);
  const Limit limit{1000, std::chrono::hours(1)};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += limiter.check("hot", limit).allowed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

TEST(Policy, KeyThenMostGenerousRoleThenDefault) {
  Policy p{.enabled = true, .default_limit = Limit{1000, std::chrono::hours(1)},
           .roles = {{"admin", Limit{100, std::chrono::seconds(1)}}, {"bulk", Limit{5000, std::chrono::hours(1)}}}};
  EXPECT_EQ(limit_for(p, {"user"}, std::nullopt), p.default_limit);
  EXPECT_EQ(limit_for(p, {"user", "bulk"}, std::nullopt), (Limit{5000, std::chrono::hours(1)}));
  EXPECT_EQ(limit_for(p, {"bulk", "admin"}, std::nullopt), (Limit{100, std::chrono::seconds(1)}));
  EXPECT_EQ(limit_for(p, {"admin"}, Limit{10, std::chrono::minutes(1)}), (Limit{10, std::chrono::minutes(1)}));
}

}  // namespace
}  // namespace gatehouse::ratelimit
