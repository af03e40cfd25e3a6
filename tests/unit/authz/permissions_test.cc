#include "authz/permissions.h"

#include <gtest/gtest.h>

namespace gatehouse::authz {
namespace {

TEST(Permissions, AdminHasEverythingUserOnlySelfService) {
  EXPECT_EQ(permissions_for({"admin"}), all_permissions());
  const auto user = permissions_for({"user"});
  EXPECT_TRUE(has_permission(user, "profile:read"));
  EXPECT_FALSE(has_permission(user, "users:read"));
  EXPECT_FALSE(has_permission(user, "audit:read"));
  EXPECT_TRUE(permissions_for({"nonsense"}).empty());
  EXPECT_TRUE(permissions_for({}).empty());
}

TEST(Permissions, UnionOfRolesIsSortedAndUnique) {
  const auto both = permissions_for({"user", "user"});
  EXPECT_TRUE(std::is_sorted(both.begin(), both.end()));
  EXPECT_EQ(std::adjacent_find(both.begin(), both.end()), both.end());
  EXPECT_EQ(permissions_for({"user", "admin"}), all_permissions());
}

TEST(Permissions, CustomRolesFromTheConfig) {
  ASSERT_TRUE(configure_roles({{"support", {"orders:read", "tickets:write", "orders:read"}},
                               {"auditor", {"audit:read"}}}));
  EXPECT_TRUE(is_known_role("support"));
  EXPECT_EQ(permissions_for({"support"}), (std::vector<std::string>{"orders:read", "tickets:write"}));
  EXPECT_EQ(permissions_for({"support", "auditor"}),
            (std::vector<std::string>{"audit:read", "orders:read", "tickets:write"}));
  // Their permissions become known ones (API key scopes may name them), and admin holds them too.
  EXPECT_TRUE(has_permission(all_permissions(), "orders:read"));
  EXPECT_TRUE(has_permission(permissions_for({"admin"}), "tickets:write"));
  EXPECT_FALSE(has_permission(permissions_for({"user"}), "orders:read"));
  // Refused: redefining a built-in role, a name twice, malformed names.
  EXPECT_FALSE(configure_roles({{"admin", {"x"}}}));
  EXPECT_FALSE(configure_roles({{"a", {}}, {"a", {}}}));
  EXPECT_FALSE(configure_roles({{"bad name", {}}}));
  EXPECT_FALSE(configure_roles({{"ok", {"has space"}}}));
  EXPECT_FALSE(validate_roles({{"", {}}}));
  EXPECT_TRUE(is_known_role("support"));  // a refused configuration changes nothing
  ASSERT_TRUE(configure_roles({}));
  EXPECT_FALSE(is_known_role("support"));
  EXPECT_FALSE(has_permission(all_permissions(), "orders:read"));
}

TEST(Permissions, HeldPermissionsFollowTheRoleTable) {
  ASSERT_TRUE(configure_roles({{"support", {"orders:read"}}}));
  EXPECT_EQ(held_permissions({"support", "user"}), permissions_for({"support", "user"}));
  EXPECT_EQ(held_permissions({"admin"}), all_permissions());
  // Many role sets: the memo is bounded and still right.
  for (int i = 0; i < 100; ++i) EXPECT_EQ(held_permissions({"role" + std::to_string(i), "support"}).size(), 1u);
  // A new table is seen at once, not the memo of the old one.
  ASSERT_TRUE(configure_roles({{"support", {"tickets:write"}}}));
  EXPECT_EQ(held_permissions({"support"}), (std::vector<std::string>{"tickets:write"}));
  ASSERT_TRUE(configure_roles({}));
  EXPECT_TRUE(held_permissions({"support"}).empty());
}

TEST(Permissions, KnownRoles) {
  EXPECT_TRUE(is_known_role("admin"));
  EXPECT_TRUE(is_known_role("user"));
  EXPECT_FALSE(is_known_role("Admin"));
}

}  // namespace
}  // namespace gatehouse::authz
