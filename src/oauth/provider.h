// oauth/provider.h: the OAuth 2.1 / OpenID Connect provider's rules (SPEC §8), without HTTP:
// client authentication at the token, introspection and revocation endpoints; the token
// endpoint with one Grant per grant type; authorization codes; introspection (RFC 7662);
// revocation (RFC 7009); ID tokens; discovery. The api/ layer parses requests and renders
// pages; everything that decides lives here.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "accounts/user_cache.h"
#include "audit/audit.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "oauth/clients.h"
#include "store/store.h"
#include "tokens/access_tokens.h"
#include "tokens/keyring.h"
#include "tokens/session_tokens.h"

namespace gatehouse::oauth {

inline constexpr std::string_view kCodePrefix = "gac_";

// An RFC 6749 §5.2 error (or §4.1.2.1 at the authorization endpoint).
struct OAuthError {
  // 429: the caller's Admission refused the request (see Provider::token).
  static constexpr std::string_view kRateLimited = "too_many_requests";
  int status{400};
  std::string error{};        // "invalid_request", "invalid_client", ...
  std::string description{};  // safe to send: never echoes a secret
  bool basic_challenge{false};  // invalid_client after HTTP Basic: send WWW-Authenticate
};

// A decoded application/x-www-form-urlencoded body or query.
using Form = std::vector<std::pair<std::string, std::string>>;

// The value of a parameter sent at most once (RFC 6749 §3.1): nullopt when absent or empty,
// an invalid_request when repeated.
Result<std::optional<std::string>, OAuthError> single(const Form& form, std::string_view name);

// Space-separated scope as a sorted set of tokens; nullopt when a token is malformed.
std::optional<std::vector<std::string>> parse_scope(std::string_view scope);
std::string join_scope(const std::vector<std::string>& scopes);
bool has_scope(const std::vector<std::string>& scopes, std::string_view scope);

// PKCE (RFC 7636): a verifier is 43-128 unreserved characters; S256 only.
bool valid_code_verifier(std::string_view verifier);
bool valid_code_challenge(std::string_view challenge);
bool pkce_matches(std::string_view verifier, std::string_view challenge);

struct ProviderSettings {
  std::string issuer{};
  std::chrono::seconds code_ttl{60};
  std::chrono::seconds id_token_ttl{3600};
  std::chrono::seconds access_ttl{3600};
  std::chrono::seconds leeway{30};
};

// Client credentials as presented: HTTP Basic (client_secret_basic, already split) and/or the
// form's client_id and client_secret (client_secret_post, or none for public clients).
struct PresentedClient {
  bool basic{false};
  bool basic_malformed{false};
  std::string basic_id{};
  std::string basic_secret{};
};

struct TokenResponse {
  std::string access_token{};
  std::int64_t expires_in{0};
  std::string scope{};
  std::string refresh_token{};  // empty: none issued
  std::int64_t refresh_expires_in{0};
  std::string id_token{};       // empty: none issued
  // Set by token_later() instead of access_token when the signature is still to be made;
  // Provider::finish_token() makes it, and only then is the token audited and counted.
  struct Pending {
    tokens::PendingJws jws{};
    std::string grant_type{}, client_id{};
  };
  std::optional<Pending> pending_access_token{};
};

struct Introspection {
  bool active{false};
  std::string scope{}, client_id{}, username{}, sub{}, iss{}, aud{}, token_type{}, jti{};
  std::int64_t exp{0}, iat{0};
};

// What the authorization endpoint validated: everything needed to issue a code.
struct AuthorizationRequest {
  ClientPtr client{};
  std::string redirect_uri{};       // where the answer goes
  bool redirect_uri_sent{false};    // the request named it (then the token request must too)
  bool prompt_consent{false};       // prompt=consent: ask even if granted before
  std::string state{};
  std::string nonce{};
  std::string code_challenge{};
  std::vector<std::string> scopes{};
  // OpenID Connect max_age: a login older than this many seconds must be repeated.
  std::optional<std::int64_t> max_age{};
};

// Authorization endpoint errors come in two kinds (RFC 6749 §4.1.2.1): before the client and
// redirect URI are trusted, an error page; after, a redirect back to the client.
struct AuthorizationError {
  bool redirect{false};
  OAuthError error{};
  std::string redirect_uri{};
  std::string state{};
};

struct IdTokenInput {
  const store::UserRecord& user;
  std::string client_id{};
  std::string nonce{};
  std::int64_t auth_time{0};
  std::string access_token{};  // for at_hash
  const std::vector<std::string>& scopes;
};

class Grant;

class Provider {
 public:
  Provider(Clients& clients, store::Store& store, tokens::SessionTokens& sessions, tokens::AccessTokens& access_tokens,
           const tokens::KeyRing& keyring, accounts::UserCache& users, audit::AuditLog& audit, const Clock& clock,
           ProviderSettings settings);
  ~Provider();

  // The issuer is only known once the server has bound its port.
  void set_issuer(std::string issuer);
  const ProviderSettings& settings() const { return settings_; }

  // client_secret_basic, client_secret_post or none; invalid_client (401) otherwise.
  Result<ClientPtr, OAuthError> authenticate_client(const PresentedClient& presented, const Form& form);

  // POST /oauth/token.
  // `admit` runs once the client is authenticated, before any grant work: the caller's rate
  // limit per client (SPEC §9). It returns false to refuse (the caller then has its answer);
  // token() gives back rate_limited then.
  using Admission = std::function<bool(const store::ClientRecord&)>;
  Result<TokenResponse, OAuthError> token(const PresentedClient& presented, const Form& form,
                                          const RequestContext& ctx, const Admission& admit = {});
  // The same, except that a client_credentials access token may come back pending: its ES256
  // signature joins this thread's batch (tokens/es256_batch.h) and is made by finish_token(),
  // once the server has let the other ready requests reach that point.
  Result<TokenResponse, OAuthError> token_later(const PresentedClient& presented, const Form& form,
                                                const RequestContext& ctx, const Admission& admit = {});
  // Signs a pending access token into access_token, then records oauth.token (and the issued
  // count) as token() does; false if signing failed (audited as temporarily_unavailable).
  // Nothing pending: true, and nothing recorded.
  bool finish_token(TokenResponse& response, const RequestContext& ctx);
  // POST /oauth/introspect: inactive for anything invalid, expired, revoked or not the
  // caller's (unless it may introspect any token).
  Result<Introspection, OAuthError> introspect(const PresentedClient& presented, const Form& form);
  // POST /oauth/revoke: the caller's own tokens only; unknown tokens succeed too.
  Result<void, OAuthError> revoke(const PresentedClient& presented, const Form& form, const RequestContext& ctx);

  // GET /oauth/authorize, the checks before anyone logs in.
  Result<AuthorizationRequest, AuthorizationError> check_authorization(const Form& query);
  // The scopes the user has already granted the client (empty: ask).
  Result<std::vector<std::string>, OAuthError> granted_scopes(const std::string& user_id, const std::string& client_id);
  Result<void, OAuthError> remember_grant(const std::string& user_id, const std::string& client_id,
                                          const std::vector<std::string>& scopes);
  // A code for the request, for a user who logged in at `auth_time`.
  Result<std::string, OAuthError> issue_code(const AuthorizationRequest& request, const std::string& user_id,
                                             std::int64_t auth_time, const RequestContext& ctx);

  std::string id_token(const IdTokenInput& input) const;
  // The discovery document (RFC 8414, OpenID Connect Discovery 1.0), rendered once.
  const std::string& discovery() const { return discovery_; }

  // For the grants.
  store::Store& store() { return store_; }
  tokens::SessionTokens& sessions() { return sessions_; }
  tokens::AccessTokens& access_tokens() { return access_tokens_; }
  accounts::UserCache& users() { return users_; }
  audit::AuditLog& audit() { return audit_; }
  const Clock& clock() const { return clock_; }

 private:
  void render_discovery();
  // The oauth.token audit record of a grant exchanged by an authenticated client (reason
  // empty on success).
  void audit_token(const RequestContext& ctx, const std::string& grant_type, const std::string& client_id,
                   const std::string& reason);

  Clients& clients_;
  store::Store& store_;
  tokens::SessionTokens& sessions_;
  tokens::AccessTokens& access_tokens_;
  const tokens::KeyRing& keyring_;
  accounts::UserCache& users_;
  audit::AuditLog& audit_;
  const Clock& clock_;
  ProviderSettings settings_;
  std::map<std::string, std::unique_ptr<Grant>, std::less<>> grants_;
  std::string discovery_;
};

// One grant type of the token endpoint (one file each: grant_*.cc).
class Grant {
 public:
  virtual ~Grant() = default;
  // The client is authenticated and allowed this grant type.
  virtual Result<TokenResponse, OAuthError> exchange(const store::ClientRecord& client, const Form& form,
                                                     const RequestContext& ctx) = 0;
};

std::unique_ptr<Grant> make_authorization_code_grant(Provider& provider);
std::unique_ptr<Grant> make_refresh_token_grant(Provider& provider);
std::unique_ptr<Grant> make_client_credentials_grant(Provider& provider);

OAuthError oauth_error(std::string error, std::string description, int status = 400);
// 503 temporarily_unavailable: the store did not answer.
OAuthError store_unavailable();
// A session-token failure as the token endpoint answers it: 503 when the store did not answer,
// otherwise invalid_grant with the failure's description.
OAuthError grant_error(const tokens::TokenError& error);

}  // namespace gatehouse::oauth
