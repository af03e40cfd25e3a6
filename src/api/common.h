// api/common.h: what every handler needs to turn HTTP into a service call and back.
// Handlers parse, call one service, and map the result; rules live in the services.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accounts/accounts.h"
#include "audit/audit.h"
#include "authn/authenticator.h"
#include "authz/route_policy.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "federation/sign_in.h"
#include "http/message.h"
#include "http/router.h"
#include "keys/api_keys.h"
#include "oauth/clients.h"
#include "oauth/provider.h"
#include "ratelimit/limiter.h"
#include "store/store.h"
#include "tokens/keyring.h"
#include "tokens/session_tokens.h"

namespace gatehouse::api {

using http::Request;
using http::Response;

struct Services {
  store::Store& store;
  accounts::Accounts& accounts;
  tokens::SessionTokens& sessions;
  authn::Authenticator& authenticator;
  audit::AuditLog& audit;
  const Clock& clock;
  tokens::KeyRing& keyring;
  keys::ApiKeys& api_keys;
  ratelimit::Limiter& limiter;
  const ratelimit::Policy& rate_policy;
  oauth::Clients& clients;
  oauth::Provider& provider;
  const authz::RoutePolicies& policies;  // the gateway's [[policy]] entries (SPEC §10)
  federation::SignIn& sign_in;           // [[upstream]] sign-ins (SPEC §8, Federation)
};

RequestContext context_of(const Request& request);

Response json(int status, const boost::json::value& value);
Response bad_request(std::string_view description);

// The body as a JSON object, or a 400 that says what is wrong with it.
Result<boost::json::object, Response> json_object_body(const Request& request);
// Each reader leaves `out` alone when the key is absent and answers 400 on a wrong type.
std::optional<Response> read_string(const boost::json::object& body, std::string_view key,
                                    std::optional<std::string>& out);
std::optional<Response> read_bool(const boost::json::object& body, std::string_view key, std::optional<bool>& out);
std::optional<Response> read_integer(const boost::json::object& body, std::string_view key,
                                     std::optional<std::int64_t>& out);
std::optional<Response> read_string_list(const boost::json::object& body, std::string_view key,
                                         std::optional<std::vector<std::string>>& out);
std::optional<Response> require_present(std::string_view key, bool present);
std::optional<Response> reject_unknown_fields(const boost::json::object& body,
                                              std::initializer_list<std::string_view> allowed);

// A query parameter given at most once; 400 for a malformed query or a repeated key.
Result<std::optional<std::string>, Response> query_param(const Request& request, std::string_view key);
// ?limit= as an integer in [1, max] (default when absent), or a 400.
Result<int, Response> limit_param(const Request& request, int default_limit, int max_limit);

// True when the request's only credential is a JWT bearer token, an API key this node has
// cached as valid with its owner, or Basic credentials whose successful verification is cached:
// authenticating it reads memory only (key ring, denylist, key, user and Basic caches), so a
// store-free handler may run inline on the network thread.
bool credential_in_memory(Services& services, const Request& request);

// Who the caller is, with no rate limit counted yet: the principal, or the 400/401/429/503.
Result<authn::Principal, Response> identify(Services& services, const Request& request);
// A gateway policy's own limit; `name` keeps its counters apart from the caller's usual ones.
struct RouteLimit {
  ratelimit::Limit limit;
  std::string_view name;  // "policy:2"
};
// Counts the request against the principal's limit (its key's, its roles' or the default), or
// against the route's when a gateway policy sets one.
std::optional<Response> rate_limit_principal(Services& services, const Request& request,
                                             const authn::Principal& principal,
                                             const RouteLimit* route_limit = nullptr);
// Authentication and authorization of the caller: the principal, or the 400/401/403/429/503.
Result<authn::Principal, Response> authenticate(Services& services, const Request& request);
Result<authn::Principal, Response> authorize(Services& services, const Request& request,
                                             std::string_view permission);

Response account_error(const accounts::AccountError& error);
Response unavailable(std::string_view description);
// Counts a request against `key`'s limit (SPEC §9): sets the RateLimit-* response headers and
// returns the 429 too_many_requests when the limit is used up (audited once per period).
std::optional<Response> rate_limit(Services& services, const Request& request, const std::string& key,
                                   const ratelimit::Limit& limit, const std::string& user_id);
// For calls made before anyone is authenticated (login, refresh): the client IP's limit.
std::optional<Response> rate_limit_anonymous(Services& services, const Request& request);
// 429 too_many_attempts with Retry-After (SPEC §9 lockout).
Response too_many_attempts(std::string_view description, std::int64_t retry_after);
Response with_no_store(Response response);

boost::json::object user_json(const accounts::User& user);

// One registration function per endpoint group.
void add_health_routes(http::Router& router, Services& services);
void add_auth_routes(http::Router& router, Services& services);
void add_me_routes(http::Router& router, Services& services);
void add_user_admin_routes(http::Router& router, Services& services);
void add_audit_routes(http::Router& router, Services& services);
void add_signing_key_routes(http::Router& router, Services& services);
void add_api_key_routes(http::Router& router, Services& services);
void add_client_routes(http::Router& router, Services& services);
void add_oauth_routes(http::Router& router, Services& services);
void add_authorize_routes(http::Router& router, Services& services);
void add_gateway_routes(http::Router& router, Services& services);
void add_upstream_routes(http::Router& router, Services& services);

inline void add_all_routes(http::Router& router, Services& services) {
  add_health_routes(router, services);
  add_auth_routes(router, services);
  add_me_routes(router, services);
  add_user_admin_routes(router, services);
  add_audit_routes(router, services);
  add_signing_key_routes(router, services);
  add_api_key_routes(router, services);
  add_client_routes(router, services);
  add_oauth_routes(router, services);
  add_authorize_routes(router, services);
  add_gateway_routes(router, services);
  add_upstream_routes(router, services);
}

}  // namespace gatehouse::api
