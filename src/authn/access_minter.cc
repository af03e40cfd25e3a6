#include "authn/access_minter.h"

#include "authz/permissions.h"

namespace gatehouse::authn {

tokens::AccessMinter make_access_minter(accounts::UserCache& users, const tokens::AccessTokens& access_tokens) {
  return [&users, &access_tokens](const tokens::MintRequest& request) -> std::optional<std::string> {
    auto user = users.get(request.user_id);
    if (!user || !*user || (*user)->disabled) return std::nullopt;
    std::string scope;
    if (request.scope) {
      scope = *request.scope;  // OAuth: what the user granted the client
    } else {
      for (const auto& p : authz::permissions_for((*user)->roles)) scope += (scope.empty() ? "" : " ") + p;
    }
    return access_tokens.issue(tokens::AccessClaims{.sub = request.user_id,
                                                    .sid = request.session_id,
                                                    .jti = {},
                                                    .client_id = request.client_id,
                                                    .username = (*user)->username,
                                                    .scope = scope,
                                                    .roles = (*user)->roles});
  };
}

}  // namespace gatehouse::authn
