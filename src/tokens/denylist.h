// tokens/denylist.h: revoked JWT ids and sessions, in memory, each kept until the last token
// it could affect has expired. Fed from the store (tokens revoked by any process or node).
#pragma once
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gatehouse::tokens {

class Denylist {
 public:
  void add(std::string_view kind, std::string_view value, std::int64_t expires_at);
  bool revoked(std::string_view kind, std::string_view value, std::int64_t now) const;
  void purge(std::int64_t now);
  std::size_t size() const;

 private:
  static std::string key(std::string_view kind, std::string_view value);
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::int64_t> entries_;
};

}  // namespace gatehouse::tokens
