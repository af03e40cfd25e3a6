// The API key API (SPEC §6): /api/keys, /api/keys/{id}, /api/keys/{id}/rotate. Users manage
// their own keys (keys:read, keys:write); admins (users:read, users:write) anyone's.
#include <boost/json.hpp>

#include <algorithm>

#include "api/common.h"
#include "authz/permissions.h"
#include "core/time.h"

namespace gatehouse::api {
namespace {

boost::json::value optional_time(const std::optional<std::int64_t>& t) {
  return t ? boost::json::value(rfc3339(*t)) : boost::json::value(nullptr);
}

boost::json::object key_json(const store::ApiKeyRecord& k) {
  boost::json::object out;
  out["id"] = k.id;
  out["name"] = k.name;
  out["prefix"] = k.prefix;
  boost::json::array scopes;
  for (const auto& s : k.scopes.value_or(std::vector<std::string>{})) scopes.emplace_back(s);
  out["scopes"] = std::move(scopes);
  out["created_at"] = rfc3339(k.created_at);
  out["expires_at"] = optional_time(k.expires_at);
  out["last_used_at"] = optional_time(k.last_used_at);
  out["revoked_at"] = optional_time(k.revoked_at);
  out["rate_limit"] = k.rate_limit.empty() ? boost::json::value(nullptr) : boost::json::value(k.rate_limit);
  return out;
}

Response issued_json(const keys::IssuedKey& issued) {
  boost::json::object out = key_json(issued.record);
  out.erase("last_used_at");
  out.erase("revoked_at");
  out["key"] = issued.key;  // shown this once
  Response res = json(201, out);
  res.set("Location", "/api/keys/" + issued.record.id);
  return with_no_store(std::move(res));
}

Response key_error(const keys::KeyError& error) {
  switch (error.code) {
    case keys::KeyErrc::invalid_request: return bad_request(error.description);
    case keys::KeyErrc::not_found: return http::error_response(404, "not_found", error.description);
    case keys::KeyErrc::conflict: return http::error_response(409, "conflict", error.description);
    case keys::KeyErrc::unavailable: return unavailable(error.description);
  }
  return unavailable(error.description);
}

Response no_such_key() { return http::error_response(404, "not_found", "No such API key."); }

// True when the caller's credential is narrower than its owner (a scoped key or token).
bool narrowed(const authn::Principal& principal) {
  return principal.permissions != authz::permissions_for(principal.roles);
}

// The key named in the path, if the caller may manage it: its own, or (`others`) anyone's for
// an admin (users:write). Someone else's key is a 404, so ids cannot be probed.
Result<store::ApiKeyRecord, Response> manageable_key(Services& services, const authn::Principal& principal,
                                                     const Request& request, bool others) {
  auto key = services.api_keys.get(std::string(request.param("id")));
  if (!key) return tl::unexpected(key.error().code == keys::KeyErrc::not_found ? no_such_key() : key_error(key.error()));
  if (key->user_id != principal.user_id && !(others && authz::has_permission(principal.permissions, "users:write")))
    return tl::unexpected(no_such_key());
  return std::move(*key);
}

// A third-party client's token acts for the user only while the grant lasts; a key it made
// would outlive the grant, the client and the session. Such tokens may not mint keys.
std::optional<Response> refuse_oauth(const authn::Principal& principal) {
  if (principal.method != authn::Method::oauth) return std::nullopt;
  return http::error_response(403, "forbidden",
                              "A token issued to an OAuth client may not create or rotate API keys.");
}

Response create_key(Services& services, const Request& request) {
  auto principal = authorize(services, request, "keys:write");
  if (!principal) return principal.error();
  if (auto refused = refuse_oauth(*principal)) return *refused;
  auto body = json_object_body(request);
  if (!body) return body.error();
  std::optional<std::string> name, rate;
  std::optional<std::vector<std::string>> scopes;
  std::optional<std::int64_t> expires_in;
  if (auto e = reject_unknown_fields(*body, {"name", "scopes", "expires_in", "rate_limit"})) return *e;
  if (auto e = read_string(*body, "name", name)) return *e;
  if (body->contains("rate_limit") && !body->at("rate_limit").is_null()) {
    if (auto e = read_string(*body, "rate_limit", rate)) return *e;
  }
  if (auto e = read_string_list(*body, "scopes", scopes)) return *e;
  if (body->contains("expires_in") && !body->at("expires_in").is_null()) {
    if (auto e = read_integer(*body, "expires_in", expires_in)) return *e;
  }
  if (auto e = require_present("name", name.has_value())) return *e;
  // The key acts with at most the permissions of the credential that creates it: a scoped key
  // or token that asks for "the owner's permissions" gets its own instead.
  if ((!scopes || scopes->empty()) && narrowed(*principal)) scopes = principal->permissions;
  auto issued = services.api_keys.create(
      keys::NewKey{.user_id = principal->user_id, .name = *name, .scopes = scopes, .expires_in = expires_in,
                   .rate_limit = rate.value_or("")},
      principal->permissions, context_of(request), principal->user_id);
  if (!issued) return key_error(issued.error());
  return issued_json(*issued);
}

Response list_keys(Services& services, const Request& request) {
  auto principal = authorize(services, request, "keys:read");
  if (!principal) return principal.error();
  auto user_id = query_param(request, "user_id");
  if (!user_id) return user_id.error();
  std::string owner = principal->user_id;
  if (*user_id && **user_id != principal->user_id) {
    if (!authz::has_permission(principal->permissions, "users:read"))
      return http::error_response(403, "forbidden", "Listing another user's keys needs users:read.");
    owner = **user_id;
  }
  auto keys = services.api_keys.list(owner);
  if (!keys) return key_error(keys.error());
  boost::json::array out;
  for (const auto& k : *keys) out.emplace_back(key_json(k));
  return json(200, boost::json::object{{"keys", std::move(out)}});
}

Response revoke_key(Services& services, const Request& request) {
  auto principal = authorize(services, request, "keys:write");
  if (!principal) return principal.error();
  auto key = manageable_key(services, *principal, request, true);
  if (!key) return key.error();
  auto revoked = services.api_keys.revoke(key->id, context_of(request), principal->user_id);
  if (!revoked) return key_error(revoked.error());
  return http::no_content();
}

Response rotate_key(Services& services, const Request& request) {
  auto principal = authorize(services, request, "keys:write");
  if (!principal) return principal.error();
  if (auto refused = refuse_oauth(*principal)) return *refused;
  std::optional<std::int64_t> grace;
  if (!request.body.empty()) {
    auto body = json_object_body(request);
    if (!body) return body.error();
    if (auto e = reject_unknown_fields(*body, {"grace_seconds"})) return *e;
    if (auto e = read_integer(*body, "grace_seconds", grace)) return *e;
  }
  // Only the owner rotates (the new key is handed out: an admin would get a key acting as
  // someone else); admins revoke.
  auto key = manageable_key(services, *principal, request, false);
  if (!key) return key.error();
  // Nor may a scoped credential obtain, by rotation, a key wider than itself.
  if (narrowed(*principal)) {
    const auto& wanted = key->scopes;
    const bool within = wanted && std::all_of(wanted->begin(), wanted->end(), [&](const std::string& s) {
      return authz::has_permission(principal->permissions, s);
    });
    if (!within)
      return http::error_response(403, "forbidden", "This credential may not rotate a key wider than its own scopes.");
  }
  auto issued = services.api_keys.rotate(key->id, std::chrono::seconds(grace.value_or(0)), context_of(request),
                                         principal->user_id);
  if (!issued) return key_error(issued.error());
  return issued_json(*issued);
}

}  // namespace

void add_api_key_routes(http::Router& router, Services& services) {
  using http::Execution;
  router.add("POST", "/api/keys", Execution::blocking_pool, [&services](Request& r) { return create_key(services, r); });
  router.add("GET", "/api/keys", Execution::blocking_pool, [&services](Request& r) { return list_keys(services, r); });
  router.add("DELETE", "/api/keys/{id}", Execution::blocking_pool,
             [&services](Request& r) { return revoke_key(services, r); });
  router.add("POST", "/api/keys/{id}/rotate", Execution::blocking_pool,
             [&services](Request& r) { return rotate_key(services, r); });
}

}  // namespace gatehouse::api
