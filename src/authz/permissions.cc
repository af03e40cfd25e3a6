#include "authz/permissions.h"

#include <algorithm>

namespace gatehouse::authz {

const std::vector<std::string>& all_permissions() {
  static const std::vector<std::string> list = [] {
    std::vector<std::string> v{"audit:read", "clients:read", "clients:write", "keys:read", "keys:write",
                               "profile:read", "profile:write", "signing_keys:read", "signing_keys:write",
                               "users:read", "users:write"};
    std::sort(v.begin(), v.end());
    return v;
  }();
  return list;
}

bool is_known_role(std::string_view role) { return role == kRoleAdmin || role == kRoleUser; }

std::vector<std::string> permissions_for(const std::vector<std::string>& roles) {
  std::vector<std::string> out;
  for (const auto& role : roles) {
    if (role == kRoleAdmin) return all_permissions();
    // Self-service: one's own profile, keys and sessions.
    if (role == kRoleUser) out.insert(out.end(), {"keys:read", "keys:write", "profile:read", "profile:write"});
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool has_permission(const std::vector<std::string>& permissions, std::string_view needed) {
  return std::binary_search(permissions.begin(), permissions.end(), needed, std::less<>{});
}

}  // namespace gatehouse::authz
