#include "authn/access_minter.h"

#include "authz/permissions.h"

namespace gatehouse::authn {

tokens::AccessMinter make_access_minter(accounts::UserCache& users, const tokens::AccessTokens& access_tokens) {
  return [&users, &access_tokens](const std::string& user_id,
                                  const std::string& session_id) -> std::optional<std::string> {
    auto user = users.get(user_id);
    if (!user || !*user || (*user)->disabled) return std::nullopt;
    std::string scope;
    for (const auto& p : authz::permissions_for((*user)->roles)) scope += (scope.empty() ? "" : " ") + p;
    return access_tokens.issue(tokens::AccessClaims{.sub = user_id,
                                                    .sid = session_id,
                                                    .jti = {},
                                                    .client_id = std::string(tokens::kFirstPartyClient),
                                                    .username = (*user)->username,
                                                    .scope = scope,
                                                    .roles = (*user)->roles});
  };
}

}  // namespace gatehouse::authn
