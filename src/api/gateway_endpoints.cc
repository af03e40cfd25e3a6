// /auth/check (SPEC §10): the auth sub-request of nginx (auth_request), Traefik (ForwardAuth)
// and Envoy (ext_authz, HTTP service). The proxy describes the original request in headers
// and forwards its credentials; the first [[policy]] that matches the original method and
// path decides. 200 carries the caller's identity in X-Auth-* headers; 400/401/403/429 carry
// the usual headers (WWW-Authenticate, Retry-After, RateLimit-*) and, like the 200, no body.
#include <algorithm>

#include "api/common.h"
#include "authz/permissions.h"

namespace gatehouse::api {
namespace {

// nginx sends X-Original-*, Traefik X-Forwarded-* (Envoy: whichever its config adds).
const std::string* original(const Request& request, std::string_view nginx_name, std::string_view traefik_name) {
  if (const std::string* v = request.header(nginx_name)) return v;
  return request.header(traefik_name);
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
  const std::string* uri = original(request, "x-original-uri", "x-forwarded-uri");
  if (!uri)
    return tl::unexpected(bad_request("Send the original request's URI in X-Original-URI (nginx) or X-Forwarded-Uri."));
  auto path = authz::normalize_request_path(*uri);
  if (!path) return tl::unexpected(bad_request(path.error()));
  const std::string* method = original(request, "x-original-method", "x-forwarded-method");
  Target target{.method = method ? *method : request.method, .path = std::move(*path)};
  for (auto& c : target.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return target;
}

// A requirement holds when the credential has that permission; a client's own token
// (client_credentials) has no user and so no permissions: its granted scopes count instead.
bool holds(const authn::Principal& principal, const std::string& needed) {
  if (authz::has_permission(principal.permissions, needed)) return true;
  return principal.user_id.empty() &&
         std::find(principal.scopes.begin(), principal.scopes.end(), needed) != principal.scopes.end();
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out.push_back(' ');
    out += item;
  }
  return out;
}

Response allowed(const authn::Principal& principal) {
  Response res{.status = 200, .headers = {}, .body = {}};
  res.headers.reserve(6);
  res.add("X-Auth-Subject", principal.subject);
  if (!principal.username.empty()) res.add("X-Auth-Username", principal.username);
  res.add("X-Auth-Method", std::string(authn::method_name(principal.method)));
  res.add("X-Auth-Scopes", joined(principal.user_id.empty() ? principal.scopes : principal.permissions));
  if (!principal.key_id.empty()) res.add("X-Auth-Key-Id", principal.key_id);
  if (!principal.client_id.empty() && principal.client_id != tokens::kFirstPartyClient)
    res.add("X-Auth-Client-Id", principal.client_id);
  return res;
}

Response check(Services& services, const Request& request) {
  auto target = target_of(request);
  if (!target) return bodiless(std::move(target.error()));
  const authz::RoutePolicy* policy = services.policies.match(target->method, target->path);
  if (!policy)
    return bodiless(http::error_response(403, "forbidden", "No policy allows this method and path (deny by default)."));
  std::optional<RouteLimit> route_limit;
  const std::string limit_name = "policy:" + std::to_string(policy->index);
  if (!policy->spec.rate_limit.empty())
    route_limit = RouteLimit{*ratelimit::parse_limit(policy->spec.rate_limit), limit_name};

  if (policy->spec.anonymous) {
    // Nobody to count but the client's address.
    if (services.rate_policy.enabled && !request.remote_ip.empty()) {
      std::string key = "ip:" + request.remote_ip;
      if (route_limit) key.append("|").append(limit_name);
      if (auto refused = rate_limit(services, request, key,
                                    route_limit ? route_limit->limit : services.rate_policy.default_limit, {}))
        return bodiless(std::move(*refused));
    }
    return Response{.status = 200, .headers = {{"X-Auth-Method", "anonymous"}}, .body = {}};
  }

  auto principal = identify(services, request);
  if (!principal) return bodiless(std::move(principal.error()));
  if (auto refused = rate_limit_principal(services, request, *principal, route_limit ? &*route_limit : nullptr))
    return bodiless(std::move(*refused));
  std::vector<std::string> missing;
  for (const auto& needed : policy->spec.require)
    if (!holds(*principal, needed)) missing.push_back(needed);
  if (missing.empty()) return allowed(*principal);

  const std::string needed = joined(policy->spec.require);
  services.audit.record(context_of(request),
                        audit::AuditEvent{.type = "authz.denied", .success = false, .user_id = principal->user_id,
                                          .username = principal->username,
                                          .detail = {{"permission", joined(missing).substr(0, 256)},
                                                     {"method", target->method.substr(0, 16)},
                                                     {"path", target->path.substr(0, 256)},
                                                     {"via", "auth_check"}}});
  Response res = http::error_response(403, "insufficient_scope", "This credential lacks " + joined(missing) + ".");
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
