// authz/permissions.h: roles map to permissions; a credential's scopes can only narrow them.
// Pure functions over strings: authorization never looks at HTTP or the store.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gatehouse::authz {

inline constexpr std::string_view kRoleAdmin = "admin";
inline constexpr std::string_view kRoleUser = "user";

// A role defined in the config ([roles] name = ["perm", ...], SPEC §7). Its permissions may be
// Gatehouse's own or any the APIs behind the gateway use ("orders:read"); admin gets them too.
struct CustomRole {
  std::string name;
  std::vector<std::string> permissions;
};

// Installs the config's roles. Called once at start, before any thread reads roles (the CLI
// and tests may call it again). Refuses a built-in name, a malformed name or permission.
Result<void, std::string> configure_roles(const std::vector<CustomRole>& roles);
// The checks configure_roles() makes, without installing anything (config validation).
Result<void, std::string> validate_roles(const std::vector<CustomRole>& roles);

// Every permission known: Gatehouse's own and those of the configured roles, sorted.
const std::vector<std::string>& all_permissions();
bool is_known_role(std::string_view role);
// The union of the roles' permissions, sorted and unique. Unknown roles grant nothing.
std::vector<std::string> permissions_for(const std::vector<std::string>& roles);
// The same list, remembered per thread for the last few role sets (the per-request path: no
// sort, no copy). The reference holds until this thread's next call.
const std::vector<std::string>& held_permissions(const std::vector<std::string>& roles);
bool has_permission(const std::vector<std::string>& permissions, std::string_view needed);

}  // namespace gatehouse::authz
