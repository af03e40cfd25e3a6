#include "tokens/access_tokens.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"
#include "support/temp_store.h"

namespace gatehouse::tokens {
namespace {

using std::chrono::seconds;

const std::string kSecret(40, 'k');
constexpr const char* kIssuer = "http://gatehouse.test";

class AccessTokensTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ring_.load()); }

  AccessClaims claims() const {
    return AccessClaims{.sub = "u1", .sid = "s1", .jti = "j1", .client_id = "gatehouse", .username = "alice",
                        .scope = "profile:read", .roles = {"user"}};
  }
  // A token with hand-written claims, signed by the configured HS256 secret.
  std::string hs256(const std::string& payload, const std::string& header = R"({"alg":"HS256","typ":"at+jwt"})") {
    return sign_jws(*ring_.hs256(), header, payload);
  }
  std::string payload(std::int64_t exp_offset = 600, const std::string& extra = {}) const {
    const std::int64_t now = clock_.now_unix();
    return R"({"iss":")" + std::string(kIssuer) + R"(","aud":")" + kIssuer + R"(","sub":"u1","exp":)" +
           std::to_string(now + exp_offset) + extra + "}";
  }

  testing::TempStore temp_;
  testing::FakeClock clock_;
  KeyRing ring_{*temp_.store, clock_, KeyRingSettings{.access_alg = JwsAlg::ES256, .hs256_secret = kSecret}};
  Denylist denylist_;
  AccessTokens tokens_{ring_, denylist_, clock_,
                       AccessTokenSettings{.issuer = kIssuer, .audience = {}, .ttl = seconds{300}, .leeway = seconds{30}}};
};

TEST_F(AccessTokensTest, IssuedTokensVerifyWithTheirClaims) {
  const std::string token = tokens_.issue(claims());
  auto decoded = decode_jws(token);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->header.typ, "at+jwt");
  EXPECT_EQ(decoded->header.alg, "ES256");
  EXPECT_EQ(decoded->header.kid, ring_.current(JwsAlg::ES256)->kid());
  auto verified = tokens_.verify(token);
  ASSERT_TRUE(verified) << verified.error().description;
  EXPECT_EQ(verified->sub, "u1");
  EXPECT_EQ(verified->sid, "s1");
  EXPECT_EQ(verified->jti, "j1");
  EXPECT_EQ(verified->scope, "profile:read");
  EXPECT_TRUE(verified->has_scope);
  auto unscoped = tokens_.verify(hs256(payload()));
  ASSERT_TRUE(unscoped);
  EXPECT_FALSE(unscoped->has_scope) << "no scope claim: the owner's permissions, not none";
  EXPECT_EQ(verified->client_id, "gatehouse");
  EXPECT_EQ(verified->exp, clock_.now_unix() + 300);
}

TEST_F(AccessTokensTest, TokensIssuedLaterCarryTheSameClaims) {
  std::vector<PendingJws> pending;
  for (int i = 0; i < 6; ++i) {
    AccessClaims c = claims();
    c.jti = "later-" + std::to_string(i);
    auto p = tokens_.issue_later(c);
    ASSERT_TRUE(p.has_value());
    pending.push_back(std::move(*p));
  }
  for (int i = 0; i < 6; ++i) {
    const std::string token = pending[i].finish();
    auto verified = tokens_.verify(token);
    ASSERT_TRUE(verified) << verified.error().description;
    EXPECT_EQ(verified->jti, "later-" + std::to_string(i));
    EXPECT_EQ(verified->sub, "u1");
    EXPECT_EQ(decode_jws(token)->header.kid, ring_.current(JwsAlg::ES256)->kid());
  }
}

TEST_F(AccessTokensTest, ExpiryAllowsTheLeewayAndNoMore) {
  const std::string token = tokens_.issue(claims());
  clock_.advance(seconds{300 + 29});
  EXPECT_TRUE(tokens_.verify(token));
  clock_.advance(seconds{1});
  auto expired = tokens_.verify(token);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().description, "The token has expired.");
}

TEST_F(AccessTokensTest, NotBeforeAndIssuedAtMayNotBeInTheFuture) {
  const std::int64_t now = clock_.now_unix();
  EXPECT_TRUE(tokens_.verify(hs256(payload(600, ",\"nbf\":" + std::to_string(now + 30)))));
  EXPECT_FALSE(tokens_.verify(hs256(payload(600, ",\"nbf\":" + std::to_string(now + 31)))));
  EXPECT_TRUE(tokens_.verify(hs256(payload(600, ",\"iat\":" + std::to_string(now + 30)))));
  EXPECT_FALSE(tokens_.verify(hs256(payload(600, ",\"iat\":" + std::to_string(now + 31)))));
}

TEST_F(AccessTokensTest, IssuerAudienceSubjectAndExpiryAreRequired) {
  const std::string exp = std::to_string(clock_.now_unix() + 600);
  EXPECT_TRUE(tokens_.verify(hs256(payload())));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"aud":"http://gatehouse.test","sub":"u1","exp":)" + exp + "}")));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"iss":"http://gatehouse.test","sub":"u1","exp":)" + exp + "}")));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"iss":"http://gatehouse.test","aud":"http://gatehouse.test","exp":)" + exp + "}")));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"iss":"http://gatehouse.test","aud":"http://gatehouse.test","sub":"u1"})")));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"iss":"http://evil.test","aud":"http://gatehouse.test","sub":"u1","exp":)" + exp + "}")));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"iss":"http://gatehouse.test","aud":"http://other","sub":"u1","exp":)" + exp + "}")));
  EXPECT_TRUE(tokens_.verify(hs256(R"({"iss":"http://gatehouse.test","aud":["http://other","http://gatehouse.test"],"sub":"u1","exp":)" + exp + "}")));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"iss":"http://gatehouse.test","aud":["http://other"],"sub":"u1","exp":)" + exp + "}")));
  EXPECT_FALSE(tokens_.verify(hs256(R"({"iss":"http://gatehouse.test","aud":"http://gatehouse.test","sub":"u1","exp":")" + exp + "\"}")))
      << "exp must be a number";
  EXPECT_FALSE(tokens_.verify(hs256(R"({"\u0069ss":"http://gatehouse.test","aud":"http://gatehouse.test","sub":"u1","exp":)" + exp + "}")))
      << "escaped claim names are refused";
}

TEST_F(AccessTokensTest, TypeMustBeAnAccessToken) {
  EXPECT_TRUE(tokens_.verify(hs256(payload(), R"({"alg":"HS256","typ":"application/AT+JWT"})")));
  EXPECT_FALSE(tokens_.verify(hs256(payload(), R"({"alg":"HS256","typ":"JWT"})")));
  EXPECT_FALSE(tokens_.verify(hs256(payload(), R"({"alg":"HS256"})")));
}

TEST_F(AccessTokensTest, KeysComeFromTheRingNeverFromTheToken) {
  const auto es256 = ring_.current(JwsAlg::ES256);
  // Unknown kid.
  EXPECT_FALSE(tokens_.verify(hs256(payload(), R"({"alg":"HS256","typ":"at+jwt","kid":"nope"})")));
  // A real kid, but the token claims another algorithm (HS256 keyed with public key bytes).
  auto confused = JwsKey::hmac(es256->public_jwk(), {});
  ASSERT_TRUE(confused);
  const std::string header = R"({"alg":"HS256","typ":"at+jwt","kid":")" + es256->kid() + "\"}";
  EXPECT_FALSE(tokens_.verify(sign_jws(*confused, header, payload())));
  // Without a kid only HS256 is possible, and only with a configured secret.
  EXPECT_FALSE(tokens_.verify(sign_jws(*es256, R"({"alg":"ES256","typ":"at+jwt"})", payload())));
  KeyRing no_secret(*temp_.store, clock_, KeyRingSettings{});
  ASSERT_TRUE(no_secret.load());
  AccessTokens strict(no_secret, denylist_, clock_, AccessTokenSettings{.issuer = kIssuer});
  EXPECT_FALSE(strict.verify(hs256(payload())));
}

TEST_F(AccessTokensTest, RevokedSessionsAndTokenIdsAreRefusedUntilTheyExpire) {
  const std::string token = tokens_.issue(claims());
  ASSERT_TRUE(tokens_.verify(token));
  denylist_.add("sid", "s1", clock_.now_unix() + 10);
  auto revoked = tokens_.verify(token);
  ASSERT_FALSE(revoked);
  EXPECT_EQ(revoked.error().description, "The token's session has ended.");
  auto other = claims();
  other.sid = "s2";
  other.jti = "j2";
  const std::string second = tokens_.issue(other);
  denylist_.add("jti", "j2", clock_.now_unix() + 10);
  EXPECT_FALSE(tokens_.verify(second));
  clock_.advance(seconds{10});
  EXPECT_TRUE(tokens_.verify(second)) << "denylist entries end when the tokens they cover have expired";
  denylist_.purge(clock_.now_unix());
  EXPECT_EQ(denylist_.size(), 0u);
}

TEST_F(AccessTokensTest, RememberedTokensAreStillCheckedForTimeAndRevocation) {
  const std::string token = tokens_.issue(claims());
  ASSERT_TRUE(tokens_.verify(token));
  ASSERT_TRUE(tokens_.verify(token)) << "second use: from the verified-token cache";
  // A single changed signature byte is another token: never answered from the cache.
  std::string forged = token;
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(tokens_.verify(forged));
  denylist_.add("sid", "s1", clock_.now_unix() + 5);
  EXPECT_FALSE(tokens_.verify(token)) << "revocation applies to remembered tokens";
  clock_.advance(seconds{300 + 30});
  EXPECT_FALSE(tokens_.verify(token)) << "expiry applies to remembered tokens";
}

TEST_F(AccessTokensTest, TheVerifiedTokenCacheIsBounded) {
  // HS256 tokens, cheap to make: five generations' worth of distinct ones, with one token
  // used all along.
  const std::string hot = hs256(payload(600, R"(,"jti":"hot")"));
  ASSERT_TRUE(tokens_.verify(hot));
  for (std::size_t i = 0; i < 5 * AccessTokens::kGeneration; ++i) {
    ASSERT_TRUE(tokens_.verify(hs256(payload(600, R"(,"jti":"t)" + std::to_string(i) + "\"")))) << i;
    if (i % 1000 == 0) {
      ASSERT_TRUE(tokens_.verify(hot));
    }
    ASSERT_LE(tokens_.remembered(), 2 * AccessTokens::kGeneration);
  }
  EXPECT_GE(tokens_.remembered(), AccessTokens::kGeneration);
  // Still remembered, and still checked for revocation like any remembered token.
  ASSERT_TRUE(tokens_.verify(hot));
  denylist_.add("jti", "hot", clock_.now_unix() + 600);
  EXPECT_FALSE(tokens_.verify(hot));
}

TEST_F(AccessTokensTest, RotatedKeysKeepVerifyingTheirTokens) {
  const std::string before = tokens_.issue(claims());
  ASSERT_TRUE(ring_.rotate(JwsAlg::ES256));
  const std::string after = tokens_.issue(claims());
  EXPECT_NE(decode_jws(before)->header.kid, decode_jws(after)->header.kid);
  EXPECT_TRUE(tokens_.verify(before));
  EXPECT_TRUE(tokens_.verify(after));
}

}  // namespace
}  // namespace gatehouse::tokens
