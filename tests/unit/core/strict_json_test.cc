#include "core/strict_json.h"

#include <gtest/gtest.h>

namespace gatehouse::strict_json {
namespace {

bool ok(std::string_view text) {
  std::vector<Member> m;
  return parse_object(text, m);
}

TEST(StrictJson, AcceptsObjectsOfEveryValueKind) {
  const std::string text = R"( {"s":"a\"b\u00e9\ud83d\udd11","n":-1.5e3,"i":42,"t":true,"f":false,"z":null,
                                "a":[1,[2,{}],"x"],"o":{"k":{"deep":[]}}} )";
  std::vector<Member> m;
  ASSERT_TRUE(parse_object(text, m));
  ASSERT_EQ(m.size(), 8u);
  EXPECT_EQ(m[0].raw_key(text), "s");
  EXPECT_EQ(string_value(m[0].raw_value(text)), std::string("a\"b\xc3\xa9\xf0\x9f\x94\x91"));
  EXPECT_EQ(m[1].kind, Kind::number);
  EXPECT_EQ(integer_value(m[1].raw_value(text)), -1500);
  EXPECT_EQ(integer_value(m[2].raw_value(text)), 42);
  EXPECT_EQ(m[6].kind, Kind::array);
  EXPECT_EQ(m[7].kind, Kind::object);
  EXPECT_TRUE(ok("{}"));
}

TEST(StrictJson, RefusesDuplicatesAtAnyDepthEvenWhenEscaped) {
  EXPECT_FALSE(ok(R"({"sub":"a","sub":"b"})"));
  EXPECT_FALSE(ok(R"({"sub":"a","s\u0075b":"b"})"));
  EXPECT_FALSE(ok(R"({"s\u0075b":"a","sub":"b"})"));
  EXPECT_FALSE(ok(R"({"o":{"k":1,"k":2}})"));
  EXPECT_FALSE(ok(R"({"a":[{"k":1,"k":2}]})"));
  EXPECT_TRUE(ok(R"({"o":{"k":1},"p":{"k":2}})"));
}

// Keys that differ only inside (same length, same first and last byte) are still different.
TEST(StrictJson, TellsApartKeysThatShareLengthAndEnds) {
  EXPECT_TRUE(ok(R"({"abc":1,"axc":2,"abcdefghij":3,"abcdefghiJ":4,"abcdXfghij":5})"));
  EXPECT_FALSE(ok(R"({"abcdefghij":1,"x":2,"abcdefghij":3})"));
}

// Strings are skipped sixteen bytes at a time where the CPU allows: a byte that ends or breaks
// the fast run (quote, backslash, control, non-ASCII) must be seen at every offset.
TEST(StrictJson, SeesEveryByteOfLongStringsAtEveryOffset) {
  for (std::size_t len = 0; len < 48; ++len) {
    for (std::size_t pos = 0; pos <= len; ++pos) {
      const std::string head(pos, 'a'), tail(len - pos, 'b');
      EXPECT_TRUE(ok("{\"k\":\"" + head + tail + "\"}"));
      EXPECT_FALSE(ok("{\"k\":\"" + head + '\x01' + tail + "\"}")) << len << "/" << pos;
      EXPECT_TRUE(ok("{\"k\":\"" + head + '\x7f' + tail + "\"}")) << len << "/" << pos;  // DEL needs no escape
      EXPECT_FALSE(ok("{\"k\":\"" + head + '\xff' + tail + "\"}")) << len << "/" << pos;
      EXPECT_FALSE(ok("{\"k\":\"" + head + '"' + tail + "\"}")) << len << "/" << pos;
      EXPECT_TRUE(ok("{\"k\":\"" + head + "\\\"" + tail + "\"}")) << len << "/" << pos;
      EXPECT_TRUE(ok("{\"k\":\"" + head + "\xc3\xa9" + tail + "\"}")) << len << "/" << pos;
      EXPECT_FALSE(ok("{\"k\":\"" + head + "\xc3" + tail + "\"}")) << len << "/" << pos;
    }
    EXPECT_FALSE(ok("{\"k\":\"" + std::string(len, 'a'))) << "unterminated, " << len;
  }
}

TEST(StrictJson, RefusesEverythingOutsideTheGrammar) {
  for (const char* bad : {"", "[]", "\"s\"", "1", "{", "{\"a\":1,}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}",
                          "{\"a\":.5}", "{\"a\":NaN}", "{\"a\":+1}", "{\"a\":tru}", "{\"a\":1} x", "{\"a\" 1}",
                          "{a:1}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}",
                          "{\"a\":\"\\udc00\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"unterminated}"})
    EXPECT_FALSE(ok(bad)) << bad;
}

TEST(StrictJson, BoundsDepth) {
  std::string deep = "{\"a\":";
  for (int i = 0; i < kMaxDepth; ++i) deep += "[";
  for (int i = 0; i < kMaxDepth; ++i) deep += "]";
  deep += "}";
  EXPECT_FALSE(ok(deep));
  std::string fine = "{\"a\":";
  for (int i = 0; i < kMaxDepth - 2; ++i) fine += "[";
  for (int i = 0; i < kMaxDepth - 2; ++i) fine += "]";
  fine += "}";
  EXPECT_TRUE(ok(fine));
}

TEST(StrictJson, FindsMembersByUnescapedName) {
  const std::string text = R"({"\u0065xp":5,"iss":"x"})";
  std::vector<Member> m;
  ASSERT_TRUE(parse_object(text, m));
  const Member* exp = find(text, m, "exp");
  ASSERT_NE(exp, nullptr);
  EXPECT_EQ(integer_value(exp->raw_value(text)), 5);
  EXPECT_EQ(find(text, m, "aud"), nullptr);
}

TEST(StrictJson, IntegersStayInTheExactRange) {
  EXPECT_EQ(integer_value("9007199254740992"), 9007199254740992LL);
  EXPECT_FALSE(integer_value("9007199254740993"));
  EXPECT_FALSE(integer_value("1e300"));
  EXPECT_EQ(integer_value("1300819380.9"), 1300819380);
  EXPECT_FALSE(integer_value("\"5\""));
}

}  // namespace
}  // namespace gatehouse::strict_json
