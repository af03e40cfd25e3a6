// store/sqlite/migrations.h: the schema, as an append-only list of versioned steps.
// Never edit a released step; add the next one.
#pragma once
#include <vector>

namespace gatehouse::store::sqlite {

struct Migration {
  int version;
  const char* sql;
};

const std::vector<Migration>& migrations();

}  // namespace gatehouse::store::sqlite
