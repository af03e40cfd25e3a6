// store/postgres/migrations.h: the PostgreSQL schema, as the same append-only list of
// versioned steps as SQLite's (same version numbers, PostgreSQL's dialect), and the
// migrator that applies them under an advisory lock, so any number of nodes may start at once.
#pragma once
#include <vector>

#include "store/store.h"

struct pg_conn;

namespace gatehouse::store::postgres {

struct Migration {
  int version;
  const char* sql;
};

const std::vector<Migration>& migrations();

// Applies every pending step, each in its own transaction, while holding a session-level
// advisory lock: a second node starting meanwhile waits, then finds nothing left to do.
// Returns the schema version now in force.
StoreResult<int> migrate(pg_conn* conn);
StoreResult<int> schema_version(pg_conn* conn);

}  // namespace gatehouse::store::postgres
