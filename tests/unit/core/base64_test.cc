#include "core/base64.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 7) {
    const std::string in = all.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(in)), in);
    EXPECT_EQ(base64url_decode(base64url_encode(in)), in);
  }
}

TEST(Base64, RejectsNonCanonicalInput) {
  EXPECT_FALSE(base64_decode("Zg="));      // wrong padding length
  EXPECT_FALSE(base64_decode("Zg"));       // missing padding
  EXPECT_FALSE(base64_decode("Zh=="));     // non-zero trailing bits
  EXPECT_FALSE(base64_decode("Zm9v "));    // whitespace
  EXPECT_FALSE(base64_decode("Zm-v"));     // url alphabet in std
  EXPECT_FALSE(base64_decode("Z==="));     // three pad characters
  EXPECT_FALSE(base64_decode("=Zm9"));     // padding in front
  EXPECT_TRUE(base64_decode("Zm8="));
}

TEST(Base64Url, RejectsPaddingAndForeignCharacters) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
  EXPECT_FALSE(base64url_decode("Zg=="));  // padded
  EXPECT_FALSE(base64url_decode("+/8"));   // std alphabet
  EXPECT_FALSE(base64url_decode("Zh"));    // non-zero trailing bits
  EXPECT_FALSE(base64url_decode("Z"));     // impossible length
}

}  // namespace
}  // namespace gatehouse
