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

TEST(Permissions, KnownRoles) {
  EXPECT_TRUE(is_known_role("admin"));
  EXPECT_TRUE(is_known_role("user"));
  EXPECT_FALSE(is_known_role("Admin"));
}

}  // namespace
}  // namespace gatehouse::authz
