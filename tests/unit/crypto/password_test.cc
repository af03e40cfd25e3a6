#include "crypto/password.h"

#include <gtest/gtest.h>

namespace gatehouse::crypto {
namespace {

const Argon2Params kFast{.memory_bytes = 8192, .iterations = 1};

TEST(PasswordHasher, HashesToArgon2idPhcAndVerifies) {
  PasswordHasher hasher(kFast);
  const std::string phc = hasher.hash("correct horse");
  EXPECT_EQ(phc.rfind("$argon2id$", 0), 0u) << phc;
  EXPECT_TRUE(hasher.verify(phc, "correct horse"));
  EXPECT_FALSE(hasher.verify(phc, "correct horse "));
  EXPECT_NE(hasher.hash("correct horse"), phc) << "salts must differ";
}

TEST(PasswordHasher, RejectsGarbageHashes) {
  PasswordHasher hasher(kFast);
  EXPECT_FALSE(hasher.verify("", "x"));
  EXPECT_FALSE(hasher.verify("$argon2id$v=19$garbage", "x"));
  EXPECT_FALSE(hasher.verify(std::string(1000, 'a'), "x"));
}

TEST(PasswordHasher, DefaultsAreOwaspBaseline) {
  Argon2Params defaults;
  EXPECT_EQ(defaults.memory_bytes, 19u * 1024 * 1024);
  EXPECT_EQ(defaults.iterations, 2u);
  PasswordHasher hasher(defaults);
  EXPECT_NE(hasher.hash("pw").find("m=19456,t=2,p=1"), std::string::npos);
}

TEST(PasswordHasher, DummyVerifyRuns) {
  PasswordHasher hasher(kFast);
  hasher.verify_dummy("anything");
  hasher.verify_dummy("again");
}

}  // namespace
}  // namespace gatehouse::crypto
