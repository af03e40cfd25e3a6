#include "accounts/accounts.h"

#include <gtest/gtest.h>

#include "support/services.h"

namespace gatehouse::accounts {
namespace {

using testing::ServiceGraph;

TEST(Accounts, CreatesUsersWithDefaultsAndHashedPasswords) {
  ServiceGraph g;
  auto user = g.accounts.create(NewUser{.username = "Alice", .password = "password-1", .email = "a@example.com", .roles = {}}, {});
  ASSERT_TRUE(user);
  EXPECT_EQ(user->roles, std::vector<std::string>{"user"});
  EXPECT_EQ(user->password_hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(user->id.size(), 26u);
  EXPECT_TRUE(g.audited("user.created"));
  for (const auto& line : g.audit_lines) EXPECT_EQ(line.find("password-1"), std::string::npos);
}

TEST(Accounts, UsernamesAndEmailsAreUniqueCaseInsensitively) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  auto dup = g.accounts.create(NewUser{.username = "ALICE", .password = "password-2", .email = {}, .roles = {}}, {});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, AccountErrc::conflict);
  ASSERT_TRUE(g.accounts.create(NewUser{.username = "bob", .password = "password-2", .email = "B@x.io", .roles = {}}, {}));
  auto dup_email = g.accounts.create(NewUser{.username = "carol", .password = "password-2", .email = "b@X.IO", .roles = {}}, {});
  ASSERT_FALSE(dup_email);
  EXPECT_EQ(dup_email.error().code, AccountErrc::conflict);
}

TEST(Accounts, ValidatesInput) {
  ServiceGraph g;
  const NewUser bad[] = {
      {.username = "", .password = "password-1", .email = {}, .roles = {}},
      {.username = "has space", .password = "password-1", .email = {}, .roles = {}},
      {.username = std::string(65, 'a'), .password = "password-1", .email = {}, .roles = {}},
      {.username = "ok", .password = "short", .email = {}, .roles = {}},
      {.username = "ok", .password = "password-1", .email = "no-at-sign", .roles = {}},
      {.username = "ok", .password = "password-1", .email = {}, .roles = {"root"}},
  };
  for (const auto& request : bad) {
    auto result = g.accounts.create(request, {});
    ASSERT_FALSE(result) << request.username;
    EXPECT_EQ(result.error().code, AccountErrc::invalid_request);
  }
}

TEST(Accounts, LoginByUsernameOrEmailAndUniformFailures) {
  ServiceGraph g;
  ASSERT_TRUE(g.accounts.create(NewUser{.username = "alice", .password = "password-1", .email = "alice@example.com", .roles = {}}, {}));
  EXPECT_TRUE(g.accounts.login("alice", "password-1", {}));
  EXPECT_TRUE(g.accounts.login("ALICE", "password-1", {}));
  EXPECT_TRUE(g.accounts.login("alice@example.com", "password-1", {}));
  auto wrong = g.accounts.login("alice", "password-2", {});
  auto unknown = g.accounts.login("nobody", "password-1", {});
  ASSERT_FALSE(wrong);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(wrong.error().code, AccountErrc::invalid_credentials);
  EXPECT_EQ(wrong.error().description, unknown.error().description);
  EXPECT_TRUE(g.audited("login.success"));
  EXPECT_TRUE(g.audited("login.failure"));
}

TEST(Accounts, DisablingRefusesLoginAndRevokesSessions) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto session = g.accounts.login("alice", "password-1", {});
  ASSERT_TRUE(session);
  ASSERT_TRUE(g.accounts.update(user.id, UserPatch{.disabled = true}, {}));
  EXPECT_FALSE(g.sessions.verify_access(session->second.access_token));
  auto refused = g.accounts.login("alice", "password-1", {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, AccountErrc::invalid_credentials);
  ASSERT_TRUE(g.accounts.update(user.id, UserPatch{.disabled = false}, {}));
  EXPECT_TRUE(g.accounts.login("alice", "password-1", {}));
}

TEST(Accounts, ChangingPasswordKeepsOnlyTheCallingSession) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto keep = g.accounts.login("alice", "password-1", {});
  auto other = g.accounts.login("alice", "password-1", {});
  auto wrong = g.accounts.change_password(user.id, "not-it", "password-2", keep->second.session_id, {});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, AccountErrc::forbidden);
  auto short_pw = g.accounts.change_password(user.id, "password-1", "short", keep->second.session_id, {});
  ASSERT_FALSE(short_pw);
  EXPECT_EQ(short_pw.error().code, AccountErrc::invalid_request);
  ASSERT_TRUE(g.accounts.change_password(user.id, "password-1", "password-2", keep->second.session_id, {}));
  EXPECT_TRUE(g.sessions.verify_access(keep->second.access_token));
  EXPECT_FALSE(g.sessions.verify_access(other->second.access_token));
  EXPECT_FALSE(g.accounts.login("alice", "password-1", {}));
  EXPECT_TRUE(g.accounts.login("alice", "password-2", {}));
  EXPECT_TRUE(g.audited("password.changed"));
}

TEST(Accounts, UpdatesTouchOnlyTheChangedColumns) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1", {"admin"});
  // A stale read-modify-write of the whole row would undo one of these.
  ASSERT_TRUE(g.accounts.update(user.id, UserPatch{.disabled = true}, {}));
  ASSERT_TRUE(g.accounts.update(user.id, UserPatch{.email = "a@x.io"}, {}));
  auto stored = g.store().find_user(user.id).value().value();
  EXPECT_TRUE(stored.disabled);
  EXPECT_EQ(stored.email, "a@x.io");
  EXPECT_EQ(stored.roles, std::vector<std::string>{"admin"});
}

TEST(Accounts, PasswordChangeLosesToAConcurrentReset) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  // Simulate the reset landing between the user's verification and write: the stored hash
  // no longer matches what change_password read, so its compare-and-set must refuse.
  const std::string verified = user.password_hash;
  ASSERT_TRUE(g.accounts.update(user.id, UserPatch{.password = "admin-reset-1"}, {}));
  auto late = g.store().update_user(user.id, store::UserChanges{.password_hash = "$argon2id$stale",
                                                               .expected_password_hash = verified,
                                                               .updated_at = 2});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, store::StoreErrc::precondition_failed);
  EXPECT_TRUE(g.accounts.login("alice", "admin-reset-1", {}));
}

TEST(Accounts, UsernamesCannotShadowOtherUsersEmails) {
  ServiceGraph g;
  ASSERT_TRUE(g.accounts.create(NewUser{.username = "victim", .password = "password-1", .email = "v@x.io", .roles = {}}, {}));
  auto shadow = g.accounts.create(NewUser{.username = "V@X.IO", .password = "password-1", .email = {}, .roles = {}}, {});
  ASSERT_FALSE(shadow);
  EXPECT_EQ(shadow.error().code, AccountErrc::conflict);
  auto other = g.add_user("other", "password-1");
  auto email_as_name = g.accounts.update(other.id, UserPatch{.email = "victim"}, {});
  EXPECT_FALSE(email_as_name);  // not an e-mail anyway
  ASSERT_TRUE(g.accounts.create(NewUser{.username = "j@x.io", .password = "password-1", .email = {}, .roles = {}}, {}));
  auto taken = g.accounts.update(other.id, UserPatch{.email = "J@x.io"}, {});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, AccountErrc::conflict);
}

TEST(Accounts, LoginUpgradesHashesMadeWithOlderParameters) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  crypto::PasswordHasher stronger(crypto::Argon2Params{.memory_bytes = 16384, .iterations = 2});
  Accounts upgraded(g.store(), g.sessions, g.audit, stronger, g.clock, AccountSettings{});
  ASSERT_TRUE(upgraded.login("alice", "password-1", {}));
  auto stored = g.store().find_user(user.id).value().value();
  EXPECT_NE(stored.password_hash, user.password_hash);
  EXPECT_FALSE(stronger.needs_rehash(stored.password_hash));
  EXPECT_TRUE(upgraded.login("alice", "password-1", {}));
}

TEST(Accounts, DeletingRemovesSessionsToo) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto session = g.accounts.login("alice", "password-1", {});
  ASSERT_TRUE(g.accounts.remove(user.id, {}));
  EXPECT_FALSE(g.sessions.verify_access(session->second.access_token));
  auto again = g.accounts.remove(user.id, {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, AccountErrc::not_found);
  EXPECT_TRUE(g.audited("user.deleted"));
}

TEST(Accounts, ListsInPages) {
  ServiceGraph g;
  for (int i = 0; i < 5; ++i) {
    g.add_user("user" + std::to_string(i), "password-1");
    g.clock.advance(std::chrono::seconds{1});
  }
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = g.accounts.list(cursor, 2);
    ASSERT_TRUE(page);
    for (const auto& u : page->users) seen.push_back(u.username);
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"user0", "user1", "user2", "user3", "user4"}));
}

TEST(Accounts, BootstrapsTheAdminOnlyOnAnEmptyStore) {
  ServiceGraph g;
  auto made = g.accounts.bootstrap_admin("admin", "admin-password");
  ASSERT_TRUE(made);
  EXPECT_TRUE(*made);
  auto again = g.accounts.bootstrap_admin("admin2", "admin-password");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto admin = g.store().find_user_by_username("admin");
  ASSERT_TRUE(admin && *admin);
  EXPECT_EQ((*admin)->roles, std::vector<std::string>{"admin"});
  auto none = g.accounts.bootstrap_admin("admin", "");
  EXPECT_FALSE(*none);
}

}  // namespace
}  // namespace gatehouse::accounts
