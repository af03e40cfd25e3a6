#include "core/base64.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

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
// base64url decodes 32 characters at a time with AVX2 where the CPU has it and the rest one
// block of four at a time: inputs long enough for several vector steps, with every length
// of tail, must round-trip, and one foreign byte anywhere (in a vector step or in the tail)
// must fail the whole input.
TEST(Base64Url, LongInputsRoundTripAndFailOnAnyForeignByte) {
  std::mt19937 rng(7);
  using namespace std::string_literals;  // the literal holds a NUL
  const std::string foreign = "+/=.\0 \x80\xff\x7f{@`["s;
  ASSERT_EQ(foreign.size(), 13u);
  for (std::size_t len = 0; len <= 200; ++len) {
    std::string bytes(len, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng());
    const std::string text = base64url_encode(bytes);
    ASSERT_EQ(base64url_decode(text), bytes) << "length " << len;
    for (std::size_t pos = 0; pos < text.size(); ++pos) {
      std::string bad = text;
      bad[pos] = foreign[(pos + len) % foreign.size()];
      EXPECT_FALSE(base64url_decode(bad)) << "length " << len << ", foreign byte at " << pos;
    }
  }
}

TEST(Base64Url, DecodesEveryAlphabetCharacterInEveryLane) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // 64 characters decode to 48 bytes; rotating the alphabet puts each character in each lane.
  for (std::size_t shift = 0; shift < 64; ++shift) {
    const std::string text = alphabet.substr(shift) + alphabet.substr(0, shift);
    const auto bytes = base64url_decode(text);
    ASSERT_TRUE(bytes) << shift;
    EXPECT_EQ(base64url_encode(*bytes), text) << shift;
  }
}

}  // namespace gatehouse
