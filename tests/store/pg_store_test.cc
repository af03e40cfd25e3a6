// What only the PostgreSQL store does: open_store's URLs, its connection pool (lazy, bounded,
// replacing lost connections), error messages that never quote values, and one winner across
// nodes. Everything both backends do is in store_conformance_test.cc.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "store/postgres/pg_store.h"
#include "store/store.h"
#include "support/postgres_server.h"

namespace gatehouse::store::postgres {
namespace {

using namespace std::chrono_literals;

// One server per test process, started on first use and stopped at exit.
testing::PostgresServer& server() {
  static testing::PostgresServer s;
  return s;
}

std::string scalar(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(r);
  std::string out = status == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0)
                    : status == PGRES_COMMAND_OK                      ? ""
                                                                      : "<error>";
  PQclear(r);
  return out;
}

bool eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

UserRecord user(std::string id, std::string name, std::string email = {}) {
  return UserRecord{.id = std::move(id), .username = std::move(name), .email = std::move(email), .roles = {"user"},
                    .disabled = false, .password_hash = "$argon2id$x", .created_at = 100, .updated_at = 100};
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server().ok()) << server().error();
    static int databases = 0;
    database_ = "pg_store_" + std::to_string(++databases);
    std::string error;
    url_ = server().create_database(database_, error);
    ASSERT_FALSE(url_.empty()) << error;
    admin_ = PQconnectdb(server().url().c_str());
    ASSERT_EQ(PQstatus(admin_), CONNECTION_OK) << PQerrorMessage(admin_);
  }
  void TearDown() override {
    PQfinish(locker_);
    PQfinish(admin_);
  }

  // Server processes serving this test's database, but for the locker's.
  int backends() {
    return std::stoi(scalar(admin_, "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + database_ +
                                        "' AND pid <> " + std::to_string(locker_ ? PQbackendPID(locker_) : 0)));
  }
  int waiting_for_a_lock() {
    return std::stoi(scalar(admin_, "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + database_ +
                                        "' AND wait_event_type = 'Lock'"));
  }
  void terminate(const std::string& condition) {
    scalar(admin_, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + database_ +
                       "' AND " + condition);
  }
  // Holds an exclusive lock on the users table, so any store call that touches it waits.
  void lock_users() {
    locker_ = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(locker_), CONNECTION_OK);
    ASSERT_EQ(scalar(locker_, "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE"), "");
  }
  void unlock_users() { scalar(locker_, "ROLLBACK"); }

  std::string database_;
  std::string url_;
  PGconn* admin_{nullptr};
  PGconn* locker_{nullptr};
};

TEST_F(PgStoreTest, OpensBothSchemesLazilyAndDoesNotMigrate) {
  auto store = open_store(url_);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(backends(), 0) << "no connection before the first call";
  EXPECT_EQ((*store)->schema_version().value(), 0) << "open_store does not migrate";
  EXPECT_EQ(backends(), 1);
  ASSERT_TRUE((*store)->migrate());
  auto short_scheme = open_store("postgres://" + url_.substr(std::string_view("postgresql://").size()));
  ASSERT_TRUE(short_scheme) << short_scheme.error().message;
  EXPECT_EQ((*short_scheme)->schema_version().value(), (*store)->schema_version().value());
}

TEST_F(PgStoreTest, AnUnreachableServerIsUnavailableAndItsPasswordStaysOutOfTheMessage) {
  auto store = open_store("postgresql://gatehouse:pw-do-not-echo@127.0.0.1:1/none");
  ASSERT_TRUE(store) << "opening connects nothing";
  auto pinged = (*store)->ping();
  ASSERT_FALSE(pinged);
  EXPECT_EQ(pinged.error().code, StoreErrc::unavailable);
  EXPECT_EQ(pinged.error().message.find("pw-do-not-echo"), std::string::npos) << pinged.error().message;

  auto malformed = open_store("postgresql://gatehouse:pw-do-not-echo@127.0.0.1/db?pw-do-not-echo=1");
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().message.find("pw-do-not-echo"), std::string::npos) << malformed.error().message;
}

TEST_F(PgStoreTest, ErrorsNameTheConstraintNeverTheValue) {
  PgStore store(url_);
  ASSERT_TRUE(store.migrate());
  ASSERT_TRUE(store.create_user(user("u1", "Alice-Secretname", "alice.secret@example.com")));
  auto taken = store.create_user(user("u2", "alice-secretname"));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, StoreErrc::conflict);
  EXPECT_NE(taken.error().message.find("23505"), std::string::npos) << taken.error().message;
  EXPECT_NE(taken.error().message.find("users"), std::string::npos) << taken.error().message;
  EXPECT_EQ(taken.error().message.find("secretname"), std::string::npos) << taken.error().message;

  auto orphan = store.create_api_key(ApiKeyRecord{.id = "k1", .user_id = "owner-nobody-has", .name = "ci",
                                                  .digest = "digest-of-a-secret", .prefix = "gk_abcd"});
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, StoreErrc::conflict);
  EXPECT_EQ(orphan.error().message.find("owner-nobody-has"), std::string::npos) << orphan.error().message;
  EXPECT_EQ(orphan.error().message.find("digest-of-a-secret"), std::string::npos) << orphan.error().message;
}

TEST_F(PgStoreTest, AuditTextThatIsNotUtf8IsMendedNotLost) {
  // A User-Agent cut in the middle of a character, and a NUL: PostgreSQL stores neither, and a
  // batch must not be lost for one such record.
  PgStore store(url_);
  ASSERT_TRUE(store.migrate());
  AuditRecord odd{.id = "e1", .time = 100, .type = "login.failure", .outcome = "failure",
                  .username = std::string("bob\0", 4), .user_agent = "Agent \xC3"};
  AuditRecord plain = odd;
  plain.id = "e2";
  plain.username = "bob";
  plain.user_agent = "Agent \xC3\xA9";
  ASSERT_TRUE(store.append_audits({odd, plain}));
  auto listed = store.list_audit(AuditQuery{}).value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].user_agent, "Agent \xEF\xBF\xBD");
  EXPECT_EQ(listed[1].username, "bob\xEF\xBF\xBD");
  EXPECT_EQ(listed[0].user_agent, "Agent \xC3\xA9") << "well-formed text is kept as it is";

}

TEST_F(PgStoreTest, NamesPostgresCannotHoldAreFoundNowhereAndStillCountFailures) {
  // A Basic-auth or form login may name anything; SQLite answers "no such user", and so must
  // PostgreSQL, which stores neither malformed UTF-8 nor NUL (and libpq would cut at a NUL).
  PgStore store(url_);
  ASSERT_TRUE(store.migrate());
  ASSERT_TRUE(store.create_user(user("u1", "alice")));
  const std::string nul_name("alice\0x", 7), bad_name = "al\xFFice";
  for (const auto& name : {nul_name, bad_name}) {
    auto found = store.find_user_by_username(name);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_FALSE(found->has_value()) << "not looked up as \"alice\"";
    auto by_email = store.find_user_by_email(name + "@x.io");
    ASSERT_TRUE(by_email) << by_email.error().message;
    EXPECT_FALSE(by_email->has_value());
    auto client = store.find_client(name);
    ASSERT_TRUE(client) << client.error().message;
    EXPECT_FALSE(client->has_value());
    const std::string subject = "login:" + name;
    ASSERT_TRUE(store.add_login_failure(subject, 100, 900, 5, 900));
    EXPECT_EQ(store.add_login_failure(subject, 101, 900, 5, 900)->count, 2);
    EXPECT_EQ(store.login_failures(subject)->count, 2);
    ASSERT_TRUE(store.clear_login_failures(subject));
    EXPECT_EQ(store.login_failures(subject)->count, 0);
  }
  auto nul_user = store.create_user(user("u2", nul_name));
  ASSERT_FALSE(nul_user) << "refused, not stored as \"alice\"";
  EXPECT_EQ(nul_user.error().code, StoreErrc::internal);
}

TEST_F(PgStoreTest, ConnectionsTheServerClosedWhileIdleAreReplacedUnnoticed) {
  PgStore store(url_);
  ASSERT_TRUE(store.migrate());
  ASSERT_TRUE(store.ping());
  terminate("true");  // as a server restart or an idle timeout would
  ASSERT_TRUE(eventually([&] { return backends() == 0; }));
  EXPECT_TRUE(store.ping()) << "the closed connection is found before use and replaced";
  EXPECT_TRUE(store.create_user(user("u1", "alice")));
}

TEST_F(PgStoreTest, AConnectionLostMidStatementAnswersUnavailableThenRecovers) {
  PgStore store(url_, 1);  // one connection: the lost one must be replaced for the next call to work
  ASSERT_TRUE(store.migrate());
  lock_users();
  StoreResult<void> created;
  std::thread blocked([&] { created = store.create_user(user("u1", "alice")); });
  ASSERT_TRUE(eventually([&] { return waiting_for_a_lock() == 1; }));
  terminate("wait_event_type = 'Lock'");
  blocked.join();
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, StoreErrc::unavailable) << created.error().message;
  unlock_users();
  EXPECT_TRUE(store.create_user(user("u1", "alice")));
  EXPECT_EQ(store.count_users().value(), 1);
}

TEST_F(PgStoreTest, WaitingForAFreeConnectionIsBounded) {
  PgStore store(url_, 1, 200ms);
  ASSERT_TRUE(store.migrate());
  lock_users();
  StoreResult<void> created;
  std::thread holder([&] { created = store.create_user(user("u1", "alice")); });  // holds the only connection
  ASSERT_TRUE(eventually([&] { return waiting_for_a_lock() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  auto pinged = store.ping();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(pinged);
  EXPECT_EQ(pinged.error().code, StoreErrc::unavailable);
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 5s);
  unlock_users();
  holder.join();
  EXPECT_TRUE(created);
  EXPECT_TRUE(store.ping());
}

TEST_F(PgStoreTest, ADeadlockVictimRunsItsTransactionAgain) {
  PgStore store(url_);
  ASSERT_TRUE(store.migrate());
  ASSERT_TRUE(store.create_user(user("u1", "alice")));
  for (const char* id : {"k1", "k2"})
    ASSERT_TRUE(store.create_api_key(ApiKeyRecord{.id = id, .user_id = "u1", .name = "ci",
                                                  .digest = std::string("d-") + id, .prefix = "gk_abcd"}));
  // Another client holds k2 and then wants k1, while the store holds k1 and wants k2. The
  // store's deadlock check fires first (the other side waits 10 s before checking), so the
  // store's transaction is the one PostgreSQL aborts; it runs again once the other commits.
  locker_ = PQconnectdb(url_.c_str());
  ASSERT_EQ(scalar(locker_, "BEGIN; SET LOCAL deadlock_timeout = '10s'; "
                            "UPDATE api_keys SET name = 'held' WHERE id = 'k2'"),
            "");
  StoreResult<void> touched;
  std::thread store_side([&] { touched = store.touch_api_keys({{"k1", 300}, {"k2", 300}}); });
  ASSERT_TRUE(eventually([&] { return waiting_for_a_lock() == 1; }));
  EXPECT_EQ(scalar(locker_, "UPDATE api_keys SET name = 'held' WHERE id = 'k1'"), "") << "the store gave way";
  EXPECT_EQ(scalar(locker_, "COMMIT"), "");
  store_side.join();
  ASSERT_TRUE(touched) << touched.error().message;
  EXPECT_EQ(store.find_api_key("k1").value()->last_used_at, 300);
  EXPECT_EQ(store.find_api_key("k2").value()->last_used_at, 300);
}

TEST_F(PgStoreTest, ASessionWhoseIdIsBeingRevokedDoesNotOpenMeanwhile) {
  // A replayed authorization code revokes the session id its first redemption is opening. Here
  // the revocation is held up mid-transaction (its denylist row waits on another client's
  // uncommitted row), and the session must wait for it rather than open unseen.
  PgStore store(url_);
  ASSERT_TRUE(store.migrate());
  ASSERT_TRUE(store.create_user(user("u1", "alice")));
  locker_ = PQconnectdb(url_.c_str());
  ASSERT_EQ(scalar(locker_, "BEGIN; INSERT INTO revocations (kind, value, expires_at) VALUES ('sid', 's-race', 1)"),
            "");
  StoreResult<void> revoked, opened;
  std::thread revoker([&] { revoked = store.revoke_session("s-race", 100, 5000); });
  ASSERT_TRUE(eventually([&] { return waiting_for_a_lock() == 1; }));
  std::thread login([&] {
    const TokenRecord refresh{.digest = "r-race", .session_id = "s-race", .user_id = "u1", .created_at = 100,
                              .expires_at = 1000};
    opened = store.create_session(SessionRecord{.id = "s-race", .user_id = "u1", .client_id = "c1", .created_at = 100},
                                  std::nullopt, refresh, "$argon2id$x");
  });
  EXPECT_TRUE(eventually([&] { return waiting_for_a_lock() == 2; })) << "the login waits for the revocation";
  scalar(locker_, "ROLLBACK");
  revoker.join();
  login.join();
  EXPECT_TRUE(revoked);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, StoreErrc::precondition_failed);
  EXPECT_FALSE(store.find_refresh_token("r-race").value().has_value());
}

TEST_F(PgStoreTest, ALoginWaitsForAPasswordChangeInFlightAndLosesToIt) {
  PgStore store(url_);
  ASSERT_TRUE(store.migrate());
  ASSERT_TRUE(store.create_user(user("u1", "alice")));
  locker_ = PQconnectdb(url_.c_str());
  ASSERT_EQ(scalar(locker_, "BEGIN; UPDATE users SET password_hash = '$argon2id$new' WHERE id = 'u1'"), "");
  StoreResult<void> opened;
  std::thread login([&] {
    const TokenRecord refresh{.digest = "r1", .session_id = "s1", .user_id = "u1", .created_at = 100,
                              .expires_at = 1000};
    const SessionRecord session{.id = "s1", .user_id = "u1", .client_id = "gatehouse", .created_at = 100};
    opened = store.create_session(session, std::nullopt, refresh, "$argon2id$x");
  });
  EXPECT_TRUE(eventually([&] { return waiting_for_a_lock() == 1; }));
  scalar(locker_, "COMMIT");
  login.join();
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, StoreErrc::precondition_failed);
}

TEST_F(PgStoreTest, TwoNodesRotatingOneRefreshTokenHaveOneWinner) {
  // Two stores with pools of their own: what two Gatehouse processes sharing a database do.
  PgStore node_a(url_), node_b(url_);
  ASSERT_TRUE(node_a.migrate());
  ASSERT_TRUE(node_b.migrate());
  ASSERT_TRUE(node_a.create_user(user("u1", "alice")));
  const TokenRecord refresh{.digest = "r1", .session_id = "s1", .user_id = "u1", .created_at = 100, .expires_at = 1000};
  const SessionRecord session{.id = "s1", .user_id = "u1", .client_id = "gatehouse", .created_at = 100};
  ASSERT_TRUE(node_a.create_session(session, std::nullopt, refresh, "$argon2id$x"));
  std::atomic<int> rotated{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i)
    threads.emplace_back([&, i] {
      PgStore& node = i % 2 ? node_a : node_b;
      TokenRecord next = refresh;
      next.digest = "r-next-" + std::to_string(i);
      auto r = node.rotate_refresh_token("r1", 150, std::nullopt, next, 5000);
      if (!r) ++failed;
      else if (r->outcome == RotateOutcome::rotated) ++rotated;
      else ++refused;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(rotated.load(), 1);
  EXPECT_EQ(refused.load(), 11);
  EXPECT_EQ(failed.load(), 0);
}

TEST_F(PgStoreTest, AListenerWakesWhenAnotherNodeCommitsAChange) {
  PgStore a(url_), b(url_);
  ASSERT_TRUE(a.migrate());
  ASSERT_TRUE(a.notifies_changes());
  EXPECT_TRUE(a.wait_for_changes(100ms)) << "the first wait connects, and reports a possible miss";
  EXPECT_FALSE(a.wait_for_changes(200ms)) << "nothing happened";
  ASSERT_TRUE(b.create_user(user("u1", "alice")));
  std::thread writer([&] {
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(b.add_revocation("jti", "j1", 4'000'000'000));
  });
  const auto start = std::chrono::steady_clock::now();
  const bool woke = a.wait_for_changes(5000ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  writer.join();
  EXPECT_TRUE(woke);
  EXPECT_LT(waited, 1000ms) << "woken by the NOTIFY, not by the timeout";
  EXPECT_EQ(a.revocations_since(0, 100)->size(), 1u);
  EXPECT_FALSE(a.wait_for_changes(100ms)) << "one notification per commit, already consumed";
}

TEST_F(PgStoreTest, AListenerWhoseConnectionDropsReconnectsAndSaysItMayHaveMissedSome) {
  PgStore a(url_), b(url_);
  ASSERT_TRUE(a.migrate());
  EXPECT_TRUE(a.wait_for_changes(100ms));
  terminate("query LIKE 'LISTEN%'");
  EXPECT_TRUE(eventually([&] { return a.wait_for_changes(50ms); })) << "the broken connection is reported";
  EXPECT_TRUE(eventually([&] { return a.wait_for_changes(50ms); })) << "and the new one says it may have missed some";
  EXPECT_FALSE(a.wait_for_changes(100ms));
  ASSERT_TRUE(b.add_revocation("jti", "j2", 4'000'000'000));
  EXPECT_TRUE(a.wait_for_changes(2000ms));
}

// Sequence numbers are drawn at INSERT and become visible at COMMIT. A change feed that
// follows seq > last would skip a number drawn early and committed late, so writers to the
// feed take one lock before their number is drawn and hold it until they commit. Here a
// transaction holds that lock (as a slow writer would) before it has drawn anything: another
// node's revocation must wait, and must not draw its number meanwhile.
TEST_F(PgStoreTest, AFeedWriterDrawsItsNumberOnlyAfterTheOneBeforeItCommitted) {
  PgStore a(url_), reader(url_);
  ASSERT_TRUE(a.migrate());
  locker_ = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(locker_), CONNECTION_OK);
  ASSERT_EQ(scalar(locker_, "BEGIN"), "");
  ASSERT_EQ(scalar(locker_, "SELECT pg_advisory_xact_lock(hashtext('gatehouse.feed'), 0)"), "");
  std::atomic<bool> done{false};
  std::thread writer([&] {
    EXPECT_TRUE(a.add_revocation("jti", "late", 4'000'000'000));
    done = true;
  });
  EXPECT_TRUE(eventually([&] { return waiting_for_a_lock() == 1; })) << "the second writer waits";
  EXPECT_FALSE(done);
  const std::string early = scalar(locker_, "INSERT INTO revocations (kind, value, expires_at) "
                                            "VALUES ('jti', 'early', 4000000000) RETURNING seq");
  EXPECT_TRUE(reader.revocations_since(0, 100)->empty()) << "nothing is visible, so nothing can be skipped";
  EXPECT_EQ(scalar(locker_, "COMMIT"), "");
  writer.join();
  auto seen = reader.revocations_since(0, 100).value();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].value, "early");
  EXPECT_EQ(std::to_string(seen[0].seq), early);
  EXPECT_EQ(seen[1].value, "late");
  EXPECT_LT(seen[0].seq, seen[1].seq) << "the waiting writer drew its number after the first committed";
}

// The same under load: two nodes write revocations from several threads while a follower reads
// only what is past its last sequence number. A trigger sleeps up to 5 ms after each INSERT,
// widening the gap between drawing a number and committing it, where a skip would happen.
TEST_F(PgStoreTest, AFollowerOfTheFeedMissesNothingWhileTwoNodesWrite) {
  PgStore a(url_, 6), b(url_, 6), follower(url_);
  ASSERT_TRUE(a.migrate());
  {
    PGconn* ddl = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(ddl), CONNECTION_OK);
    EXPECT_EQ(scalar(ddl, "CREATE FUNCTION dawdle() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN PERFORM pg_sleep(random() * 0.005); RETURN NEW; END $$"),
              "");
    EXPECT_EQ(scalar(ddl, "CREATE TRIGGER dawdle AFTER INSERT ON revocations FOR EACH ROW EXECUTE FUNCTION dawdle()"),
              "");
    PQfinish(ddl);
  }
  constexpr int kThreads = 4, kEach = 60;
  std::atomic<bool> writing{true};
  std::set<std::string> seen;
  std::int64_t last = 0;
  std::thread reader([&] {
    while (writing) {
      auto batch = follower.revocations_since(last, 100);
      ASSERT_TRUE(batch) << batch.error().message;
      for (const auto& r : *batch) {
        seen.insert(r.value);
        last = r.seq;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      PgStore& node = t % 2 ? b : a;
      for (int i = 0; i < kEach; ++i)
        ASSERT_TRUE(node.add_revocation("jti", "t" + std::to_string(t) + "-" + std::to_string(i), 4'000'000'000));
    });
  for (auto& w : writers) w.join();
  writing = false;
  reader.join();
  const auto rest = follower.revocations_since(last, 100).value();
  for (const auto& r : rest) seen.insert(r.value);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST_F(PgStoreTest, APasswordGivenApartOverridesTheUrlsAndIsNeverQuoted) {
  const std::string bare = "postgresql://gatehouse@127.0.0.1:" + std::to_string(server().port()) + "/" + database_;
  auto good = open_store(bare, StoreOptions{.pool_size = 2, .password = server().password()});
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_TRUE((*good)->ping()) << "the password came from the options";
  auto wrong = open_store("postgresql://gatehouse:" + server().password() + "@127.0.0.1:" +
                              std::to_string(server().port()) + "/" + database_,
                          StoreOptions{.pool_size = 1, .password = "wrong-pw-do-not-echo"});
  ASSERT_TRUE(wrong);
  auto refused = (*wrong)->ping();
  ASSERT_FALSE(refused) << "the password given apart wins over the URL's";
  EXPECT_EQ(refused.error().code, StoreErrc::unavailable);
  EXPECT_EQ(refused.error().message.find("wrong-pw-do-not-echo"), std::string::npos) << refused.error().message;
}

TEST_F(PgStoreTest, SslModeInTheUrlReachesLibpq) {
  // The test server has no TLS: sslmode=require must then fail (libpq enforced it), and
  // sslmode=disable must connect. Either way the URL's parameters went through untouched.
  auto required = open_store(url_ + "?sslmode=require");
  ASSERT_TRUE(required) << required.error().message;
  auto refused = (*required)->ping();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StoreErrc::unavailable);
  EXPECT_NE(refused.error().message.find("SSL"), std::string::npos) << refused.error().message;
  EXPECT_EQ(refused.error().message.find(server().password()), std::string::npos);
  auto plain = open_store(url_ + "?sslmode=disable");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_TRUE((*plain)->ping());
}

TEST_F(PgStoreTest, ThePoolNeverOpensMoreThanItsConfiguredSize) {
  auto opened = open_store(url_, StoreOptions{.pool_size = 2});
  ASSERT_TRUE(opened) << opened.error().message;
  Store& store = **opened;
  ASSERT_TRUE(store.migrate());
  ASSERT_TRUE(store.create_user(user("u1", "alice")));
  lock_users();
  std::vector<std::thread> callers;
  for (int i = 0; i < 5; ++i) callers.emplace_back([&] { (void)store.find_user("u1"); });
  ASSERT_TRUE(eventually([&] { return waiting_for_a_lock() == 2; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(backends(), 2) << "five callers, two connections";
  unlock_users();
  for (auto& c : callers) c.join();
}

}  // namespace
}  // namespace gatehouse::store::postgres
