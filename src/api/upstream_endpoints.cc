// GET /auth/upstream/{name}/start and GET /auth/upstream/{name}/callback (SPEC §8,
// Federation; issue 9): signing in through an upstream identity provider. The rules live in
// federation::SignIn (federation/sign_in.h); here are the cookies and the pages. Also a user's
// links to upstream accounts: listed and removed by the user or an admin.
//
// The flow cookie is HttpOnly and SameSite=Lax: the callback arrives as a top-level navigation
// from the upstream's site, which Lax lets through and Strict would not. Under TLS it is named
// __Host-gatehouse_upstream (Secure, Path=/, no Domain: a sibling subdomain cannot plant one).
#include <boost/json.hpp>

#include "api/browser.h"
#include "api/common.h"
#include "api/pages.h"
#include "core/time.h"
#include "federation/sign_in.h"

namespace gatehouse::api {
namespace {

constexpr std::string_view kTitle = "Sign-in failed";

std::string_view flow_cookie_name(const Request& request) {
  return request.secure ? "__Host-gatehouse_upstream" : "gatehouse_upstream";
}

Response failed_page(const federation::SignInError& e) {
  Response res = pages::error(e.status, e.code == federation::SignInErrc::not_found ? "Not found" : kTitle, e.message);
  if (e.status == 503) res.set("Retry-After", "1");
  return res;
}

// The page for a query parameter given twice or a malformed query.
std::optional<std::string> single_param(const Request& request, std::string_view key, bool& malformed) {
  auto value = query_param(request, key);
  if (!value) {
    malformed = true;
    return std::nullopt;
  }
  return *value;
}

Response start(Services& services, const Request& request) {
  if (auto refused = rate_limit_anonymous(services, request)) return *refused;
  const std::string name(request.param("name"));
  bool malformed = false;
  const auto return_to = single_param(request, "return_to", malformed);
  const auto link = single_param(request, "link", malformed);
  const auto prompt = single_param(request, "prompt", malformed);
  if (malformed) return pages::error(400, kTitle, "The query string is malformed or repeats a parameter.");
  if (prompt && *prompt != "login") return pages::error(400, kTitle, "prompt must be login.");
  std::optional<federation::LinkRequest> linking;
  if (link) {
    if (*link != "1") return pages::error(400, kTitle, "link must be 1.");
    auto known = browser_user(services, request);
    if (!known) return pages::error(401, kTitle, "Log in first: linking adds a sign-in provider to your own account.");
    linking = federation::LinkRequest{.user_id = known->user->id, .auth_time = known->auth_time};
  }
  auto started = services.sign_in.start(name, return_to.value_or(""), linking, prompt.has_value(), context_of(request));
  if (!started) return failed_page(started.error());
  Response res = http::redirect(started->location, 302);
  res.add("Set-Cookie", set_cookie(request, flow_cookie_name(request), started->flow_cookie, "/",
                                   services.sign_in.flow_ttl().count(), "Lax"));
  return res;
}

Response callback(Services& services, const Request& request) {
  if (auto refused = rate_limit_anonymous(services, request)) return *refused;
  const std::string name(request.param("name"));
  bool malformed = false;
  federation::CallbackParams params{.state = single_param(request, "state", malformed),
                                    .code = single_param(request, "code", malformed),
                                    .error = single_param(request, "error", malformed)};
  if (auto known = browser_user(services, request)) params.signed_in_user_id = known->user->id;
  // The flow cookie goes whatever happens: one sign-in, one callback.
  const std::string clear = set_cookie(request, flow_cookie_name(request), "", "/", 0, "Lax");
  if (malformed) {
    Response res = pages::error(400, kTitle, "The query string is malformed or repeats a parameter.");
    res.add("Set-Cookie", clear);
    return res;
  }
  auto finished = services.sign_in.finish(name, params, cookie(request, flow_cookie_name(request)), context_of(request));
  if (!finished) {
    Response res = failed_page(finished.error());
    res.add("Set-Cookie", clear);
    return res;
  }
  Response res = finished->return_to.empty() ? pages::signed_in(finished->user.username)
                                             : http::redirect(finished->return_to, 303);
  res.add("Set-Cookie", clear);
  res.add("Set-Cookie", session_cookie(services, request, finished->session.access_token));
  return res;
}

Response sign_in_error(const federation::SignInError& e) {
  switch (e.code) {
    case federation::SignInErrc::not_found: return http::error_response(404, "not_found", e.message);
    case federation::SignInErrc::unavailable: return unavailable(e.message);
    case federation::SignInErrc::conflict: return http::error_response(409, "conflict", e.message);
    default: return bad_request(e.message);
  }
}

// {"links": [{"upstream", "subject", "created_at"}]}
Response links_of(Services& services, const std::string& user_id) {
  auto links = services.sign_in.links(user_id);
  if (!links) return sign_in_error(links.error());
  boost::json::array out;
  for (const auto& l : *links)
    out.push_back(boost::json::object{{"upstream", l.upstream}, {"subject", l.subject},
                                      {"created_at", rfc3339(l.created_at)}});
  return json(200, boost::json::object{{"links", std::move(out)}});
}

Response unlink(Services& services, const Request& request, const std::string& user_id,
                const std::string& actor_id) {
  auto removed = services.sign_in.unlink(user_id, std::string(request.param("name")), actor_id, context_of(request));
  if (!removed) return sign_in_error(removed.error());
  return http::no_content();
}

}  // namespace

void add_upstream_routes(http::Router& router, Services& services) {
  // Both talk to the upstream (discovery, token endpoint, userinfo): the blocking pool.
  router.add("GET", "/auth/upstream/{name}/start", http::Execution::blocking_pool,
             [&services](Request& r) { return start(services, r); });
  router.add("GET", "/auth/upstream/{name}/callback", http::Execution::blocking_pool,
             [&services](Request& r) { return callback(services, r); });
  // A user's links: their own, and any user's for an admin.
  router.add("GET", "/users/me/upstreams", http::Execution::blocking_pool, [&services](Request& r) {
    auto principal = authorize(services, r, "profile:read");
    return principal ? links_of(services, principal->user_id) : principal.error();
  });
  router.add("DELETE", "/users/me/upstreams/{name}", http::Execution::blocking_pool, [&services](Request& r) {
    auto principal = authorize(services, r, "profile:write");
    return principal ? unlink(services, r, principal->user_id, principal->user_id) : principal.error();
  });
  router.add("GET", "/api/users/{id}/upstreams", http::Execution::blocking_pool, [&services](Request& r) {
    auto principal = authorize(services, r, "users:read");
    return principal ? links_of(services, std::string(r.param("id"))) : principal.error();
  });
  router.add("DELETE", "/api/users/{id}/upstreams/{name}", http::Execution::blocking_pool, [&services](Request& r) {
    auto principal = authorize(services, r, "users:write");
    return principal ? unlink(services, r, std::string(r.param("id")), principal->user_id) : principal.error();
  });
}

}  // namespace gatehouse::api
