#include "http/router.h"

#include <gtest/gtest.h>

namespace gatehouse::http {
namespace {

Handler named(std::string name) {
  return [name](Request&) { return json_response(200, "\"" + name + "\""); };
}

Request request(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

TEST(Router, MatchesLiteralsAndParameters) {
  Router router;
  router.add("GET", "/api/users", Execution::blocking_pool, named("list"));
  router.add("GET", "/api/users/{id}", Execution::blocking_pool, named("get"));
  auto r = request("GET", "/api/users/abc");
  auto m = router.match(r);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/users/{id}");
  EXPECT_EQ(r.param("id"), "abc");
  auto list = request("GET", "/api/users");
  EXPECT_EQ(router.match(list).route->pattern, "/api/users");
}

TEST(Router, ARestParameterTakesTheRemainingSegments) {
  Router router;
  router.add("GET", "/auth/check", Execution::blocking_pool, named("exact"));
  router.add("GET", "/auth/check/{rest...}", Execution::blocking_pool, named("rest"));
  auto exact = request("GET", "/auth/check");
  EXPECT_EQ(router.match(exact).route->pattern, "/auth/check");
  auto one = request("GET", "/auth/check/api");
  EXPECT_EQ(router.match(one).route->pattern, "/auth/check/{rest...}");
  EXPECT_EQ(one.param("rest"), "api");
  auto deep = request("GET", "/auth/check/api/orders/1");
  EXPECT_EQ(router.match(deep).route->pattern, "/auth/check/{rest...}");
  EXPECT_EQ(deep.param("rest"), "api/orders/1");
  auto other = request("GET", "/auth/checks/x");
  EXPECT_EQ(router.match(other).route, nullptr);
}

TEST(Router, TheFirstRegisteredRouteWinsWhateverItsShape) {
  Router router;
  router.add("GET", "/api/users/{id}", Execution::blocking_pool, named("param"));
  router.add("GET", "/api/users/me", Execution::blocking_pool, named("literal-shadowed"));
  router.add("POST", "/api/users/me", Execution::blocking_pool, named("literal-post"));
  router.add("GET", "/api/keys", Execution::blocking_pool, named("keys"));
  router.add("GET", "/api/{what}", Execution::blocking_pool, named("later-param"));
  auto me = request("GET", "/api/users/me");
  EXPECT_EQ(router.match(me).route->pattern, "/api/users/{id}");  // registered first
  EXPECT_EQ(me.param("id"), "me");
  auto post = request("POST", "/api/users/me");
  EXPECT_EQ(router.match(post).route->pattern, "/api/users/me");
  auto keys = request("GET", "/api/keys");
  EXPECT_EQ(router.match(keys).route->pattern, "/api/keys");  // the literal came first
  auto put = request("PUT", "/api/keys");
  auto m = router.match(put);
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET");  // /api/keys and /api/{what}, listed once
}

TEST(Router, DistinguishesNotFoundFromMethodNotAllowed) {
  Router router;
  router.add("GET", "/x/{id}", Execution::blocking_pool, named("get"));
  router.add("DELETE", "/x/{id}", Execution::blocking_pool, named("delete"));
  auto post = request("POST", "/x/1");
  auto m = router.match(post);
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET, DELETE");
  auto missing = request("GET", "/y");
  EXPECT_EQ(router.match(missing).status, 404);
  auto empty_param = request("GET", "/x/");
  EXPECT_EQ(router.match(empty_param).status, 404);
  auto deeper = request("GET", "/x/1/2");
  EXPECT_EQ(router.match(deeper).status, 404);
}

TEST(Router, KeepsTheInlinePredicate) {
  Router router;
  router.add("GET", "/me", Execution::blocking_pool, named("me"),
             [](const Request& r) { return r.header("authorization") != nullptr; });
  auto with = request("GET", "/me");
  with.headers.push_back({"authorization", "Bearer x.y.z"});
  auto m = router.match(with);
  ASSERT_NE(m.route, nullptr);
  ASSERT_TRUE(m.route->inline_when);
  EXPECT_TRUE(m.route->inline_when(with));
  EXPECT_FALSE(m.route->inline_when(request("GET", "/me")));
}

TEST(Router, RefusesDuplicateRoutes) {
  Router router;
  router.add("GET", "/a", Execution::network_thread, named("a"));
  EXPECT_THROW(router.add("GET", "/a", Execution::network_thread, named("b")), std::logic_error);
}

}  // namespace
}  // namespace gatehouse::http
