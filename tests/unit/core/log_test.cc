#include "core/log.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(Log, EscapesJsonStrings) {
  std::string out;
  log::append_json_string(out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001")");
}

}  // namespace
}  // namespace gatehouse
