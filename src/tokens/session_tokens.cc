#include "tokens/session_tokens.h"

#include "metrics/metrics.h"

#include "core/random.h"
#include "crypto/digest.h"

namespace gatehouse::tokens {
namespace {

constexpr std::size_t kTokenChars = 43;  // 43 * log2(62) ≈ 256 bits

tl::unexpected<TokenError> fail(TokenErrc code, std::string description) {
  return tl::unexpected(TokenError{code, std::move(description)});
}

tl::unexpected<TokenError> store_down() {
  return fail(TokenErrc::unavailable, "The token store is unavailable; try again shortly.");
}

}  // namespace

std::string make_token(std::string_view prefix) { return std::string(prefix) + random_base62(kTokenChars); }

bool has_token_shape(std::string_view text, std::string_view prefix) {
  if (text.size() != prefix.size() + kTokenChars || text.substr(0, prefix.size()) != prefix) return false;
  for (unsigned char c : text.substr(prefix.size()))
    if (!std::isalnum(c)) return false;
  return true;
}

SessionTokens::SessionTokens(store::SessionStore& store, audit::AuditLog& audit, const Clock& clock,
                             TokenSettings settings)
    : store_(store), audit_(audit), clock_(clock), settings_(settings) {}

store::TokenRecord SessionTokens::new_record(std::string_view prefix, std::chrono::seconds ttl,
                                             std::string* token_out) const {
  *token_out = make_token(prefix);
  const std::int64_t now = clock_.now_unix();
  return store::TokenRecord{.digest = crypto::sha256_hex(*token_out),
                            .session_id = {},
                            .user_id = {},
                            .created_at = now,
                            .expires_at = now + ttl.count()};
}

void SessionTokens::count_issued(bool refresh) const {
  metrics::tokens_issued().with({"access"}).inc();
  if (refresh) metrics::tokens_issued().with({"refresh"}).inc();
}

std::string SessionTokens::new_session_id() const {
  return new_id(std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch()).count());
}

Result<TokenPair, TokenError> SessionTokens::open_session(const std::string& user_id,
                                                          const std::string& verified_password_hash,
                                                          const SessionGrant& grant) {
  const bool with_refresh = grant.with_refresh && !grant.browser;
  TokenPair pair{.access_token = {}, .refresh_token = {},
                 .access_ttl = grant.browser ? settings_.browser_ttl : settings_.access_ttl,
                 .refresh_ttl = with_refresh ? settings_.refresh_ttl : std::chrono::seconds{0},
                 .session_id = grant.session_id.empty() ? new_session_id() : grant.session_id};
  std::optional<store::TokenRecord> access;
  std::optional<store::TokenRecord> refresh;
  if (grant.browser) access = new_record(kBrowserPrefix, settings_.browser_ttl, &pair.access_token);
  else if (!minter_) access = new_record(kAccessPrefix, settings_.access_ttl, &pair.access_token);
  if (with_refresh) refresh = new_record(kRefreshPrefix, settings_.refresh_ttl, &pair.refresh_token);
  for (auto* record : {&access, &refresh}) {
    if (!*record) continue;
    (*record)->session_id = pair.session_id;
    (*record)->user_id = user_id;
  }
  const store::SessionRecord session{.id = pair.session_id, .user_id = user_id,
                                     .client_id = grant.browser ? std::string(kBrowserClient) : grant.client_id,
                                     .created_at = clock_.now_unix(), .revoked_at = std::nullopt,
                                     .scope = grant.scope};
  if (auto created = store_.create_session(session, access, refresh, verified_password_hash); !created) {
    if (created.error().code == store::StoreErrc::precondition_failed)
      return fail(TokenErrc::invalid_grant, "The account changed while logging in; log in again.");
    return store_down();
  }
  if (minter_ && !grant.browser) {
    auto minted = minter_(MintRequest{user_id, pair.session_id, grant.client_id, grant.scope});
    if (!minted) return fail(TokenErrc::invalid_grant, "The account changed while logging in; log in again.");
    pair.access_token = std::move(*minted);
  }
  if (!grant.browser) count_issued(with_refresh);
  return pair;
}

Result<TokenPair, TokenError> SessionTokens::refresh(const std::string& refresh_token, const RequestContext& ctx,
                                                     std::string_view client_id,
                                                     const std::optional<std::string>& narrowed_scope) {
  if (!has_token_shape(refresh_token, kRefreshPrefix))
    return fail(TokenErrc::invalid_grant, "The refresh token is invalid, expired or revoked.");
  // A refresh token works only for the client it was issued to (OAuth 2.1 §4.3): another
  // client's is refused before it is touched, so presenting it spends nothing. A session's
  // client never changes, so reading it first is as good as checking in the rotation.
  auto owner = store_.find_refresh_token(crypto::sha256_hex(refresh_token));
  if (!owner) return store_down();
  if (!*owner || (*owner)->client_id != client_id)
    return fail(TokenErrc::invalid_grant, "The refresh token is invalid, expired or revoked.");
  TokenPair pair{.access_token = {}, .refresh_token = {}, .access_ttl = settings_.access_ttl,
                 .refresh_ttl = settings_.refresh_ttl, .session_id = {}};
  std::optional<store::TokenRecord> access;
  if (!minter_) access = new_record(kAccessPrefix, settings_.access_ttl, &pair.access_token);
  auto refresh = new_record(kRefreshPrefix, settings_.refresh_ttl, &pair.refresh_token);
  auto rotated = store_.rotate_refresh_token(crypto::sha256_hex(refresh_token), clock_.now_unix(), access, refresh,
                                             revoked_until());
  if (!rotated) return store_down();
  switch (rotated->outcome) {
    case store::RotateOutcome::rotated:
      pair.session_id = rotated->session_id;
      if (minter_) {
        auto minted = minter_(MintRequest{rotated->user_id, rotated->session_id, rotated->client_id,
                                          narrowed_scope ? narrowed_scope : rotated->scope});
        if (!minted) return fail(TokenErrc::invalid_grant, "The refresh token is invalid, expired or revoked.");
        pair.access_token = std::move(*minted);
      }
      audit_.record(ctx, audit::AuditEvent{.type = "token.refreshed", .success = true, .user_id = rotated->user_id,
                                           .username = {}, .detail = {{"session_id", rotated->session_id}}});
      count_issued(true);
      return pair;
    case store::RotateOutcome::reuse_detected:
      changed();
      audit_.record(ctx, audit::AuditEvent{.type = "token.reuse_detected", .success = false,
                                           .user_id = rotated->user_id, .username = {},
                                           .detail = {{"session_id", rotated->session_id},
                                                      {"action", "session revoked"}}});
      return fail(TokenErrc::invalid_grant, "The refresh token was already used; the session has been revoked.");
    case store::RotateOutcome::invalid:
      break;
  }
  return fail(TokenErrc::invalid_grant, "The refresh token is invalid, expired or revoked.");
}

// An opaque token of a live session: `prefix` says which kind (an access token or a browser
// session cookie), so one can never be presented as the other.
Result<AccessGrant, TokenError> SessionTokens::verify_stored(const std::string& token, std::string_view prefix,
                                                            std::string_view invalid) {
  if (!has_token_shape(token, prefix)) return fail(TokenErrc::invalid_token, std::string(invalid));
  auto found = store_.find_access_token(crypto::sha256_hex(token));
  if (!found) return store_down();
  if (!*found) return fail(TokenErrc::invalid_token, std::string(invalid));
  const auto& view = **found;
  const bool browser = view.client_id == kBrowserClient;
  if (view.session_revoked || view.token.expires_at <= clock_.now_unix() || browser != (prefix == kBrowserPrefix))
    return fail(TokenErrc::invalid_token, std::string(invalid));
  return AccessGrant{.user_id = view.token.user_id, .session_id = view.token.session_id,
                     .expires_at = view.token.expires_at, .client_id = view.client_id, .scope = view.scope,
                     .issued_at = view.token.created_at};
}

Result<AccessGrant, TokenError> SessionTokens::verify_access(const std::string& access_token) {
  return verify_stored(access_token, kAccessPrefix, "The access token is invalid, expired or revoked.");
}

Result<AccessGrant, TokenError> SessionTokens::verify_browser(const std::string& cookie) {
  return verify_stored(cookie, kBrowserPrefix, "The session has ended; log in again.");
}

Result<std::string, TokenError> SessionTokens::session_of_refresh_token(const std::string& refresh_token,
                                                                        std::string* user_id) {
  if (!has_token_shape(refresh_token, kRefreshPrefix)) return fail(TokenErrc::invalid_grant, "Unknown refresh token.");
  auto found = store_.find_refresh_token(crypto::sha256_hex(refresh_token));
  if (!found) return store_down();
  if (!*found) return fail(TokenErrc::invalid_grant, "Unknown refresh token.");
  if (user_id) *user_id = (*found)->token.user_id;
  return (*found)->token.session_id;
}

Result<void, TokenError> SessionTokens::end_session(const std::string& session_id) {
  if (!store_.revoke_session(session_id, clock_.now_unix(), revoked_until())) return store_down();
  changed();
  return {};
}

Result<int, TokenError> SessionTokens::end_user_sessions(const std::string& user_id,
                                                         const std::string& keep_session_id) {
  auto n = store_.revoke_user_sessions(user_id, keep_session_id, clock_.now_unix(), revoked_until());
  if (!n) return store_down();
  changed();
  return *n;
}

}  // namespace gatehouse::tokens
