#include "oauth/provider.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/base64.h"
#include "crypto/digest.h"
#include "support/services.h"

namespace gatehouse::oauth {
namespace {

constexpr const char* kRedirect = "https://app.example/cb";
const std::string kVerifier(64, 'v');

std::string challenge_of(const std::string& verifier) { return base64url_encode(crypto::sha256(verifier)); }

TEST(Pkce, S256AndVerifierSyntax) {
  // RFC 7636 Appendix B.
  EXPECT_TRUE(pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
  EXPECT_FALSE(pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
  EXPECT_FALSE(valid_code_verifier(std::string(42, 'a')));
  EXPECT_TRUE(valid_code_verifier(std::string(128, 'a')));
  EXPECT_FALSE(valid_code_verifier(std::string(129, 'a')));
  EXPECT_FALSE(valid_code_verifier(std::string(43, '+')));
  EXPECT_TRUE(valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
  EXPECT_FALSE(valid_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
}

TEST(Scopes, ParseSortsDeduplicatesAndRefusesBadTokens) {
  EXPECT_EQ(parse_scope("openid  profile openid"), (std::vector<std::string>{"openid", "profile"}));
  EXPECT_EQ(parse_scope(""), std::vector<std::string>{});
  EXPECT_EQ(parse_scope("a\"b"), std::nullopt);
  EXPECT_EQ(join_scope({"a", "b"}), "a b");
}

TEST(Form, SingleRefusesRepeatsAndTreatsEmptyAsAbsent) {
  Form form{{"a", "1"}, {"b", ""}, {"c", "x"}, {"c", "y"}};
  EXPECT_EQ(single(form, "a").value(), "1");
  EXPECT_EQ(single(form, "b").value(), std::nullopt);
  EXPECT_EQ(single(form, "z").value(), std::nullopt);
  EXPECT_EQ(single(form, "c").error().error, "invalid_request");
}

class ProviderTest : public ::testing::Test {
 protected:
  ProviderTest() {
    g_.use_jwt();
    EXPECT_TRUE(g_.keyring.ensure_rs256());
    user_ = g_.add_user("alice", "password-1");
    auto issued = g_.clients.create(NewClient{.name = "web", .redirect_uris = {kRedirect},
                                              .scopes = std::vector<std::string>{"openid", "profile", "offline_access"}},
                                    RequestContext{}, "admin");
    web_ = *issued;
    auto svc = g_.clients.create(NewClient{.name = "svc", .redirect_uris = {},
                                           .grant_types = std::vector<std::string>{"client_credentials"},
                                           .scopes = std::vector<std::string>{"reports:read"}, .introspect = true},
                                 RequestContext{}, "admin");
    svc_ = *svc;
  }

  Form authorize_query(std::string scope = "openid profile") {
    return Form{{"response_type", "code"}, {"client_id", web_.record.id}, {"redirect_uri", kRedirect},
                {"scope", std::move(scope)}, {"state", "s1"}, {"nonce", "n1"},
                {"code_challenge", challenge_of(kVerifier)}, {"code_challenge_method", "S256"}};
  }

  std::string code(std::string scope = "openid profile") {
    auto ar = g_.provider.check_authorization(authorize_query(std::move(scope)));
    EXPECT_TRUE(ar);
    auto c = g_.provider.issue_code(*ar, user_.id, 1000, RequestContext{});
    EXPECT_TRUE(c);
    return *c;
  }

  PresentedClient basic(const IssuedClient& c) {
    return PresentedClient{.basic = true, .basic_malformed = false, .basic_id = c.record.id, .basic_secret = c.secret};
  }

  Result<TokenResponse, OAuthError> redeem(const std::string& c, const std::string& verifier = kVerifier) {
    return g_.provider.token(basic(web_),
                             Form{{"grant_type", "authorization_code"}, {"code", c}, {"redirect_uri", kRedirect},
                                  {"code_verifier", verifier}},
                             RequestContext{});
  }

  testing::ServiceGraph g_;
  accounts::User user_;
  IssuedClient web_, svc_;
};

TEST_F(ProviderTest, AuthorizationChecksTrustNothingBeforeTheRedirectUri) {
  auto q = authorize_query();
  q[2].second = "https://app.example/cb/";  // not an exact match
  auto e = g_.provider.check_authorization(q);
  ASSERT_FALSE(e);
  EXPECT_FALSE(e.error().redirect);
  q = authorize_query();
  q[1].second = "gcl_unknown";
  EXPECT_FALSE(g_.provider.check_authorization(q).error().redirect);
  q = authorize_query();
  q[7].second = "plain";
  e = g_.provider.check_authorization(q);
  ASSERT_FALSE(e);
  EXPECT_TRUE(e.error().redirect);
  EXPECT_EQ(e.error().error.error, "invalid_request");
  EXPECT_EQ(e.error().state, "s1");
  e = g_.provider.check_authorization(authorize_query("openid users:write"));
  EXPECT_EQ(e.error().error.error, "invalid_scope");
}

TEST_F(ProviderTest, StateNonceAndPromptAreCheckedBeforeUse) {
  for (const std::string& bad : {std::string("a\xff"), std::string("a\0b", 3), std::string("a\nb"), std::string("\xc3\xa9")}) {
    auto q = authorize_query();
    q[4].second = bad;  // state: refused, and not echoed back
    auto e = g_.provider.check_authorization(q);
    ASSERT_FALSE(e);
    EXPECT_TRUE(e.error().redirect);
    EXPECT_EQ(e.error().error.error, "invalid_request");
    EXPECT_EQ(e.error().state, "");
    q = authorize_query();
    q[5].second = bad;  // nonce: refused; the good state still goes back
    e = g_.provider.check_authorization(q);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().error.error, "invalid_request");
    EXPECT_EQ(e.error().state, "s1");
  }
  auto p = authorize_query();
  p.emplace_back("prompt", "login consent\xff");
  auto refused = g_.provider.check_authorization(p);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.error, "invalid_request");
  p.back().second = "login  select_account consent";
  EXPECT_TRUE(g_.provider.check_authorization(p));
  auto q = authorize_query();
  q[4].second = "any printable ~!@#$%^&*()'\" text";
  auto ok = g_.provider.check_authorization(q);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->state, q[4].second);
}

TEST_F(ProviderTest, CodeGrantIssuesTokensAndAnIdTokenOnce) {
  const std::string c = code();
  auto tokens = redeem(c);
  ASSERT_TRUE(tokens) << tokens.error().description;
  EXPECT_EQ(tokens->scope, "openid profile");
  EXPECT_TRUE(tokens->refresh_token.empty());  // no offline_access
  ASSERT_FALSE(tokens->id_token.empty());
  auto parts = tokens::split_compact(tokens->id_token);
  ASSERT_TRUE(parts);
  auto claims = boost::json::parse(parts->payload).as_object();
  EXPECT_EQ(claims.at("sub").as_string(), user_.id);
  EXPECT_EQ(claims.at("aud").as_string(), web_.record.id);
  EXPECT_EQ(claims.at("nonce").as_string(), "n1");
  EXPECT_EQ(claims.at("auth_time").as_int64(), 1000);
  EXPECT_EQ(claims.at("preferred_username").as_string(), "alice");
  EXPECT_EQ(claims.at("at_hash").as_string(), base64url_encode(crypto::sha256(tokens->access_token).substr(0, 16)));
  auto key = g_.keyring.find(std::string(boost::json::parse(parts->header).at("kid").as_string()));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->alg(), tokens::JwsAlg::RS256);
  EXPECT_TRUE(key->verify(parts->signing_input, parts->signature));

  // The replay is refused and takes the first tokens with it.
  auto again = redeem(c);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().error, "invalid_grant");
  EXPECT_FALSE(g_.access_tokens.verify(tokens->access_token));
  EXPECT_TRUE(g_.audited("oauth.code_replayed"));
}

TEST_F(ProviderTest, PkceRedirectUriClientAndExpiryAreBound) {
  EXPECT_EQ(redeem(code(), std::string(64, 'w')).error().error, "invalid_grant");
  auto c = code();
  auto wrong_redirect = g_.provider.token(basic(web_),
                                          Form{{"grant_type", "authorization_code"}, {"code", c},
                                               {"redirect_uri", "https://app.example/other"}, {"code_verifier", kVerifier}},
                                          RequestContext{});
  EXPECT_EQ(wrong_redirect.error().error, "invalid_grant");
  c = code();
  g_.clock.advance(std::chrono::seconds(61));
  EXPECT_EQ(redeem(c).error().error, "invalid_grant");
  EXPECT_EQ(redeem("gac_" + std::string(43, 'a')).error().error, "invalid_grant");
  EXPECT_EQ(redeem("not-a-code").error().error, "invalid_grant");
}

TEST_F(ProviderTest, OfflineAccessGivesARotatingRefreshTokenForThatClientOnly) {
  auto tokens = redeem(code("openid offline_access"));
  ASSERT_TRUE(tokens);
  ASSERT_FALSE(tokens->refresh_token.empty());
  auto other = g_.provider.token(basic(svc_), Form{{"grant_type", "refresh_token"}, {"refresh_token", tokens->refresh_token}},
                                 RequestContext{});
  EXPECT_EQ(other.error().error, "unauthorized_client");  // svc may not refresh at all
  auto refreshed = g_.provider.token(basic(web_),
                                     Form{{"grant_type", "refresh_token"}, {"refresh_token", tokens->refresh_token}},
                                     RequestContext{});
  ASSERT_TRUE(refreshed) << refreshed.error().description;
  EXPECT_NE(refreshed->refresh_token, tokens->refresh_token);
  EXPECT_EQ(refreshed->scope, "offline_access openid");
  auto reused = g_.provider.token(basic(web_),
                                  Form{{"grant_type", "refresh_token"}, {"refresh_token", tokens->refresh_token}},
                                  RequestContext{});
  EXPECT_EQ(reused.error().error, "invalid_grant");
}

TEST_F(ProviderTest, ClientAuthentication) {
  Form form{{"grant_type", "client_credentials"}};
  auto wrong = basic(svc_);
  wrong.basic_secret += "x";
  auto e = g_.provider.token(wrong, form, RequestContext{});
  EXPECT_EQ(e.error().status, 401);
  EXPECT_TRUE(e.error().basic_challenge);
  Form post{{"grant_type", "client_credentials"}, {"client_id", svc_.record.id}, {"client_secret", svc_.secret}};
  EXPECT_TRUE(g_.provider.token(PresentedClient{}, post, RequestContext{}));
  EXPECT_EQ(g_.provider.token(basic(svc_), post, RequestContext{}).error().error, "invalid_request");  // two methods
  Form no_secret{{"grant_type", "client_credentials"}, {"client_id", svc_.record.id}};
  e = g_.provider.token(PresentedClient{}, no_secret, RequestContext{});
  EXPECT_EQ(e.error().error, "invalid_client");
  EXPECT_FALSE(e.error().basic_challenge);
}

// token_later leaves a client_credentials token's signature pending (to be batched);
// finish_token makes it, and the token is the same as token() would give.
TEST_F(ProviderTest, ClientCredentialsTokensCanBeSignedLater) {
  const auto token_events = [&] {
    std::size_t n = 0;
    for (const auto& line : g_.audit_lines)
      if (line.find("\"type\":\"oauth.token\",\"outcome\":\"success\"") != std::string::npos) ++n;
    return n;
  };
  const std::size_t before = token_events();
  std::vector<TokenResponse> issued;
  for (int i = 0; i < 5; ++i) {
    auto r = g_.provider.token_later(basic(svc_), Form{{"grant_type", "client_credentials"}}, RequestContext{});
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->access_token.empty());
    ASSERT_TRUE(r->pending_access_token.has_value());
    issued.push_back(std::move(*r));
  }
  EXPECT_EQ(token_events(), before) << "audited only once signed";
  for (auto& r : issued) {
    ASSERT_TRUE(g_.provider.finish_token(r, RequestContext{}));
    EXPECT_FALSE(r.pending_access_token.has_value());
    auto claims = g_.access_tokens.verify(r.access_token);
    ASSERT_TRUE(claims);
    EXPECT_EQ(claims->client_id, svc_.record.id);
    EXPECT_TRUE(g_.provider.finish_token(r, RequestContext{})) << "nothing pending: a no-op";
  }
  EXPECT_EQ(token_events(), before + 5);
  // Other grants sign at once: no pending token from a code exchange.
  Form form{{"grant_type", "authorization_code"}, {"code", code()}, {"redirect_uri", kRedirect}, {"code_verifier", kVerifier}};
  auto redeemed = g_.provider.token_later(basic(web_), form, RequestContext{});
  ASSERT_TRUE(redeemed);
  EXPECT_FALSE(redeemed->pending_access_token.has_value());
  EXPECT_FALSE(redeemed->access_token.empty());
}

TEST_F(ProviderTest, ClientCredentialsAndIntrospection) {
  auto issued = g_.provider.token(basic(svc_), Form{{"grant_type", "client_credentials"}}, RequestContext{});
  ASSERT_TRUE(issued);
  EXPECT_EQ(issued->scope, "reports:read");
  auto claims = g_.access_tokens.verify(issued->access_token);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->sub, svc_.record.id);
  EXPECT_EQ(claims->client_id, svc_.record.id);
  EXPECT_TRUE(claims->username.empty());
  auto info = g_.provider.introspect(basic(svc_), Form{{"token", issued->access_token}});
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->active);
  EXPECT_EQ(info->scope, "reports:read");
  // web may not look at svc's token; svc (introspect: true) may look at web's.
  EXPECT_FALSE(g_.provider.introspect(basic(web_), Form{{"token", issued->access_token}})->active);
  auto tokens = redeem(code());
  EXPECT_TRUE(g_.provider.introspect(basic(svc_), Form{{"token", tokens->access_token}})->active);
  // Revoked by its client: inactive.
  ASSERT_TRUE(g_.provider.revoke(basic(svc_), Form{{"token", issued->access_token}}, RequestContext{}));
  EXPECT_FALSE(g_.provider.introspect(basic(svc_), Form{{"token", issued->access_token}})->active);
}

TEST_F(ProviderTest, DiscoveryFollowsTheIssuer) {
  g_.provider.set_issuer("https://id.example");
  auto d = boost::json::parse(g_.provider.discovery()).as_object();
  EXPECT_EQ(d.at("issuer").as_string(), "https://id.example");
  EXPECT_EQ(d.at("token_endpoint").as_string(), "https://id.example/oauth/token");
  EXPECT_EQ(d.at("code_challenge_methods_supported").as_array().size(), 1u);
}

}  // namespace
}  // namespace gatehouse::oauth
