// store/sqlite/sqlite_store.h: the embedded default. One file, WAL mode, foreign keys on,
// a busy timeout, a small pool of connections (one writer at a time is SQLite's rule;
// BEGIN IMMEDIATE makes writers queue instead of failing), bound parameters only.
#pragma once
#include <memory>
#include <string>

#include "store/store.h"

namespace gatehouse::store::sqlite {

StoreResult<std::unique_ptr<Store>> open(const std::string& path);

}  // namespace gatehouse::store::sqlite
