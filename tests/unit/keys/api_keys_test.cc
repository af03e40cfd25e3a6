// keys/api_keys: issue, verify from the cache, expire, rotate with grace, revoke, and the
// cache invalidation the change feed drives.
#include "keys/api_keys.h"

#include <gtest/gtest.h>

#include "authz/permissions.h"
#include "crypto/digest.h"
#include "support/services.h"

namespace gatehouse::keys {
namespace {

using testing::ServiceGraph;

const std::vector<std::string>& user_permissions() {
  static const auto p = authz::permissions_for({"user"});
  return p;
}

IssuedKey issue(ServiceGraph& g, const std::string& user_id, NewKey request = {}) {
  request.user_id = user_id;
  if (request.name.empty()) request.name = "ci";
  auto issued = g.api_keys.create(request, user_permissions(), {}, user_id);
  if (!issued) throw std::runtime_error(issued.error().description);
  return *issued;
}

TEST(ApiKeys, AreRandomPrefixedAndStoredOnlyAsADigest) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto a = issue(g, user.id), b = issue(g, user.id);
  EXPECT_NE(a.key, b.key);
  EXPECT_EQ(a.key.size(), 3u + kKeyRandomChars);
  EXPECT_EQ(a.key.substr(0, 3), "gk_");
  EXPECT_TRUE(g.api_keys.looks_like_key(a.key));
  EXPECT_EQ(a.record.prefix, a.key.substr(0, 7));
  auto stored = g.store().find_api_key(a.record.id).value();
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->digest, a.key);
  EXPECT_EQ(stored->digest.size(), 64u);
  EXPECT_TRUE(g.audited("apikey.created"));
  for (const auto& line : g.audit_lines) EXPECT_EQ(line.find(a.key), std::string::npos);
}

TEST(ApiKeys, RefuseBadNamesScopesAndDurations) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  const auto create = [&](NewKey k) {
    k.user_id = user.id;
    return g.api_keys.create(k, user_permissions(), {}, user.id);
  };
  EXPECT_FALSE(create(NewKey{.name = ""}));
  EXPECT_FALSE(create(NewKey{.name = std::string(101, 'x')}));
  EXPECT_FALSE(create(NewKey{.name = "tab\there"}));
  EXPECT_FALSE(create(NewKey{.name = "\xc3"}));
  EXPECT_FALSE(create(NewKey{.name = "n", .scopes = std::vector<std::string>{"no:such"}}));
  auto widen = create(NewKey{.name = "n", .scopes = std::vector<std::string>{"users:write"}});
  ASSERT_FALSE(widen);
  EXPECT_NE(widen.error().description.find("narrow"), std::string::npos);
  EXPECT_FALSE(create(NewKey{.name = "n", .expires_in = 0}));
  EXPECT_FALSE(create(NewKey{.name = "n", .expires_in = -5}));
  EXPECT_TRUE(create(NewKey{.name = "n", .scopes = std::vector<std::string>{}}));  // empty = owner's permissions
  auto ghost = g.api_keys.create(NewKey{.user_id = "nobody", .name = "n"}, user_permissions(), {}, "nobody");
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, KeyErrc::not_found);
}

TEST(ApiKeys, VerifyFromMemoryAndExpire) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto key = issue(g, user.id, NewKey{.name = "short", .expires_in = 5});
  EXPECT_FALSE(g.api_keys.cached_owner(key.key)) << "not cached before its first use";
  auto verified = g.api_keys.verify(key.key);
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->user_id, user.id);
  EXPECT_FALSE(verified->scope) << "no scopes: the owner's permissions";
  EXPECT_EQ(g.api_keys.cached_owner(key.key), user.id);
  g.clock.advance(std::chrono::seconds(5));
  auto expired = g.api_keys.verify(key.key);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().reason, VerifyFailure::expired);
  EXPECT_FALSE(g.api_keys.cached_owner(key.key));
}

TEST(ApiKeys, UnknownAndMalformedKeysFail) {
  ServiceGraph g;
  EXPECT_EQ(g.api_keys.verify("gk_short").error().reason, VerifyFailure::malformed);
  EXPECT_EQ(g.api_keys.verify("xx_" + std::string(kKeyRandomChars, 'a')).error().reason, VerifyFailure::malformed);
  EXPECT_EQ(g.api_keys.verify("gk_" + std::string(kKeyRandomChars - 1, 'a') + "!").error().reason,
            VerifyFailure::malformed);
  const std::string unknown = "gk_" + std::string(kKeyRandomChars, 'a');
  auto r = g.api_keys.verify(unknown);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, VerifyFailure::unknown);
  EXPECT_EQ(r.error().prefix, "gk_aaaa");
}

TEST(ApiKeys, ANewKeyIsNeverHiddenByACachedAbsence) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  // Simulate a key created by another process after this node cached its digest as absent:
  // the creation's change must clear the absence.
  std::string text;
  auto record = store::ApiKeyRecord{.id = "01KEYFROMELSEWHERE000000000", .user_id = user.id, .name = "other",
                                    .digest = {}, .prefix = {}, .scopes = {}, .created_at = 1};
  text = "gk_" + std::string(kKeyRandomChars, 'Z');
  record.digest = crypto::sha256_hex(text);
  record.prefix = text.substr(0, 7);
  EXPECT_EQ(g.api_keys.verify(text).error().reason, VerifyFailure::unknown);
  ASSERT_TRUE(g.store().create_api_key(record));
  ASSERT_TRUE(g.feed.sync());
  EXPECT_TRUE(g.api_keys.verify(text));
}

TEST(ApiKeys, AFloodOfMadeUpKeysNeverEvictsRealOnes) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  ApiKeys small(g.store(), g.audit, g.clock, ApiKeySettings{.max_cached = 10, .max_cached_absent = 5});
  auto key = small.create(NewKey{.user_id = user.id, .name = "real"}, user_permissions(), {}, user.id);
  ASSERT_TRUE(key);
  ASSERT_TRUE(small.verify(key->key));
  for (int i = 0; i < 50; ++i) {
    std::string junk = "gk_" + std::string(kKeyRandomChars - 2, 'x') + std::to_string(10 + i);
    EXPECT_EQ(small.verify(junk).error().reason, VerifyFailure::unknown);
  }
  EXPECT_EQ(small.cached_owner(key->key), user.id) << "still cached after 50 unknown keys";
  EXPECT_LE(small.cached(), 1u + 5u);
}

TEST(ApiKeys, RevokingTwiceIsAuditedOnce) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto key = issue(g, user.id);
  ASSERT_TRUE(g.api_keys.revoke(key.record.id, {}, user.id));
  g.clock.advance(std::chrono::seconds(10));
  ASSERT_TRUE(g.api_keys.revoke(key.record.id, {}, user.id));
  int revoked = 0;
  for (const auto& line : g.audit_lines) revoked += line.find("\"apikey.revoked\"") != std::string::npos;
  EXPECT_EQ(revoked, 1);
}

TEST(ApiKeys, RevocationByAnotherProcessReachesTheCacheThroughTheFeed) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto key = issue(g, user.id);
  ASSERT_TRUE(g.api_keys.verify(key.key));
  ASSERT_TRUE(g.store().revoke_api_key(key.record.id, g.clock.now_unix()));  // not through the service
  EXPECT_TRUE(g.api_keys.verify(key.key)) << "the cache still holds it until the feed runs";
  ASSERT_TRUE(g.feed.sync());
  EXPECT_EQ(g.api_keys.verify(key.key).error().reason, VerifyFailure::revoked);
}

TEST(ApiKeys, RotationKeepsTheOldKeyForTheGraceThenOnlyTheNewOne) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto old = issue(g, user.id, NewKey{.name = "deploy", .scopes = std::vector<std::string>{"profile:read"}});
  ASSERT_TRUE(g.api_keys.verify(old.key));
  auto fresh = g.api_keys.rotate(old.record.id, std::chrono::seconds(60), {}, user.id);
  ASSERT_TRUE(fresh) << fresh.error().description;
  EXPECT_EQ(fresh->record.name, "deploy");
  EXPECT_EQ(fresh->record.scopes, old.record.scopes);
  EXPECT_TRUE(g.api_keys.verify(old.key)) << "grace period";
  EXPECT_TRUE(g.api_keys.verify(fresh->key));
  auto again = g.api_keys.rotate(old.record.id, std::chrono::seconds(60), {}, user.id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, KeyErrc::conflict) << "a rotated key cannot be rotated again";
  g.clock.advance(std::chrono::seconds(60));
  EXPECT_EQ(g.api_keys.verify(old.key).error().reason, VerifyFailure::revoked);
  EXPECT_TRUE(g.api_keys.verify(fresh->key));
  EXPECT_TRUE(g.audited("apikey.rotated"));
  auto immediate = g.api_keys.rotate(fresh->record.id, std::chrono::seconds(0), {}, user.id);
  ASSERT_TRUE(immediate);
  EXPECT_FALSE(g.api_keys.verify(fresh->key)) << "grace 0: the old key stops at once";
  EXPECT_FALSE(g.api_keys.rotate(immediate->record.id, std::chrono::seconds(-1), {}, user.id));
  EXPECT_FALSE(g.api_keys.rotate("nope", std::chrono::seconds(0), {}, user.id));
}

TEST(ApiKeys, LastUseIsWrittenInBatchesAtMostOnceAMinute) {
  ServiceGraph g;
  auto user = g.add_user("alice", "password-1");
  auto key = issue(g, user.id);
  ASSERT_TRUE(g.api_keys.verify(key.key));
  EXPECT_FALSE(g.store().find_api_key(key.record.id).value()->last_used_at) << "no store write per request";
  ASSERT_TRUE(g.api_keys.flush_last_used());
  const auto first = g.store().find_api_key(key.record.id).value()->last_used_at;
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, g.clock.now_unix());
  g.clock.advance(std::chrono::seconds(30));
  ASSERT_TRUE(g.api_keys.verify(key.key));
  ASSERT_TRUE(g.api_keys.flush_last_used());
  EXPECT_EQ(g.store().find_api_key(key.record.id).value()->last_used_at, first) << "not again within the minute";
  g.clock.advance(std::chrono::seconds(30));
  ASSERT_TRUE(g.api_keys.verify(key.key));
  ASSERT_TRUE(g.api_keys.flush_last_used());
  EXPECT_EQ(g.store().find_api_key(key.record.id).value()->last_used_at, g.clock.now_unix());
}

}  // namespace
}  // namespace gatehouse::keys
