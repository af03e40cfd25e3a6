// authn/change_feed.h: keeps this node's in-memory state in step with the store. Reads the
// revocations, user and API-key changes recorded since the last call (by any process or node) and
// applies them to the denylist, the user cache and the API-key cache. Called right after local changes, so the
// node that made a change honours it at once, and every 250 ms for everyone else's.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "accounts/user_cache.h"
#include "core/clock.h"
#include "keys/api_keys.h"
#include "store/store.h"
#include "tokens/denylist.h"

namespace gatehouse::authn {

class ChangeFeed {
 public:
  ChangeFeed(store::ChangeStore& store, tokens::Denylist& denylist, accounts::UserCache& users, keys::ApiKeys& api_keys,
             const Clock& clock);
  // Loads every live revocation and starts following changes from now.
  Result<void, store::StoreError> start();
  // Applies what changed since the last call. Thread-safe.
  Result<void, store::StoreError> sync();
  // Another cache that follows changes of `kind` ("client", ...): `invalidate` gets each
  // changed id, `clear` runs at start. Register before start().
  void follow(std::string kind, std::function<void(const std::string&)> invalidate, std::function<void()> clear);

 private:
  store::ChangeStore& store_;
  tokens::Denylist& denylist_;
  accounts::UserCache& users_;
  keys::ApiKeys& api_keys_;
  const Clock& clock_;
  struct Follower {
    std::string kind;
    std::function<void(const std::string&)> invalidate;
    std::function<void()> clear;
  };
  std::vector<Follower> followers_;
  std::mutex mutex_;
  std::int64_t revocation_seq_{0};
  std::int64_t change_seq_{0};
};

}  // namespace gatehouse::authn
