// The storage conformance suite: every backend must pass it unchanged. The PostgreSQL runs
// start a real PostgreSQL 15 (tests/support/postgres_server.h), once per test process.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

#include "store/store.h"
#include "support/postgres_server.h"
#include "support/temp_store.h"

namespace gatehouse::store {
namespace {

struct Backend {
  std::string name;
  std::function<std::unique_ptr<Store>(const std::string& dir)> open;
};

std::unique_ptr<Store> open_sqlite(const std::string& dir) {
  auto s = open_store("sqlite://" + dir + "/conformance.db");
  return s ? std::move(*s) : nullptr;
}

// One server per test process, started on first use and stopped at exit; every test gets a
// database of its own.
std::unique_ptr<Store> open_postgres(const std::string&) {
  static testing::PostgresServer server;
  if (!server.ok()) {
    ADD_FAILURE() << "PostgreSQL did not start: " << server.error();
    return nullptr;
  }
  static int databases = 0;
  std::string error;
  const std::string url = server.create_database("conformance_" + std::to_string(++databases), error);
  if (url.empty()) {
    ADD_FAILURE() << "CREATE DATABASE failed: " << error;
    return nullptr;
  }
  auto s = open_store(url);
  return s ? std::move(*s) : nullptr;
}

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    store_ = GetParam().open(dir_.path());
    ASSERT_TRUE(store_) << GetParam().name << " did not open";
    ASSERT_TRUE(store_->migrate());
  }

  UserRecord user(std::string id, std::string name, std::string email = {}) {
    return UserRecord{.id = std::move(id), .username = std::move(name), .email = std::move(email),
                      .roles = {"user"}, .disabled = false, .password_hash = "$argon2id$x",
                      .created_at = 100, .updated_at = 100};
  }
  TokenRecord token(std::string digest, std::int64_t expires_at = 1000) {
    return TokenRecord{.digest = std::move(digest), .session_id = "s1", .user_id = "u1", .created_at = 100,
                       .expires_at = expires_at};
  }
  void open_session(const std::string& session_id = "s1") {
    auto a = token("a-" + session_id), r = token("r-" + session_id);
    a.session_id = r.session_id = session_id;
    ASSERT_TRUE(store_->create_session(SessionRecord{.id = session_id, .user_id = "u1", .client_id = "gatehouse",
                                                     .created_at = 100, .revoked_at = std::nullopt},
                                       a, r, "$argon2id$x"));
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, MigrateIsIdempotent) {
  auto v1 = store_->schema_version();
  auto again = store_->migrate();
  ASSERT_TRUE(v1 && again);
  EXPECT_EQ(*v1, *again);
  EXPECT_GE(*v1, 1);
  EXPECT_TRUE(store_->ping());
}

TEST_P(StoreConformance, UsersRoundTripAndAreFoundCaseInsensitively) {
  ASSERT_TRUE(store_->create_user(user("u1", "Alice", "Alice@Example.com")));
  auto by_name = store_->find_user_by_username("ALICE");
  ASSERT_TRUE(by_name && *by_name);
  EXPECT_EQ((*by_name)->username, "Alice");
  EXPECT_EQ((*by_name)->roles, std::vector<std::string>{"user"});
  auto by_email = store_->find_user_by_email("alice@example.COM");
  ASSERT_TRUE(by_email && *by_email);
  EXPECT_FALSE(store_->find_user("nope").value().has_value());
  EXPECT_FALSE(store_->find_user_by_email("").value().has_value());
}

TEST_P(StoreConformance, DuplicatesAreConflicts) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice", "a@x.io")));
  auto same_name = store_->create_user(user("u2", "ALICE"));
  ASSERT_FALSE(same_name);
  EXPECT_EQ(same_name.error().code, StoreErrc::conflict);
  auto same_email = store_->create_user(user("u3", "bob", "A@X.IO"));
  ASSERT_FALSE(same_email);
  EXPECT_EQ(same_email.error().code, StoreErrc::conflict);
  EXPECT_TRUE(store_->create_user(user("u4", "carol")));
  EXPECT_TRUE(store_->create_user(user("u5", "dave")));  // two users without e-mail are fine
}

TEST_P(StoreConformance, UpdateAndDeleteReportMissingUsers) {
  auto missing = store_->update_user("ghost", UserChanges{.disabled = true, .updated_at = 1});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StoreErrc::not_found);
  auto gone = store_->delete_user("ghost");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, StoreErrc::not_found);
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  auto changed = store_->update_user(
      "u1", UserChanges{.email = "new@x.io", .roles = std::vector<std::string>{"admin", "user"}, .disabled = true,
                        .updated_at = 200});
  ASSERT_TRUE(changed);
  auto read = store_->find_user("u1").value().value();
  EXPECT_TRUE(read.disabled);
  EXPECT_EQ(read.email, "new@x.io");
  EXPECT_EQ(read.roles, (std::vector<std::string>{"admin", "user"}));
  EXPECT_EQ(read.password_hash, "$argon2id$x") << "untouched columns stay";
  EXPECT_EQ(read.updated_at, 200);
  EXPECT_EQ(changed->email, "new@x.io") << "returns the row as stored";
  ASSERT_TRUE(store_->update_user("u1", UserChanges{.email = "", .updated_at = 201}));
  EXPECT_EQ(store_->find_user("u1").value()->email, "");
}

TEST_P(StoreConformance, PasswordCompareAndSetAndRevocationInOneStep) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session("s1");
  open_session("s2");
  auto stale = store_->update_user("u1", UserChanges{.password_hash = "$new", .expected_password_hash = "$other",
                                                     .revoke_sessions_except = "", .updated_at = 150});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, StoreErrc::precondition_failed);
  EXPECT_FALSE(store_->find_access_token("a-s1").value()->session_revoked) << "a refused change revokes nothing";
  ASSERT_TRUE(store_->update_user("u1", UserChanges{.password_hash = "$new", .expected_password_hash = "$argon2id$x",
                                                    .revoke_sessions_except = "s2", .updated_at = 150}));
  EXPECT_TRUE(store_->find_access_token("a-s1").value()->session_revoked);
  EXPECT_FALSE(store_->find_access_token("a-s2").value()->session_revoked);
}

TEST_P(StoreConformance, SessionsOpenOnlyForTheVerifiedCredentials) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  auto a = token("a-x"), r = token("r-x");
  a.session_id = r.session_id = "sx";
  const SessionRecord session{.id = "sx", .user_id = "u1", .client_id = "gatehouse", .created_at = 100,
                              .revoked_at = std::nullopt};
  auto stale = store_->create_session(session, a, r, "$argon2id$old");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, StoreErrc::precondition_failed);
  EXPECT_FALSE(store_->find_access_token("a-x").value().has_value());
  ASSERT_TRUE(store_->update_user("u1", UserChanges{.disabled = true, .updated_at = 150}));
  EXPECT_FALSE(store_->create_session(session, a, r, "$argon2id$x"));
}

TEST_P(StoreConformance, DisabledUsersRefreshTokensDoNotRotate) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session();
  ASSERT_TRUE(store_->update_user("u1", UserChanges{.disabled = true, .updated_at = 150}));
  EXPECT_EQ(store_->rotate_refresh_token("r-s1", 150, token("a2"), token("r2"), 5000)->outcome, RotateOutcome::invalid);
}

TEST_P(StoreConformance, ListsUsersInIdOrderAfterACursor) {
  for (const char* id : {"c", "a", "b"}) ASSERT_TRUE(store_->create_user(user(id, std::string("n") + id)));
  auto first = store_->list_users("", 2);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, "a");
  auto rest = store_->list_users("b", 10);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, "c");
  EXPECT_EQ(store_->count_users().value(), 3);
}

TEST_P(StoreConformance, SessionTokensAreFoundWithTheirSessionState) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session();
  auto found = store_->find_access_token("a-s1");
  ASSERT_TRUE(found && *found);
  EXPECT_FALSE((*found)->session_revoked);
  EXPECT_EQ((*found)->token.expires_at, 1000);
  ASSERT_TRUE(store_->revoke_session("s1", 200, 5000));
  ASSERT_TRUE(store_->revoke_session("s1", 300, 5000));  // idempotent
  EXPECT_TRUE(store_->find_access_token("a-s1").value().value().session_revoked);
}

TEST_P(StoreConformance, RotationSpendsOnceThenDetectsReuse) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session();
  auto rotated = store_->rotate_refresh_token("r-s1", 150, token("a2"), token("r2"), 5000);
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->outcome, RotateOutcome::rotated);
  EXPECT_EQ(rotated->session_id, "s1");
  auto reused = store_->rotate_refresh_token("r-s1", 160, token("a3"), token("r3"), 5000);
  ASSERT_TRUE(reused);
  EXPECT_EQ(reused->outcome, RotateOutcome::reuse_detected);
  auto newest = store_->rotate_refresh_token("r2", 170, token("a4"), token("r4"), 5000);
  EXPECT_EQ(newest->outcome, RotateOutcome::invalid);
  EXPECT_EQ(store_->rotate_refresh_token("unknown", 170, token("a5"), token("r5"), 5000)->outcome, RotateOutcome::invalid);
}

TEST_P(StoreConformance, ExpiredRefreshTokensDoNotRotate) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session();
  EXPECT_EQ(store_->rotate_refresh_token("r-s1", 1000, token("a2"), token("r2"), 5000)->outcome, RotateOutcome::invalid);
}

TEST_P(StoreConformance, ConcurrentRotationHasOneWinner) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session();
  std::atomic<int> rotated{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i)
    threads.emplace_back([&, i] {
      auto r = store_->rotate_refresh_token("r-s1", 150, token("a-new-" + std::to_string(i)),
                                            token("r-new-" + std::to_string(i)), 5000);
      if (!r) ++failed;
      else if (r->outcome == RotateOutcome::rotated) ++rotated;
      else ++refused;  // reuse_detected, then invalid once the family is revoked
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(rotated.load(), 1);
  EXPECT_EQ(refused.load(), 11);
  EXPECT_EQ(failed.load(), 0) << "no store errors under contention";
}

TEST_P(StoreConformance, RevokesAllButOneSessionOfAUser) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session("s1");
  open_session("s2");
  open_session("s3");
  EXPECT_EQ(store_->revoke_user_sessions("u1", "s2", 200, 5000).value(), 2);
  EXPECT_TRUE(store_->find_access_token("a-s1").value()->session_revoked);
  EXPECT_FALSE(store_->find_access_token("a-s2").value()->session_revoked);
  EXPECT_EQ(store_->revoke_user_sessions("u1", "", 200, 5000).value(), 1);
}

TEST_P(StoreConformance, RevocationsAndUserChangesAreFollowedInOrder) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session("s1");
  open_session("s2");
  const std::int64_t start = store_->last_change_seq().value();
  ASSERT_TRUE(store_->revoke_session("s1", 150, 5000));
  ASSERT_TRUE(store_->update_user("u1", UserChanges{.disabled = true, .revoke_sessions_except = "",
                                                    .revoked_until = 6000, .updated_at = 160}));
  auto revoked = store_->revocations_since(0, 200);
  ASSERT_TRUE(revoked);
  ASSERT_EQ(revoked->size(), 2u);
  EXPECT_EQ((*revoked)[0].value, "s1");
  EXPECT_EQ((*revoked)[1].value, "s2");
  EXPECT_EQ((*revoked)[1].expires_at, 6000);
  EXPECT_EQ(store_->revocations_since((*revoked)[0].seq, 200)->size(), 1u);
  EXPECT_TRUE(store_->revocations_since(0, 6000)->empty()) << "expired revocations are not reported";
  auto changes = store_->changes_since(start);
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].ref, "u1");
  ASSERT_TRUE(store_->delete_user("u1"));
  EXPECT_EQ(store_->changes_since((*changes)[0].seq)->size(), 1u);
  ASSERT_TRUE(store_->add_revocation("jti", "j1", 7000));
  ASSERT_TRUE(store_->add_revocation("jti", "j1", 6500));  // idempotent, keeps the later expiry
  auto jti = store_->revocations_since((*revoked)[1].seq, 200);
  ASSERT_EQ(jti->size(), 1u);
  EXPECT_EQ(jti->back().expires_at, 7000);
}

TEST_P(StoreConformance, DeletingAUserDeletesItsSessionsAndTokens) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session();
  ASSERT_TRUE(store_->delete_user("u1"));
  EXPECT_FALSE(store_->find_access_token("a-s1").value().has_value());
  EXPECT_FALSE(store_->find_refresh_token("r-s1").value().has_value());
}

ApiKeyRecord api_key(std::string id, std::string digest, std::string user_id = "u1") {
  return ApiKeyRecord{.id = std::move(id), .user_id = std::move(user_id), .name = "ci", .digest = std::move(digest),
                      .prefix = "gk_abcd", .scopes = std::nullopt, .created_at = 100, .expires_at = std::nullopt,
                      .last_used_at = std::nullopt, .revoked_at = std::nullopt};
}

TEST_P(StoreConformance, ApiKeysRoundTripByIdAndDigest) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  auto k = api_key("k1", "d1");
  k.scopes = std::vector<std::string>{"keys:read", "profile:read"};
  k.expires_at = 900;
  ASSERT_TRUE(store_->create_api_key(k));
  ASSERT_TRUE(store_->create_api_key(api_key("k2", "d2")));
  auto by_digest = store_->find_api_key_by_digest("d1").value();
  ASSERT_TRUE(by_digest);
  EXPECT_EQ(by_digest->id, "k1");
  EXPECT_EQ(by_digest->prefix, "gk_abcd");
  EXPECT_EQ(by_digest->scopes, (std::vector<std::string>{"keys:read", "profile:read"}));
  EXPECT_EQ(by_digest->expires_at, 900);
  EXPECT_FALSE(by_digest->revoked_at);
  EXPECT_FALSE(store_->find_api_key("k2").value()->scopes) << "no scopes stays distinct from an empty list";
  EXPECT_FALSE(store_->find_api_key_by_digest("nope").value());
  EXPECT_EQ(store_->create_api_key(api_key("k3", "d1")).error().code, StoreErrc::conflict) << "digests are unique";
  EXPECT_EQ(store_->create_api_key(api_key("k4", "d4", "ghost")).error().code, StoreErrc::conflict)
      << "a key needs an existing owner";
  auto listed = store_->list_api_keys("u1").value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, "k1");
  EXPECT_TRUE(store_->list_api_keys("u2").value().empty());
}

TEST_P(StoreConformance, ApiKeyRevocationIsRecordedAsAChange) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_api_key(api_key("k1", "d1")));
  const std::int64_t start = store_->last_change_seq().value();
  auto revoked = store_->revoke_api_key("k1", 200);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->revoked_at, 200);
  EXPECT_FALSE(revoked->live_at(200));
  EXPECT_EQ(store_->revoke_api_key("k1", 300)->revoked_at, 200) << "revoking again keeps the first time";
  EXPECT_EQ(store_->revoke_api_key("ghost", 300).error().code, StoreErrc::not_found);
  auto changes = store_->changes_since(start).value();
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes[0].kind, "api_key");
  EXPECT_EQ(changes[0].ref, "k1");
}

TEST_P(StoreConformance, ApiKeyRotationKeepsAGraceAndHasOneWinner) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_api_key(api_key("k1", "d1")));
  std::atomic<int> rotated{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto r = store_->rotate_api_key("k1", api_key("n" + std::to_string(i), "dn" + std::to_string(i)), 500, 200);
      if (r) ++rotated;
      else if (r.error().code == StoreErrc::precondition_failed) ++refused;
      else ++failed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(rotated.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  EXPECT_EQ(failed.load(), 0);
  auto old = store_->find_api_key("k1").value();
  EXPECT_EQ(old->revoked_at, 500);
  EXPECT_TRUE(old->live_at(499)) << "works during the grace period";
  EXPECT_FALSE(old->live_at(500));
  EXPECT_EQ(store_->list_api_keys("u1")->size(), 2u);
  EXPECT_EQ(store_->rotate_api_key("ghost", api_key("x", "dx"), 500, 200).error().code, StoreErrc::not_found);
  // Revoking during the grace period ends it at once.
  EXPECT_EQ(store_->revoke_api_key("k1", 300)->revoked_at, 300);
  auto expired = api_key("k9", "d9");
  expired.expires_at = 150;
  ASSERT_TRUE(store_->create_api_key(expired));
  EXPECT_EQ(store_->rotate_api_key("k9", api_key("y", "dy"), 200, 200).error().code, StoreErrc::precondition_failed)
      << "an expired key cannot be rotated";
}

TEST_P(StoreConformance, ApiKeysAreTouchedForwardAndEndWithTheirUser) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_api_key(api_key("k1", "d1")));
  ASSERT_TRUE(store_->create_api_key(api_key("k2", "d2")));
  ASSERT_TRUE(store_->touch_api_keys({{"k1", 300}, {"k2", 250}, {"ghost", 300}}));
  ASSERT_TRUE(store_->touch_api_keys({{"k1", 200}}));
  EXPECT_EQ(store_->find_api_key("k1").value()->last_used_at, 300) << "last use never goes backwards";
  EXPECT_EQ(store_->find_api_key("k2").value()->last_used_at, 250);
  ASSERT_TRUE(store_->update_user("u1", UserChanges{.disabled = true, .revoke_api_keys = true, .updated_at = 400}));
  EXPECT_EQ(store_->find_api_key("k1").value()->revoked_at, 400);
  ASSERT_TRUE(store_->delete_user("u1"));
  EXPECT_FALSE(store_->find_api_key("k1").value());
}

TEST_P(StoreConformance, LoginFailuresLockAtTheLimitAndStartOver) {
  const std::string who = "user:u1";
  EXPECT_EQ(store_->login_failures(who)->count, 0);
  for (int i = 1; i <= 4; ++i) {
    auto f = store_->add_login_failure(who, 100 + i, 900, 5, 900);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->count, i);
    EXPECT_FALSE(f->locked_until);
  }
  auto locked = store_->add_login_failure(who, 110, 900, 5, 900);
  ASSERT_TRUE(locked);
  EXPECT_EQ(locked->locked_until, 1010);
  EXPECT_EQ(store_->add_login_failure(who, 200, 900, 5, 900)->locked_until, 1010) << "no counting while locked";
  EXPECT_EQ(store_->login_failures(who)->locked_until, 1010);
  auto after = store_->add_login_failure(who, 1010, 900, 5, 900);
  EXPECT_EQ(after->count, 1) << "an ended lock starts over";
  EXPECT_FALSE(after->locked_until);
  EXPECT_EQ(store_->add_login_failure(who, 1011 + 900, 900, 5, 900)->count, 1) << "old failures are forgotten";
  ASSERT_TRUE(store_->clear_login_failures(who));
  EXPECT_EQ(store_->login_failures(who)->count, 0);
  EXPECT_TRUE(store_->clear_login_failures("ip:nobody"));
}

TEST_P(StoreConformance, ConcurrentLoginFailuresAreAllCounted) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 5; ++k) ASSERT_TRUE(store_->add_login_failure("ip:1.2.3.4", 100, 900, 1000, 900));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->login_failures("ip:1.2.3.4")->count, 40);
}

TEST_P(StoreConformance, PurgesExpiredTokens) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  open_session();
  EXPECT_EQ(store_->purge_expired(999).value(), 0);
  EXPECT_EQ(store_->purge_expired(1000).value(), 3);  // both tokens, then the empty session
  ASSERT_TRUE(store_->add_revocation("sid", "s1", 1500));
  EXPECT_EQ(store_->purge_expired(1500).value(), 1);  // the revocation outlived by every token
  EXPECT_FALSE(store_->find_access_token("a-s1").value().has_value());
}

TEST_P(StoreConformance, AuditFiltersAndPagesNewestFirst) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->append_audit(AuditRecord{.seq = 0, .id = "e" + std::to_string(i), .time = 100 + i,
                                                 .type = i % 2 ? "login.failure" : "login.success",
                                                 .outcome = "success", .user_id = i < 2 ? "u1" : "u2",
                                                 .username = {}, .ip = {}, .user_agent = {}, .request_id = {},
                                                 .detail_json = "{}"}));
  }
  auto all = store_->list_audit(AuditQuery{});
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id, "e4");
  EXPECT_EQ(store_->list_audit(AuditQuery{.type = "login.failure"})->size(), 2u);
  EXPECT_EQ(store_->list_audit(AuditQuery{.type = {}, .user_id = "u1"})->size(), 2u);
  EXPECT_EQ(store_->list_audit(AuditQuery{.type = {}, .user_id = {}, .since = 103})->size(), 2u);
  auto page = store_->list_audit(AuditQuery{.type = {}, .user_id = {}, .since = 0, .before_seq = (*all)[1].seq, .limit = 10});
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].id, "e2");
  EXPECT_EQ(store_->purge_audit_before(102).value(), 2);
}

TEST_P(StoreConformance, AuditBatchesKeepEveryRecordInOrder) {
  // 70 events in one batch (the background writer's path): stored in order, each field intact,
  // with no gaps or duplicates whatever the batch is split into internally.
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 70; ++i)
    batch.push_back(AuditRecord{.seq = 0, .id = "b" + std::to_string(100 + i), .time = 200 + i, .type = "oauth.token",
                                .outcome = i % 3 ? "success" : "failure", .user_id = "u" + std::to_string(i % 4),
                                .username = "name'" + std::to_string(i), .ip = "10.0.0." + std::to_string(i),
                                .user_agent = "agent", .request_id = "r" + std::to_string(i),
                                .detail_json = "{\"n\":\"" + std::to_string(i) + "\"}"});
  ASSERT_TRUE(store_->append_audits(batch));
  ASSERT_TRUE(store_->append_audits({}));
  auto all = store_->list_audit(AuditQuery{.type = {}, .user_id = {}, .since = 0, .until = 0, .before_seq = 0, .limit = 100});
  ASSERT_EQ(all->size(), 70u);
  for (int i = 0; i < 70; ++i) {
    const AuditRecord& got = (*all)[static_cast<std::size_t>(69 - i)];  // newest first
    const AuditRecord& want = batch[static_cast<std::size_t>(i)];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.time, want.time);
    EXPECT_EQ(got.outcome, want.outcome);
    EXPECT_EQ(got.user_id, want.user_id);
    EXPECT_EQ(got.username, want.username);
    EXPECT_EQ(got.ip, want.ip);
    EXPECT_EQ(got.request_id, want.request_id);
    EXPECT_EQ(got.detail_json, want.detail_json);
    if (i > 0) {
      EXPECT_LT((*all)[static_cast<std::size_t>(70 - i)].seq, got.seq);
    }
  }
}

ClientRecord client(std::string id, std::string type = "confidential") {
  return ClientRecord{.id = std::move(id), .name = "app", .type = type,
                      .secret_digest = type == "confidential" ? "d1" : "",
                      .redirect_uris = {"https://app.example/cb", "http://127.0.0.1:9/cb"},
                      .grant_types = {"authorization_code", "refresh_token"}, .scopes = {"openid", "profile"},
                      .trusted = false, .introspect = true, .created_at = 100, .updated_at = 100};
}

AuthCodeRecord code(std::string digest, std::string client_id = "c1", std::int64_t expires_at = 160) {
  return AuthCodeRecord{.digest = std::move(digest), .client_id = std::move(client_id), .user_id = "u1",
                        .redirect_uri = "https://app.example/cb", .code_challenge = "chal", .scope = "openid",
                        .nonce = "n-1", .auth_time = 90, .created_at = 100, .expires_at = expires_at};
}

TEST_P(StoreConformance, ClientsRoundTripRotateAndRecordChanges) {
  const auto before = store_->last_change_seq().value();
  ASSERT_TRUE(store_->create_client(client("c1")));
  ASSERT_TRUE(store_->create_client(client("c2", "public")));
  EXPECT_EQ(store_->create_client(client("c1")).error().code, StoreErrc::conflict);
  auto c1 = store_->find_client("c1").value();
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->redirect_uris, (std::vector<std::string>{"https://app.example/cb", "http://127.0.0.1:9/cb"}));
  EXPECT_EQ(c1->scopes, (std::vector<std::string>{"openid", "profile"}));
  EXPECT_TRUE(c1->introspect);
  EXPECT_FALSE(c1->trusted);
  EXPECT_EQ(store_->find_client("c2").value()->secret_digest, "");
  EXPECT_FALSE(store_->find_client("nope").value().has_value());
  auto page = store_->list_clients("", 1).value();
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "c1");
  EXPECT_EQ(store_->list_clients("c1", 10).value().size(), 1u);

  auto rotated = store_->set_client_secret("c1", "d2", 150);
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->secret_digest, "d2");
  EXPECT_EQ(rotated->updated_at, 150);
  EXPECT_EQ(store_->set_client_secret("c2", "d3", 150).error().code, StoreErrc::precondition_failed);
  EXPECT_EQ(store_->set_client_secret("nope", "d3", 150).error().code, StoreErrc::not_found);
  auto changes = store_->changes_since(before).value();
  ASSERT_EQ(changes.size(), 3u);  // two creations, one rotation
  EXPECT_EQ(changes[0].kind, "client");
  EXPECT_EQ(changes[2].ref, "c1");
}

TEST_P(StoreConformance, DeletingAClientRevokesItsSessionsAndDropsCodesAndGrants) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_client(client("c1")));
  auto r = token("r-s9");
  r.session_id = "s9";
  ASSERT_TRUE(store_->create_session(SessionRecord{.id = "s9", .user_id = "u1", .client_id = "c1", .created_at = 100,
                                                   .revoked_at = std::nullopt, .scope = "openid"},
                                     std::nullopt, r, "$argon2id$x"));
  open_session();  // first-party: untouched
  ASSERT_TRUE(store_->create_auth_code(code("k1")));
  ASSERT_TRUE(store_->save_grant("u1", "c1", {"openid"}, 100));
  ASSERT_TRUE(store_->delete_client("c1", 200, 5000));
  EXPECT_EQ(store_->delete_client("c1", 200, 5000).error().code, StoreErrc::not_found);
  EXPECT_FALSE(store_->find_client("c1").value().has_value());
  EXPECT_TRUE(store_->find_session("s9").value()->revoked_at.has_value());
  EXPECT_FALSE(store_->find_session("s1").value()->revoked_at.has_value());
  EXPECT_TRUE(store_->find_refresh_token("r-s9").value()->session_revoked);
  auto revoked = store_->revocations_since(0, 150).value();
  ASSERT_EQ(revoked.size(), 2u);  // its session, and its own client_credentials tokens
  std::vector<std::string> values{revoked[0].value, revoked[1].value};
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"cc:c1", "s9"}));
  EXPECT_EQ(store_->redeem_auth_code("k1", 120, "s10", "c1").value().outcome, RedeemOutcome::invalid);
  EXPECT_TRUE(store_->find_grant("u1", "c1").value().empty());
}

TEST_P(StoreConformance, AuthorizationCodesAreSpentOnceAndReplaysNameTheFirstSession) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_client(client("c1")));
  ASSERT_TRUE(store_->create_auth_code(code("k1")));
  ASSERT_TRUE(store_->create_auth_code(code("k2", "c1", 110)));
  // Another client's redemption neither succeeds nor spends the code.
  EXPECT_EQ(store_->redeem_auth_code("k1", 119, "s-thief", "c2").value().outcome, RedeemOutcome::invalid);
  auto first = store_->redeem_auth_code("k1", 120, "s-first", "c1").value();
  ASSERT_EQ(first.outcome, RedeemOutcome::redeemed);
  EXPECT_EQ(first.code.client_id, "c1");
  EXPECT_EQ(first.code.code_challenge, "chal");
  EXPECT_EQ(first.code.nonce, "n-1");
  EXPECT_EQ(first.code.auth_time, 90);
  EXPECT_EQ(store_->redeem_auth_code("k1", 121, "s-other", "c2").value().outcome, RedeemOutcome::invalid);
  auto again = store_->redeem_auth_code("k1", 121, "s-second", "c1").value();
  EXPECT_EQ(again.outcome, RedeemOutcome::replayed);
  EXPECT_EQ(again.session_id, "s-first");
  EXPECT_EQ(store_->redeem_auth_code("k2", 120, "s3", "c1").value().outcome, RedeemOutcome::invalid);  // expired
  EXPECT_EQ(store_->redeem_auth_code("nope", 120, "s3", "c1").value().outcome, RedeemOutcome::invalid);
}

TEST_P(StoreConformance, ASessionRevokedBeforeItIsOpenedCannotBeOpened) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->revoke_session("s-early", 100, 5000));  // a replayed code, say
  auto r = token("r-early");
  r.session_id = "s-early";
  auto opened = store_->create_session(SessionRecord{.id = "s-early", .user_id = "u1", .client_id = "c1",
                                                     .created_at = 100, .revoked_at = std::nullopt, .scope = "openid"},
                                       std::nullopt, r, "$argon2id$x");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, StoreErrc::precondition_failed);
  EXPECT_FALSE(store_->find_refresh_token("r-early").value().has_value());
}

TEST_P(StoreConformance, ConcurrentRedemptionsOfOneCodeSucceedOnce) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_client(client("c1")));
  ASSERT_TRUE(store_->create_auth_code(code("k1")));
  std::atomic<int> redeemed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto r = store_->redeem_auth_code("k1", 120, "s" + std::to_string(i), "c1");
      if (r && r->outcome == RedeemOutcome::redeemed) ++redeemed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(redeemed.load(), 1);
}

TEST_P(StoreConformance, GrantsAccumulateScopes) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_client(client("c1")));
  EXPECT_TRUE(store_->find_grant("u1", "c1").value().empty());
  ASSERT_TRUE(store_->save_grant("u1", "c1", {"openid", "profile"}, 100));
  ASSERT_TRUE(store_->save_grant("u1", "c1", {"email", "openid"}, 110));
  auto scopes = store_->find_grant("u1", "c1").value();
  std::sort(scopes.begin(), scopes.end());
  EXPECT_EQ(scopes, (std::vector<std::string>{"email", "openid", "profile"}));
}

TEST_P(StoreConformance, OAuthSessionsKeepClientAndScopeAndMayHaveNoRefreshToken) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  auto a = token("a-s7");
  a.session_id = "s7";
  ASSERT_TRUE(store_->create_session(SessionRecord{.id = "s7", .user_id = "u1", .client_id = "c1", .created_at = 100,
                                                   .revoked_at = std::nullopt, .scope = "openid email"},
                                     a, std::nullopt, "$argon2id$x"));
  auto view = store_->find_access_token("a-s7").value();
  ASSERT_TRUE(view);
  EXPECT_EQ(view->client_id, "c1");
  EXPECT_EQ(view->scope, "openid email");
  auto session = store_->find_session("s7").value();
  ASSERT_TRUE(session);
  EXPECT_EQ(session->scope, "openid email");
  EXPECT_EQ(session->client_id, "c1");
  EXPECT_FALSE(store_->find_session("nope").value().has_value());

  auto r = token("r-s8");
  r.session_id = "s8";
  ASSERT_TRUE(store_->create_session(SessionRecord{.id = "s8", .user_id = "u1", .client_id = "c1", .created_at = 100,
                                                   .revoked_at = std::nullopt, .scope = "openid offline_access"},
                                     std::nullopt, r, "$argon2id$x"));
  auto rotated = store_->rotate_refresh_token("r-s8", 150, std::nullopt, token("r-s8b"), 5000).value();
  EXPECT_EQ(rotated.outcome, RotateOutcome::rotated);
  EXPECT_EQ(rotated.client_id, "c1");
  EXPECT_EQ(rotated.scope, "openid offline_access");
  auto spent = store_->find_refresh_token("r-s8").value();
  ASSERT_TRUE(spent);
  EXPECT_TRUE(spent->spent);
  EXPECT_FALSE(spent->session_revoked);
  EXPECT_EQ(spent->token.session_id, "s8");
  auto fresh = store_->find_refresh_token("r-s8b").value();
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh->spent);
  EXPECT_EQ(fresh->scope, "openid offline_access");
}

TEST_P(StoreConformance, UpstreamFlowsAreTakenOnceAndNotAfterExpiry) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_upstream_flow(UpstreamFlowRecord{.digest = "f1", .upstream = "corp", .return_to = "/next",
                                                              .link_user_id = "u1", .fresh_login = true,
                                                              .created_at = 100, .expires_at = 700}));
  ASSERT_TRUE(store_->create_upstream_flow(
      UpstreamFlowRecord{.digest = "f2", .upstream = "corp", .return_to = "/", .created_at = 100, .expires_at = 200}));
  EXPECT_EQ(store_->create_upstream_flow(UpstreamFlowRecord{.digest = "f1", .upstream = "x", .return_to = "/",
                                                            .created_at = 1, .expires_at = 2})
                .error()
                .code,
            StoreErrc::conflict);

  auto taken = store_->take_upstream_flow("f1", 150).value();
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->upstream, "corp");
  EXPECT_EQ(taken->return_to, "/next");
  EXPECT_EQ(taken->link_user_id, "u1");
  EXPECT_TRUE(taken->fresh_login);
  EXPECT_EQ(taken->expires_at, 700);
  EXPECT_FALSE(store_->take_upstream_flow("f1", 150).value()) << "a flow is taken once";
  EXPECT_FALSE(store_->take_upstream_flow("f2", 200).value()) << "an expired flow is not handed out";
  EXPECT_FALSE(store_->take_upstream_flow("f2", 150).value()) << "and is gone after the attempt";
  EXPECT_FALSE(store_->take_upstream_flow("nope", 150).value());

  ASSERT_TRUE(store_->create_upstream_flow(
      UpstreamFlowRecord{.digest = "f3", .upstream = "corp", .return_to = "/", .created_at = 100, .expires_at = 200}));
  ASSERT_TRUE(store_->purge_expired(300));
  EXPECT_FALSE(store_->take_upstream_flow("f3", 150).value()) << "purged";
}

TEST_P(StoreConformance, ConcurrentTakesOfOneUpstreamFlowSucceedOnce) {
  ASSERT_TRUE(store_->create_upstream_flow(
      UpstreamFlowRecord{.digest = "f1", .upstream = "corp", .return_to = "/", .created_at = 100, .expires_at = 700}));
  std::atomic<int> got{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto taken = store_->take_upstream_flow("f1", 150);
      if (!taken) ++failed;
      else if (*taken) ++got;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(got.load(), 1);
}

TEST_P(StoreConformance, UpstreamLinksNameOneUserAndGoWithIt) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice")));
  ASSERT_TRUE(store_->create_user(user("u2", "bob")));
  ASSERT_TRUE(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "corp", .subject = "s-1", .user_id = "u1",
                                                              .created_at = 100}));
  ASSERT_TRUE(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "github", .subject = "42", .user_id = "u1",
                                                              .created_at = 110}));
  EXPECT_EQ(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "corp", .subject = "s-1", .user_id = "u2",
                                                            .created_at = 120})
                .error()
                .code,
            StoreErrc::conflict)
      << "one upstream account signs in to one user";
  EXPECT_EQ(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "corp", .subject = "s-9", .user_id = "gone",
                                                            .created_at = 120})
                .error()
                .code,
            StoreErrc::conflict)
      << "a link needs its user";
  ASSERT_TRUE(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "corp", .subject = "S-1", .user_id = "u2",
                                                              .created_at = 130}))
      << "subjects are compared exactly";

  auto found = store_->find_upstream_link("corp", "s-1").value();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->user_id, "u1");
  EXPECT_EQ(found->created_at, 100);
  EXPECT_FALSE(store_->find_upstream_link("github", "s-1").value());
  auto links = store_->list_upstream_links("u1").value();
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].upstream, "corp");
  EXPECT_EQ(links[1].upstream, "github");
  EXPECT_EQ(links[1].subject, "42");

  ASSERT_TRUE(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "corp", .subject = "s-3", .user_id = "u2",
                                                              .created_at = 140}));
  EXPECT_EQ(store_->delete_upstream_links("u2", "corp").value(), 2);
  EXPECT_EQ(store_->delete_upstream_links("u2", "corp").value(), 0);
  EXPECT_FALSE(store_->find_upstream_link("corp", "S-1").value());
  ASSERT_TRUE(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "corp", .subject = "S-1", .user_id = "u2",
                                                              .created_at = 150}));

  ASSERT_TRUE(store_->delete_user("u1"));
  EXPECT_FALSE(store_->find_upstream_link("corp", "s-1").value());
  EXPECT_TRUE(store_->list_upstream_links("u1").value().empty());
  EXPECT_TRUE(store_->find_upstream_link("corp", "S-1").value());
}

TEST_P(StoreConformance, ALinkedUserIsCreatedWithItsLinkOrNotAtAll) {
  ASSERT_TRUE(store_->create_user(user("u1", "alice", "alice@example.com")));
  ASSERT_TRUE(store_->create_upstream_link(UpstreamLinkRecord{.upstream = "corp", .subject = "taken", .user_id = "u1",
                                                              .created_at = 100}));
  const auto link = [](std::string subject, std::string user_id) {
    return UpstreamLinkRecord{.upstream = "corp", .subject = std::move(subject), .user_id = std::move(user_id),
                              .created_at = 100};
  };
  EXPECT_EQ(store_->create_linked_user(user("u2", "Alice"), link("s-2", "u2")).error().code, StoreErrc::conflict);
  EXPECT_FALSE(store_->find_upstream_link("corp", "s-2").value()) << "no link without its user";
  EXPECT_EQ(store_->create_linked_user(user("u3", "carol"), link("taken", "u3")).error().code, StoreErrc::conflict);
  EXPECT_FALSE(store_->find_user("u3").value()) << "no user without its link";
  EXPECT_EQ(store_->create_linked_user(user("u4", "dave", "ALICE@example.com"), link("s-4", "u4")).error().code,
            StoreErrc::conflict);

  ASSERT_TRUE(store_->create_linked_user(user("u5", "erin"), link("s-5", "u5")));
  EXPECT_EQ(store_->find_upstream_link("corp", "s-5").value()->user_id, "u5");
  EXPECT_EQ(store_->find_user("u5").value()->username, "erin");
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(Backend{"sqlite", open_sqlite}),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Values(Backend{"postgres", open_postgres}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gatehouse::store
