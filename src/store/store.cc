#include "store/store.h"

#include "store/sqlite/sqlite_store.h"

namespace gatehouse::store {

StoreResult<std::unique_ptr<Store>> open_store(const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url.rfind(kSqlite, 0) == 0) return sqlite::open(url.substr(kSqlite.size()));
  return tl::unexpected(StoreError{StoreErrc::unavailable, "unsupported storage URL scheme"});
}

}  // namespace gatehouse::store
