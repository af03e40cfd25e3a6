// The authorization_code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, OIDC Core §3.1.3): a code
// is single use, lives code_ttl (60 s), and is bound to its client, its redirect URI and the
// PKCE challenge. Redeeming it opens the session that its tokens belong to; presenting it a
// second time revokes that session, so whoever used it first loses what it obtained too.
#include <algorithm>

#include "crypto/digest.h"
#include "oauth/provider.h"

namespace gatehouse::oauth {
namespace {

class AuthorizationCodeGrant final : public Grant {
 public:
  explicit AuthorizationCodeGrant(Provider& provider) : p_(provider) {}

  Result<TokenResponse, OAuthError> exchange(const store::ClientRecord& client, const Form& form,
                                             const RequestContext& ctx) override {
    auto code = single(form, "code");
    auto redirect_uri = single(form, "redirect_uri");
    auto verifier = single(form, "code_verifier");
    for (const auto* r : {&code, &redirect_uri, &verifier})
      if (!*r) return tl::unexpected(r->error());
    if (!*code) return tl::unexpected(oauth_error("invalid_request", "code is required."));
    if (!*verifier) return tl::unexpected(oauth_error("invalid_request", "code_verifier is required (PKCE)."));
    static constexpr std::string_view kInvalid = "The authorization code is invalid, expired or already used.";
    if (!tokens::has_token_shape(**code, kCodePrefix)) return tl::unexpected(oauth_error("invalid_grant", std::string(kInvalid)));

    auto& sessions = p_.sessions();
    const std::string session_id = sessions.new_session_id();
    auto redeemed = p_.store().redeem_auth_code(crypto::sha256_hex(**code), p_.clock().now_unix(), session_id,
                                                    client.id);
    if (!redeemed) return tl::unexpected(store_unavailable());
    if (redeemed->outcome == store::RedeemOutcome::invalid)
      return tl::unexpected(oauth_error("invalid_grant", std::string(kInvalid)));
    const auto& record = redeemed->code;
    if (redeemed->outcome == store::RedeemOutcome::replayed) {
      // RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: revoke what the code already issued.
      (void)sessions.end_session(redeemed->session_id);
      p_.audit().record(ctx, audit::AuditEvent{.type = "oauth.code_replayed", .success = false,
                                               .user_id = record.user_id, .username = {},
                                               .detail = {{"client_id", client.id},
                                                          {"session_id", redeemed->session_id},
                                                          {"action", "session revoked"}}});
      return tl::unexpected(oauth_error("invalid_grant",
                                        "The authorization code was already used; the tokens it issued are revoked."));
    }
    // RFC 6749 §4.1.3: required, and identical, when the authorization request had one;
    // otherwise absent or the client's one registered URI.
    const bool redirect_ok = record.redirect_uri.empty()
                                 ? (!*redirect_uri || (client.redirect_uris.size() == 1 &&
                                                       **redirect_uri == client.redirect_uris.front()))
                                 : (*redirect_uri && **redirect_uri == record.redirect_uri);
    if (!redirect_ok)
      return tl::unexpected(oauth_error("invalid_grant", "redirect_uri differs from the authorization request's."));
    if (!pkce_matches(**verifier, record.code_challenge))
      return tl::unexpected(oauth_error("invalid_grant", "The code_verifier does not match the code_challenge."));

    auto user = p_.users().get(record.user_id);
    if (!user) return tl::unexpected(store_unavailable());
    if (!*user || (*user)->disabled)
      return tl::unexpected(oauth_error("invalid_grant", "The user who authorized this code is no longer active."));
    auto scopes = parse_scope(record.scope).value_or(std::vector<std::string>{});
    const bool with_refresh = has_scope(scopes, "offline_access") &&
                              std::find(client.grant_types.begin(), client.grant_types.end(), kGrantRefreshToken) !=
                                  client.grant_types.end();
    auto pair = sessions.open_session(record.user_id, (*user)->password_hash,
                                      tokens::SessionGrant{.client_id = client.id, .scope = record.scope,
                                                           .with_refresh = with_refresh, .session_id = session_id});
    if (!pair) return tl::unexpected(grant_error(pair.error()));
    TokenResponse out{.access_token = pair->access_token,
                      .expires_in = pair->access_ttl.count(),
                      .scope = record.scope,
                      .refresh_token = pair->refresh_token,
                      .refresh_expires_in = pair->refresh_ttl.count(),
                      .id_token = {}};
    if (has_scope(scopes, "openid"))
      out.id_token = p_.id_token(IdTokenInput{.user = **user, .client_id = client.id, .nonce = record.nonce,
                                              .auth_time = record.auth_time, .access_token = out.access_token,
                                              .scopes = scopes});
    return out;
  }

 private:
  Provider& p_;
};

}  // namespace

std::unique_ptr<Grant> make_authorization_code_grant(Provider& provider) {
  return std::make_unique<AuthorizationCodeGrant>(provider);
}

}  // namespace gatehouse::oauth
