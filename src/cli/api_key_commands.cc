// gatehouse key create|list|revoke: API keys from the command line, acting directly on the
// store. Running servers see a revocation within a second (their change feed).
#include <cstdio>

#include "app/app.h"
#include "authz/permissions.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "core/time.h"

namespace gatehouse::cli {
namespace {

std::optional<store::UserRecord> find_user(app::App& app, const std::string& username) {
  auto found = app.store().find_user_by_username(username);
  if (!found) {
    std::fprintf(stderr, "gatehouse: the store is unavailable: %s\n", found.error().message.c_str());
    return std::nullopt;
  }
  if (!*found) {
    std::fprintf(stderr, "gatehouse: no user named \"%s\"\n", username.c_str());
    return std::nullopt;
  }
  return **found;
}

std::string when(const std::optional<std::int64_t>& t) { return t ? rfc3339(*t) : "-"; }

std::string state_of(const store::ApiKeyRecord& k, std::int64_t now) {
  if (k.revoked_at && *k.revoked_at <= now) return "revoked";
  if (k.expires_at && *k.expires_at <= now) return "expired";
  if (k.revoked_at) return "grace";  // rotated: works until revoked_at
  return "active";
}

void print_keys(const std::vector<store::ApiKeyRecord>& keys, const std::string& owner, std::int64_t now) {
  for (const auto& k : keys) {
    std::string scopes;
    for (const auto& s : k.scopes.value_or(std::vector<std::string>{})) scopes += (scopes.empty() ? "" : ",") + s;
    std::printf("%-26s  %-10s  %-16s  %-8s  %-20s  %-20s  %-20s  %s  %s\n", k.id.c_str(), k.prefix.c_str(),
                owner.c_str(), state_of(k, now).c_str(), rfc3339(k.created_at).c_str(), when(k.expires_at).c_str(),
                when(k.last_used_at).c_str(), scopes.empty() ? "(owner's)" : scopes.c_str(), k.name.c_str());
  }
}

}  // namespace

int key_create(const config::Config& config, const std::string& username, const std::string& name,
               const std::vector<std::string>& scopes, const std::string& expires_in) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto user = find_user(*app, username);
  if (!user) return 1;
  if (user->disabled) {
    std::fprintf(stderr, "gatehouse: %s is disabled: enable the user first\n", user->username.c_str());
    return 1;
  }
  std::optional<std::int64_t> ttl;
  if (!expires_in.empty()) {
    auto d = parse_duration(expires_in);
    if (!d) {
      std::fprintf(stderr, "gatehouse: --expires-in: expected a duration such as 3600, 90m, 12h or 30d\n");
      return 2;
    }
    ttl = d->count();
  }
  auto issued = app->api_keys().create(
      keys::NewKey{.user_id = user->id, .name = name,
                   .scopes = scopes.empty() ? std::nullopt : std::optional<std::vector<std::string>>(scopes),
                   .expires_in = ttl},
      authz::permissions_for(user->roles), kCliContext, "cli");
  if (!issued) {
    std::fprintf(stderr, "gatehouse: %s\n", issued.error().description.c_str());
    return 1;
  }
  // The key on stdout alone, so `KEY=$(gatehouse key create ...)` works; the rest on stderr.
  std::printf("%s\n", issued->key.c_str());
  std::fprintf(stderr, "created API key %s (%s) for %s; it is shown only this once\n", issued->record.id.c_str(),
               issued->record.prefix.c_str(), user->username.c_str());
  return 0;
}

int key_list(const config::Config& config, const std::string& username) {
  auto app = open_or_report(config);
  if (!app) return 1;
  std::vector<store::UserRecord> owners;
  if (!username.empty()) {
    auto user = find_user(*app, username);
    if (!user) return 1;
    owners.push_back(*user);
  } else {
    std::string after;
    for (;;) {
      auto page = app->store().list_users(after, 500);
      if (!page) {
        std::fprintf(stderr, "gatehouse: the store is unavailable: %s\n", page.error().message.c_str());
        return 1;
      }
      if (page->empty()) break;
      after = page->back().id;
      owners.insert(owners.end(), page->begin(), page->end());
    }
  }
  std::printf("%-26s  %-10s  %-16s  %-8s  %-20s  %-20s  %-20s  %s  %s\n", "ID", "PREFIX", "USER", "STATE", "CREATED",
              "EXPIRES", "LAST USED", "SCOPES", "NAME");
  const std::int64_t now = app->clock().now_unix();
  for (const auto& owner : owners) {
    auto keys = app->api_keys().list(owner.id);
    if (!keys) {
      std::fprintf(stderr, "gatehouse: %s\n", keys.error().description.c_str());
      return 1;
    }
    print_keys(*keys, owner.username, now);
  }
  return 0;
}

int key_revoke(const config::Config& config, const std::string& id) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto revoked = app->api_keys().revoke(id, kCliContext, "cli");
  if (!revoked) {
    std::fprintf(stderr, "gatehouse: %s\n", revoked.error().description.c_str());
    return 1;
  }
  std::printf("revoked API key %s (%s); running servers refuse it within a second\n", id.c_str(),
              revoked->prefix.c_str());
  return 0;
}

}  // namespace gatehouse::cli
