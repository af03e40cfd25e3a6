#include "core/random.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace gatehouse {
namespace {

TEST(Random, BytesHaveTheRequestedLengthAndDiffer) {
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(32), random_bytes(32));
  EXPECT_EQ(random_bytes(0), "");
}

TEST(Random, PooledDrawsNeverRepeatAcrossRefillsOrThreads) {
  // Small draws come from a per-thread pool refilled 512 bytes at a time: many draws cross
  // several refills, and no 16-byte draw may ever come out twice (here or on another thread).
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(seen.insert(random_bytes(16)).second);
  std::string other[50];
  std::thread t([&] {
    for (auto& s : other) s = random_bytes(16);
  });
  t.join();
  for (const auto& s : other) EXPECT_TRUE(seen.insert(s).second);
  // A large draw bypasses the pool and is as long as asked.
  EXPECT_EQ(random_bytes(4096).size(), 4096u);
  unsigned char buf[7] = {};
  fill_random(buf, sizeof buf);
  unsigned char again[7] = {};
  fill_random(again, sizeof again);
  EXPECT_NE(std::string(reinterpret_cast<char*>(buf), 7), std::string(reinterpret_cast<char*>(again), 7));
}

TEST(Random, Base62UsesOnlyItsAlphabetAndAllOfIt) {
  const std::string s = random_base62(20000);
  ASSERT_EQ(s.size(), 20000u);
  std::set<char> seen(s.begin(), s.end());
  for (char c : seen) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;
  EXPECT_EQ(seen.size(), 62u);
}

TEST(Random, IdsAreTimeOrderedAndUnique) {
  const std::string a = new_id(1'000);
  const std::string b = new_id(2'000);
  EXPECT_EQ(a.size(), 26u);
  EXPECT_LT(a, b);
  EXPECT_NE(new_id(5), new_id(5));
}

}  // namespace
}  // namespace gatehouse
