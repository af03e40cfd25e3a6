#include "core/basic.h"

#include <gtest/gtest.h>

#include "core/base64.h"

namespace gatehouse {
namespace {

TEST(Basic, DecodesUserAndPasswordAtTheFirstColon) {
  auto c = decode_basic(base64_encode("alice:pa:ss word"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->password, "pa:ss word");
  auto spaced = decode_basic("  " + base64_encode("bob:"));
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->user, "bob");
  EXPECT_EQ(spaced->password, "");
}

TEST(Basic, RefusesWhatIsNotUserColonPassword) {
  for (const std::string& bad : {base64_encode(":secret"), base64_encode("nocolon"), std::string("!!!"),
                                 std::string(""), std::string("YWxpY2U6c2VjcmV0=")})
    EXPECT_FALSE(decode_basic(bad)) << bad;
}

}  // namespace
}  // namespace gatehouse
