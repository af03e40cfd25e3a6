// The refresh_token grant (RFC 6749 §6) for OAuth clients: the same rotation and reuse
// detection as first-party refreshes (SPEC §4), and only for the client the token was issued
// to. A narrower scope may be asked for; the new access token then carries just that.
#include "crypto/digest.h"
#include "oauth/provider.h"

namespace gatehouse::oauth {
namespace {

class RefreshTokenGrant final : public Grant {
 public:
  explicit RefreshTokenGrant(Provider& provider) : p_(provider) {}

  Result<TokenResponse, OAuthError> exchange(const store::ClientRecord& client, const Form& form,
                                             const RequestContext& ctx) override {
    auto token = single(form, "refresh_token");
    if (!token) return tl::unexpected(token.error());
    if (!*token) return tl::unexpected(oauth_error("invalid_request", "refresh_token is required."));
    auto scope = single(form, "scope");
    if (!scope) return tl::unexpected(scope.error());
    static constexpr std::string_view kInvalid = "The refresh token is invalid, expired or revoked.";
    if (!tokens::has_token_shape(**token, tokens::kRefreshPrefix))
      return tl::unexpected(oauth_error("invalid_grant", std::string(kInvalid)));
    // The granted scope, for narrowing (refresh() checks the client again before spending).
    auto found = p_.store().find_refresh_token(crypto::sha256_hex(**token));
    if (!found) return tl::unexpected(store_unavailable());
    if (!*found || (*found)->client_id != client.id)
      return tl::unexpected(oauth_error("invalid_grant", std::string(kInvalid)));
    const std::string granted = (*found)->scope.value_or("");
    std::optional<std::string> narrowed;
    if (*scope) {
      auto wanted = parse_scope(**scope);
      auto have = parse_scope(granted).value_or(std::vector<std::string>{});
      if (!wanted) return tl::unexpected(oauth_error("invalid_scope", "The scope is malformed."));
      for (const auto& s : *wanted)
        if (!has_scope(have, s))
          return tl::unexpected(oauth_error("invalid_scope", "The scope " + s + " was not granted to this session."));
      narrowed = join_scope(*wanted);
      // Opaque tokens carry their session's scope: narrowing is only possible with JWTs, and
      // the response must say what the token really carries (RFC 6749 §5.1).
      if (*narrowed == granted || !p_.sessions().jwt_access()) narrowed.reset();
    }
    auto pair = p_.sessions().refresh(**token, ctx, client.id, narrowed);
    if (!pair) return tl::unexpected(grant_error(pair.error()));
    return TokenResponse{.access_token = pair->access_token,
                         .expires_in = pair->access_ttl.count(),
                         .scope = narrowed.value_or(granted),
                         .refresh_token = pair->refresh_token,
                         .refresh_expires_in = pair->refresh_ttl.count(),
                         .id_token = {}};
  }

 private:
  Provider& p_;
};

}  // namespace

std::unique_ptr<Grant> make_refresh_token_grant(Provider& provider) {
  return std::make_unique<RefreshTokenGrant>(provider);
}

}  // namespace gatehouse::oauth
