#include "core/time.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

using std::chrono::seconds;

TEST(Duration, ParsesUnitsAndBareSeconds) {
  EXPECT_EQ(parse_duration("90"), seconds{90});
  EXPECT_EQ(parse_duration("30s"), seconds{30});
  EXPECT_EQ(parse_duration("15m"), seconds{900});
  EXPECT_EQ(parse_duration("1h"), seconds{3600});
  EXPECT_EQ(parse_duration("30d"), seconds{30 * 86400});
  EXPECT_EQ(parse_duration("1"), seconds{1});
}

TEST(Duration, RejectsZeroNegativeJunkAndOverflow) {
  for (const char* bad : {"", "0", "-5", "+5", "5x", "m", "1.5h", " 5", "5 ", "99999999999999999999", "999999999d"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(Rfc3339, FormatsAndParsesUtc) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339(1893456000), "2030-01-01T00:00:00Z");
  EXPECT_EQ(parse_rfc3339("2030-01-01T00:00:00Z"), 1893456000);
  EXPECT_EQ(parse_rfc3339("2030-01-01T00:00:00.123Z"), 1893456000);
  EXPECT_FALSE(parse_rfc3339("2030-01-01 00:00:00"));
  EXPECT_FALSE(parse_rfc3339("2030-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2030-01-01T00:00:00+01:00"));
}

}  // namespace
}  // namespace gatehouse
