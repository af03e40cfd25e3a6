#include "authn/authenticator.h"

#include <algorithm>
#include <iterator>

#include "authz/permissions.h"
#include "core/base64.h"
#include "core/basic.h"
#include "core/secret.h"
#include "core/random.h"
#include "crypto/digest.h"

namespace gatehouse::authn {
namespace {

constexpr std::size_t kMaxBasicCacheEntries = 10000;

tl::unexpected<AuthnError> fail(AuthnErrc code, std::string description, bool bearer = false) {
  return tl::unexpected(AuthnError{code, std::move(description), bearer});
}

bool starts_with_scheme(std::string_view header, std::string_view scheme) {
  if (header.size() <= scheme.size() || header[scheme.size()] != ' ') return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return false;
  return true;
}

std::string_view credential_part(std::string_view header, std::size_t scheme_len) {
  std::string_view rest = header.substr(scheme_len);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  return rest;
}

}  // namespace

std::string_view method_name(Method m) {
  switch (m) {
    case Method::opaque: return "opaque";
    case Method::jwt: return "jwt";
    case Method::basic: return "basic";
    case Method::api_key: return "api_key";
    case Method::oauth: return "oauth";
  }
  return "unknown";
}

std::string_view credential_kind(const Presented& presented) {
  if (!presented.api_key.empty() || !presented.api_key_query.empty()) return "api_key";
  if (presented.authorization.empty()) return "";
  const std::string& header = presented.authorization.front();
  if (starts_with_scheme(header, "basic")) return "basic";
  if (starts_with_scheme(header, "bearer"))
    return tokens::looks_like_jwt(credential_part(header, 6)) ? "jwt" : "bearer";
  return "other";
}

Authenticator::Authenticator(accounts::Accounts& accounts, accounts::UserCache& users, tokens::SessionTokens& sessions,
                             const tokens::AccessTokens& access_tokens, keys::ApiKeys& api_keys,
                             audit::AuditLog& audit, const Clock& clock, AuthnSettings settings)
    : accounts_(accounts),
      users_(users),
      sessions_(sessions),
      access_tokens_(access_tokens),
      api_keys_(api_keys),
      audit_(audit),
      clock_(clock),
      settings_(settings),
      cache_key_(random_bytes(32)) {}

Result<Principal, AuthnError> Authenticator::authenticate(const Presented& presented, const RequestContext& ctx) {
  const std::size_t count = presented.authorization.size() + presented.api_key.size() + presented.api_key_query.size();
  if (count == 0) return fail(AuthnErrc::missing, "Authentication is required.");
  if (count > 1)
    return fail(AuthnErrc::ambiguous, "The request carries more than one credential; send exactly one.");
  if (!presented.api_key.empty()) return api_key(presented.api_key.front(), ctx, false);
  if (!presented.api_key_query.empty()) {
    // Query strings end up in proxy logs, browser history and Referer headers.
    if (!settings_.api_key_query_param)
      return fail(AuthnErrc::invalid_token,
                  "API keys are not accepted in the query string; send the key in the X-API-Key header.");
    return api_key(presented.api_key_query.front(), ctx, false);
  }
  const std::string& header = presented.authorization.front();
  if (starts_with_scheme(header, "bearer")) {
    const std::string_view token = credential_part(header, 6);
    if (api_keys_.looks_like_key(token)) return api_key(token, ctx, true);
    return bearer(token);
  }
  if (starts_with_scheme(header, "basic")) {
    if (!settings_.basic_enabled) return fail(AuthnErrc::invalid_token, "HTTP Basic authentication is disabled.");
    return basic(credential_part(header, 5), ctx);
  }
  return fail(AuthnErrc::invalid_token, "Unsupported Authorization scheme; use Bearer or Basic.");
}

bool Authenticator::api_key_in_memory(std::string_view key) const {
  auto owner = api_keys_.cached_owner(key);
  return owner && users_.contains(*owner);
}

bool Authenticator::basic_in_memory(std::string_view encoded) {
  if (!settings_.basic_enabled || settings_.basic_cache_ttl.count() <= 0) return false;
  auto decoded = base64_decode(encoded);
  if (!decoded) return false;
  const std::string cache_key = crypto::hmac_sha256(cache_key_, *decoded);
  std::string user_id;
  {
    std::lock_guard lock(cache_mutex_);
    auto it = basic_cache_.find(cache_key);
    // A second of margin: the entry must still be fresh when the handler reads it a moment
    // later, or the handler would fall through to argon2id on the network thread.
    if (it == basic_cache_.end() || it->second.expires_at <= clock_.now_unix() + 1) return false;
    user_id = it->second.user_id;
  }
  // A locked user goes the slow way like any failure, so timing does not tell a cached
  // (right) password from a wrong one during a lockout.
  if (accounts_.lockout().known_wait("user:" + user_id) > 0) return false;
  return users_.contains(user_id);
}

Result<Principal, AuthnError> Authenticator::jwt(std::string_view token) {
  auto verified = access_tokens_.verify_shared(token);
  if (!verified) return fail(AuthnErrc::invalid_token, verified.error().description, true);
  const tokens::AccessClaims* claims = verified->get();  // shared with the verified-token cache, not copied
  // A token without client_id (minted elsewhere with the shared HS256 secret) is first-party.
  const bool oauth = !claims->client_id.empty() && claims->client_id != tokens::kFirstPartyClient;
  if (oauth && claims->username.empty() && claims->sub == claims->client_id) {
    // A client's own token (client_credentials): no user, so no permission on this API.
    Principal client{.subject = claims->sub, .method = Method::oauth, .client_id = claims->client_id};
    client.scopes = claims->scope_list ? *claims->scope_list : tokens::split_scope(claims->scope);
    return client;
  }
  auto principal = claims->scope_list
                       ? principal_for(claims->sub, oauth ? Method::oauth : Method::jwt, claims->sid,
                                       claims->scope_list.get())
                       : principal_for(claims->sub, oauth ? Method::oauth : Method::jwt, claims->sid,
                                       claims->has_scope ? &claims->scope : nullptr);
  if (!principal) {
    principal.error().bearer_presented = true;
    return principal;
  }
  principal->client_id = claims->client_id;
  return principal;
}

Result<Principal, AuthnError> Authenticator::api_key(std::string_view key, const RequestContext& ctx, bool as_bearer) {
  auto verified = api_keys_.verify(key);
  if (!verified) {
    const auto& rejection = verified.error();
    if (rejection.reason == keys::VerifyFailure::unavailable)
      return fail(AuthnErrc::unavailable, rejection.description, as_bearer);
    static constexpr std::string_view kReasons[] = {"malformed", "unknown", "revoked", "expired", "unavailable"};
    audit_.record(ctx, audit::AuditEvent{.type = "apikey.failure", .success = false, .user_id = rejection.user_id,
                                         .username = {},
                                         .detail = {{"prefix", rejection.prefix},
                                                    {"reason", std::string(kReasons[static_cast<int>(rejection.reason)])}}});
    return fail(AuthnErrc::invalid_token, rejection.description, as_bearer);
  }
  auto principal = principal_for(verified->user_id, Method::api_key, {},
                                 verified->scope ? &*verified->scope : nullptr, verified->key_id);
  if (!principal) {
    principal.error().bearer_presented = as_bearer;
    return principal;
  }
  principal->rate_limit = verified->rate_limit;
  return principal;
}

Result<Principal, AuthnError> Authenticator::bearer(std::string_view token) {
  if (tokens::looks_like_jwt(token)) return jwt(token);
  auto grant = sessions_.verify_access(std::string(token));
  if (!grant) {
    if (grant.error().code == tokens::TokenErrc::unavailable)
      return fail(AuthnErrc::unavailable, grant.error().description, true);
    return fail(AuthnErrc::invalid_token, grant.error().description, true);
  }
  const bool oauth = grant->client_id != tokens::kFirstPartyClient;
  auto principal = principal_for(grant->user_id, oauth ? Method::oauth : Method::opaque, grant->session_id,
                                 grant->scope ? &*grant->scope : nullptr);
  if (!principal) {
    principal.error().bearer_presented = true;
    return principal;
  }
  principal->client_id = grant->client_id;
  return principal;
}

Result<Principal, AuthnError> Authenticator::basic(std::string_view encoded, const RequestContext& ctx) {
  static constexpr std::string_view kMalformed = "The Basic credentials are not base64(username:password).";
  auto credentials = decode_basic(encoded);
  if (!credentials) return fail(AuthnErrc::invalid_token, std::string(kMalformed));
  const std::string& username = credentials->user;
  const std::string& password = credentials->password;
  const std::int64_t now = clock_.now_unix();

  const std::string cache_key = crypto::hmac_sha256(cache_key_, username + ":" + password);
  std::optional<CachedBasic> cached;
  {
    std::lock_guard lock(cache_mutex_);
    auto it = basic_cache_.find(cache_key);
    if (it != basic_cache_.end()) {
      if (it->second.expires_at > now) cached = it->second;
      else basic_cache_.erase(it);
    }
  }
  if (cached) {
    // A lock this node has seen holds for cached credentials too (SPEC §9: even the right password).
    if (auto wait = accounts_.lockout().known_wait("user:" + cached->user_id); wait > 0)
      return tl::unexpected(AuthnError{AuthnErrc::locked, "Too many failed attempts; try again in " +
                                                              std::to_string(wait) + " s.", false, wait});
    // Re-check the user: a disabled or deleted user, or a changed password, ends the entry.
    auto user = users_.get(cached->user_id);
    if (user && *user && !(*user)->disabled &&
        constant_time_equal(crypto::sha256((*user)->password_hash), cached->password_hash_digest))
      return principal_for((*user)->id, Method::basic, {});
    std::lock_guard lock(cache_mutex_);
    basic_cache_.erase(cache_key);
  }

  auto user = accounts_.check_password(username, password, ctx);
  if (!user) {
    if (user.error().code == accounts::AccountErrc::unavailable)
      return fail(AuthnErrc::unavailable, user.error().description);
    if (user.error().code == accounts::AccountErrc::locked) {
      audit_.record(ctx, audit::AuditEvent{.type = "basic.failure", .success = false, .user_id = {},
                                           .username = username.substr(0, 64), .detail = {{"reason", "locked"}}});
      return tl::unexpected(AuthnError{AuthnErrc::locked, user.error().description, false, user.error().retry_after});
    }
    audit_.record(ctx, audit::AuditEvent{.type = "basic.failure", .success = false, .user_id = {},
                                         .username = username.substr(0, 64), .detail = {}});
    return fail(AuthnErrc::invalid_credentials, "The username or password is incorrect.");
  }
  if (settings_.basic_cache_ttl.count() > 0) {
    std::lock_guard lock(cache_mutex_);
    if (basic_cache_.size() >= kMaxBasicCacheEntries) basic_cache_.clear();
    basic_cache_[cache_key] = CachedBasic{user->id, crypto::sha256(user->password_hash),
                                          now + settings_.basic_cache_ttl.count()};
  }
  return principal_for(user->id, Method::basic, {});
}

Result<Principal, AuthnError> Authenticator::principal_for(const std::string& user_id, Method method,
                                                           std::string session_id, const std::string* scope,
                                                           std::string key_id) {
  if (!scope) {
    const std::vector<std::string>* none = nullptr;
    return principal_for(user_id, method, std::move(session_id), none, std::move(key_id));
  }
  const std::vector<std::string> granted = tokens::split_scope(*scope);
  return principal_for(user_id, method, std::move(session_id), &granted, std::move(key_id));
}

Result<Principal, AuthnError> Authenticator::principal_for(const std::string& user_id, Method method,
                                                           std::string session_id,
                                                           const std::vector<std::string>* granted,
                                                           std::string key_id) {
  auto found = users_.get(user_id);
  if (!found) return fail(AuthnErrc::unavailable, "The user store is unavailable; try again shortly.");
  if (!*found) return fail(AuthnErrc::invalid_token, "The credential's user no longer exists.");
  const auto& user = *found;
  if (user->disabled) return fail(AuthnErrc::invalid_token, "The credential's user is disabled.");
  const std::vector<std::string>& held = authz::held_permissions(user->roles);
  std::vector<std::string> permissions;
  if (granted) {
    // Scopes narrow what the user may do now; a role removed since issue is gone at once.
    permissions.reserve(std::min(held.size(), granted->size()));
    std::set_intersection(held.begin(), held.end(), granted->begin(), granted->end(), std::back_inserter(permissions));
  } else {
    permissions = held;
  }
  return Principal{.subject = user->id,
                   .user_id = user->id,
                   .username = user->username,
                   .email = user->email,
                   .created_at = user->created_at,
                   .method = method,
                   .roles = user->roles,
                   .permissions = std::move(permissions),
                   .session_id = std::move(session_id),
                   .key_id = std::move(key_id),
                   .client_id = method == Method::basic || method == Method::api_key
                                    ? std::string()
                                    : std::string(tokens::kFirstPartyClient),
                   .scopes = granted ? *granted : std::vector<std::string>{}};
}

}  // namespace gatehouse::authn
