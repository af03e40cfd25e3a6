// authn/authenticator.h: turns the credentials a request presents into one Principal.
// Knows header values, not HTTP: api/ hands in what the request carried.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "accounts/accounts.h"
#include "accounts/user_cache.h"
#include "tokens/access_tokens.h"
#include "audit/audit.h"
#include "authn/principal.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "keys/api_keys.h"
#include "tokens/session_tokens.h"

namespace gatehouse::authn {

struct Presented {
  std::vector<std::string> authorization{};  // every Authorization header
  std::vector<std::string> api_key{};        // every X-API-Key header
  std::vector<std::string> api_key_query{};  // every ?api_key= parameter
};

enum class AuthnErrc {
  missing,              // no credential at all (401)
  invalid_token,        // a bearer token that does not verify, or a malformed header (401)
  invalid_credentials,  // Basic with a wrong username or password (401)
  ambiguous,            // more than one credential (400)
  unavailable,          // the store did not answer (503)
  locked,               // too many failed password attempts (429, retry_after)
};

struct AuthnError {
  AuthnErrc code{AuthnErrc::missing};
  std::string description{};
  bool bearer_presented{false};  // the 401 challenge then carries error="invalid_token"
  std::int64_t retry_after{0};   // seconds, for locked
};

struct AuthnSettings {
  bool basic_enabled{true};
  bool api_key_query_param{false};  // api_keys.allow_query_param
  std::chrono::seconds basic_cache_ttl{60};
};

// What kind of credential a request presents, for metrics: "api_key", "basic", "jwt",
// "bearer" (any other bearer token), "other", or "" when there is none.
std::string_view credential_kind(const Presented& presented);

class Authenticator {
 public:
  Authenticator(accounts::Accounts& accounts, accounts::UserCache& users, tokens::SessionTokens& sessions,
                const tokens::AccessTokens& access_tokens, keys::ApiKeys& api_keys, audit::AuditLog& audit,
                const Clock& clock, AuthnSettings settings);

  Result<Principal, AuthnError> authenticate(const Presented& presented, const RequestContext& ctx);
  // True when authenticating this API key would read memory only and succeed: the key and its
  // owner are both cached (so a handler may run it on a network thread).
  bool api_key_in_memory(std::string_view key) const;
  // The same for HTTP Basic (the part after "Basic "): a fresh entry of the cache of successful
  // verifications, its user cached. A miss means argon2id, which never runs on a network thread.
  bool basic_in_memory(std::string_view encoded);
  const AuthnSettings& settings() const { return settings_; }

 private:
  Result<Principal, AuthnError> bearer(std::string_view token);
  Result<Principal, AuthnError> basic(std::string_view encoded, const RequestContext& ctx);
  Result<Principal, AuthnError> jwt(std::string_view token);
  Result<Principal, AuthnError> api_key(std::string_view key, const RequestContext& ctx, bool as_bearer);
  // The user's principal, from the user cache. `scope` (space-separated), when given,
  // narrows the user's permissions: it can never widen them.
  Result<Principal, AuthnError> principal_for(const std::string& user_id, Method method, std::string session_id,
                                              const std::string* scope = nullptr, std::string key_id = {});
  // The same with the scope already split, sorted and unique (a verified JWT's scope_list).
  Result<Principal, AuthnError> principal_for(const std::string& user_id, Method method, std::string session_id,
                                              const std::vector<std::string>* granted, std::string key_id = {});

  struct CachedBasic {
    std::string user_id;
    std::string password_hash_digest;  // the hash the password was verified against
    std::int64_t expires_at;
  };

  accounts::Accounts& accounts_;
  accounts::UserCache& users_;
  tokens::SessionTokens& sessions_;
  const tokens::AccessTokens& access_tokens_;
  keys::ApiKeys& api_keys_;
  audit::AuditLog& audit_;
  const Clock& clock_;
  AuthnSettings settings_;
  const std::string cache_key_;  // per-process HMAC key: cache keys are useless elsewhere
  std::mutex cache_mutex_;
  std::unordered_map<std::string, CachedBasic> basic_cache_;
};

}  // namespace gatehouse::authn
