// GitHub's /user + /user/emails and an OAuth 2.0 userinfo URL, as the provider answers them
// (shapes from GitHub's REST API documentation), played by a fetch function over fixed bodies.
#include "federation/userinfo.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace gatehouse::federation {
namespace {

struct FakeApi {
  std::map<std::string, std::pair<int, std::string>> answers;  // url -> status, body
  std::vector<http::ClientRequest> seen;
  bool down{false};
  Fetch fetch() {
    return [this](const http::ClientRequest& r) -> Result<http::ClientResponse, http::ClientError> {
      seen.push_back(r);
      if (down) return tl::unexpected(http::ClientError{http::ClientErrc::timeout, "no answer from api.github.test in time"});
      auto it = answers.find(r.url);
      if (it == answers.end()) return http::ClientResponse{.status = 404, .body = R"({"message":"Not Found"})"};
      return http::ClientResponse{.status = it->second.first, .body = it->second.second};
    };
  }
};

constexpr const char* kToken = "gho_upstream-token-never-echoed";

const std::string* header(const http::ClientRequest& r, std::string_view name) {
  for (const auto& h : r.headers)
    if (h.name == name) return &h.value;
  return nullptr;
}

TEST(GithubIdentity, TheIdIsTheSubjectAndThePrimaryVerifiedEmailWins) {
  FakeApi api;
  api.answers["https://api.github.test/user"] = {200, R"({"login":"octocat","id":583231,"name":"The Octocat","email":"public@example.com"})"};
  api.answers["https://api.github.test/user/emails"] = {
      200, R"([{"email":"old@example.com","primary":false,"verified":true},)"
           R"({"email":"unverified@example.com","primary":true,"verified":false},)"
           R"({"email":"octo@example.com","primary":true,"verified":true}])"};
  auto id = github_identity(api.fetch(), "https://api.github.test/", kToken);
  ASSERT_TRUE(id) << id.error().reason;
  EXPECT_EQ(id->subject, "583231");
  EXPECT_EQ(id->username, "octocat");
  EXPECT_EQ(id->name, "The Octocat");
  EXPECT_EQ(id->email, "octo@example.com");
  EXPECT_TRUE(id->email_verified);
  ASSERT_EQ(api.seen.size(), 2u);
  for (const auto& r : api.seen) {
    ASSERT_NE(header(r, "authorization"), nullptr);
    EXPECT_EQ(*header(r, "authorization"), std::string("Bearer ") + kToken);
    EXPECT_EQ(r.method, "GET");
  }
}

TEST(GithubIdentity, WithoutTheEmailScopeThePublicEmailIsKeptUnverified) {
  FakeApi api;
  api.answers["https://api.github.test/user"] = {200, R"({"login":"octocat","id":583231,"email":"public@example.com"})"};
  api.answers["https://api.github.test/user/emails"] = {403, R"({"message":"Resource not accessible"})"};
  auto id = github_identity(api.fetch(), "https://api.github.test", kToken);
  ASSERT_TRUE(id) << id.error().reason;
  EXPECT_EQ(id->email, "public@example.com");
  EXPECT_FALSE(id->email_verified) << "a public profile email is not proof of ownership";
}

TEST(GithubIdentity, RefusalsAndBadAnswersNeverQuoteTheToken) {
  FakeApi refused;
  refused.answers["https://api.github.test/user"] = {401, R"({"message":"Bad credentials"})"};
  auto r = github_identity(refused.fetch(), "https://api.github.test", kToken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, UpstreamErrc::bad_token);

  FakeApi no_id;
  no_id.answers["https://api.github.test/user"] = {200, R"({"login":"octocat"})"};
  auto n = github_identity(no_id.fetch(), "https://api.github.test", kToken);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, UpstreamErrc::bad_token);

  FakeApi down;
  down.down = true;
  auto d = github_identity(down.fetch(), "https://api.github.test", kToken);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, UpstreamErrc::unavailable);
  for (const auto& e : {r.error(), n.error(), d.error()}) EXPECT_EQ(e.reason.find(kToken), std::string::npos) << e.reason;
}

TEST(Oauth2Identity, TheMappingSaysWhereEachClaimIs) {
  FakeApi api;
  api.answers["https://sso.test/me"] = {200, R"({"uid":1234,"mail":"ann@corp.test","login":"ann","email_verified":true})"};
  auto id = oauth2_identity(api.fetch(), "https://sso.test/me", kToken, ClaimMapping{.subject = "uid", .email = "mail", .username = "login"});
  ASSERT_TRUE(id) << id.error().reason;
  EXPECT_EQ(id->subject, "1234");
  EXPECT_EQ(id->email, "ann@corp.test");
  EXPECT_TRUE(id->email_verified);
  EXPECT_EQ(id->username, "ann");

  auto defaults = oauth2_identity(api.fetch(), "https://sso.test/me", kToken, ClaimMapping{});
  ASSERT_FALSE(defaults) << "no \"sub\" in this answer";
  EXPECT_EQ(defaults.error().code, UpstreamErrc::bad_token);

  api.answers["https://sso.test/list"] = {200, R"(["not","an","object"])"};
  auto list = oauth2_identity(api.fetch(), "https://sso.test/list", kToken, ClaimMapping{});
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, UpstreamErrc::bad_metadata);
  api.answers["https://sso.test/long"] = {200, R"({"sub":")" + std::string(300, 'x') + R"("})"};
  EXPECT_FALSE(oauth2_identity(api.fetch(), "https://sso.test/long", kToken, ClaimMapping{})) << "a 300-byte subject";
}

}  // namespace
}  // namespace gatehouse::federation
