#include "core/random.h"

#include <gtest/gtest.h>

#include <set>

namespace gatehouse {
namespace {

TEST(Random, BytesHaveTheRequestedLengthAndDiffer) {
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(32), random_bytes(32));
  EXPECT_EQ(random_bytes(0), "");
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
