#include "oauth/clients.h"

#include <gtest/gtest.h>

#include "support/services.h"

namespace gatehouse::oauth {
namespace {

TEST(RedirectUris, AcceptHttpsLoopbackHttpAndReverseDomainSchemes) {
  for (const char* ok : {"https://app.example/cb", "https://app.example:8443/cb?x=1", "http://127.0.0.1:9/cb",
                         "http://[::1]:8080/", "http://localhost/cb", "com.example.app:/oauth2redirect"})
    EXPECT_EQ(redirect_uri_problem(ok), std::nullopt) << ok;
}

TEST(RedirectUris, RefuseWhatCouldLeakACode) {
  const std::pair<const char*, const char*> cases[] = {
      {"http://app.example/cb", "loopback"},
      {"http://127.0.0.1.evil.example/cb", "loopback"},
      {"https://app.example/cb#x", "fragment"},
      {"https://user:pw@app.example/cb", "user name"},
      {"https://127.0.0.1@evil.example/", "user name"},
      {"/cb", "absolute"},
      {"myapp:/cb", "reverse domain"},
      {"https:///cb", "host"},
      {"https://app.example/a b", "spaces"},
      {"", "1 to 2000"},
      {"https://a.example;sandbox/cb", "host name"},
      {"http://[::1].evil.example/cb", "port"},
      {"https://a.example:80x/cb", "port"},
      {"https://[::g]/cb", "IPv6"},
  };
  for (const auto& [uri, words] : cases) {
    auto problem = redirect_uri_problem(uri);
    ASSERT_TRUE(problem.has_value()) << uri;
    EXPECT_NE(problem->find(words), std::string::npos) << uri << ": " << *problem;
  }
}

TEST(ScopeTokens, FollowRfc6749) {
  EXPECT_TRUE(valid_scope_token("openid"));
  EXPECT_TRUE(valid_scope_token("profile:read"));
  EXPECT_FALSE(valid_scope_token(""));
  EXPECT_FALSE(valid_scope_token("a b"));
  EXPECT_FALSE(valid_scope_token("a\"b"));
  EXPECT_FALSE(valid_scope_token("a\\b"));
  EXPECT_FALSE(valid_scope_token(std::string(129, 'a')));
}

class ClientsTest : public ::testing::Test {
 protected:
  testing::ServiceGraph g_;
  Clients& clients_ = g_.clients;

  IssuedClient create(NewClient request) {
    auto issued = clients_.create(request, RequestContext{}, "admin");
    EXPECT_TRUE(issued) << (issued ? "" : issued.error().description);
    return issued ? *issued : IssuedClient{};
  }
};

TEST_F(ClientsTest, ConfidentialClientsGetAHighEntropySecretStoredAsADigest) {
  auto issued = create(NewClient{.name = "app", .redirect_uris = {"https://app.example/cb"}});
  EXPECT_EQ(issued.record.id.rfind("gcl_", 0), 0u);
  EXPECT_EQ(issued.secret.size(), 4u + 43u);
  EXPECT_EQ(issued.record.grant_types, (std::vector<std::string>{"authorization_code", "refresh_token"}));
  EXPECT_EQ(issued.record.scopes, std::vector<std::string>{"openid"});
  auto stored = g_.store().find_client(issued.record.id).value();
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->secret_digest, issued.secret);
  EXPECT_TRUE(Clients::secret_matches(*stored, issued.secret));
  EXPECT_FALSE(Clients::secret_matches(*stored, issued.secret + "x"));
  EXPECT_FALSE(Clients::secret_matches(*stored, ""));
  EXPECT_TRUE(g_.audited("client.created"));
}

TEST_F(ClientsTest, PublicClientsHaveNoSecretAndNoClientCredentials) {
  auto issued = create(NewClient{.name = "spa", .type = "public", .redirect_uris = {"http://127.0.0.1:3000/cb"}});
  EXPECT_TRUE(issued.secret.empty());
  EXPECT_FALSE(Clients::secret_matches(issued.record, ""));
  auto refused = clients_.create(NewClient{.name = "spa", .type = "public", .redirect_uris = {},
                                           .grant_types = std::vector<std::string>{"client_credentials"}},
                                 RequestContext{}, "admin");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ClientErrc::invalid_request);
  auto rotated = clients_.rotate_secret(issued.record.id, RequestContext{}, "admin");
  ASSERT_FALSE(rotated);
  EXPECT_EQ(rotated.error().code, ClientErrc::conflict);
}

TEST_F(ClientsTest, ValuesAreSortedAndDeduplicated) {
  auto issued = create(NewClient{.name = "app",
                                 .redirect_uris = {"https://b.example/cb", "https://a.example/cb", "https://b.example/cb"},
                                 .scopes = std::vector<std::string>{"profile", "openid", "profile"}});
  EXPECT_EQ(issued.record.redirect_uris, (std::vector<std::string>{"https://a.example/cb", "https://b.example/cb"}));
  EXPECT_EQ(issued.record.scopes, (std::vector<std::string>{"openid", "profile"}));
}

TEST_F(ClientsTest, FindIsCachedAndTheChangeFeedDropsDeletedClients) {
  auto issued = create(NewClient{.name = "svc", .redirect_uris = {},
                                 .grant_types = std::vector<std::string>{"client_credentials"}});
  auto found = clients_.find(issued.record.id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->name, "svc");
  EXPECT_EQ(clients_.find("gcl_" + std::string(22, 'x')).value(), nullptr);
  EXPECT_EQ(clients_.find("not-a-client-id").value(), nullptr);
  // Deleted behind this instance's back (another node): the feed drops the cached copy.
  ASSERT_TRUE(g_.store().delete_client(issued.record.id, 100, 200));
  ASSERT_TRUE(g_.feed.sync());
  EXPECT_EQ(clients_.find(issued.record.id).value(), nullptr);
}

TEST_F(ClientsTest, RotationReplacesTheSecretAtOnce) {
  auto issued = create(NewClient{.name = "svc", .redirect_uris = {},
                                 .grant_types = std::vector<std::string>{"client_credentials"}});
  ASSERT_TRUE(clients_.find(issued.record.id));  // cached
  auto rotated = clients_.rotate_secret(issued.record.id, RequestContext{}, "admin");
  ASSERT_TRUE(rotated);
  auto now = clients_.find(issued.record.id).value();
  EXPECT_FALSE(Clients::secret_matches(*now, issued.secret));
  EXPECT_TRUE(Clients::secret_matches(*now, rotated->secret));
  EXPECT_EQ(clients_.rotate_secret("gcl_nope", RequestContext{}, "admin").error().code, ClientErrc::not_found);
}

}  // namespace
}  // namespace gatehouse::oauth
