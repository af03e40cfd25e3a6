#include "tokens/session_tokens.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "crypto/digest.h"
#include "support/services.h"

namespace gatehouse::tokens {
namespace {

using testing::ServiceGraph;

TEST(SessionTokens, TokensHaveThePrefixedShapeAndOnlyDigestsAreStored) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto pair = g.sessions.open_session(user.id, user.password_hash);
  ASSERT_TRUE(pair);
  EXPECT_TRUE(has_token_shape(pair->access_token, kAccessPrefix));
  EXPECT_TRUE(has_token_shape(pair->refresh_token, kRefreshPrefix));
  EXPECT_FALSE(has_token_shape(pair->access_token, kRefreshPrefix));
  auto stored = g.store().find_access_token(crypto::sha256_hex(pair->access_token));
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->token.user_id, user.id);
  EXPECT_FALSE(g.store().find_access_token(pair->access_token).value().has_value());
}

TEST(SessionTokens, AccessTokensExpire) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto pair = g.sessions.open_session(user.id, user.password_hash);
  ASSERT_TRUE(g.sessions.verify_access(pair->access_token));
  g.clock.advance(std::chrono::seconds{3599});
  EXPECT_TRUE(g.sessions.verify_access(pair->access_token));
  g.clock.advance(std::chrono::seconds{1});
  auto expired = g.sessions.verify_access(pair->access_token);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, TokenErrc::invalid_token);
}

TEST(SessionTokens, RefreshRotatesAndReuseRevokesTheFamily) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto first = g.sessions.open_session(user.id, user.password_hash);
  auto second = g.sessions.refresh(first->refresh_token, {});
  ASSERT_TRUE(second);
  EXPECT_NE(second->refresh_token, first->refresh_token);
  EXPECT_EQ(second->session_id, first->session_id);
  EXPECT_TRUE(g.sessions.verify_access(second->access_token));
  EXPECT_TRUE(g.audited("token.refreshed"));

  auto replay = g.sessions.refresh(first->refresh_token, {});
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, TokenErrc::invalid_grant);
  EXPECT_TRUE(g.audited("token.reuse_detected"));
  // The newest token of the family and every access token die with it.
  EXPECT_FALSE(g.sessions.refresh(second->refresh_token, {}));
  EXPECT_FALSE(g.sessions.verify_access(second->access_token));
  EXPECT_FALSE(g.sessions.verify_access(first->access_token));
}

TEST(SessionTokens, RefreshTokensExpire) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto pair = g.sessions.open_session(user.id, user.password_hash);
  g.clock.advance(std::chrono::seconds{30 * 86400});
  EXPECT_FALSE(g.sessions.refresh(pair->refresh_token, {}));
}

TEST(SessionTokens, MalformedTokensNeverReachTheStore) {
  ServiceGraph g;
  EXPECT_FALSE(g.sessions.verify_access(""));
  EXPECT_FALSE(g.sessions.verify_access("gat_short"));
  EXPECT_FALSE(g.sessions.verify_access(std::string("gat_") + std::string(43, '!')));
  EXPECT_FALSE(g.sessions.refresh("not-a-token", {}));
}

TEST(SessionTokens, ConcurrentRefreshesHaveExactlyOneWinner) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto pair = g.sessions.open_session(user.id, user.password_hash);
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&] {
      if (g.sessions.refresh(pair->refresh_token, {})) ++winners;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST(SessionTokens, NoSessionForAnAccountThatChangedDuringLogin) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  // The password was verified against user.password_hash, then changed before the session
  // was stored: the change wins.
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.password = "password-2"}, {}));
  auto stale = g.sessions.open_session(user.id, user.password_hash);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, TokenErrc::invalid_grant);
  auto current = g.store().find_user(user.id).value().value();
  ASSERT_TRUE(g.accounts.update(user.id, accounts::UserPatch{.disabled = true}, {}));
  EXPECT_FALSE(g.sessions.open_session(user.id, current.password_hash));
}

TEST(SessionTokens, RefreshFailsForADisabledUser) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto pair = g.sessions.open_session(user.id, user.password_hash);
  // Flip the flag alone, as a store written by another path would: no session revoked.
  ASSERT_TRUE(g.store().update_user(user.id, store::UserChanges{.disabled = true, .updated_at = 1}));
  EXPECT_FALSE(g.sessions.refresh(pair->refresh_token, {}));
}

TEST(SessionTokens, EndingSessionsRevokesTheirTokens) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto a = g.sessions.open_session(user.id, user.password_hash);
  auto b = g.sessions.open_session(user.id, user.password_hash);
  auto c = g.sessions.open_session(user.id, user.password_hash);
  ASSERT_TRUE(g.sessions.end_session(a->session_id));
  EXPECT_FALSE(g.sessions.verify_access(a->access_token));
  EXPECT_FALSE(g.sessions.refresh(a->refresh_token, {}));
  auto ended = g.sessions.end_user_sessions(user.id, c->session_id);
  ASSERT_TRUE(ended);
  EXPECT_EQ(*ended, 1);  // b; a was already revoked and c is kept
  EXPECT_FALSE(g.sessions.verify_access(b->access_token));
  EXPECT_TRUE(g.sessions.verify_access(c->access_token));
  EXPECT_TRUE(g.sessions.end_session("no-such-session"));
}

}  // namespace
}  // namespace gatehouse::tokens
