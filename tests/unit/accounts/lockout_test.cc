// accounts/lockout: SPEC §9 brute-force protection, driven through the password checks that
// use it (login and Basic) with a fake clock.
#include "accounts/lockout.h"

#include <gtest/gtest.h>

#include "core/base64.h"
#include "support/services.h"

namespace gatehouse::accounts {
namespace {

using testing::ServiceGraph;

RequestContext from(std::string ip) { return RequestContext{.ip = std::move(ip), .user_agent = {}, .request_id = {}}; }

TEST(Lockout, FiveFailuresLockEvenTheRightPasswordUntilTheDurationEnds) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(g.accounts.login("alice", "wrong", from("10.0.0.1")).error().code, AccountErrc::invalid_credentials);
  auto locked = g.accounts.login("alice", "password-1", from("10.0.0.2"));
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, AccountErrc::locked);
  EXPECT_EQ(locked.error().retry_after, 15 * 60);
  EXPECT_TRUE(g.audited("login.locked"));
  g.clock.advance(std::chrono::minutes(14));
  EXPECT_EQ(g.accounts.login("alice", "password-1", {}).error().retry_after, 60);
  g.clock.advance(std::chrono::minutes(1));
  EXPECT_TRUE(g.accounts.login("alice", "password-1", {}));
}

TEST(Lockout, ASuccessResetsTheCountAndEmailLoginsShareIt) {
  ServiceGraph g;
  auto user = g.accounts.create(NewUser{.username = "alice", .password = "password-1", .email = "a@example.com", .roles = {}}, {});
  ASSERT_TRUE(user);
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(g.accounts.login("alice", "wrong", {}));
  ASSERT_TRUE(g.accounts.login("alice", "password-1", {}));
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(g.accounts.login(i % 2 ? "alice" : "a@example.com", "wrong", {}));
  EXPECT_TRUE(g.accounts.login("alice", "password-1", {})) << "4 failures since the success: not locked";
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(g.accounts.login(i % 2 ? "ALICE" : "a@example.com", "wrong", {}));
  EXPECT_EQ(g.accounts.login("alice", "password-1", {}).error().code, AccountErrc::locked)
      << "username and e-mail count against one user";
}

TEST(Lockout, UnknownUsernamesLockExactlyLikeKnownOnes) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  std::vector<AccountErrc> known, unknown;
  for (int i = 0; i < 7; ++i) {
    known.push_back(g.accounts.login("alice", "wrong", {}).error().code);
    unknown.push_back(g.accounts.login("nobody-at-all", "wrong", {}).error().code);
  }
  EXPECT_EQ(known, unknown);
  EXPECT_EQ(unknown.back(), AccountErrc::locked);
}

TEST(Lockout, ManyFailuresFromOneIpLockTheIp) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  // 50 failures spread over many names (none reaches 5) from one address.
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(g.accounts.login("name" + std::to_string(i / 4), "wrong", from("192.0.2.7")));
  auto locked = g.accounts.login("alice", "password-1", from("192.0.2.7"));
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, AccountErrc::locked);
  EXPECT_TRUE(g.accounts.login("alice", "password-1", from("192.0.2.8"))) << "another address is not locked";
  EXPECT_TRUE(g.accounts.login("alice", "password-1", from("192.0.2.8")));
}

TEST(Lockout, AdminsUnlock) {
  ServiceGraph g;
  auto alice = g.add_user("alice", "password-1");
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(g.accounts.login("alice", "wrong", {}));
  ASSERT_EQ(g.accounts.login("alice", "password-1", {}).error().code, AccountErrc::locked);
  ASSERT_TRUE(g.accounts.unlock(alice.id, {}));
  EXPECT_TRUE(g.accounts.login("alice", "password-1", {}));
  EXPECT_EQ(g.accounts.unlock("no-such-id", {}).error().code, AccountErrc::not_found);
}

TEST(Lockout, BasicFailuresCountAndCachedBasicIsRefusedWhileLocked) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  const auto basic = [](const std::string& user, const std::string& password) {
    return authn::Presented{.authorization = {"Basic " + base64_encode(user + ":" + password)}, .api_key = {}};
  };
  ASSERT_TRUE(g.authenticator.authenticate(basic("alice", "password-1"), {}));  // now cached
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(g.authenticator.authenticate(basic("alice", "wrong"), {}));
  auto refused = g.authenticator.authenticate(basic("alice", "password-1"), {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, authn::AuthnErrc::locked);
  EXPECT_GT(refused.error().retry_after, 0);
  EXPECT_EQ(g.accounts.login("alice", "password-1", {}).error().code, AccountErrc::locked) << "shared with login";
}

TEST(Lockout, CountersLiveInTheStore) {
  ServiceGraph g;
  g.add_user("alice", "password-1");
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(g.accounts.login("alice", "wrong", {}));
  // A second service on the same store, as after a restart or on another node.
  Lockout other(g.store(), g.audit, g.clock, LockoutSettings{});
  bool has_failures = false;
  auto user = g.store().find_user_by_username("alice").value();
  EXPECT_EQ(other.subject_wait("user:" + (*user).id, &has_failures).value(), 15 * 60);
}

}  // namespace
}  // namespace gatehouse::accounts
