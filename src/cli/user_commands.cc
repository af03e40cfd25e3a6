#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "app/app.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "core/time.h"

namespace gatehouse::cli {

std::unique_ptr<app::App> open_or_report(const config::Config& config) {
  auto app = app::App::open(config);
  if (!app) {
    std::fprintf(stderr, "gatehouse: %s\n", app.error().c_str());
    return nullptr;
  }
  return std::move(*app);
}

namespace {

int report(const accounts::AccountError& error) {
  std::fprintf(stderr, "gatehouse: %s\n", error.description.c_str());
  return 1;
}

std::optional<accounts::User> find(app::App& app, const std::string& username) {
  auto found = app.store().find_user_by_username(username);
  if (!found || !*found) {
    std::fprintf(stderr, "gatehouse: no user named \"%s\"\n", username.c_str());
    return std::nullopt;
  }
  return **found;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

std::string read_password_from_stdin(const char* prompt) {
  std::string password;
  if (isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "%s", prompt);
    termios saved{};
    tcgetattr(STDIN_FILENO, &saved);
    termios silent = saved;
    silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &silent);
    std::getline(std::cin, password);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fprintf(stderr, "\n");
    return password;
  }
  password.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  if (!password.empty() && password.back() == '\n') password.pop_back();
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return password;
}

int user_add(const config::Config& config, const std::string& username, const std::string& email,
             const std::vector<std::string>& roles) {
  auto app = open_or_report(config);
  if (!app) return 1;
  const std::string password = read_password_from_stdin("Password: ");
  auto user = app->accounts().create(
      accounts::NewUser{.username = username, .password = password, .email = email, .roles = roles}, kCliContext);
  if (!user) return report(user.error());
  std::printf("created user %s (%s) roles=%s\n", user->username.c_str(), user->id.c_str(), join(user->roles).c_str());
  return 0;
}

int user_list(const config::Config& config) {
  auto app = open_or_report(config);
  if (!app) return 1;
  std::printf("%-26s  %-24s  %-28s  %-10s  %-8s  %s\n", "ID", "USERNAME", "EMAIL", "ROLES", "STATUS", "CREATED");
  std::string cursor;
  for (;;) {
    auto page = app->accounts().list(cursor, 200);
    if (!page) return report(page.error());
    for (const auto& u : page->users)
      std::printf("%-26s  %-24s  %-28s  %-10s  %-8s  %s\n", u.id.c_str(), u.username.c_str(),
                  u.email.empty() ? "-" : u.email.c_str(), join(u.roles).c_str(), u.disabled ? "disabled" : "active",
                  rfc3339(u.created_at).c_str());
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  return 0;
}

int user_set_password(const config::Config& config, const std::string& username) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto user = find(*app, username);
  if (!user) return 1;
  const std::string password = read_password_from_stdin("New password: ");
  auto updated = app->accounts().update(user->id, accounts::UserPatch{.password = password}, kCliContext);
  if (!updated) return report(updated.error());
  std::printf("password changed for %s; every session of the user was revoked\n", user->username.c_str());
  return 0;
}

int user_disable(const config::Config& config, const std::string& username, bool disabled) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto user = find(*app, username);
  if (!user) return 1;
  auto updated = app->accounts().update(user->id, accounts::UserPatch{.disabled = disabled}, kCliContext);
  if (!updated) return report(updated.error());
  std::printf("%s %s\n", disabled ? "disabled" : "enabled", user->username.c_str());
  return 0;
}

int user_delete(const config::Config& config, const std::string& username) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto user = find(*app, username);
  if (!user) return 1;
  if (auto removed = app->accounts().remove(user->id, kCliContext); !removed) return report(removed.error());
  std::printf("deleted %s\n", user->username.c_str());
  return 0;
}

int user_unlock(const config::Config& config, const std::string& username) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto user = find(*app, username);
  if (!user) return 1;
  if (auto unlocked = app->accounts().unlock(user->id, kCliContext); !unlocked) return report(unlocked.error());
  std::printf("unlocked %s\n", user->username.c_str());
  return 0;
}

int migrate(const config::Config& config) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto version = app->store().schema_version();
  if (!version) {
    std::fprintf(stderr, "gatehouse: %s\n", version.error().message.c_str());
    return 1;
  }
  std::printf("schema at version %d\n", *version);
  return 0;
}

}  // namespace gatehouse::cli
