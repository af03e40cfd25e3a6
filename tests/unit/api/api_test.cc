// Handlers driven through the Router without a network: parsing, mapping and headers.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/common.h"
#include "core/base64.h"
#include "support/services.h"

namespace gatehouse::api {
namespace {

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() {
    EXPECT_TRUE(g_.keyring.load());
    EXPECT_TRUE(g_.keyring.ensure_rs256());
    add_all_routes(router_, services_);
  }

  http::Response call(std::string method, std::string target, std::string body = {},
                      std::vector<http::Header> headers = {}) {
    http::Request r;
    r.method = std::move(method);
    r.target = target;
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = target.substr(q + 1);
    r.body = std::move(body);
    r.headers = std::move(headers);
    if (!r.body.empty() && !r.header("content-type")) r.headers.push_back({"content-type", "application/json"});
    r.remote_ip = "127.0.0.1";
    r.request_id = "test";
    auto match = router_.match(r);
    if (!match.route) return http::error_response(match.status, "routing", "");
    return match.route->handler(r);
  }

  std::string login(const std::string& user, const std::string& password) {
    auto res = call("POST", "/auth/login", R"({"username":")" + user + R"(","password":")" + password + R"("})");
    EXPECT_EQ(res.status, 200) << res.body;
    return std::string(boost::json::parse(res.body).at("access_token").as_string());
  }

  static std::string error_of(const http::Response& res) {
    return std::string(boost::json::parse(res.body).at("error").as_string());
  }

  testing::ServiceGraph g_;
  ratelimit::Limiter limiter_{g_.clock};
  ratelimit::Policy rate_policy_{};
  // The gateway's policies (/auth/check), in order: first match wins.
  authz::RoutePolicies policies_ = *authz::RoutePolicies::compile({
      {.path = "/public/**", .methods = {}, .require = {}, .anonymous = true, .rate_limit = {}},
      {.path = "/api/orders/*", .methods = {"GET"}, .require = {"profile:read"}, .anonymous = false, .rate_limit = {}},
      {.path = "/api/admin/**", .methods = {}, .require = {"users:write"}, .anonymous = false, .rate_limit = {}},
      {.path = "/api/limited", .methods = {}, .require = {}, .anonymous = false, .rate_limit = "2/minute"},
  });
  federation::SignIn sign_in_{g_.store(), g_.accounts, g_.sessions, g_.audit, g_.clients, g_.clock,
                              federation::SignInSettings{.base_url = "http://gatehouse.test"}, {}};
  Services services_{g_.store(), g_.accounts, g_.sessions, g_.authenticator, g_.audit, g_.clock, g_.keyring,
                     g_.api_keys, limiter_, rate_policy_, g_.clients, g_.provider, policies_, sign_in_};
  http::Router router_;
};

TEST_F(ApiTest, LoginAnswersTheSpecShapeWithNoStore) {
  g_.add_user("alice", "password-1");
  auto res = call("POST", "/auth/login", R"({"username":"alice","password":"password-1"})");
  ASSERT_EQ(res.status, 200);
  auto body = boost::json::parse(res.body).as_object();
  EXPECT_EQ(body.at("token"), body.at("access_token"));
  EXPECT_EQ(body.at("token_type"), "Bearer");
  EXPECT_EQ(body.at("expires_in"), 3600);
  EXPECT_EQ(body.at("refresh_expires_in"), 2592000);
  EXPECT_EQ(*res.header("cache-control"), "no-store");
}

TEST_F(ApiTest, MalformedBodiesAre400WithADescription) {
  const std::pair<std::string, std::string> cases[] = {
      {"{", "not valid JSON"},
      {"[]", "JSON object"},
      {R"({"username":"a"})", "password is required"},
      {R"({"username":"a","password":123})", "password must be a string, not a number"},
      {R"({"username":"a","password":"b","x":1})", R"(Unknown field \"x\")"},
      {R"({"username":"a","email":"b","password":"c"})", "either username or email"},
  };
  for (const auto& [body, expected] : cases) {
    auto res = call("POST", "/auth/login", body);
    EXPECT_EQ(res.status, 400) << body;
    EXPECT_NE(res.body.find(expected), std::string::npos) << body << " -> " << res.body;
  }
  auto wrong_type = call("POST", "/auth/login", "{}", {{"content-type", "text/plain"}});
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_NE(wrong_type.body.find("application/json"), std::string::npos);
}

TEST_F(ApiTest, ChallengesOn401AndInsufficientScopeOn403) {
  auto none = call("GET", "/users/me");
  EXPECT_EQ(none.status, 401);
  std::vector<std::string> challenges;
  for (const auto& h : none.headers)
    if (h.name == "WWW-Authenticate") challenges.push_back(h.value);
  EXPECT_EQ(challenges, (std::vector<std::string>{R"(Bearer realm="gatehouse")",
                                                  R"(Basic realm="gatehouse", charset="UTF-8")"}));
  auto bad = call("GET", "/users/me", {}, {{"authorization", "Bearer gat_wrong"}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(error_of(bad), "invalid_token");
  EXPECT_EQ(*bad.header("www-authenticate"), R"(Bearer realm="gatehouse", error="invalid_token")");

  g_.add_user("alice", "password-1");
  const std::string token = login("alice", "password-1");
  auto denied = call("GET", "/api/users", {}, {{"authorization", "Bearer " + token}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(error_of(denied), "forbidden");
  EXPECT_EQ(*denied.header("www-authenticate"), R"(Bearer error="insufficient_scope", scope="users:read")");
  EXPECT_TRUE(g_.audited("authz.denied"));
}

TEST_F(ApiTest, TwoCredentialsAreABadRequest) {
  auto res = call("GET", "/users/me", {}, {{"authorization", "Bearer x"}, {"x-api-key", "y"}});
  EXPECT_EQ(res.status, 400);
  auto query = call("GET", "/users/me?api_key=abc", {}, {{"authorization", "Basic " + base64_encode("a:b")}});
  EXPECT_EQ(query.status, 400);
}

TEST_F(ApiTest, AdminManagesUsersWithPagination) {
  g_.add_user("root", "password-1", {"admin"});
  const std::string token = login("root", "password-1");
  const std::vector<http::Header> auth{{"authorization", "Bearer " + token}};
  auto created = call("POST", "/api/users", R"({"username":"bob","password":"password-2","email":"bob@x.io"})", auth);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(boost::json::parse(created.body).at("id").as_string());
  EXPECT_EQ(call("POST", "/api/users", R"({"username":"BOB","password":"password-2"})", auth).status, 409);
  EXPECT_EQ(call("GET", "/api/users?limit=0", {}, auth).status, 400);
  EXPECT_EQ(call("GET", "/api/users?limit=abc", {}, auth).status, 400);
  auto page = boost::json::parse(call("GET", "/api/users?limit=1", {}, auth).body).as_object();
  ASSERT_EQ(page.at("users").as_array().size(), 1u);
  const std::string cursor(page.at("next_cursor").as_string());
  auto next = boost::json::parse(call("GET", "/api/users?limit=1&cursor=" + cursor, {}, auth).body).as_object();
  EXPECT_EQ(next.at("users").as_array().size(), 1u);
  EXPECT_TRUE(next.at("next_cursor").is_null());
  auto patched = call("PATCH", "/api/users/" + id, R"({"disabled":true,"email":null})", auth);
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_TRUE(boost::json::parse(patched.body).at("email").is_null());
  EXPECT_EQ(call("PATCH", "/api/users/" + id, "{}", auth).status, 400);
  EXPECT_EQ(call("GET", "/api/users/NOPE", {}, auth).status, 404);
  EXPECT_EQ(call("DELETE", "/api/users/" + id, {}, auth).status, 204);
  EXPECT_EQ(call("DELETE", "/api/users/" + id, {}, auth).status, 404);
}

TEST_F(ApiTest, PublishesTheJwksAndRotatesKeysForAdminsOnly) {
  auto jwks = call("GET", "/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  EXPECT_EQ(*jwks.header("cache-control"), "public, max-age=300");
  auto keys = boost::json::parse(jwks.body).at("keys").as_array();
  ASSERT_EQ(keys.size(), 2u);  // RS256 + ES256
  for (const auto& k : keys) EXPECT_FALSE(k.as_object().contains("d")) << "no private member";

  g_.add_user("alice", "password-1");
  const std::string user_token = login("alice", "password-1");
  EXPECT_EQ(call("POST", "/api/signing-keys/rotate", {}, {{"authorization", "Bearer " + user_token}}).status, 403);
  g_.add_user("root", "password-1", {"admin"});
  const std::vector<http::Header> admin{{"authorization", "Bearer " + login("root", "password-1")}};
  EXPECT_EQ(call("POST", "/api/signing-keys/rotate", R"({"alg":"HS256"})", admin).status, 400);
  auto rotated = call("POST", "/api/signing-keys/rotate", R"({"alg":"EdDSA"})", admin);
  ASSERT_EQ(rotated.status, 201) << rotated.body;
  EXPECT_EQ(boost::json::parse(rotated.body).at("alg"), "EdDSA");
  EXPECT_EQ(boost::json::parse(call("GET", "/.well-known/jwks.json").body).at("keys").as_array().size(), 3u);
  EXPECT_TRUE(g_.audited("signing_key.rotated"));
}

TEST_F(ApiTest, OnlyCredentialsHeldInMemoryMayRunInline) {
  const auto req = [](std::vector<http::Header> headers, std::string query = {}) {
    http::Request r;
    r.headers = std::move(headers);
    r.query = std::move(query);
    return r;
  };
  const auto in_memory = [this](const Request& r) { return credential_in_memory(services_, r); };
  EXPECT_TRUE(in_memory(req({{"authorization", "Bearer aaa.bbb.ccc"}})));
  EXPECT_TRUE(in_memory(req({{"authorization", "bearer aaa.bbb.ccc"}})));
  EXPECT_FALSE(in_memory(req({{"authorization", "Bearer gat_opaque"}})));
  EXPECT_FALSE(in_memory(req({{"authorization", "Basic YTpi"}})));  // never verified
  EXPECT_FALSE(in_memory(req({{"authorization", "Bearer a.b.c"}, {"x-api-key", "k"}})));
  EXPECT_FALSE(in_memory(req({{"authorization", "Bearer a.b.c"}, {"authorization", "Bearer d.e.f"}})));
  EXPECT_FALSE(in_memory(req({{"authorization", "Bearer a.b.c"}}, "api_key=x")));
  EXPECT_FALSE(in_memory(req({})));
  // An API key: only once this node has it cached as valid.
  auto user = g_.add_user("keyowner", "password-1");
  auto issued = g_.api_keys.create(keys::NewKey{.user_id = user.id, .name = "k"}, {"profile:read"}, {}, user.id);
  ASSERT_TRUE(issued);
  EXPECT_FALSE(in_memory(req({{"x-api-key", issued->key}})));
  ASSERT_TRUE(g_.api_keys.verify(issued->key));
  g_.users.invalidate(user.id);
  EXPECT_FALSE(in_memory(req({{"x-api-key", issued->key}}))) << "the owner must be cached too";
  ASSERT_TRUE(g_.authenticator.authenticate(authn::Presented{.authorization = {}, .api_key = {issued->key}}, {}));
  EXPECT_TRUE(in_memory(req({{"x-api-key", issued->key}})));
  EXPECT_TRUE(in_memory(req({{"authorization", "Bearer " + issued->key}})));
  EXPECT_FALSE(in_memory(req({{"x-api-key", issued->key}, {"authorization", "Bearer a.b.c"}})));
  // Basic: only once a verification of exactly these credentials is cached (and its user).
  const std::string basic = "Basic " + base64_encode("keyowner:password-1");
  EXPECT_FALSE(in_memory(req({{"authorization", basic}})));
  ASSERT_FALSE(g_.authenticator.authenticate(
      authn::Presented{.authorization = {"Basic " + base64_encode("keyowner:wrong-password")}}, {}));
  EXPECT_FALSE(in_memory(req({{"authorization", "Basic " + base64_encode("keyowner:wrong-password")}})))
      << "failures are never cached";
  ASSERT_TRUE(g_.authenticator.authenticate(authn::Presented{.authorization = {basic}}, {}));
  EXPECT_TRUE(in_memory(req({{"authorization", basic}})));
  EXPECT_TRUE(in_memory(req({{"authorization", "basic " + base64_encode("keyowner:password-1")}})));
  EXPECT_FALSE(in_memory(req({{"authorization", "Basic " + base64_encode("keyowner:password-2")}})));
}

// SPEC §7: a credential's scopes only narrow. A scoped key that may write keys cannot mint or
// rotate its way to a key with more than its own permissions.
TEST_F(ApiTest, ScopedCredentialsCannotWidenThroughKeys) {
  g_.add_user("root", "password-1", {"admin"});
  const std::string admin_token = login("root", "password-1");
  const auto bearer = [](const std::string& t) { return std::vector<http::Header>{{"authorization", "Bearer " + t}}; };
  auto created = call("POST", "/api/keys", R"({"name":"narrow","scopes":["keys:write"]})", bearer(admin_token));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string narrow = std::string(boost::json::parse(created.body).at("key").as_string());
  auto full = call("POST", "/api/keys", R"({"name":"full"})", bearer(admin_token));
  ASSERT_EQ(full.status, 201);
  const std::string full_id = std::string(boost::json::parse(full.body).at("id").as_string());

  // No scopes asked: the new key gets the scoped caller's own permissions, not the owner's.
  auto minted = call("POST", "/api/keys", R"({"name":"minted"})", {{"x-api-key", narrow}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  EXPECT_EQ(boost::json::serialize(boost::json::parse(minted.body).at("scopes")), R"(["keys:write"])");
  auto wider = call("POST", "/api/keys", R"({"name":"w","scopes":["users:read"]})", {{"x-api-key", narrow}});
  EXPECT_EQ(wider.status, 400) << wider.body;
  // Rotating the unscoped sibling would hand out a full key: refused.
  auto rotated = call("POST", "/api/keys/" + full_id + "/rotate", {}, {{"x-api-key", narrow}});
  EXPECT_EQ(rotated.status, 403) << rotated.body;
  EXPECT_EQ(call("POST", "/api/keys/" + full_id + "/rotate", {}, bearer(admin_token)).status, 201);

  // Admins revoke other users' keys but do not rotate them (that would hand them the new key).
  g_.add_user("bob", "password-2");
  const std::string bob = login("bob", "password-2");
  auto bobs = call("POST", "/api/keys", R"({"name":"bob"})", bearer(bob));
  ASSERT_EQ(bobs.status, 201);
  const std::string bob_key_id = std::string(boost::json::parse(bobs.body).at("id").as_string());
  EXPECT_EQ(call("POST", "/api/keys/" + bob_key_id + "/rotate", {}, bearer(admin_token)).status, 404);
  EXPECT_EQ(call("DELETE", "/api/keys/" + bob_key_id, {}, bearer(admin_token)).status, 204);
}

TEST_F(ApiTest, HealthAndReadiness) {
  EXPECT_EQ(call("GET", "/healthz").body, R"({"status":"ok"})");
  EXPECT_EQ(call("GET", "/readyz").status, 200);
}

// /auth/check (SPEC §10), driven as nginx's auth_request would: the original request in
// X-Original-Method / X-Original-URI, its credentials as this request's headers.

TEST_F(ApiTest, AuthCheckFollowsTheFirstMatchingPolicyAndDeniesByDefault) {
  const auto check = [&](const std::string& method, const std::string& uri, std::vector<http::Header> headers = {}) {
    headers.push_back({"x-original-method", method});
    headers.push_back({"x-original-uri", uri});
    auto res = call("GET", "/auth/check", {}, std::move(headers));
    EXPECT_EQ(res.body, "") << method << " " << uri;  // a proxy passes status and headers only
    EXPECT_EQ(res.header("Content-Type"), nullptr) << method << " " << uri;
    return res;
  };
  // Anonymous route: no credential needed.
  auto anonymous = check("GET", "/public/docs/index.html?x=1");
  EXPECT_EQ(anonymous.status, 200);
  EXPECT_EQ(*anonymous.header("X-Auth-Method"), "anonymous");
  for (const char* name : {"X-Auth-Subject", "X-Auth-Username", "X-Auth-Scopes", "X-Auth-Key-Id", "X-Auth-Client-Id"})
    EXPECT_EQ(*anonymous.header(name), "") << name;
  // No policy matches: denied before any credential is looked at.
  EXPECT_EQ(check("GET", "/elsewhere").status, 403);
  EXPECT_EQ(check("POST", "/api/orders/12").status, 403);  // the orders policy is GET only
  // A protected route without a credential: 401 with the challenges a proxy passes on.
  auto missing = check("GET", "/api/orders/12");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(*missing.header("WWW-Authenticate"), R"(Bearer realm="gatehouse")");

  const auto alice = g_.add_user("alice", "password-1");
  const std::string token = login("alice", "password-1");
  auto ok = check("GET", "/api/orders/12", {{"authorization", "Bearer " + token}});
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(*ok.header("X-Auth-Subject"), alice.id);
  EXPECT_EQ(*ok.header("X-Auth-Username"), "alice");
  EXPECT_EQ(*ok.header("X-Auth-Method"), "opaque");  // the test graph issues opaque tokens
  EXPECT_NE(ok.header("X-Auth-Scopes")->find("profile:read"), std::string::npos);
  // All six identity headers, empty where they do not apply (so a proxy overwrites them all).
  EXPECT_EQ(*ok.header("X-Auth-Key-Id"), "");
  EXPECT_EQ(*ok.header("X-Auth-Client-Id"), "");
  // "*" is one segment: deeper paths do not match the orders policy.
  EXPECT_EQ(check("GET", "/api/orders/12/items", {{"authorization", "Bearer " + token}}).status, 403);
  // Authenticated but lacking the policy's permission: 403 insufficient_scope, audited.
  auto denied = check("DELETE", "/api/admin/users/1", {{"authorization", "Bearer " + token}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(*denied.header("WWW-Authenticate"), R"(Bearer error="insufficient_scope", scope="users:write")");
  EXPECT_TRUE(g_.audited("authz.denied"));
  // Basic works the same way, without a bearer challenge on the 403.
  const std::string basic = "Basic " + base64_encode("alice:password-1");
  auto by_basic = check("GET", "/api/orders/7", {{"authorization", basic}});
  EXPECT_EQ(by_basic.status, 200);
  EXPECT_EQ(*by_basic.header("X-Auth-Method"), "basic");
  auto basic_denied = check("GET", "/api/admin/x", {{"authorization", basic}});
  EXPECT_EQ(basic_denied.status, 403);
  EXPECT_EQ(basic_denied.header("WWW-Authenticate"), nullptr);
  // A wrong token: 401 invalid_token.
  auto wrong = check("GET", "/api/orders/12", {{"authorization", "Bearer gat_wrong"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(*wrong.header("WWW-Authenticate"), R"(Bearer realm="gatehouse", error="invalid_token")");
}

TEST_F(ApiTest, AuthCheckNormalizesThePathBeforeMatching) {
  g_.add_user("bob", "password-1");
  const std::vector<http::Header> auth = {{"authorization", "Bearer " + login("bob", "password-1")}};
  const auto status = [&](const std::string& uri) {
    auto headers = auth;
    headers.push_back({"x-original-method", "GET"});
    headers.push_back({"x-original-uri", uri});
    return call("GET", "/auth/check", {}, headers).status;
  };
  EXPECT_EQ(status("/api/orders/12"), 200);
  // Dot segments and doubled slashes cannot walk a request past a stricter policy.
  EXPECT_EQ(status("/public/../api/admin/x"), 403);
  EXPECT_EQ(status("/public/%2e%2e/api/admin/x"), 403);
  EXPECT_EQ(status("//api//admin/x"), 403);
  EXPECT_EQ(status("/api/orders/./12"), 200);
  EXPECT_EQ(status("/api/%6Frders/12"), 200);  // an encoded unreserved character is the character
  // Refused outright: an encoded '/', a climb above the root, a bad escape, no URI at all.
  EXPECT_EQ(status("/api/orders%2F12"), 400);
  EXPECT_EQ(status("/../etc/passwd"), 400);
  EXPECT_EQ(status("/api/orders/%zz"), 400);
  EXPECT_EQ(call("GET", "/auth/check", {}, auth).status, 400);
}

TEST_F(ApiTest, AuthCheckTakesTraefikHeadersAndRouteRateLimits) {
  g_.add_user("carol", "password-1");
  const std::string token = login("carol", "password-1");
  const auto check = [&](const std::string& uri) {
    return call("GET", "/auth/check", {},
                {{"authorization", "Bearer " + token}, {"x-forwarded-method", "get"}, {"x-forwarded-uri", uri}});
  };
  EXPECT_EQ(check("/api/orders/1").status, 200);
  // Never a mix of the two families: a client's own X-Original-URI copied next to Traefik's
  // X-Forwarded-Uri must not decide what is checked.
  auto mixed = call("GET", "/auth/check", {},
                    {{"x-forwarded-method", "GET"}, {"x-forwarded-uri", "/api/admin/users"},
                     {"x-original-uri", "/public/x"}});
  EXPECT_EQ(mixed.status, 400);
  auto mixed_method = call("GET", "/auth/check", {},
                           {{"authorization", "Bearer " + token}, {"x-forwarded-method", "DELETE"},
                            {"x-forwarded-uri", "/api/orders/1"}, {"x-original-method", "GET"}});
  EXPECT_EQ(mixed_method.status, 400);
  // Envoy's path_prefix form: the suffix is ignored, the X-Original-* headers decide.
  auto envoy = call("GET", "/auth/check/anything/else", {},
                    {{"authorization", "Bearer " + token}, {"x-original-method", "GET"},
                     {"x-original-uri", "/api/admin/x"}});
  EXPECT_EQ(envoy.status, 403);
  // The route's own limit (2/minute), counted apart from carol's usual one.
  EXPECT_EQ(check("/api/limited").status, 200);
  EXPECT_EQ(check("/api/limited").status, 200);
  auto refused = check("/api/limited");
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.header("Retry-After"), nullptr);
  EXPECT_EQ(refused.body, "");
  EXPECT_EQ(check("/api/orders/1").status, 200);
}

}  // namespace
}  // namespace gatehouse::api
