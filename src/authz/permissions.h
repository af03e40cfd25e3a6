// authz/permissions.h: roles map to permissions; a credential's scopes can only narrow them.
// Pure functions over strings: authorization never looks at HTTP or the store.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::authz {

inline constexpr std::string_view kRoleAdmin = "admin";
inline constexpr std::string_view kRoleUser = "user";

// Every permission this build knows, sorted.
const std::vector<std::string>& all_permissions();
bool is_known_role(std::string_view role);
// The union of the roles' permissions, sorted and unique. Unknown roles grant nothing.
std::vector<std::string> permissions_for(const std::vector<std::string>& roles);
bool has_permission(const std::vector<std::string>& permissions, std::string_view needed);

}  // namespace gatehouse::authz
