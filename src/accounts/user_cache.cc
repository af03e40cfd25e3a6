#include "accounts/user_cache.h"

#include <mutex>

namespace gatehouse::accounts {

Result<std::shared_ptr<const store::UserRecord>, store::StoreError> UserCache::get(const std::string& id) {
  {
    std::shared_lock lock(mutex_);
    if (auto it = entries_.find(id); it != entries_.end()) return it->second;
  }
  auto found = store_.find_user(id);
  if (!found) return tl::unexpected(found.error());
  std::shared_ptr<const store::UserRecord> user =
      *found ? std::make_shared<const store::UserRecord>(std::move(**found)) : nullptr;
  std::unique_lock lock(mutex_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[id] = user;
  return user;
}

bool UserCache::contains(const std::string& id) const {
  std::shared_lock lock(mutex_);
  return entries_.count(id) > 0;
}

void UserCache::invalidate(const std::string& id) {
  std::unique_lock lock(mutex_);
  entries_.erase(id);
}

void UserCache::clear() {
  std::unique_lock lock(mutex_);
  entries_.clear();
}

}  // namespace gatehouse::accounts
