#include "tokens/keyring.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"
#include "support/temp_store.h"

namespace gatehouse::tokens {
namespace {

using std::chrono::seconds;

TEST(KeyRing, FirstStartCreatesRs256AndTheAccessKeyAndARestartKeepsThem) {
  testing::TempStore temp;
  testing::FakeClock clock;
  std::string es256_kid;
  {
    KeyRing ring(*temp.store, clock, KeyRingSettings{});
    ASSERT_TRUE(ring.load());
    EXPECT_EQ(ring.current(JwsAlg::RS256), nullptr) << "RS256 is made after start, not during it";
    ASSERT_TRUE(ring.ensure_rs256());
    ASSERT_NE(ring.current(JwsAlg::RS256), nullptr);
    const std::string rs_kid = ring.current(JwsAlg::RS256)->kid();
    ASSERT_TRUE(ring.ensure_rs256());
    EXPECT_EQ(ring.current(JwsAlg::RS256)->kid(), rs_kid) << "idempotent";
    ASSERT_NE(ring.current(JwsAlg::ES256), nullptr);
    EXPECT_EQ(ring.current(JwsAlg::EdDSA), nullptr);
    EXPECT_EQ(ring.hs256(), nullptr);
    es256_kid = ring.current(JwsAlg::ES256)->kid();
    EXPECT_EQ(es256_kid, ring.current(JwsAlg::ES256)->thumbprint()) << "kid is the RFC 7638 thumbprint";
  }
  KeyRing again(*temp.store, clock, KeyRingSettings{});
  ASSERT_TRUE(again.load());
  EXPECT_EQ(again.current(JwsAlg::ES256)->kid(), es256_kid);
  EXPECT_EQ(again.list().size(), 2u);
}

TEST(KeyRing, RotatedKeysVerifyUntilTheirTokensExpireThenLeaveTheJwks) {
  testing::TempStore temp;
  testing::FakeClock clock;
  KeyRing ring(*temp.store, clock, KeyRingSettings{.retired_key_lifetime = seconds{100}});
  ASSERT_TRUE(ring.load());
  const auto old_key = ring.current(JwsAlg::ES256);
  const std::string token = sign_jws(*old_key, R"({"alg":"ES256"})", R"({"sub":"x"})");
  auto new_kid = ring.rotate(JwsAlg::ES256);
  ASSERT_TRUE(new_kid);
  EXPECT_EQ(ring.current(JwsAlg::ES256)->kid(), *new_kid);
  ASSERT_NE(ring.find(old_key->kid()), nullptr);
  EXPECT_TRUE(verify_jws(token, *ring.find(old_key->kid())));
  EXPECT_NE(ring.jwks().find(old_key->kid()), std::string::npos);

  clock.advance(seconds{100});
  ASSERT_TRUE(ring.load());
  EXPECT_EQ(ring.find(old_key->kid()), nullptr);
  EXPECT_EQ(ring.jwks().find(old_key->kid()), std::string::npos);
  EXPECT_NE(ring.jwks().find(*new_kid), std::string::npos);
  EXPECT_EQ(temp.store->purge_signing_keys(clock.now_unix()).value(), 1);
}

TEST(KeyRing, AnotherProcessesRotationIsPickedUpOnLoad) {
  testing::TempStore temp;
  testing::FakeClock clock;
  KeyRing server(*temp.store, clock, KeyRingSettings{});
  KeyRing cli(*temp.store, clock, KeyRingSettings{});
  ASSERT_TRUE(server.load());
  ASSERT_TRUE(cli.load());
  auto kid = cli.rotate(JwsAlg::ES256);
  ASSERT_TRUE(kid);
  EXPECT_NE(server.current(JwsAlg::ES256)->kid(), *kid);
  ASSERT_TRUE(server.load());
  EXPECT_EQ(server.current(JwsAlg::ES256)->kid(), *kid);
}

TEST(KeyRing, Hs256ComesFromTheSecretAndIsNeverPublished) {
  testing::TempStore temp;
  testing::FakeClock clock;
  const std::string secret(40, 's');
  KeyRing ring(*temp.store, clock, KeyRingSettings{.access_alg = JwsAlg::HS256, .hs256_secret = secret});
  ASSERT_TRUE(ring.load());
  ASSERT_NE(ring.hs256(), nullptr);
  EXPECT_EQ(ring.current(JwsAlg::HS256), ring.hs256());
  EXPECT_EQ(ring.jwks().find("oct"), std::string::npos);
  EXPECT_EQ(ring.jwks().find(ring.hs256()->kid()), std::string::npos);
  EXPECT_FALSE(ring.rotate(JwsAlg::HS256));
  KeyRing weak(*temp.store, clock, KeyRingSettings{.access_alg = JwsAlg::HS256, .hs256_secret = "short"});
  EXPECT_FALSE(weak.load());
}

}  // namespace
}  // namespace gatehouse::tokens
