// The PostgreSQL schema and its migrator (issue 8, first step), against a real PostgreSQL 15
// that the test starts itself.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <thread>
#include <vector>

#include "store/postgres/migrations.h"
#include "support/postgres_server.h"

namespace gatehouse::store::postgres {
namespace {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

Conn connect(const std::string& url) { return Conn(PQconnectdb(url.c_str())); }

std::string scalar(PGconn* conn, const char* sql) {
  PGresult* r = PQexec(conn, sql);
  std::string out = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "<error>";
  PQclear(r);
  return out;
}

class PostgresMigrations : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new testing::PostgresServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }

  static testing::PostgresServer* server_;
};
testing::PostgresServer* PostgresMigrations::server_ = nullptr;

TEST_F(PostgresMigrations, PasswordAuthenticationIsRequired) {
  auto good = connect(server_->url());
  EXPECT_EQ(PQstatus(good.get()), CONNECTION_OK) << PQerrorMessage(good.get());
  auto bad = connect("postgresql://gatehouse:wrong@127.0.0.1:" + std::to_string(server_->port()) + "/postgres");
  EXPECT_NE(PQstatus(bad.get()), CONNECTION_OK);
}

TEST_F(PostgresMigrations, ConcurrentStartsMigrateOnceAndAgreeOnTheVersion) {
  // Four nodes starting at once: the advisory lock lets one apply every step; the others
  // wait, then find nothing left to do.
  constexpr int kNodes = 4;
  std::vector<StoreResult<int>> results(kNodes, StoreResult<int>(0));
  std::vector<std::thread> nodes;
  for (int i = 0; i < kNodes; ++i)
    nodes.emplace_back([&, i] {
      auto conn = connect(server_->url());
      results[i] = PQstatus(conn.get()) == CONNECTION_OK
                       ? migrate(conn.get())
                       : StoreResult<int>(tl::unexpected(StoreError{StoreErrc::unavailable, "no connection"}));
    });
  for (auto& t : nodes) t.join();
  const int latest = migrations().back().version;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, latest);
  }
  auto conn = connect(server_->url());
  EXPECT_EQ(scalar(conn.get(), "SELECT count(*) FROM schema_migrations"), std::to_string(migrations().size()));
  auto version = schema_version(conn.get());
  ASSERT_TRUE(version);
  EXPECT_EQ(*version, latest);
  // Every table of the SQLite schema exists here too.
  EXPECT_EQ(scalar(conn.get(),
                   "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN "
                   "('users','sessions','access_tokens','refresh_tokens','audit_events','signing_keys','revocations',"
                   "'changes','api_keys','login_failures','oauth_clients','oauth_codes','oauth_grants')"),
            "13");
  // Idempotent, and the lock was released (a new migrate does not wait forever).
  auto again = migrate(conn.get());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, latest);
  EXPECT_EQ(scalar(conn.get(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), "0");
}

TEST_F(PostgresMigrations, SchemaVersionIsZeroOnAnEmptyDatabase) {
  auto conn = connect(server_->url());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  PQclear(PQexec(conn.get(), "CREATE DATABASE empty_one"));
  auto empty = connect("postgresql://gatehouse:" + server_->password() + "@127.0.0.1:" +
                       std::to_string(server_->port()) + "/empty_one");
  ASSERT_EQ(PQstatus(empty.get()), CONNECTION_OK) << PQerrorMessage(empty.get());
  auto version = schema_version(empty.get());
  ASSERT_TRUE(version) << version.error().message;
  EXPECT_EQ(*version, 0);
}

TEST_F(PostgresMigrations, AMigrationThatFailsLeavesNothingHalfApplied) {
  // A database where the first step's table already exists: step 1 fails as a whole (its
  // transaction rolls back) and no version is recorded.
  auto conn = connect(server_->url());
  PQclear(PQexec(conn.get(), "CREATE DATABASE clash"));
  auto clash = connect("postgresql://gatehouse:" + server_->password() + "@127.0.0.1:" +
                       std::to_string(server_->port()) + "/clash");
  ASSERT_EQ(PQstatus(clash.get()), CONNECTION_OK);
  PQclear(PQexec(clash.get(), "CREATE TABLE access_tokens (x int)"));
  auto result = migrate(clash.get());
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("migration 1"), std::string::npos) << result.error().message;
  EXPECT_EQ(scalar(clash.get(), "SELECT to_regclass('users') IS NULL"), "t");  // step 1 rolled back whole
  EXPECT_EQ(scalar(clash.get(), "SELECT count(*) FROM schema_migrations"), "0");
  auto version = schema_version(clash.get());
  ASSERT_TRUE(version);
  EXPECT_EQ(*version, 0);
}

}  // namespace
}  // namespace gatehouse::store::postgres
