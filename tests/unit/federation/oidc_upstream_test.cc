// The checks on an upstream OpenID provider's documents and ID tokens. The provider is played
// by a fetch function over in-memory documents and keys made here with our JWS code, so every
// field can be wrong on purpose; the HTTPS client itself is tested against a real TLS server
// (tests/unit/http/client_test.cc).
#include "federation/oidc_upstream.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "support/fake_clock.h"
#include "tokens/jws.h"

namespace gatehouse::federation {
namespace {

using tokens::JwsAlg;
using tokens::JwsKey;

constexpr const char* kIssuer = "https://idp.example";

class Provider {
 public:
  Provider() {
    documents_[std::string(kIssuer) + "/.well-known/openid-configuration"] =
        R"({"issuer":"https://idp.example","authorization_endpoint":"https://idp.example/authorize",)"
        R"("token_endpoint":"https://idp.example/token","userinfo_endpoint":"https://idp.example/userinfo",)"
        R"("jwks_uri":"https://idp.example/jwks"})";
    add_key(JwsAlg::ES256, "es-1");
  }
  const JwsKey& add_key(JwsAlg alg, const std::string& kid) {
    auto key = JwsKey::generate(alg);
    EXPECT_TRUE(key) << key.error();
    key->set_kid(kid);
    keys_.insert_or_assign(kid, std::make_shared<JwsKey>(std::move(*key)));
    publish();
    return *keys_.at(kid);
  }
  void publish() {
    std::string jwks = R"({"keys":[)";
    for (const auto& [kid, key] : keys_) jwks += (jwks.back() == '[' ? "" : ",") + key->public_jwk();
    documents_["https://idp.example/jwks"] = jwks + "]}";
  }
  Fetch fetch() {
    return [this](const http::ClientRequest& r) -> Result<http::ClientResponse, http::ClientError> {
      ++fetches_[r.url];
      if (down_) return tl::unexpected(http::ClientError{http::ClientErrc::unreachable, "cannot connect to idp.example"});
      auto it = documents_.find(r.url);
      if (it == documents_.end()) return http::ClientResponse{.status = 404};
      return http::ClientResponse{.status = 200, .body = it->second};
    };
  }
  std::string sign(const std::string& kid, const std::string& claims, const std::string& alg = "ES256") const {
    return tokens::sign_jws(*keys_.at(kid), R"({"alg":")" + alg + R"(","kid":")" + kid + R"("})", claims);
  }
  std::map<std::string, std::string> documents_;
  std::map<std::string, std::shared_ptr<JwsKey>> keys_;
  std::map<std::string, int> fetches_;
  bool down_{false};
};

class OidcUpstreamTest : public ::testing::Test {
 protected:
  OidcUpstreamTest() : upstream_(OidcSettings{.issuer = kIssuer, .client_id = "gatehouse"}, provider_.fetch(), clock_) {}

  // The claims of a good ID token; `changes` replaces members by raw JSON, or drops them ("").
  std::string claims(const std::map<std::string, std::string>& changes = {}) const {
    const std::int64_t now = clock_.now_unix();
    std::map<std::string, std::string> c = {
        {"iss", R"("https://idp.example")"}, {"aud", R"("gatehouse")"}, {"sub", R"("alice-42")"},
        {"nonce", R"("n-123")"}, {"iat", std::to_string(now)}, {"exp", std::to_string(now + 300)},
        {"email", R"("alice@corp.example")"}, {"email_verified", "true"}, {"preferred_username", R"("alice")"}};
    for (const auto& [name, value] : changes) {
      if (value.empty()) c.erase(name);
      else c[name] = value;
    }
    std::string out = "{";
    for (const auto& [name, value] : c) out += (out.size() > 1 ? ",\"" : "\"") + name + "\":" + value;
    return out + "}";
  }
  void expect_refused(const std::string& token, const std::string& why, const std::string& nonce = "n-123") {
    auto r = upstream_.verify_id_token(token, nonce);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code, UpstreamErrc::bad_token) << why << ": " << r.error().reason;
    EXPECT_EQ(r.error().reason.find(token), std::string::npos);
  }

  testing::FakeClock clock_;
  Provider provider_;
  OidcUpstream upstream_;
};

TEST_F(OidcUpstreamTest, AValidIdTokenGivesTheIdentity) {
  auto meta = upstream_.metadata();
  ASSERT_TRUE(meta) << meta.error().reason;
  EXPECT_EQ(meta->token_endpoint, "https://idp.example/token");
  auto identity = upstream_.verify_id_token(provider_.sign("es-1", claims()), "n-123");
  ASSERT_TRUE(identity) << identity.error().reason;
  EXPECT_EQ(identity->subject, "alice-42");
  EXPECT_EQ(identity->email, "alice@corp.example");
  EXPECT_TRUE(identity->email_verified);
  EXPECT_EQ(identity->username, "alice");
  EXPECT_EQ(provider_.fetches_["https://idp.example/jwks"], 1);
  ASSERT_TRUE(upstream_.verify_id_token(provider_.sign("es-1", claims()), "n-123"));
  EXPECT_EQ(provider_.fetches_["https://idp.example/jwks"], 1) << "keys are kept";
  EXPECT_EQ(provider_.fetches_[std::string(kIssuer) + "/.well-known/openid-configuration"], 1);
}

TEST_F(OidcUpstreamTest, AuthTimeIsReadAndGooglesBareIssuerIsAcceptedOnlyWhenConfigured) {
  const std::int64_t at = clock_.now_unix() - 5;
  auto identity = upstream_.verify_id_token(provider_.sign("es-1", claims({{"auth_time", std::to_string(at)}})), "n-123");
  ASSERT_TRUE(identity) << identity.error().reason;
  EXPECT_EQ(identity->auth_time, at);
  EXPECT_FALSE(upstream_.verify_id_token(provider_.sign("es-1", claims()), "n-123")->auth_time);

  const std::string bare = provider_.sign("es-1", claims({{"iss", R"("idp.example")"}}));
  expect_refused(bare, "a bare issuer");
  OidcUpstream lenient(OidcSettings{.issuer = kIssuer, .client_id = "gatehouse", .alternate_issuer = "idp.example"},
                       provider_.fetch(), clock_);
  EXPECT_TRUE(lenient.verify_id_token(bare, "n-123"));
  expect_refused(provider_.sign("es-1", claims({{"iss", R"("other.example")"}})), "another issuer still");
}

TEST_F(OidcUpstreamTest, EachClaimIsChecked) {
  const auto now = clock_.now_unix();
  expect_refused(provider_.sign("es-1", claims({{"iss", R"("https://evil.example")"}})), "another issuer");
  expect_refused(provider_.sign("es-1", claims({{"iss", ""}})), "no issuer");
  expect_refused(provider_.sign("es-1", claims({{"aud", R"("someone-else")"}})), "another audience");
  expect_refused(provider_.sign("es-1", claims({{"aud", R"(["someone-else","gatehouse"])"}})), "two audiences, no azp");
  expect_refused(provider_.sign("es-1", claims({{"azp", R"("someone-else")"}})), "azp of another client");
  expect_refused(provider_.sign("es-1", claims({{"exp", std::to_string(now - 120)}})), "expired");
  expect_refused(provider_.sign("es-1", claims({{"exp", ""}})), "no exp");
  expect_refused(provider_.sign("es-1", claims({{"iat", std::to_string(now + 3600)}})), "issued in the future");
  expect_refused(provider_.sign("es-1", claims({{"sub", R"("")"}})), "empty subject");
  expect_refused(provider_.sign("es-1", claims({{"sub", std::to_string(42)}})), "a subject that is not a string");
  expect_refused(provider_.sign("es-1", claims()), "another nonce", "n-999");
  expect_refused(provider_.sign("es-1", claims()), "no nonce expected", "");
  expect_refused(provider_.sign("es-1", claims({{"nonce", ""}})), "no nonce in the token");

  auto with_azp = upstream_.verify_id_token(
      provider_.sign("es-1", claims({{"aud", R"(["someone-else","gatehouse"])"}, {"azp", R"("gatehouse")"}})), "n-123");
  EXPECT_TRUE(with_azp) << "several audiences with our azp are fine";
  auto within_leeway = upstream_.verify_id_token(provider_.sign("es-1", claims({{"exp", std::to_string(now - 30)}})), "n-123");
  EXPECT_TRUE(within_leeway) << "60 s of leeway";
}

TEST_F(OidcUpstreamTest, SignaturesAlgorithmsAndKeysAreChecked) {
  const std::string good = provider_.sign("es-1", claims());
  std::string forged = good;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  expect_refused(forged, "a changed signature");

  auto hs = JwsKey::hmac(std::string(32, 'k'), "es-1");
  ASSERT_TRUE(hs);
  expect_refused(tokens::sign_jws(*hs, R"({"alg":"HS256","kid":"es-1"})", claims()), "HS256");
  const std::string none = good.substr(0, good.find('.')) + "." + good.substr(good.find('.') + 1, good.rfind('.') - good.find('.'));
  expect_refused(none, "no signature");

  Provider other;  // a key nobody published, under a kid the provider does not have
  other.add_key(JwsAlg::ES256, "stranger");
  expect_refused(other.sign("stranger", claims()), "an unknown key");
}

TEST_F(OidcUpstreamTest, ARotatedKeyIsFetchedOnceThenRefetchesAreRateLimited) {
  ASSERT_TRUE(upstream_.verify_id_token(provider_.sign("es-1", claims()), "n-123"));
  clock_.advance(std::chrono::seconds(61));
  provider_.add_key(JwsAlg::RS256, "rs-2");  // the provider rotates
  auto r = upstream_.verify_id_token(provider_.sign("rs-2", claims(), "RS256"), "n-123");
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(provider_.fetches_["https://idp.example/jwks"], 2);
  Provider other;
  other.add_key(JwsAlg::ES256, "bogus");
  for (int i = 0; i < 5; ++i) expect_refused(other.sign("bogus", claims()), "unknown kid");
  EXPECT_EQ(provider_.fetches_["https://idp.example/jwks"], 2) << "an unknown kid cannot make us fetch on every request";
}

TEST_F(OidcUpstreamTest, DiscoveryMustNameTheSameIssuerAndSecureEndpoints) {
  const std::string url = std::string(kIssuer) + "/.well-known/openid-configuration";
  const std::string original = provider_.documents_[url];
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {R"("issuer":"https://idp.example")", R"("issuer":"https://idp.example/")"},
           {R"("token_endpoint":"https://idp.example/token")", R"("token_endpoint":"http://idp.example/token")"},
           {R"("jwks_uri":"https://idp.example/jwks")", R"("jwks":"https://idp.example/jwks")"}}) {
    std::string doc = original;
    doc.replace(doc.find(from), from.size(), to);
    provider_.documents_[url] = doc;
    testing::FakeClock clock;
    OidcUpstream fresh(OidcSettings{.issuer = kIssuer, .client_id = "gatehouse"}, provider_.fetch(), clock);
    auto m = fresh.metadata();
    ASSERT_FALSE(m) << to;
    EXPECT_EQ(m.error().code, UpstreamErrc::bad_metadata) << to;
  }
  provider_.documents_[url] = "not json";
  testing::FakeClock clock;
  OidcUpstream broken(OidcSettings{.issuer = kIssuer, .client_id = "gatehouse"}, provider_.fetch(), clock);
  EXPECT_EQ(broken.metadata().error().code, UpstreamErrc::bad_metadata);
}

TEST_F(OidcUpstreamTest, AnUnreachableProviderIsUnavailable) {
  provider_.down_ = true;
  auto m = upstream_.metadata();
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, UpstreamErrc::unavailable);
  EXPECT_NE(m.error().reason.find("idp.example"), std::string::npos);
  provider_.down_ = false;
  EXPECT_FALSE(upstream_.metadata()) << "a failure is answered from memory for a while";
  EXPECT_EQ(provider_.fetches_[std::string(kIssuer) + "/.well-known/openid-configuration"], 1);
  clock_.advance(std::chrono::seconds(31));
  EXPECT_TRUE(upstream_.metadata()) << "then asked again";
  EXPECT_EQ(provider_.fetches_[std::string(kIssuer) + "/.well-known/openid-configuration"], 2);
}

}  // namespace
}  // namespace gatehouse::federation
