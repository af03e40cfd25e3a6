// The OAuth 2.1 / OpenID Connect endpoints that clients call directly (SPEC §8): token,
// introspection, revocation, userinfo and discovery. Form in, JSON out, RFC 6749 §5.2 errors.
// The authorization endpoint and its pages are in authorize_endpoints.cc.
#include <boost/json.hpp>

#include "api/common.h"
#include <strings.h>

#include "core/base64.h"
#include "core/basic.h"
#include "core/log.h"

namespace gatehouse::api {
namespace {

Response oauth_error_response(const oauth::OAuthError& error) {
  boost::json::object body{{"error", error.error}, {"error_description", error.description}};
  Response res = json(error.status, body);
  // RFC 6749 §5.2: invalid_client after HTTP Basic carries the scheme the client used.
  if (error.basic_challenge) res.set("WWW-Authenticate", "Basic realm=\"gatehouse\", charset=\"UTF-8\"");
  return with_no_store(std::move(res));
}

// The form body of an OAuth POST; RFC 6749 §3.2 requires application/x-www-form-urlencoded.
Result<oauth::Form, Response> form_body(const Request& request) {
  const std::string* type = request.header("content-type");
  const std::string_view media = type ? std::string_view(*type).substr(0, type->find(';')) : std::string_view();
  std::string lowered(media);
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!lowered.empty() && lowered.back() == ' ') lowered.pop_back();
  if (lowered != "application/x-www-form-urlencoded")
    return tl::unexpected(oauth_error_response(
        oauth::oauth_error("invalid_request", "The body must be application/x-www-form-urlencoded.")));
  auto form = http::parse_form(request.body);
  if (!form) return tl::unexpected(oauth_error_response(oauth::oauth_error("invalid_request", "The form body is malformed.")));
  return std::move(*form);
}

// client_secret_basic (RFC 6749 §2.3.1): base64(urlencode(id) ":" urlencode(secret)).
oauth::PresentedClient presented_client(const Request& request) {
  oauth::PresentedClient out;
  const std::string* authorization = request.header("authorization");
  if (!authorization || authorization->size() < 6 || strncasecmp(authorization->c_str(), "Basic ", 6) != 0) return out;
  out.basic = true;
  // RFC 6749 §2.3.1: each part was form-encoded before Basic.
  auto credentials = decode_basic(std::string_view(*authorization).substr(6));
  if (!credentials) {
    out.basic_malformed = true;
    return out;
  }
  auto id = http::form_decode(credentials->user);
  auto secret = http::form_decode(credentials->password);
  if (!id || !secret || id->empty()) {
    out.basic_malformed = true;
    return out;
  }
  out.basic_id = std::move(*id);
  out.basic_secret = std::move(*secret);
  return out;
}

// The raw (undecoded) value of the first `name` parameter of a form body.
std::optional<std::string_view> raw_form_value(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    const std::string_view pair = body.substr(0, body.find('&'));
    body.remove_prefix(std::min(body.size(), pair.size() + 1));
    if (pair.size() > name.size() && pair[name.size()] == '=' && pair.substr(0, name.size()) == name)
      return pair.substr(name.size() + 1);
  }
  return std::nullopt;
}

// Whether a token request can run on the network thread: a client_credentials grant for a
// cached client needs no store read. This only picks the thread, so it is a raw scan with no
// decoding; token() parses and checks everything again, and a request it misreads (an encoded
// grant type or client id) merely runs on the pool.
bool client_credentials_in_memory(Services& services, const Request& request) {
  const std::string* type = request.header("content-type");
  if (!type || type->rfind("application/x-www-form-urlencoded", 0) != 0) return false;
  if (raw_form_value(request.body, "grant_type") != oauth::kGrantClientCredentials) return false;
  std::string id;
  const std::string* authorization = request.header("authorization");
  if (authorization && authorization->size() > 6 && strncasecmp(authorization->c_str(), "Basic ", 6) == 0) {
    auto decoded = base64_decode(std::string_view(*authorization).substr(6));
    if (!decoded) return false;
    id = decoded->substr(0, decoded->find(':'));
  } else if (auto raw = raw_form_value(request.body, "client_id")) {
    id = *raw;
  }
  return !id.empty() && id.find_first_of("%+") == std::string::npos && services.clients.cached(id);
}

// The token endpoint's 200. Rendered by hand: the client_credentials hot path answers
// thousands of these a second.
Response token_response(const oauth::TokenResponse& issued) {
  std::string body;
  body.reserve(issued.access_token.size() + issued.refresh_token.size() + issued.id_token.size() +
               issued.scope.size() + 160);
  body += "{\"access_token\":";
  log::append_json_string(body, issued.access_token);
  body += ",\"token_type\":\"Bearer\",\"expires_in\":";
  body += std::to_string(issued.expires_in);
  body += ",\"scope\":";
  log::append_json_string(body, issued.scope);
  if (!issued.refresh_token.empty()) {
    body += ",\"refresh_token\":";
    log::append_json_string(body, issued.refresh_token);
    body += ",\"refresh_expires_in\":";
    body += std::to_string(issued.refresh_expires_in);
  }
  if (!issued.id_token.empty()) {
    body += ",\"id_token\":";
    log::append_json_string(body, issued.id_token);
  }
  body.push_back('}');
  return with_no_store(http::json_response(200, std::move(body)));
}

// A token whose signature failed: 503, as when no signing key is available.
Response unsigned_token() {
  return oauth_error_response(
      oauth::oauth_error("temporarily_unavailable", "The access token could not be signed.", 503));
}

Response token(Services& services, const Request& request) {
  auto form = form_body(request);
  if (!form) return form.error();
  // Each client has the rate limit of a principal (SPEC §9): counted once it has
  // authenticated, so nobody can use up a client's quota by sending its id with a wrong secret.
  std::optional<Response> refused;
  const auto admit = [&](const store::ClientRecord& client) {
    if (!services.rate_policy.enabled) return true;
    refused = rate_limit(services, request, "client:" + client.id, services.rate_policy.default_limit, {});
    return !refused.has_value();
  };
  const auto ctx = context_of(request);
  auto issued = services.provider.token_later(presented_client(request), *form, ctx, admit);
  if (!issued) {
    if (refused) return with_no_store(std::move(*refused));
    return oauth_error_response(issued.error());
  }
  if (!issued->pending_access_token || !issued->pending_access_token->jws.signature.waiting()) {
    if (!services.provider.finish_token(*issued, ctx)) return unsigned_token();
    return token_response(*issued);
  }
  // The signature is in this thread's batch: the server finishes the answer once the other
  // requests ready now have reached the same point.
  Response pending = with_no_store(http::json_response(200, {}));
  pending.complete = [&services, ctx, issued = std::move(*issued)](Response& res) mutable {
    Response done = services.provider.finish_token(issued, ctx) ? token_response(issued) : unsigned_token();
    done.rate_limit = res.rate_limit;  // set on the placeholder by the server
    res = std::move(done);
  };
  return pending;
}

Response introspect(Services& services, const Request& request) {
  auto form = form_body(request);
  if (!form) return form.error();
  auto result = services.provider.introspect(presented_client(request), *form);
  if (!result) return oauth_error_response(result.error());
  boost::json::object out;
  out["active"] = result->active;
  if (result->active) {
    out["scope"] = result->scope;
    out["client_id"] = result->client_id;
    if (!result->username.empty()) out["username"] = result->username;
    out["sub"] = result->sub;
    out["exp"] = result->exp;
    out["iat"] = result->iat;
    out["iss"] = result->iss;
    if (!result->aud.empty()) out["aud"] = result->aud;
    out["token_type"] = result->token_type;
    if (!result->jti.empty()) out["jti"] = result->jti;
  }
  return with_no_store(json(200, out));
}

Response revoke(Services& services, const Request& request) {
  auto form = form_body(request);
  if (!form) return form.error();
  auto result = services.provider.revoke(presented_client(request), *form, context_of(request));
  if (!result) return oauth_error_response(result.error());
  return with_no_store(Response{.status = 200, .headers = {}, .body = {}});
}

// OIDC Core §5.3: the claims of the user the access token was issued for, by scope.
Response userinfo(Services& services, const Request& request) {
  auto principal = authenticate(services, request);
  if (!principal) return principal.error();
  if (principal->user_id.empty() || !oauth::has_scope(principal->scopes, "openid")) {
    Response res = http::error_response(403, "insufficient_scope", "The access token was not granted the openid scope.");
    res.set("WWW-Authenticate", "Bearer error=\"insufficient_scope\", scope=\"openid\"");
    return res;
  }
  boost::json::object out;
  out["sub"] = principal->user_id;
  if (oauth::has_scope(principal->scopes, "profile")) out["preferred_username"] = principal->username;
  if (oauth::has_scope(principal->scopes, "email") && !principal->email.empty()) out["email"] = principal->email;
  return with_no_store(json(200, out));
}

}  // namespace

void add_oauth_routes(http::Router& router, Services& services) {
  using http::Execution;
  for (const char* path : {"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"}) {
    router.add("GET", path, Execution::network_thread, [&services](Request&) {
      Response res = http::json_response(200, services.provider.discovery());
      res.set("Cache-Control", "public, max-age=300");
      return res;
    });
  }
  // client_credentials for a cached client needs no store (the audit row is queued): it may
  // run on the network thread and skip two thread hops. Everything else goes to the pool.
  router.add(
      "POST", "/oauth/token", Execution::blocking_pool, [&services](Request& r) { return token(services, r); },
      [&services](const Request& r) { return client_credentials_in_memory(services, r); });
  router.add("POST", "/oauth/introspect", Execution::blocking_pool,
             [&services](Request& r) { return introspect(services, r); });
  router.add("POST", "/oauth/revoke", Execution::blocking_pool, [&services](Request& r) { return revoke(services, r); });
  for (const char* method : {"GET", "POST"})
    router.add(method, "/oauth/userinfo", Execution::blocking_pool,
               [&services](Request& r) { return userinfo(services, r); });
}

}  // namespace gatehouse::api
