// POST /auth/login, /auth/refresh, /auth/logout: the first-party session endpoints (SPEC §4).
#include <boost/json.hpp>

#include "api/common.h"

namespace gatehouse::api {
namespace {

Response token_response(const tokens::TokenPair& pair) {
  boost::json::object out;
  out["token"] = pair.access_token;  // the seed's clients read "token"
  out["access_token"] = pair.access_token;
  out["token_type"] = "Bearer";
  out["expires_in"] = pair.access_ttl.count();
  out["refresh_token"] = pair.refresh_token;
  out["refresh_expires_in"] = pair.refresh_ttl.count();
  return with_no_store(json(200, out));
}

Response token_error(const tokens::TokenError& error) {
  switch (error.code) {
    case tokens::TokenErrc::invalid_grant: return http::error_response(401, "invalid_grant", error.description);
    case tokens::TokenErrc::invalid_token: return http::error_response(401, "invalid_token", error.description);
    case tokens::TokenErrc::unavailable: break;
  }
  return unavailable(error.description);
}

Response login(Services& services, const Request& request) {
  if (auto refused = rate_limit_anonymous(services, request)) return *refused;
  auto body = json_object_body(request);
  if (!body) return body.error();
  std::optional<std::string> username, email, password;
  if (auto e = reject_unknown_fields(*body, {"username", "email", "password"})) return *e;
  if (auto e = read_string(*body, "username", username)) return *e;
  if (auto e = read_string(*body, "email", email)) return *e;
  if (auto e = read_string(*body, "password", password)) return *e;
  if (username && email) return bad_request("Send either username or email, not both.");
  if (auto e = require_present("username", username || email)) return *e;
  if (auto e = require_present("password", password.has_value())) return *e;
  auto result = services.accounts.login(username ? *username : *email, *password, context_of(request));
  if (!result) return account_error(result.error());
  return token_response(result->second);
}

Response refresh(Services& services, const Request& request) {
  if (auto refused = rate_limit_anonymous(services, request)) return *refused;
  auto body = json_object_body(request);
  if (!body) return body.error();
  std::optional<std::string> refresh_token;
  if (auto e = reject_unknown_fields(*body, {"refresh_token"})) return *e;
  if (auto e = read_string(*body, "refresh_token", refresh_token)) return *e;
  if (auto e = require_present("refresh_token", refresh_token.has_value())) return *e;
  auto pair = services.sessions.refresh(*refresh_token, context_of(request));
  if (!pair) return token_error(pair.error());
  return token_response(*pair);
}

Response logout(Services& services, const Request& request) {
  auto principal = authenticate(services, request);
  if (!principal) return principal.error();
  if (principal->session_id.empty())
    return bad_request("Logout ends a session: authenticate with the session's bearer access token.");
  std::optional<std::string> refresh_token;
  if (!request.body.empty()) {
    auto body = json_object_body(request);
    if (!body) return body.error();
    if (auto e = reject_unknown_fields(*body, {"refresh_token"})) return *e;
    if (auto e = read_string(*body, "refresh_token", refresh_token)) return *e;
  }
  const RequestContext ctx = context_of(request);
  if (auto ended = services.sessions.end_session(principal->session_id); !ended) return token_error(ended.error());
  std::vector<std::pair<std::string, std::string>> detail{{"session_id", principal->session_id}};
  if (refresh_token) {
    // A refresh token of another of the caller's sessions ends that one too; someone
    // else's token is ignored rather than confirmed or denied.
    std::string owner;
    auto other = services.sessions.session_of_refresh_token(*refresh_token, &owner);
    if (other && owner == principal->user_id && *other != principal->session_id) {
      if (auto ended = services.sessions.end_session(*other); !ended) return token_error(ended.error());
      detail.emplace_back("also_ended_session_id", *other);
    }
  }
  services.audit.record(ctx, audit::AuditEvent{.type = "logout", .success = true, .user_id = principal->user_id,
                                               .username = principal->username, .detail = std::move(detail)});
  return http::no_content();
}

}  // namespace

void add_auth_routes(http::Router& router, Services& services) {
  router.add("POST", "/auth/login", http::Execution::hashing_pool,
             [&services](Request& r) { return login(services, r); });
  router.add("POST", "/auth/refresh", http::Execution::blocking_pool,
             [&services](Request& r) { return refresh(services, r); });
  router.add("POST", "/auth/logout", http::Execution::blocking_pool,
             [&services](Request& r) { return logout(services, r); });
}

}  // namespace gatehouse::api
