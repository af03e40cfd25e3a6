// The user management API (SPEC §7): /api/users, /api/users/{id} and /api/users/{id}/unlock.
#include <boost/json.hpp>

#include "api/common.h"

namespace gatehouse::api {
namespace {

constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 200;

bool plausible_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id)
    if (!std::isalnum(c)) return false;
  return true;
}

Response list_users(Services& services, const Request& request) {
  auto principal = authorize(services, request, "users:read");
  if (!principal) return principal.error();
  auto limit = limit_param(request, kDefaultPage, kMaxPage);
  if (!limit) return limit.error();
  auto cursor = query_param(request, "cursor");
  if (!cursor) return cursor.error();
  if (*cursor && !plausible_id(**cursor)) return bad_request("cursor is not a value this API returned.");
  auto page = services.accounts.list(cursor->value_or(""), *limit);
  if (!page) return account_error(page.error());
  boost::json::array users;
  for (const auto& u : page->users) users.emplace_back(user_json(u));
  boost::json::object out;
  out["users"] = std::move(users);
  out["next_cursor"] = page->next_cursor.empty() ? boost::json::value(nullptr) : boost::json::value(page->next_cursor);
  return json(200, out);
}

Response create_user(Services& services, const Request& request) {
  auto principal = authorize(services, request, "users:write");
  if (!principal) return principal.error();
  auto body = json_object_body(request);
  if (!body) return body.error();
  std::optional<std::string> username, password, email;
  std::optional<std::vector<std::string>> roles;
  if (auto e = reject_unknown_fields(*body, {"username", "password", "email", "roles"})) return *e;
  if (auto e = read_string(*body, "username", username)) return *e;
  if (auto e = read_string(*body, "password", password)) return *e;
  if (body->contains("email") && !body->at("email").is_null()) {
    if (auto e = read_string(*body, "email", email)) return *e;
  }
  if (auto e = read_string_list(*body, "roles", roles)) return *e;
  if (auto e = require_present("username", username.has_value())) return *e;
  if (auto e = require_present("password", password.has_value())) return *e;
  if (roles && roles->empty()) return bad_request("roles must name at least one role.");
  auto user = services.accounts.create(
      accounts::NewUser{.username = *username, .password = *password, .email = email.value_or(""),
                        .roles = roles.value_or(std::vector<std::string>{})},
      context_of(request));
  if (!user) return account_error(user.error());
  Response res = json(201, user_json(*user));
  res.set("Location", "/api/users/" + user->id);
  return res;
}

Response get_user(Services& services, const Request& request) {
  auto principal = authorize(services, request, "users:read");
  if (!principal) return principal.error();
  const std::string id(request.param("id"));
  if (!plausible_id(id)) return http::error_response(404, "not_found", "No such user.");
  auto user = services.accounts.get(id);
  if (!user) return account_error(user.error());
  return json(200, user_json(*user));
}

Response patch_user(Services& services, const Request& request) {
  auto principal = authorize(services, request, "users:write");
  if (!principal) return principal.error();
  const std::string id(request.param("id"));
  if (!plausible_id(id)) return http::error_response(404, "not_found", "No such user.");
  auto body = json_object_body(request);
  if (!body) return body.error();
  if (auto e = reject_unknown_fields(*body, {"disabled", "roles", "password", "email"})) return *e;
  if (body->empty()) return bad_request("Nothing to change: send at least one of disabled, roles, password, email.");
  accounts::UserPatch patch;
  if (auto e = read_bool(*body, "disabled", patch.disabled)) return *e;
  if (auto e = read_string_list(*body, "roles", patch.roles)) return *e;
  if (auto e = read_string(*body, "password", patch.password)) return *e;
  if (body->contains("email") && body->at("email").is_null()) {
    patch.email = std::string();
  } else if (auto e = read_string(*body, "email", patch.email)) {
    return *e;
  }
  if (id == principal->user_id && patch.disabled.value_or(false))
    return http::error_response(409, "conflict", "You cannot disable your own account.");
  auto user = services.accounts.update(id, patch, context_of(request));
  if (!user) return account_error(user.error());
  return json(200, user_json(*user));
}

Response delete_user(Services& services, const Request& request) {
  auto principal = authorize(services, request, "users:write");
  if (!principal) return principal.error();
  const std::string id(request.param("id"));
  if (!plausible_id(id)) return http::error_response(404, "not_found", "No such user.");
  if (id == principal->user_id) return http::error_response(409, "conflict", "You cannot delete your own account.");
  auto removed = services.accounts.remove(id, context_of(request));
  if (!removed) return account_error(removed.error());
  return http::no_content();
}

// POST /api/users/{id}/unlock: ends a lock from failed logins (SPEC §7, §9).
Response unlock_user(Services& services, const Request& request) {
  auto principal = authorize(services, request, "users:write");
  if (!principal) return principal.error();
  const std::string id(request.param("id"));
  if (!plausible_id(id)) return http::error_response(404, "not_found", "No such user.");
  auto unlocked = services.accounts.unlock(id, context_of(request));
  if (!unlocked) return account_error(unlocked.error());
  return http::no_content();
}

}  // namespace

void add_user_admin_routes(http::Router& router, Services& services) {
  using http::Execution;
  router.add("GET", "/api/users", Execution::blocking_pool, [&services](Request& r) { return list_users(services, r); });
  router.add("POST", "/api/users", Execution::hashing_pool, [&services](Request& r) { return create_user(services, r); });
  router.add("GET", "/api/users/{id}", Execution::blocking_pool, [&services](Request& r) { return get_user(services, r); });
  router.add("PATCH", "/api/users/{id}", Execution::hashing_pool,
             [&services](Request& r) { return patch_user(services, r); });
  router.add("DELETE", "/api/users/{id}", Execution::blocking_pool,
             [&services](Request& r) { return delete_user(services, r); });
  router.add("POST", "/api/users/{id}/unlock", Execution::blocking_pool,
             [&services](Request& r) { return unlock_user(services, r); });
}

}  // namespace gatehouse::api
