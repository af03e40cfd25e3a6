// The OAuth client API (SPEC §7, §8): POST/GET /api/clients, GET/DELETE /api/clients/{id},
// POST /api/clients/{id}/secret. Admins only (clients:read, clients:write).
#include <boost/json.hpp>

#include "api/common.h"
#include "core/time.h"

namespace gatehouse::api {
namespace {

constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 200;

boost::json::array string_array(const std::vector<std::string>& values) {
  boost::json::array out;
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

boost::json::object client_json(const store::ClientRecord& c) {
  boost::json::object out;
  out["client_id"] = c.id;
  out["name"] = c.name;
  out["type"] = c.type;
  out["redirect_uris"] = string_array(c.redirect_uris);
  out["grant_types"] = string_array(c.grant_types);
  out["scopes"] = string_array(c.scopes);
  out["trusted"] = c.trusted;
  out["introspect"] = c.introspect;
  out["token_endpoint_auth_method"] = c.type == "public" ? "none" : "client_secret_basic";
  out["created_at"] = rfc3339(c.created_at);
  out["updated_at"] = rfc3339(c.updated_at);
  return out;
}

Response issued_json(const oauth::IssuedClient& issued, int status) {
  boost::json::object out = client_json(issued.record);
  if (!issued.secret.empty()) out["client_secret"] = issued.secret;  // shown this once
  Response res = json(status, out);
  res.set("Location", "/api/clients/" + issued.record.id);
  return with_no_store(std::move(res));
}

Response client_error(const oauth::ClientError& error) {
  switch (error.code) {
    case oauth::ClientErrc::invalid_request: return bad_request(error.description);
    case oauth::ClientErrc::not_found: return http::error_response(404, "not_found", error.description);
    case oauth::ClientErrc::conflict: return http::error_response(409, "conflict", error.description);
    case oauth::ClientErrc::unavailable: return unavailable(error.description);
  }
  return unavailable(error.description);
}

Response create_client(Services& services, const Request& request) {
  auto principal = authorize(services, request, "clients:write");
  if (!principal) return principal.error();
  auto body = json_object_body(request);
  if (!body) return body.error();
  if (auto e = reject_unknown_fields(*body, {"name", "type", "redirect_uris", "grant_types", "scopes", "trusted",
                                             "introspect"}))
    return *e;
  std::optional<std::string> name, type;
  std::optional<std::vector<std::string>> redirect_uris, grant_types, scopes;
  std::optional<bool> trusted, introspect;
  if (auto e = read_string(*body, "name", name)) return *e;
  if (auto e = read_string(*body, "type", type)) return *e;
  if (auto e = read_string_list(*body, "redirect_uris", redirect_uris)) return *e;
  if (auto e = read_string_list(*body, "grant_types", grant_types)) return *e;
  if (auto e = read_string_list(*body, "scopes", scopes)) return *e;
  if (auto e = read_bool(*body, "trusted", trusted)) return *e;
  if (auto e = read_bool(*body, "introspect", introspect)) return *e;
  if (auto e = require_present("name", name.has_value())) return *e;
  auto issued = services.clients.create(
      oauth::NewClient{.name = *name,
                       .type = type.value_or("confidential"),
                       .redirect_uris = redirect_uris.value_or(std::vector<std::string>{}),
                       .grant_types = grant_types,
                       .scopes = scopes,
                       .trusted = trusted.value_or(false),
                       .introspect = introspect.value_or(false)},
      context_of(request), principal->user_id);
  if (!issued) return client_error(issued.error());
  return issued_json(*issued, 201);
}

Response list_clients(Services& services, const Request& request) {
  auto principal = authorize(services, request, "clients:read");
  if (!principal) return principal.error();
  auto limit = limit_param(request, kDefaultPage, kMaxPage);
  if (!limit) return limit.error();
  auto cursor = query_param(request, "cursor");
  if (!cursor) return cursor.error();
  if (*cursor && !oauth::is_client_id(**cursor)) return bad_request("cursor is not a value this API returned.");
  // One more than asked tells whether there is a next page.
  auto page = services.clients.list(cursor->value_or(""), *limit + 1);
  if (!page) return client_error(page.error());
  boost::json::array clients;
  std::string next;
  for (std::size_t i = 0; i < page->size(); ++i) {
    if (static_cast<int>(i) == *limit) {
      next = (*page)[i - 1].id;
      break;
    }
    clients.emplace_back(client_json((*page)[i]));
  }
  boost::json::object out;
  out["clients"] = std::move(clients);
  out["next_cursor"] = next.empty() ? boost::json::value(nullptr) : boost::json::value(next);
  return json(200, out);
}

Response get_client(Services& services, const Request& request) {
  auto principal = authorize(services, request, "clients:read");
  if (!principal) return principal.error();
  auto client = services.clients.get(std::string(request.param("id")));
  if (!client) return client_error(client.error());
  return json(200, client_json(*client));
}

Response delete_client(Services& services, const Request& request) {
  auto principal = authorize(services, request, "clients:write");
  if (!principal) return principal.error();
  auto removed = services.clients.remove(std::string(request.param("id")), services.sessions.revoked_until(),
                                         context_of(request), principal->user_id);
  if (!removed) return client_error(removed.error());
  services.sessions.changed();  // the revoked sessions reach this node's denylist now
  return http::no_content();
}

Response rotate_secret(Services& services, const Request& request) {
  auto principal = authorize(services, request, "clients:write");
  if (!principal) return principal.error();
  auto issued = services.clients.rotate_secret(std::string(request.param("id")), context_of(request),
                                               principal->user_id);
  if (!issued) return client_error(issued.error());
  return issued_json(*issued, 200);
}

}  // namespace

void add_client_routes(http::Router& router, Services& services) {
  using http::Execution;
  router.add("POST", "/api/clients", Execution::blocking_pool, [&services](Request& r) { return create_client(services, r); });
  router.add("GET", "/api/clients", Execution::blocking_pool, [&services](Request& r) { return list_clients(services, r); });
  router.add("GET", "/api/clients/{id}", Execution::blocking_pool,
             [&services](Request& r) { return get_client(services, r); });
  router.add("DELETE", "/api/clients/{id}", Execution::blocking_pool,
             [&services](Request& r) { return delete_client(services, r); });
  router.add("POST", "/api/clients/{id}/secret", Execution::blocking_pool,
             [&services](Request& r) { return rotate_secret(services, r); });
}

}  // namespace gatehouse::api
