// authn/access_minter.h: how a session's JWT access token is made: the user's current
// roles become its scope (their permissions) and roles claims. Used by the app's wiring and
// by tests alike, so both issue exactly the same tokens.
#pragma once
#include "accounts/user_cache.h"
#include "tokens/access_tokens.h"
#include "tokens/session_tokens.h"

namespace gatehouse::authn {

// Mints for enabled users that exist; nullopt otherwise (the refresh or login then fails).
tokens::AccessMinter make_access_minter(accounts::UserCache& users, const tokens::AccessTokens& access_tokens);

}  // namespace gatehouse::authn
