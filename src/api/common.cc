#include "api/common.h"

#include <array>

#include "metrics/metrics.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>

#include "authz/permissions.h"
#include "core/strict_json.h"
#include "core/time.h"
#include "tokens/access_tokens.h"

namespace gatehouse::api {
namespace json_ns = boost::json;

namespace {

constexpr std::string_view kBearerChallenge = "Bearer realm=\"gatehouse\"";
constexpr std::string_view kBasicChallenge = "Basic realm=\"gatehouse\", charset=\"UTF-8\"";

bool is_json_content_type(const std::string* value) {
  if (!value) return false;
  std::string_view v = *value;
  const auto semi = v.find(';');
  v = v.substr(0, semi);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  std::string lowered(v);
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered == "application/json";
}

std::string type_name(const json_ns::value& v) {
  switch (v.kind()) {
    case json_ns::kind::null: return "null";
    case json_ns::kind::bool_: return "a boolean";
    case json_ns::kind::int64:
    case json_ns::kind::uint64:
    case json_ns::kind::double_: return "a number";
    case json_ns::kind::string: return "a string";
    case json_ns::kind::array: return "an array";
    case json_ns::kind::object: return "an object";
  }
  return "something else";
}

Response wrong_type(std::string_view key, std::string_view expected, const json_ns::value& got) {
  return bad_request(std::string(key) + " must be " + std::string(expected) + ", not " + type_name(got) + ".");
}

}  // namespace

RequestContext context_of(const Request& request) {
  const std::string* agent = request.header("user-agent");
  return RequestContext{.ip = request.remote_ip, .user_agent = agent ? *agent : std::string(),
                        .request_id = request.request_id};
}

Response json(int status, const json_ns::value& value) { return http::json_response(status, json_ns::serialize(value)); }

Response bad_request(std::string_view description) {
  return http::error_response(400, "invalid_request", description);
}

Result<json_ns::object, Response> json_object_body(const Request& request) {
  if (!is_json_content_type(request.header("content-type")))
    return tl::unexpected(bad_request("The body must be JSON, sent with Content-Type: application/json."));
  if (request.body.empty()) return tl::unexpected(bad_request("The request body is empty; a JSON object is expected."));
  boost::system::error_code ec;
  json_ns::value value = json_ns::parse(request.body, ec);
  if (ec) return tl::unexpected(bad_request("The body is not valid JSON."));
  if (!value.is_object()) return tl::unexpected(bad_request("The body must be a JSON object."));
  // Boost keeps the last of repeated keys; another reader (a WAF, a log parser) may keep the
  // first. An ambiguous body is refused, with anything else the strict scanner would refuse.
  thread_local std::vector<strict_json::Member> members;
  if (!strict_json::parse_object(request.body, members))
    return tl::unexpected(bad_request("The body repeats a key, nests more than 32 deep, or has more than 256 members in an object."));
  return std::move(value.as_object());
}

std::optional<Response> read_string(const json_ns::object& body, std::string_view key, std::optional<std::string>& out) {
  const auto* v = body.if_contains(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) return wrong_type(key, "a string", *v);
  out = std::string(v->as_string());
  return std::nullopt;
}

std::optional<Response> read_bool(const json_ns::object& body, std::string_view key, std::optional<bool>& out) {
  const auto* v = body.if_contains(key);
  if (!v) return std::nullopt;
  if (!v->is_bool()) return wrong_type(key, "true or false", *v);
  out = v->as_bool();
  return std::nullopt;
}

std::optional<Response> read_integer(const json_ns::object& body, std::string_view key,
                                     std::optional<std::int64_t>& out) {
  const auto* v = body.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) out = v->as_int64();
  else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) out = static_cast<std::int64_t>(v->as_uint64());
  else return wrong_type(key, "an integer", *v);
  return std::nullopt;
}

std::optional<Response> read_string_list(const json_ns::object& body, std::string_view key,
                                         std::optional<std::vector<std::string>>& out) {
  const auto* v = body.if_contains(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) return wrong_type(key, "an array of strings", *v);
  std::vector<std::string> list;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) return wrong_type(key, "an array of strings", item);
    list.emplace_back(item.as_string());
  }
  out = std::move(list);
  return std::nullopt;
}

std::optional<Response> require_present(std::string_view key, bool present) {
  if (present) return std::nullopt;
  return bad_request(std::string(key) + " is required.");
}

std::optional<Response> reject_unknown_fields(const json_ns::object& body,
                                              std::initializer_list<std::string_view> allowed) {
  for (const auto& entry : body) {
    bool known = false;
    for (auto name : allowed) known = known || entry.key() == name;
    if (!known) {
      std::string list;
      for (auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
      const std::string key(entry.key().substr(0, 64));
      return bad_request("Unknown field \"" + key + "\"; this endpoint accepts: " + list + ".");
    }
  }
  return std::nullopt;
}

Result<std::optional<std::string>, Response> query_param(const Request& request, std::string_view key) {
  auto params = request.query_params();
  if (!params) return tl::unexpected(bad_request("The query string is malformed."));
  std::optional<std::string> found;
  for (const auto& [k, v] : *params) {
    if (k != key) continue;
    if (found) return tl::unexpected(bad_request("The query parameter " + std::string(key) + " is given twice."));
    found = v;
  }
  return found;
}

Result<int, Response> limit_param(const Request& request, int default_limit, int max_limit) {
  auto text = query_param(request, "limit");
  if (!text) return tl::unexpected(text.error());
  if (!*text) return default_limit;
  int value = 0;
  const auto& s = **text;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value < 1 || value > max_limit)
    return tl::unexpected(bad_request("limit must be an integer from 1 to " + std::to_string(max_limit) + "."));
  return value;
}

bool credential_in_memory(Services& services, const Request& request) {
  const std::string* credential = nullptr;
  bool api_key_header = false;
  for (const auto& h : request.headers) {
    if (h.name != "authorization" && h.name != "x-api-key") continue;
    if (credential) return false;  // two credentials: the 400 needs no hurry
    credential = &h.value;
    api_key_header = h.name == "x-api-key";
  }
  if (!credential || request.query.find("api_key") != std::string::npos) return false;
  if (api_key_header) return services.authenticator.api_key_in_memory(*credential);
  if (credential->size() < 8) return false;
  std::string scheme = credential->substr(0, 7);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme.starts_with("basic "))
    return services.authenticator.basic_in_memory(std::string_view(*credential).substr(6));
  if (scheme != "bearer ") return false;
  const std::string_view token = std::string_view(*credential).substr(7);
  return tokens::looks_like_jwt(token) || services.authenticator.api_key_in_memory(token);
}

namespace {

// gatehouse_authentications_total{method, outcome}: a failure is counted under the kind of
// credential presented; a request without any is not an authentication.
void count_authentication(const authn::Presented& presented, const Result<authn::Principal, authn::AuthnError>& result) {
  if (result) {
    // Successes are the hot path: their counters are found once, not per request.
    static const auto successes = [] {
      std::array<metrics::Counter*, 5> out{};
      for (auto m : {authn::Method::opaque, authn::Method::jwt, authn::Method::basic, authn::Method::api_key,
                     authn::Method::oauth})
        out[static_cast<std::size_t>(m)] = &metrics::authentications().with({authn::method_name(m), "success"});
      return out;
    }();
    successes[static_cast<std::size_t>(result->method)]->inc();
    return;
  }
  if (result.error().code == authn::AuthnErrc::missing) return;
  const std::string_view method = authn::credential_kind(presented);
  const auto code = result.error().code;
  metrics::authentications()
      .with({method, code == authn::AuthnErrc::locked ? "locked"
                     : code == authn::AuthnErrc::unavailable ? "error"
                     : code == authn::AuthnErrc::ambiguous ? "ambiguous"
                                                          : "failure"})
      .inc();
}

}  // namespace

Result<authn::Principal, Response> identify(Services& services, const Request& request) {
  authn::Presented presented;
  for (const auto& h : request.headers) {
    if (h.name == "authorization") presented.authorization.push_back(h.value);
    else if (h.name == "x-api-key") presented.api_key.push_back(h.value);
  }
  if (auto params = request.query_params()) {
    for (const auto& [k, v] : *params)
      if (k == "api_key") presented.api_key_query.push_back(v);
  }
  auto principal = services.authenticator.authenticate(presented, context_of(request));
  count_authentication(presented, principal);
  if (principal) return std::move(*principal);
  const auto& error = principal.error();
  switch (error.code) {
    case authn::AuthnErrc::ambiguous: return tl::unexpected(bad_request(error.description));
    case authn::AuthnErrc::unavailable: return tl::unexpected(unavailable(error.description));
    case authn::AuthnErrc::locked: return tl::unexpected(too_many_attempts(error.description, error.retry_after));
    default: break;
  }
  const bool invalid_credentials = error.code == authn::AuthnErrc::invalid_credentials;
  Response res = http::error_response(401, invalid_credentials ? "invalid_credentials" : "invalid_token",
                                      error.description);
  // RFC 6750 §3: error="invalid_token" only when a token was presented.
  res.add("WWW-Authenticate", error.bearer_presented ? std::string(kBearerChallenge) + ", error=\"invalid_token\""
                                                     : std::string(kBearerChallenge));
  if (services.authenticator.settings().basic_enabled) res.add("WWW-Authenticate", std::string(kBasicChallenge));
  return tl::unexpected(std::move(res));
}

std::optional<Response> rate_limit_principal(Services& services, const Request& request,
                                             const authn::Principal& principal, const RouteLimit* route_limit) {
  if (!services.rate_policy.enabled) return std::nullopt;
  std::optional<ratelimit::Limit> own;
  if (!principal.rate_limit.empty()) own = ratelimit::parse_limit(principal.rate_limit);
  // One buffer per thread: no allocation per request for the limiter key.
  thread_local std::string key;
  if (!principal.key_id.empty()) key.assign("key:").append(principal.key_id);
  else if (!principal.user_id.empty()) key.assign("user:").append(principal.user_id);
  else key.assign("client:").append(principal.client_id);  // a client's own token
  // A route's own limit is counted apart from the caller's usual one.
  if (route_limit) key.append("|").append(route_limit->name);
  return rate_limit(services, request, key,
                    route_limit ? route_limit->limit : ratelimit::limit_for(services.rate_policy, principal.roles, own),
                    principal.user_id);
}

Result<authn::Principal, Response> authenticate(Services& services, const Request& request) {
  auto principal = identify(services, request);
  if (!principal) return principal;
  if (auto refused = rate_limit_principal(services, request, *principal)) return tl::unexpected(std::move(*refused));
  return principal;
}

Result<authn::Principal, Response> authorize(Services& services, const Request& request,
                                             std::string_view permission) {
  auto principal = authenticate(services, request);
  if (!principal) return principal;
  if (authz::has_permission(principal->permissions, permission)) return principal;
  services.audit.record(context_of(request),
                        audit::AuditEvent{.type = "authz.denied", .success = false, .user_id = principal->user_id,
                                          .username = principal->username,
                                          .detail = {{"permission", std::string(permission)},
                                                     {"method", request.method},
                                                     {"path", request.path.substr(0, 256)}}});
  Response res = http::error_response(403, "forbidden",
                                      "This credential lacks the permission " + std::string(permission) + ".");
  if (principal->method != authn::Method::basic)  // RFC 6750 §3.1: a bearer token lacked the scope
    res.add("WWW-Authenticate", "Bearer error=\"insufficient_scope\", scope=\"" + std::string(permission) + "\"");
  return tl::unexpected(std::move(res));
}

Response account_error(const accounts::AccountError& error) {
  using accounts::AccountErrc;
  switch (error.code) {
    case AccountErrc::invalid_request: return bad_request(error.description);
    case AccountErrc::invalid_credentials: return http::error_response(401, "invalid_credentials", error.description);
    case AccountErrc::forbidden: return http::error_response(403, "forbidden", error.description);
    case AccountErrc::not_found: return http::error_response(404, "not_found", error.description);
    case AccountErrc::conflict: return http::error_response(409, "conflict", error.description);
    case AccountErrc::unavailable: return unavailable(error.description);
    case AccountErrc::locked: return too_many_attempts(error.description, error.retry_after);
  }
  return unavailable(error.description);
}

std::optional<Response> rate_limit(Services& services, const Request& request, const std::string& key,
                                   const ratelimit::Limit& limit, const std::string& user_id) {
  const auto d = services.limiter.check(key, limit);
  request.rate_limit = http::RateLimitHeaders{.limit = d.limit, .remaining = d.remaining, .reset = d.reset};
  if (d.allowed) return std::nullopt;
  metrics::ratelimit_refusals().with({key.substr(0, key.find(':'))}).inc();
  if (d.first_refusal)
    services.audit.record(context_of(request),
                          audit::AuditEvent{.type = "ratelimit.exceeded", .success = false, .user_id = user_id,
                                            .username = {},
                                            .detail = {{"key", key.substr(0, key.find(':'))},
                                                       {"limit", ratelimit::to_string(limit)},
                                                       {"path", request.path.substr(0, 256)}}});
  Response res = http::error_response(429, "too_many_requests",
                                      "Rate limit of " + ratelimit::to_string(limit) + " reached; retry after " +
                                          std::to_string(d.retry_after) + " s.");
  res.set("Retry-After", std::to_string(d.retry_after));
  return res;
}

std::optional<Response> rate_limit_anonymous(Services& services, const Request& request) {
  if (!services.rate_policy.enabled || request.remote_ip.empty()) return std::nullopt;
  return rate_limit(services, request, "ip:" + request.remote_ip, services.rate_policy.default_limit, {});
}

Response too_many_attempts(std::string_view description, std::int64_t retry_after) {
  Response res = http::error_response(429, "too_many_attempts", description);
  res.set("Retry-After", std::to_string(std::max<std::int64_t>(1, retry_after)));
  return res;
}

Response unavailable(std::string_view description) {
  Response res = http::error_response(503, "unavailable", description);
  res.set("Retry-After", "1");
  return res;
}

Response with_no_store(Response response) {
  response.set("Cache-Control", "no-store");
  response.set("Pragma", "no-cache");
  return response;
}


json_ns::object user_json(const accounts::User& user) {
  json_ns::array roles;
  for (const auto& r : user.roles) roles.emplace_back(r);
  json_ns::object out;
  out["id"] = user.id;
  out["username"] = user.username;
  out["email"] = user.email.empty() ? json_ns::value(nullptr) : json_ns::value(user.email);
  out["roles"] = std::move(roles);
  out["disabled"] = user.disabled;
  out["created_at"] = rfc3339(user.created_at);
  out["updated_at"] = rfc3339(user.updated_at);
  return out;
}

}  // namespace gatehouse::api
