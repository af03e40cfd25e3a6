#include "store/store.h"

#include "store/sqlite/sqlite_store.h"

namespace gatehouse::store {

StoreResult<std::unique_ptr<Store>> open_store(const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url.rfind(kSqlite, 0) == 0) return sqlite::open(url.substr(kSqlite.size()));
  return tl::unexpected(StoreError{StoreErrc::unavailable, "unsupported storage URL scheme"});
}

std::string fold_case(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace gatehouse::store
