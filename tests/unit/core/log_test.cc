#include "core/log.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace gatehouse {
namespace {

TEST(Log, EscapesJsonStrings) {
  std::string out;
  log::append_json_string(out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001")");
}

TEST(Log, EscapesEveryByteAtEveryOffsetOfALongString) {
  // The escaper skips plain runs eight bytes at a time: put each byte value at each offset
  // of a 20-byte string and compare with a byte-at-a-time reference.
  const auto reference = [](unsigned char c) -> std::string {
    switch (c) {
      case '"': return "\\\"";
      case '\\': return "\\\\";
      case '\n': return "\\n";
      case '\r': return "\\r";
      case '\t': return "\\t";
    }
    if (c >= 0x80) return "\\ufffd";  // a lone byte >= 0x80 is never valid UTF-8
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      return buf;
    }
    return std::string(1, static_cast<char>(c));
  };
  for (int b = 0; b < 256; ++b) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string in(20, 'a');
      in[at] = static_cast<char>(b);
      std::string out;
      log::append_json_string(out, in);
      const std::string expected =
          "\"" + std::string(at, 'a') + reference(static_cast<unsigned char>(b)) + std::string(19 - at, 'a') + "\"";
      ASSERT_EQ(out, expected) << "byte " << b << " at " << at;
    }
  }
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
