// /auth/check (SPEC §10): the auth sub-request of nginx (auth_request), Traefik (ForwardAuth)
// and Envoy (ext_authz, HTTP service). The proxy describes the original request in headers
// and forwards its credentials; the first [[policy]] that matches the original method and
// path decides. 200 carries the caller's identity in X-Auth-* headers; 400/401/403/429 carry
// the usual headers (WWW-Authenticate, Retry-After, RateLimit-*) and, like the 200, no body.
#include "api/common.h"
#include "authz/permissions.h"

namespace gatehouse::api {
namespace {

// nginx sends X-Original-*, Traefik X-Forwarded-*. One family per request, never a mix: a
// proxy that copies the client's headers onto the check (Traefik does) would otherwise let the
// client's own X-Original-URI stand in for the real one.
struct OriginalHeaders {
  const std::string* method{nullptr};
  const std::string* uri{nullptr};
};

Result<OriginalHeaders, Response> original_headers(const Request& request) {
  const OriginalHeaders nginx{request.header("x-original-method"), request.header("x-original-uri")};
  const OriginalHeaders traefik{request.header("x-forwarded-method"), request.header("x-forwarded-uri")};
  const bool has_nginx = nginx.method || nginx.uri, has_traefik = traefik.method || traefik.uri;
  if (has_nginx && has_traefik)
    return tl::unexpected(bad_request(
        "Both X-Original-* and X-Forwarded-Method/Uri are present; the proxy must send one family and drop the "
        "client's copies."));
  return has_nginx ? nginx : traefik;
}

// A proxy passes the status and headers on; a JSON body would only be thrown away.
Response bodiless(Response res) {
  res.body.clear();
  res.remove("Content-Type");
  return res;
}

struct Target {
  std::string method;
  std::string path;  // normalized
};

Result<Target, Response> target_of(const Request& request) {
  auto original = original_headers(request);
  if (!original) return tl::unexpected(std::move(original.error()));
  if (!original->uri)
    return tl::unexpected(bad_request("Send the original request's URI in X-Original-URI (nginx) or X-Forwarded-Uri."));
  auto path = authz::normalize_request_path(*original->uri);
  if (!path) return tl::unexpected(bad_request(path.error()));
  Target target{.method = original->method ? *original->method : request.method, .path = std::move(*path)};
  for (auto& c : target.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return target;
}

// A requirement holds when the credential has that permission; a client's own token
// (client_credentials) has no user and so no permissions: its granted scopes count instead.
bool holds(const authn::Principal& principal, const std::string& needed) {
  if (authz::has_permission(principal.permissions, needed)) return true;
  return principal.user_id.empty() && oauth::has_scope(principal.scopes, needed);
}

// Every identity header, empty where it does not apply: a proxy that copies the answer's
// X-Auth-* headers onto the upstream request then replaces every one a client may have sent.
Response identity(std::string subject, std::string username, std::string_view method, std::string scopes,
                  std::string key_id, std::string client_id) {
  Response res{.status = 200, .headers = {}, .body = {}};
  res.headers.reserve(6);
  res.add("X-Auth-Subject", std::move(subject));
  res.add("X-Auth-Username", std::move(username));
  res.add("X-Auth-Method", std::string(method));
  res.add("X-Auth-Scopes", std::move(scopes));
  res.add("X-Auth-Key-Id", std::move(key_id));
  res.add("X-Auth-Client-Id", std::move(client_id));
  return res;
}

Response allowed(const authn::Principal& principal) {
  const bool own_client = !principal.client_id.empty() && principal.client_id != tokens::kFirstPartyClient;
  return identity(principal.subject, principal.username, authn::method_name(principal.method),
                  oauth::join_scope(principal.user_id.empty() ? principal.scopes : principal.permissions),
                  principal.key_id, own_client ? principal.client_id : std::string());
}

Response check(Services& services, const Request& request) {
  auto target = target_of(request);
  if (!target) return bodiless(std::move(target.error()));
  const authz::RoutePolicy* policy = services.policies.match(target->method, target->path);
  if (!policy)
    return bodiless(http::error_response(403, "forbidden", "No policy allows this method and path (deny by default)."));
  std::optional<RouteLimit> route_limit;
  if (policy->limit) route_limit = RouteLimit{*policy->limit, policy->limit_key};

  if (policy->spec.anonymous) {
    // Nobody to count but the client's address, in a bucket of its own (not the one its
    // logins count against).
    if (services.rate_policy.enabled && !request.remote_ip.empty()) {
      std::string key = "gw:ip:" + request.remote_ip;
      if (route_limit) key.append("|").append(route_limit->name);
      if (auto refused = rate_limit(services, request, key,
                                    route_limit ? route_limit->limit : services.rate_policy.default_limit, {}))
        return bodiless(std::move(*refused));
    }
    return identity({}, {}, "anonymous", {}, {}, {});
  }

  auto principal = identify(services, request);
  if (!principal) return bodiless(std::move(principal.error()));
  if (auto refused = rate_limit_principal(services, request, *principal, route_limit ? &*route_limit : nullptr))
    return bodiless(std::move(*refused));
  std::vector<std::string> missing;
  for (const auto& needed : policy->spec.require)
    if (!holds(*principal, needed)) missing.push_back(needed);
  if (missing.empty()) return allowed(*principal);

  const std::string needed = oauth::join_scope(policy->spec.require);
  services.audit.record(context_of(request),
                        audit::AuditEvent{.type = "authz.denied", .success = false, .user_id = principal->user_id,
                                          .username = principal->username,
                                          .detail = {{"permission", oauth::join_scope(missing).substr(0, 256)},
                                                     {"method", target->method.substr(0, 16)},
                                                     {"path", target->path.substr(0, 256)},
                                                     {"via", "auth_check"}}});
  Response res =
      http::error_response(403, "insufficient_scope", "This credential lacks " + oauth::join_scope(missing) + ".");
  if (principal->method != authn::Method::basic)  // RFC 6750 §3.1
    res.add("WWW-Authenticate", "Bearer error=\"insufficient_scope\", scope=\"" + needed + "\"");
  return bodiless(std::move(res));
}

// Store-free when the request carries no credential (anonymous, denied or 401 alike: all
// decided from memory) or one that verifies from memory. Policies are not matched here: the
// handler does that once.
bool check_in_memory(Services& services, const Request& request) {
  for (const auto& h : request.headers)
    if (h.name == "authorization" || h.name == "x-api-key") return credential_in_memory(services, request);
  return request.query.find("api_key") == std::string::npos;
}

}  // namespace

void add_gateway_routes(http::Router& router, Services& services) {
  // Envoy's ext_authz (path_prefix) appends the original path: /auth/check/api/orders/1. The
  // original request is still read from the X-Original-* headers, never from that suffix.
  for (const char* pattern : {"/auth/check", "/auth/check/{rest...}"})
    for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
      router.add(
          method, pattern, http::Execution::blocking_pool, [&services](Request& r) { return check(services, r); },
          [&services](const Request& r) { return check_in_memory(services, r); });
}

}  // namespace gatehouse::api
