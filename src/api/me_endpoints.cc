// GET /users/me and POST /users/me/password: self-service for any authenticated user.
#include <boost/json.hpp>

#include "api/common.h"
#include "core/time.h"

namespace gatehouse::api {
namespace {

Response me(Services& services, const Request& request) {
  auto principal = authorize(services, request, "profile:read");
  if (!principal) return principal.error();
  // Everything comes from the principal: the user was read (and found enabled) while authenticating.
  boost::json::array roles;
  for (const auto& r : principal->roles) roles.emplace_back(r);
  boost::json::object out;
  out["id"] = principal->user_id;
  out["username"] = principal->username;
  out["email"] = principal->email.empty() ? boost::json::value(nullptr) : boost::json::value(principal->email);
  out["roles"] = std::move(roles);
  out["created_at"] = rfc3339(principal->created_at);
  boost::json::array scopes;
  for (const auto& p : principal->permissions) scopes.emplace_back(p);
  boost::json::object auth;
  auth["method"] = std::string(authn::method_name(principal->method));
  auth["scopes"] = std::move(scopes);
  if (!principal->client_id.empty()) auth["client_id"] = principal->client_id;
  if (!principal->key_id.empty()) auth["key_id"] = principal->key_id;
  out["auth"] = std::move(auth);
  return json(200, out);
}

Response change_password(Services& services, const Request& request) {
  auto principal = authorize(services, request, "profile:write");
  if (!principal) return principal.error();
  auto body = json_object_body(request);
  if (!body) return body.error();
  std::optional<std::string> current, replacement;
  if (auto e = reject_unknown_fields(*body, {"current_password", "new_password"})) return *e;
  if (auto e = read_string(*body, "current_password", current)) return *e;
  if (auto e = read_string(*body, "new_password", replacement)) return *e;
  if (auto e = require_present("current_password", current.has_value())) return *e;
  if (auto e = require_present("new_password", replacement.has_value())) return *e;
  auto changed = services.accounts.change_password(principal->user_id, *current, *replacement, principal->session_id,
                                                   context_of(request));
  if (!changed) return account_error(changed.error());
  return http::no_content();
}

}  // namespace

void add_me_routes(http::Router& router, Services& services) {
  // Answered from the principal alone: with a JWT or a cached API key nothing waits on the store.
  router.add("GET", "/users/me", http::Execution::blocking_pool, [&services](Request& r) { return me(services, r); },
             [&services](const Request& r) { return credential_in_memory(services, r); });
  router.add("POST", "/users/me/password", http::Execution::hashing_pool,
             [&services](Request& r) { return change_password(services, r); });
}

}  // namespace gatehouse::api
