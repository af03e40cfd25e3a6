// The client_credentials grant (RFC 6749 §4.4): a confidential client acting for itself. The
// access token is a JWT (RFC 9068) whose sub and client_id are the client's, with the scopes
// asked for (all the client's registered ones by default; OpenID scopes make no sense without
// a user and are refused). No refresh token (§4.4.3): the client can always ask again.
// These tokens are JWTs whatever tokens.format says: there is no user session to store them in.
#include "oauth/provider.h"

namespace gatehouse::oauth {
namespace {

class ClientCredentialsGrant final : public Grant {
 public:
  explicit ClientCredentialsGrant(Provider& provider) : p_(provider) {}

  Result<TokenResponse, OAuthError> exchange(const store::ClientRecord& client, const Form& form,
                                             const RequestContext&) override {
    if (client.type != "confidential")
      return tl::unexpected(oauth_error("unauthorized_client", "Only confidential clients may use client_credentials."));
    auto scope = single(form, "scope");
    if (!scope) return tl::unexpected(scope.error());
    std::vector<std::string> scopes;
    if (*scope) {
      auto wanted = parse_scope(**scope);
      if (!wanted) return tl::unexpected(oauth_error("invalid_scope", "The scope is malformed."));
      for (const auto& s : *wanted) {
        if (s == "openid" || s == "offline_access")
          return tl::unexpected(oauth_error("invalid_scope", "The scope " + s + " needs a user; not with client_credentials."));
        if (!has_scope(client.scopes, s))
          return tl::unexpected(oauth_error("invalid_scope", "The client may not request the scope " + s + "."));
      }
      scopes = std::move(*wanted);
    } else {
      for (const auto& s : client.scopes)
        if (s != "openid" && s != "offline_access") scopes.push_back(s);
    }
    const std::string joined = join_scope(scopes);
    // sid "cc:<client id>": deleting the client denylists it, and with it every such token.
    // The signature is made later, with the others ready at the same time (ES256: batched).
    auto token = p_.access_tokens().issue_later(tokens::AccessClaims{.sub = client.id, .sid = "cc:" + client.id,
                                                                     .jti = {},
                                                                     .client_id = client.id, .username = {},
                                                                     .scope = joined});
    if (!token)
      return tl::unexpected(oauth_error("temporarily_unavailable", "No signing key is available yet.", 503));
    // Counted (tokens_issued) and audited by Provider::finish_token, once signed.
    return TokenResponse{.access_token = {},
                         .expires_in = p_.access_tokens().settings().ttl.count(),
                         .scope = joined,
                         .refresh_token = {},
                         .refresh_expires_in = 0,
                         .id_token = {},
                         .pending_access_token = TokenResponse::Pending{.jws = std::move(*token)}};
  }

 private:
  Provider& p_;
};

}  // namespace

std::unique_ptr<Grant> make_client_credentials_grant(Provider& provider) {
  return std::make_unique<ClientCredentialsGrant>(provider);
}

}  // namespace gatehouse::oauth
