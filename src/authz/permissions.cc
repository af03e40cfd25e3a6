#include "authz/permissions.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace gatehouse::authz {

namespace {

std::vector<std::string> builtin_permissions() {
  return {"audit:read", "clients:read", "clients:write", "keys:read", "keys:write", "profile:read",
          "profile:write", "signing_keys:read", "signing_keys:write", "users:read", "users:write"};
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Written by configure_roles() at start only; read everywhere after.
struct RoleTable {
  std::vector<CustomRole> custom;
  std::vector<std::string> all = [] {
    auto v = builtin_permissions();
    sort_unique(v);
    return v;
  }();
};

RoleTable& table() {
  static RoleTable t;
  return t;
}

// Bumped by configure_roles(), so per-thread memos of the old table are dropped.
std::atomic<std::uint64_t> table_generation{0};

bool valid_name(std::string_view name, std::size_t max) {
  if (name.empty() || name.size() > max) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':' || c == '/';
  });
}

}  // namespace

Result<void, std::string> validate_roles(const std::vector<CustomRole>& roles) {
  for (std::size_t i = 0; i < roles.size(); ++i) {
    const CustomRole& role = roles[i];
    if (role.name == kRoleAdmin || role.name == kRoleUser)
      return unexpected("roles." + role.name + ": a built-in role cannot be redefined");
    if (!valid_name(role.name, 64))
      return unexpected("roles: \"" + role.name.substr(0, 64) + "\" is not a role name (letters, digits, _ - . : /)");
    for (std::size_t j = 0; j < i; ++j)
      if (roles[j].name == role.name) return unexpected("roles." + role.name + ": defined twice");
    for (const auto& p : role.permissions)
      if (!valid_name(p, 100))
        return unexpected("roles." + role.name + ": \"" + p.substr(0, 100) +
                          "\" is not a permission name (letters, digits, _ - . : /)");
  }
  return {};
}

Result<void, std::string> configure_roles(const std::vector<CustomRole>& roles) {
  if (auto ok = validate_roles(roles); !ok) return ok;
  RoleTable next;
  for (const auto& role : roles) {
    CustomRole sorted = role;
    sort_unique(sorted.permissions);
    next.all.insert(next.all.end(), sorted.permissions.begin(), sorted.permissions.end());
    next.custom.push_back(std::move(sorted));
  }
  sort_unique(next.all);
  table() = std::move(next);
  table_generation.fetch_add(1, std::memory_order_release);
  return {};
}

const std::vector<std::string>& all_permissions() { return table().all; }

bool is_known_role(std::string_view role) {
  if (role == kRoleAdmin || role == kRoleUser) return true;
  const auto& custom = table().custom;
  return std::any_of(custom.begin(), custom.end(), [&](const CustomRole& r) { return r.name == role; });
}

std::vector<std::string> permissions_for(const std::vector<std::string>& roles) {
  std::vector<std::string> out;
  for (const auto& role : roles) {
    if (role == kRoleAdmin) return all_permissions();
    // Self-service: one's own profile, keys and sessions.
    if (role == kRoleUser) out.insert(out.end(), {"keys:read", "keys:write", "profile:read", "profile:write"});
    for (const auto& custom : table().custom)
      if (custom.name == role) out.insert(out.end(), custom.permissions.begin(), custom.permissions.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const std::vector<std::string>& held_permissions(const std::vector<std::string>& roles) {
  constexpr std::size_t kEntries = 32;  // distinct role sets seen by one thread; few in practice
  struct Memo {
    std::uint64_t generation{~std::uint64_t{0}};
    std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> entries;
  };
  thread_local Memo memo;
  const std::uint64_t generation = table_generation.load(std::memory_order_acquire);
  if (memo.generation != generation || memo.entries.size() == kEntries) {
    memo.entries.clear();
    memo.entries.reserve(kEntries);  // never reallocates between clears
    memo.generation = generation;
  }
  for (const auto& [key, permissions] : memo.entries)
    if (key == roles) return permissions;
  return memo.entries.emplace_back(roles, permissions_for(roles)).second;
}

bool has_permission(const std::vector<std::string>& permissions, std::string_view needed) {
  return std::binary_search(permissions.begin(), permissions.end(), needed, std::less<>{});
}

}  // namespace gatehouse::authz
