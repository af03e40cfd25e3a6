#include "tokens/denylist.h"

#include <mutex>

namespace gatehouse::tokens {

std::string Denylist::key(std::string_view kind, std::string_view value) {
  std::string k;
  k.reserve(kind.size() + 1 + value.size());
  k.append(kind).push_back(':');
  k.append(value);
  return k;
}

void Denylist::add(std::string_view kind, std::string_view value, std::int64_t expires_at) {
  std::unique_lock lock(mutex_);
  auto& slot = entries_[key(kind, value)];
  slot = std::max(slot, expires_at);
}

bool Denylist::revoked(std::string_view kind, std::string_view value, std::int64_t now) const {
  // Asked twice on every JWT request: the key is built in a per-thread buffer, not allocated.
  thread_local std::string k;
  k.assign(kind).push_back(':');
  k.append(value);
  std::shared_lock lock(mutex_);
  auto it = entries_.find(k);
  return it != entries_.end() && it->second > now;
}

void Denylist::purge(std::int64_t now) {
  std::unique_lock lock(mutex_);
  std::erase_if(entries_, [now](const auto& entry) { return entry.second <= now; });
}

std::size_t Denylist::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

}  // namespace gatehouse::tokens
