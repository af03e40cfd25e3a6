#include "authz/route_policy.h"

#include <gtest/gtest.h>

namespace gatehouse::authz {
namespace {

bool glob(std::string_view pattern, std::string_view path) {
  auto g = PathGlob::compile(pattern);
  EXPECT_TRUE(g) << pattern;
  return g && g->matches(path);
}

TEST(RoutePolicy, StarIsOneSegmentAndDoubleStarAnyDepth) {
  EXPECT_TRUE(glob("/api/orders/*", "/api/orders/12"));
  EXPECT_FALSE(glob("/api/orders/*", "/api/orders/12/items"));
  EXPECT_FALSE(glob("/api/orders/*", "/api/orders"));
  EXPECT_TRUE(glob("/api/orders/*", "/api/orders/"));  // '*' may match an empty segment
  EXPECT_TRUE(glob("/api/**", "/api"));
  EXPECT_TRUE(glob("/api/**", "/api/a/b/c"));
  EXPECT_FALSE(glob("/api/**", "/apis/a"));
  EXPECT_TRUE(glob("/**", "/"));
  EXPECT_TRUE(glob("/**", "/anything/at/all"));
  EXPECT_TRUE(glob("/api/**/items", "/api/items"));
  EXPECT_TRUE(glob("/api/**/items", "/api/a/b/items"));
  EXPECT_FALSE(glob("/api/**/items", "/api/a/b/items/1"));
  EXPECT_TRUE(glob("/files/*.png", "/files/cat.png"));
  EXPECT_FALSE(glob("/files/*.png", "/files/cat.png/x"));
  EXPECT_FALSE(glob("/files/*.png", "/files/cat.jpg"));
  EXPECT_TRUE(glob("/a/*/c", "/a/b/c"));
  EXPECT_TRUE(glob("/exact", "/exact"));
  EXPECT_FALSE(glob("/exact", "/exact/"));
  EXPECT_FALSE(glob("/exact", "/Exact"));  // paths are case-sensitive
  // The literal part before the first '*' is checked first; it must stop at a segment edge.
  EXPECT_FALSE(glob("/api/**", "/apis"));
  EXPECT_TRUE(glob("/api/v*/x", "/api/v1/x"));
  EXPECT_FALSE(glob("/api/v*/x", "/apiv1/x"));
  EXPECT_FALSE(glob("/api/v*/x", "/api/w1/x"));
  EXPECT_TRUE(glob("/", "/"));
  EXPECT_FALSE(glob("/", "/a"));
  EXPECT_TRUE(glob("/a/", "/a/"));
  EXPECT_FALSE(glob("/a/", "/a"));
  EXPECT_TRUE(glob("/*", "/"));
}

TEST(RoutePolicy, ManyDoubleStarsStayLinearInThePath) {
  // A backtracking matcher takes time polynomial in the path per "**"; the path is the client's.
  std::string path = "/files";
  for (int i = 0; i < 4000; ++i) path += "/raw";
  EXPECT_FALSE(glob("/files/**/raw/**/raw/**/raw/**/x", path));
  EXPECT_TRUE(glob("/files/**/raw/**/raw/**/raw/**/x", path + "/x"));
  EXPECT_TRUE(glob("/**/**/**", path));  // consecutive ** are one
}

TEST(RoutePolicy, RefusesWhatIsNotAGlob) {
  for (const char* bad : {"", "api/*", "/api/**x", "/a**/b", "/api/?", "/api/[ab]", "/api/{a,b}", "/a/../b",
                          "/a/./b", "/a\\b"}) {
    auto g = PathGlob::compile(bad);
    EXPECT_FALSE(g) << bad;
  }
}

TEST(RoutePolicy, FirstMatchWinsAndMethodsFilter) {
  auto policies = RoutePolicies::compile({
      {.path = "/api/orders/*", .methods = {"GET", "HEAD"}, .require = {"orders:read"}, .anonymous = false, .rate_limit = {}},
      {.path = "/api/orders/*", .methods = {}, .require = {"orders:write"}, .anonymous = false, .rate_limit = {}},
      {.path = "/api/**", .methods = {}, .require = {}, .anonymous = false, .rate_limit = "10/minute"},
      {.path = "/health", .methods = {"GET"}, .require = {}, .anonymous = true, .rate_limit = {}},
  });
  ASSERT_TRUE(policies) << policies.error();
  EXPECT_EQ(policies->size(), 4u);
  EXPECT_EQ(policies->match("GET", "/api/orders/1")->index, 0u);
  EXPECT_EQ(policies->match("HEAD", "/api/orders/1")->index, 0u);
  EXPECT_EQ(policies->match("DELETE", "/api/orders/1")->index, 1u);
  EXPECT_EQ(policies->match("GET", "/api/customers/1")->index, 2u);
  EXPECT_EQ(policies->match("GET", "/health")->index, 3u);
  EXPECT_EQ(policies->match("POST", "/health"), nullptr);  // deny by default
  EXPECT_EQ(policies->match("GET", "/other"), nullptr);
  EXPECT_TRUE(RoutePolicies::compile({})->empty());
}

TEST(RoutePolicy, CompileNamesTheEntryAndTheProblem) {
  const auto error_of = [](PolicySpec spec) {
    auto p = RoutePolicies::compile({{.path = "/ok", .methods = {}, .require = {}, .anonymous = true, .rate_limit = {}},
                                     std::move(spec)});
    return p ? std::string() : p.error();
  };
  EXPECT_NE(error_of({.path = "nope"}).find("policy[1]: path \"nope\" must start with '/'"), std::string::npos);
  EXPECT_NE(error_of({.path = "/a", .methods = {"get"}}).find("unknown method \"get\""), std::string::npos);
  EXPECT_NE(error_of({.path = "/a", .methods = {}, .require = {"a b"}}).find("require"), std::string::npos);
  EXPECT_NE(error_of({.path = "/a", .methods = {}, .require = {"x"}, .anonymous = true}).find("contradict"),
            std::string::npos);
  EXPECT_NE(error_of({.path = "/a", .methods = {}, .require = {}, .anonymous = false, .rate_limit = "lots"})
                .find("rate_limit"),
            std::string::npos);
}

TEST(RoutePolicy, NormalizesRequestPaths) {
  const std::pair<const char*, const char*> cases[] = {
      {"/", "/"},
      {"/a/b", "/a/b"},
      {"/a/b/", "/a/b/"},
      {"/a/b?x=/../y#f", "/a/b"},
      {"//a///b", "/a/b"},
      {"/a/./b", "/a/b"},
      {"/a/b/..", "/a/"},
      {"/a/b/../c", "/a/c"},
      {"/a/%2e%2E/c", "/c"},
      {"/%7Euser/%41", "/~user/A"},
      {"/a%20b", "/a%20b"},    // a reserved or other escape stays encoded
      {"/a%3fb", "/a%3Fb"},    // upper-cased
      {"/caf%C3%A9", "/caf%C3%A9"},
  };
  for (const auto& [in, out] : cases) {
    auto got = normalize_request_path(in);
    ASSERT_TRUE(got) << in << ": " << got.error();
    EXPECT_EQ(*got, out) << in;
  }
  for (const char* bad : {"", "a/b", "/..", "/a/../..", "/%2e%2e/x", "/a%2fb", "/a%2Fb", "/a%5cb", "/a\\b", "/a%00",
                          "/a%", "/a%4", "/a%g0", "/a\tb", "/a\nb",
                          // read differently by common upstreams: path parameters, trailing dots,
                          // bytes that are not UTF-8 (overlong '.', stray continuation), raw non-ASCII
                          "/a;x/b", "/public/..;/api/admin", "/api/admin./users", "/api/admin%2E/users", "/a...",
                          "/a%C0%AE%C0%AE/b", "/a%FF", "/a%80", "/caf\xc3\xa9"}) {
    EXPECT_FALSE(normalize_request_path(bad)) << bad;
  }
}

// Paths that are already normal come back unchanged by a shortcut; every path, shortcut or not,
// normalizes to a fixed point with no empty or dot segment left in it.
TEST(NormalizeRequestPath, RandomPathsReachAFixedPoint) {
  static constexpr std::string_view kAlphabet = "/ab.%2eE5F;\\?";
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  const auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  int accepted = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string path = "/";
    for (std::size_t len = next() % 12; len > 0; --len) path += kAlphabet[next() % kAlphabet.size()];
    auto got = normalize_request_path(path);
    if (!got) continue;
    ++accepted;
    auto again = normalize_request_path(*got);
    ASSERT_TRUE(again) << path << " -> " << *got;
    EXPECT_EQ(*again, *got) << path;
    EXPECT_EQ(got->find("//"), std::string::npos) << path;
    EXPECT_EQ(got->find("/./"), std::string::npos) << path;
    EXPECT_EQ(got->find("/../"), std::string::npos) << path;
    EXPECT_FALSE(got->ends_with("/.") || got->ends_with("/..")) << path;
    bool plain = path.find_first_of("%;\\\\?") == std::string::npos && path.find("//") == std::string::npos;
    for (std::size_t i = 0; i < path.size(); ++i)
      if (path[i] == '.' && (i + 1 == path.size() || path[i + 1] == '/')) plain = false;
    if (plain) {
      EXPECT_EQ(*got, path);  // a plain path is its own normal form
    }
  }
  EXPECT_GT(accepted, 1000);
}

}  // namespace
}  // namespace gatehouse::authz
