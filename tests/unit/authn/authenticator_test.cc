#include "authn/authenticator.h"

#include <gtest/gtest.h>

#include "authz/permissions.h"
#include "core/base64.h"
#include "support/services.h"

namespace gatehouse::authn {
namespace {

using testing::ServiceGraph;

Presented bearer(const std::string& token) { return Presented{.authorization = {"Bearer " + token}, .api_key = {}}; }
Presented basic(const std::string& user, const std::string& password) {
  return Presented{.authorization = {"Basic " + base64_encode(user + ":" + password)}, .api_key = {}};
}

TEST(Authenticator, BearerAccessTokenGivesTheUsersPrincipal) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto session = g.accounts.login("alice", "password-1", {});
  auto p = g.authenticator.authenticate(bearer(session->second.access_token), {});
  ASSERT_TRUE(p) << p.error().description;
  EXPECT_EQ(p->user_id, user.id);
  EXPECT_EQ(p->method, Method::opaque);
  EXPECT_EQ(p->session_id, session->second.session_id);
  EXPECT_EQ(p->permissions, (std::vector<std::string>{"keys:read", "keys:write", "profile:read", "profile:write"}));
}

TEST(Authenticator, SchemeIsCaseInsensitive) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  auto session = g.accounts.login("alice", "password-1", {});
  EXPECT_TRUE(g.authenticator.authenticate(
      Presented{.authorization = {"bearer " + session->second.access_token}, .api_key = {}}, {}));
}

TEST(Authenticator, RefusesMissingAmbiguousAndMalformedCredentials) {
  ServiceGraph g;
  EXPECT_EQ(g.authenticator.authenticate(Presented{}, {}).error().code, AuthnErrc::missing);
  EXPECT_EQ(g.authenticator.authenticate(Presented{.authorization = {"Bearer a"}, .api_key = {"k"}}, {}).error().code,
            AuthnErrc::ambiguous);
  EXPECT_EQ(g.authenticator.authenticate(Presented{.authorization = {"Bearer a", "Bearer b"}, .api_key = {}}, {}).error().code,
            AuthnErrc::ambiguous);
  Presented query{.authorization = {"Bearer a"}, .api_key = {}, .api_key_query = {"k"}};
  EXPECT_EQ(g.authenticator.authenticate(query, {}).error().code, AuthnErrc::ambiguous);
  for (const char* header : {"Digest abc", "Basic !!!", "Basic " "dXNlcg==" /* "user": no colon */, "Bearer", "Basic"}) {
    auto r = g.authenticator.authenticate(Presented{.authorization = {header}, .api_key = {}}, {});
    ASSERT_FALSE(r) << header;
    EXPECT_EQ(r.error().code, AuthnErrc::invalid_token) << header;
  }
  auto bad_token = g.authenticator.authenticate(bearer("gat_nope"), {});
  EXPECT_TRUE(bad_token.error().bearer_presented);
}

TEST(Authenticator, BasicVerifiesAndAuditsFailures) {
  ServiceGraph g;
  auto user = g.add_user("alice", "pass:with:colons");
  auto ok = g.authenticator.authenticate(basic("alice", "pass:with:colons"), {});
  ASSERT_TRUE(ok) << ok.error().description;
  EXPECT_EQ(ok->method, Method::basic);
  EXPECT_EQ(ok->user_id, user.id);
  auto wrong = g.authenticator.authenticate(basic("alice", "nope-nope"), {});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, AuthnErrc::invalid_credentials);
  EXPECT_TRUE(g.audited("basic.failure"));
}

TEST(Authenticator, CachedBasicStillSeesDisableDeleteAndPasswordChange) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  ASSERT_TRUE(g.authenticator.authenticate(basic("alice", "password-1"), {}));  // now cached
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.disabled = true}, {}));
  EXPECT_FALSE(g.authenticator.authenticate(basic("alice", "password-1"), {}));
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.disabled = false}, {}));
  ASSERT_TRUE(g.authenticator.authenticate(basic("alice", "password-1"), {}));
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.password = "password-2"}, {}));
  EXPECT_FALSE(g.authenticator.authenticate(basic("alice", "password-1"), {}));
  ASSERT_TRUE(g.authenticator.authenticate(basic("alice", "password-2"), {}));
  ASSERT_TRUE(g.accounts.remove(user.id, {}));
  EXPECT_FALSE(g.authenticator.authenticate(basic("alice", "password-2"), {}));
}

TEST(Authenticator, JwtAccessTokensVerifyFromMemoryAndDieWithTheirSession) {
  ServiceGraph g;
  g.use_jwt();
  auto user = g.add_user("alice", "password-1");
  auto session = g.accounts.login("alice", "password-1", {});
  ASSERT_TRUE(session);
  ASSERT_TRUE(tokens::looks_like_jwt(session->second.access_token));
  auto p = g.authenticator.authenticate(bearer(session->second.access_token), {});
  ASSERT_TRUE(p) << p.error().description;
  EXPECT_EQ(p->method, Method::jwt);
  EXPECT_EQ(p->user_id, user.id);
  EXPECT_EQ(p->session_id, session->second.session_id);
  EXPECT_EQ(p->client_id, "gatehouse");
  ASSERT_TRUE(g.sessions.end_session(session->second.session_id));
  auto after = g.authenticator.authenticate(bearer(session->second.access_token), {});
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, AuthnErrc::invalid_token);
}

TEST(Authenticator, JwtOfADisabledOrDemotedUserIsRefusedOrNarrowed) {
  ServiceGraph g;
  g.use_jwt();
  auto user = g.add_user("root", "password-1", {"admin"});
  auto session = g.accounts.login("root", "password-1", {});
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.roles = std::vector<std::string>{"user"}}, {}));
  auto demoted = g.authenticator.authenticate(bearer(session->second.access_token), {});
  ASSERT_TRUE(demoted);
  EXPECT_FALSE(authz::has_permission(demoted->permissions, "users:read")) << "a removed role is gone at once";
  // Another process disables the user: the change feed carries it to this node.
  ASSERT_TRUE(g.store().update_user(user.id, store::UserChanges{.disabled = true, .updated_at = 1}));
  ASSERT_TRUE(g.feed.sync());
  EXPECT_FALSE(g.authenticator.authenticate(bearer(session->second.access_token), {}));
}

TEST(Authenticator, DisabledUsersBearerTokensFail) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto session = g.accounts.login("alice", "password-1", {});
  // Flip the flag in the store directly, as another node would: sessions are not revoked,
  // yet the user check still refuses the token.
  ASSERT_TRUE(g.store().update_user(user.id, store::UserChanges{.disabled = true, .updated_at = 1}));
  ASSERT_TRUE(g.feed.sync());
  EXPECT_FALSE(g.authenticator.authenticate(bearer(session->second.access_token), {}));
}

TEST(Authenticator, ApiKeysActAsTheirOwnerNarrowedByScopes) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto issued = g.api_keys.create(keys::NewKey{.user_id = user.id, .name = "ci", .scopes = std::vector<std::string>{"profile:read"}},
                                  authz::permissions_for({"user"}), {}, user.id);
  ASSERT_TRUE(issued) << issued.error().description;
  for (const Presented& p : {Presented{.authorization = {}, .api_key = {issued->key}},
                             Presented{.authorization = {"Bearer " + issued->key}, .api_key = {}}}) {
    auto principal = g.authenticator.authenticate(p, {});
    ASSERT_TRUE(principal) << principal.error().description;
    EXPECT_EQ(principal->method, Method::api_key);
    EXPECT_EQ(principal->user_id, user.id);
    EXPECT_EQ(principal->key_id, issued->record.id);
    EXPECT_EQ(principal->permissions, std::vector<std::string>{"profile:read"});
  }
  // The query parameter is refused unless configured, with a description that says why.
  auto query = g.authenticator.authenticate(Presented{.authorization = {}, .api_key = {}, .api_key_query = {issued->key}}, {});
  ASSERT_FALSE(query);
  EXPECT_NE(query.error().description.find("X-API-Key"), std::string::npos);
  Authenticator with_query(g.accounts, g.users, g.sessions, g.access_tokens, g.api_keys, g.audit, g.clock,
                           AuthnSettings{.api_key_query_param = true});
  EXPECT_TRUE(with_query.authenticate(Presented{.authorization = {}, .api_key = {}, .api_key_query = {issued->key}}, {}));
  // Revoked: refused at once, and the failure is audited by display prefix only.
  ASSERT_TRUE(g.api_keys.revoke(issued->record.id, {}, user.id));
  auto revoked = g.authenticator.authenticate(Presented{.authorization = {}, .api_key = {issued->key}}, {});
  ASSERT_FALSE(revoked);
  EXPECT_EQ(revoked.error().code, AuthnErrc::invalid_token);
  EXPECT_TRUE(g.audited("apikey.failure"));
  for (const auto& line : g.audit_lines) EXPECT_EQ(line.find(issued->key), std::string::npos) << line;
}

TEST(Authenticator, ApiKeysOfDisabledOwnersStop) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto issued = g.api_keys.create(keys::NewKey{.user_id = user.id, .name = "ci"}, authz::permissions_for({"user"}), {},
                                  user.id);
  ASSERT_TRUE(issued);
  const Presented p{.authorization = {}, .api_key = {issued->key}};
  ASSERT_TRUE(g.authenticator.authenticate(p, {}));
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.disabled = true}, {}));
  EXPECT_FALSE(g.authenticator.authenticate(p, {}));
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.disabled = false}, {}));
  EXPECT_FALSE(g.authenticator.authenticate(p, {})) << "disabling revoked the key for good";
}

TEST(Authenticator, BasicCanBeSwitchedOff) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  Authenticator no_basic(g.accounts, g.users, g.sessions, g.access_tokens, g.api_keys, g.audit, g.clock,
                         AuthnSettings{.basic_enabled = false});
  EXPECT_FALSE(no_basic.authenticate(basic("alice", "password-1"), {}));
}

}  // namespace
}  // namespace gatehouse::authn
