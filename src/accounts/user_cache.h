// accounts/user_cache.h: users by id, in memory, so that verifying a token or a cached Basic
// credential needs no store round trip. Misses read the store once; a user that does not
// exist is remembered as such. Entries are dropped when the change feed reports the user
// changed (on this node at once, on others within the feed's poll interval).
#pragma once
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "core/result.h"
#include "store/store.h"

namespace gatehouse::accounts {

class UserCache {
 public:
  explicit UserCache(store::UserStore& store) : store_(store) {}

  // The user, null when it does not exist; an error when the store could not be read.
  Result<std::shared_ptr<const store::UserRecord>, store::StoreError> get(const std::string& id);
  // Memory only: is the user (or its absence) cached?
  bool contains(const std::string& id) const;
  void invalidate(const std::string& id);
  void clear();

 private:
  static constexpr std::size_t kMaxEntries = 100000;
  store::UserStore& store_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const store::UserRecord>> entries_;
};

}  // namespace gatehouse::accounts
