#include "core/clock.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace gatehouse {
namespace {

TEST(Clock, UnixConversionsRoundTrip) {
  EXPECT_EQ(to_unix(from_unix(1893456000)), 1893456000);
  testing::FakeClock clock;
  EXPECT_EQ(clock.now_unix(), 1893456000);
  clock.advance(std::chrono::seconds{5});
  EXPECT_EQ(clock.now_unix(), 1893456005);
}

TEST(Clock, SystemClockIsNotFrozen) {
  SystemClock clock;
  EXPECT_GT(clock.now_unix(), 1700000000);
}

}  // namespace
}  // namespace gatehouse
