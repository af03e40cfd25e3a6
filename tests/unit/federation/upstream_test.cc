// One upstream as an OAuth client sees it (federation/upstream.h): the authorization URL per
// kind, and the code exchange — client authentication per kind, the answers a token endpoint
// may give, and that the client secret goes only where it belongs. The provider is a fetch
// function over fixed answers; ID-token checks are oidc_upstream_test.cc's.
#include "federation/upstream.h"

#include <gtest/gtest.h>

#include <map>

#include "core/base64.h"
#include "support/fake_clock.h"

namespace gatehouse::federation {
namespace {

constexpr const char* kSecret = "s3cret/with+odd=chars";

struct Answers {
  std::map<std::string, std::pair<int, std::string>> by_url;
  std::vector<http::ClientRequest> seen;
  Fetch fetch() {
    return [this](const http::ClientRequest& r) -> Result<http::ClientResponse, http::ClientError> {
      seen.push_back(r);
      auto it = by_url.find(r.url);
      if (it == by_url.end()) return http::ClientResponse{.status = 404, .body = "{}"};
      return http::ClientResponse{.status = it->second.first, .body = it->second.second};
    };
  }
};

const std::string* header(const http::ClientRequest& r, std::string_view name) {
  for (const auto& h : r.headers)
    if (h.name == name) return &h.value;
  return nullptr;
}

std::map<std::string, std::string> form_of(std::string_view text) {
  std::map<std::string, std::string> out;
  auto form = http::parse_form(text);
  EXPECT_TRUE(form);
  for (auto& [k, v] : *form) out[k] = v;
  return out;
}

config::UpstreamConfig github() {
  return config::UpstreamConfig{.name = "gh", .kind = "github", .client_id = "Iv1.abc", .client_secret = kSecret,
                                .scopes = {"read:user", "user:email"},
                                .authorize_url = "https://github.test/login/oauth/authorize",
                                .token_url = "https://github.test/login/oauth/access_token",
                                .userinfo_url = "https://api.github.test"};
}

config::UpstreamConfig oauth2() {
  return config::UpstreamConfig{.name = "corp", .kind = "oauth2", .client_id = "my client", .client_secret = kSecret,
                                .scopes = {"profile"}, .authorize_url = "https://idp.test/authorize?tenant=1",
                                .token_url = "https://idp.test/token", .userinfo_url = "https://idp.test/me",
                                .subject_claim = "uid"};
}

constexpr const char* kDiscovery = "https://op.test/.well-known/openid-configuration";
constexpr const char* kDiscoveryDocument =
    R"({"issuer":"https://op.test","authorization_endpoint":"https://op.test/auth",)"
    R"("token_endpoint":"https://op.test/token","jwks_uri":"https://op.test/jwks"})";

const AuthorizeParams kParams{.state = "st", .nonce = "no", .code_challenge = "ch",
                              .redirect_uri = "https://gatehouse.test/auth/upstream/x/callback"};

TEST(Upstream, AuthorizationUrlsCarryTheRequestAndNoSecret) {
  testing::FakeClock clock;
  Answers answers;
  Upstream gh(github(), answers.fetch(), clock);
  auto url = gh.authorize_url(kParams);
  ASSERT_TRUE(url);
  ASSERT_EQ(url->rfind("https://github.test/login/oauth/authorize?", 0), 0u);
  auto q = form_of(url->substr(url->find('?') + 1));
  EXPECT_EQ(q["client_id"], "Iv1.abc");
  EXPECT_EQ(q["scope"], "read:user user:email");
  EXPECT_EQ(q["state"], "st");
  EXPECT_EQ(q["code_challenge"], "ch");
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["redirect_uri"], kParams.redirect_uri);
  EXPECT_EQ(q.count("nonce"), 0u);
  EXPECT_EQ(url->find("s3cret"), std::string::npos);

  Upstream corp(oauth2(), answers.fetch(), clock);
  auto with_query = corp.authorize_url(kParams);
  ASSERT_TRUE(with_query);
  EXPECT_EQ(with_query->rfind("https://idp.test/authorize?tenant=1&response_type=code&", 0), 0u) << *with_query;
  EXPECT_TRUE(answers.seen.empty()) << "no network for a configured endpoint";
}

TEST(Upstream, OidcEndpointsComeFromDiscoveryAndCarryTheNonce) {
  testing::FakeClock clock;
  Answers answers;
  answers.by_url[kDiscovery] = {200, kDiscoveryDocument};
  Upstream op(config::UpstreamConfig{.name = "op", .kind = "oidc", .client_id = "c", .client_secret = kSecret,
                                     .scopes = {"openid", "email"}, .issuer = "https://op.test"},
              answers.fetch(), clock);
  auto url = op.authorize_url(kParams);
  ASSERT_TRUE(url) << url.error().reason;
  EXPECT_EQ(url->rfind("https://op.test/auth?", 0), 0u);
  EXPECT_EQ(form_of(url->substr(url->find('?') + 1))["nonce"], "no");

  // A token answer without an ID token is refused: the identity would be unproven.
  answers.by_url["https://op.test/token"] = {200, R"({"access_token":"at","token_type":"Bearer"})"};
  auto id = op.identify("code", "verifier", kParams.redirect_uri, "no");
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, UpstreamErrc::bad_token);
  EXPECT_NE(id.error().reason.find("id_token"), std::string::npos);
  // Its client authenticated with Basic.
  ASSERT_NE(header(answers.seen.back(), "authorization"), nullptr);
}

TEST(Upstream, AFreshLoginIsAskedForInEachProvidersWords) {
  testing::FakeClock clock;
  Answers answers;
  answers.by_url[kDiscovery] = {200, kDiscoveryDocument};
  AuthorizeParams fresh = kParams;
  fresh.force_login = true;
  const auto query = [&](config::UpstreamConfig c) {
    Upstream u(std::move(c), answers.fetch(), clock);
    auto url = u.authorize_url(fresh);
    EXPECT_TRUE(url);
    return form_of(url->substr(url->find('?') + 1));
  };
  auto gh = query(github());
  EXPECT_EQ(gh["prompt"], "select_account");
  EXPECT_EQ(gh.count("max_age"), 0u);
  EXPECT_EQ(query(oauth2())["prompt"], "login");
  config::UpstreamConfig op{.name = "op", .kind = "oidc", .client_id = "c", .client_secret = kSecret,
                            .scopes = {"openid"}, .issuer = "https://op.test"};
  auto oidc = query(op);
  EXPECT_EQ(oidc["prompt"], "login");
  EXPECT_EQ(oidc["max_age"], "0");
  op.preset = "google";
  auto google = query(op);
  EXPECT_EQ(google["prompt"], "select_account") << "Google has no prompt=login";
  EXPECT_EQ(google["max_age"], "0");
  EXPECT_EQ(query(github()).count("prompt"), 1u);
  fresh.force_login = false;
  EXPECT_EQ(query(oauth2()).count("prompt"), 0u);
}

TEST(Upstream, GitHubGetsItsCredentialsInTheBodyAndAsksForJson) {
  testing::FakeClock clock;
  Answers answers;
  answers.by_url["https://github.test/login/oauth/access_token"] = {
      200, R"({"access_token":"gho_x","token_type":"bearer","scope":"read:user"})"};
  answers.by_url["https://api.github.test/user"] = {200, R"({"id":42,"login":"octo"})"};
  Upstream gh(github(), answers.fetch(), clock);
  auto id = gh.identify("the-code", "the-verifier", kParams.redirect_uri, "");
  ASSERT_TRUE(id) << id.error().reason;
  EXPECT_EQ(id->subject, "42");
  const auto& token = answers.seen.front();
  EXPECT_EQ(token.method, "POST");
  EXPECT_EQ(*header(token, "accept"), "application/json");
  EXPECT_EQ(*header(token, "content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(header(token, "authorization"), nullptr);
  auto body = form_of(token.body);
  EXPECT_EQ(body["grant_type"], "authorization_code");
  EXPECT_EQ(body["code"], "the-code");
  EXPECT_EQ(body["code_verifier"], "the-verifier");
  EXPECT_EQ(body["redirect_uri"], kParams.redirect_uri);
  EXPECT_EQ(body["client_id"], "Iv1.abc");
  EXPECT_EQ(body["client_secret"], kSecret);
  // The upstream's access token goes to the API in a header only.
  for (std::size_t i = 1; i < answers.seen.size(); ++i) {
    EXPECT_EQ(*header(answers.seen[i], "authorization"), "Bearer gho_x");
    EXPECT_EQ(answers.seen[i].url.find("gho_x"), std::string::npos);
  }
}

TEST(Upstream, OAuth2UsesBasicWithFormEncodedPartsAndItsClaimMapping) {
  testing::FakeClock clock;
  Answers answers;
  answers.by_url["https://idp.test/token"] = {200, R"({"access_token":"at","token_type":"Bearer"})"};
  answers.by_url["https://idp.test/me"] = {200, R"({"uid":7,"email":"a@example.com","email_verified":true})"};
  Upstream corp(oauth2(), answers.fetch(), clock);
  auto id = corp.identify("c", "v", kParams.redirect_uri, "");
  ASSERT_TRUE(id) << id.error().reason;
  EXPECT_EQ(id->subject, "7");
  EXPECT_TRUE(id->email_verified);
  const auto* basic = header(answers.seen.front(), "authorization");
  ASSERT_NE(basic, nullptr);
  // RFC 6749 §2.3.1: each part form-encoded before Basic.
  EXPECT_EQ(*basic, "Basic " + base64_encode("my%20client:s3cret%2Fwith%2Bodd%3Dchars"));
  EXPECT_EQ(answers.seen.front().body.find("s3cret"), std::string::npos);
}

TEST(Upstream, TokenEndpointRefusalsAndOddAnswers) {
  testing::FakeClock clock;
  const auto outcome = [&](int status, std::string body) {
    Answers answers;
    answers.by_url["https://idp.test/token"] = {status, std::move(body)};
    answers.by_url["https://idp.test/me"] = {200, R"({"uid":"u"})"};
    Upstream corp(oauth2(), answers.fetch(), clock);
    return corp.identify("c", "v", kParams.redirect_uri, "");
  };
  auto refused = outcome(400, R"({"error":"invalid_grant","error_description":"code s3cret expired"})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, UpstreamErrc::bad_token);
  EXPECT_NE(refused.error().reason.find("invalid_grant"), std::string::npos);
  EXPECT_EQ(refused.error().reason.find("expired"), std::string::npos) << "descriptions are not quoted";

  auto weird = outcome(400, R"({"error":"<b>x</b>"})");
  ASSERT_FALSE(weird);
  EXPECT_EQ(weird.error().reason.find("<b>"), std::string::npos);

  EXPECT_EQ(outcome(200, R"({"error":"bad_verification_code"})").error().code, UpstreamErrc::bad_token);
  EXPECT_EQ(outcome(502, "<html>bad gateway</html>").error().code, UpstreamErrc::unavailable);
  EXPECT_EQ(outcome(500, R"({"error":"server_error"})").error().code, UpstreamErrc::unavailable);
  EXPECT_EQ(outcome(200, "not json").error().code, UpstreamErrc::bad_metadata);
  EXPECT_EQ(outcome(200, R"({"token_type":"Bearer"})").error().code, UpstreamErrc::bad_token);
  EXPECT_EQ(outcome(200, R"({"access_token":"at","token_type":"mac"})").error().code, UpstreamErrc::bad_token);
  EXPECT_TRUE(outcome(200, R"({"access_token":"at","token_type":"BEARER"})"));
}

}  // namespace
}  // namespace gatehouse::federation
