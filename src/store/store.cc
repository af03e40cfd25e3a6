#include "store/store.h"

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse::store {

StoreResult<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url.rfind(kSqlite, 0) == 0) return sqlite::open(url.substr(kSqlite.size()));
  // libpq takes both schemes and reads the whole URL itself (sslmode and the rest included).
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) return postgres::open(url, options);
  return tl::unexpected(StoreError{StoreErrc::unavailable, "unsupported storage URL scheme"});
}

}  // namespace gatehouse::store
