#include "core/log.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(Log, EscapesJsonStrings) {
  std::string out;
  log::append_json_string(out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001")");
}

TEST(Log, KeepsValidUtf8AndReplacesInvalidBytes) {
  std::string out;
  log::append_json_string(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
  EXPECT_EQ(out, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
  const std::pair<const char*, const char*> bad[] = {
      {"\xff", R"("\ufffd")"},              // never valid
      {"\xc3(", R"("\ufffd(")"},            // bad continuation
      {"\xc0\xaf", R"("\ufffd\ufffd")"},    // overlong '/'
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},  // UTF-16 surrogate
      {"ab\xe2\x82", R"("ab\ufffd\ufffd")"},  // cut in the middle of a character
      {"\x7f", R"("\u007f")"},
  };
  for (const auto& [in, expected] : bad) {
    std::string o;
    log::append_json_string(o, in);
    EXPECT_EQ(o, expected) << in;
  }
}

}  // namespace
}  // namespace gatehouse
