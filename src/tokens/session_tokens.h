// tokens/session_tokens.h: first-party sessions with opaque tokens. A login opens a
// session (one refresh-token family) and hands out an access token and a refresh token;
// refreshing spends the refresh token and hands out a new pair (RFC 9700 §4.14.2 rotation
// with reuse detection). Only SHA-256 digests of the tokens reach the store.
#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <cstdint>
#include <string>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "store/store.h"

namespace gatehouse::tokens {

enum class TokenErrc {
  invalid_token,  // access token unknown, expired or revoked (401 invalid_token)
  invalid_grant,  // refresh token unknown, expired, spent or revoked (401 invalid_grant)
  unavailable,    // the store did not answer (503)
};

struct TokenError {
  TokenErrc code{TokenErrc::invalid_token};
  std::string description{};  // safe to send to the client
};

struct TokenPair {
  std::string access_token{};
  std::string refresh_token{};
  std::chrono::seconds access_ttl{0};
  std::chrono::seconds refresh_ttl{0};
  std::string session_id{};
};

struct AccessGrant {
  std::string user_id{};
  std::string session_id{};
  std::int64_t expires_at{0};
  std::string client_id{};
  std::optional<std::string> scope{};  // OAuth sessions: the granted scope
  std::int64_t issued_at{0};
};

struct TokenSettings {
  std::chrono::seconds access_ttl{3600};
  std::chrono::seconds refresh_ttl{30 * 86400};
  // A revoked session stays on the denylist this long: until its last access token expires.
  std::chrono::seconds revocation_horizon{3600 + 30};
  std::chrono::seconds browser_ttl{12 * 3600};
};

inline constexpr std::string_view kAccessPrefix = "gat_";
inline constexpr std::string_view kRefreshPrefix = "grt_";
inline constexpr std::string_view kFirstPartyClient = "gatehouse";
// Browser sessions (the gatehouse_session cookie of the HTML pages): opaque whatever
// tokens.format says, never accepted as a bearer token.
inline constexpr std::string_view kBrowserPrefix = "gbs_";
inline constexpr std::string_view kBrowserClient = "gatehouse-web";

// Whom a session's tokens are for: first-party (the default) or an OAuth client with the
// scope the user granted it.
struct SessionGrant {
  std::string client_id{kFirstPartyClient};
  std::optional<std::string> scope{};
  bool with_refresh{true};   // hand out a refresh token
  std::string session_id{};  // chosen by the caller (an authorization code's redemption); empty: new
  bool browser{false};       // a browser session: one gbs_ token living browser_ttl, nothing else
};

struct MintRequest {
  const std::string& user_id;
  const std::string& session_id;
  const std::string& client_id;
  const std::optional<std::string>& scope;  // absent: the user's current permissions
};

// Mints a self-contained access token for a session (JWT format), or nullopt when the user
// is gone. Without one, access tokens are opaque and stored as digests.
using AccessMinter = std::function<std::optional<std::string>(const MintRequest&)>;

class SessionTokens {
 public:
  SessionTokens(store::SessionStore& store, audit::AuditLog& audit, const Clock& clock, TokenSettings settings);

  // Opens a session for a user who has just proved who they are against
  // `verified_password_hash`. Fails with invalid_grant when the user was disabled or its
  // password changed in the meantime: the newer decision wins.
  Result<TokenPair, TokenError> open_session(const std::string& user_id, const std::string& verified_password_hash,
                                             const SessionGrant& grant = {});
  // A new session id (time-ordered, random).
  std::string new_session_id() const;
  // `narrowed_scope`: an OAuth client asked for less than the session's scope (RFC 6749 §6);
  // the new access token carries that (JWT format only: opaque tokens carry the session's).
  // Only for the client the token was issued to (`client_id`; first-party by default).
  Result<TokenPair, TokenError> refresh(const std::string& refresh_token, const RequestContext& ctx,
                                        std::string_view client_id = kFirstPartyClient,
                                        const std::optional<std::string>& narrowed_scope = std::nullopt);
  // Access tokens are self-contained JWTs (a minter is set), not stored opaque tokens.
  bool jwt_access() const { return static_cast<bool>(minter_); }
  Result<AccessGrant, TokenError> verify_access(const std::string& access_token);
  // A browser session cookie; issued_at is when the user logged in (OIDC auth_time).
  Result<AccessGrant, TokenError> verify_browser(const std::string& cookie);
  // The session the refresh token belongs to, if it is known (spent or not).
  Result<std::string, TokenError> session_of_refresh_token(const std::string& refresh_token, std::string* user_id);
  Result<void, TokenError> end_session(const std::string& session_id);
  Result<int, TokenError> end_user_sessions(const std::string& user_id, const std::string& keep_session_id);

  const TokenSettings& settings() const { return settings_; }
  // When denylisted sessions revoked now may be forgotten.
  std::int64_t revoked_until() const { return clock_.now_unix() + settings_.revocation_horizon.count(); }
  void set_minter(AccessMinter minter) { minter_ = std::move(minter); }
  // Called after this service revoked sessions, so in-memory caches catch up at once.
  void set_change_hook(std::function<void()> hook) { changed_ = std::move(hook); }
  void changed() const {
    if (changed_) changed_();
  }

 private:
  store::TokenRecord new_record(std::string_view prefix, std::chrono::seconds ttl, std::string* token_out) const;
  void count_issued(bool refresh) const;
  Result<AccessGrant, TokenError> verify_stored(const std::string& token, std::string_view prefix,
                                                std::string_view invalid);

  store::SessionStore& store_;
  audit::AuditLog& audit_;
  const Clock& clock_;
  TokenSettings settings_;
  AccessMinter minter_;
  std::function<void()> changed_;
};

// A token of the given prefix: prefix + 43 base62 characters (≥ 256 bits of randomness).
std::string make_token(std::string_view prefix);
// True when the text has the exact shape make_token() produces (cheap pre-check, no store).
bool has_token_shape(std::string_view text, std::string_view prefix);

}  // namespace gatehouse::tokens
