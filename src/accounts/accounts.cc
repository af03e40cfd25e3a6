#include "accounts/accounts.h"

#include <algorithm>

#include "authz/permissions.h"
#include "core/random.h"

namespace gatehouse::accounts {
namespace {

constexpr std::size_t kMaxUsername = 64;
constexpr std::size_t kMaxEmail = 254;
// argon2id is defined for any length, but a megabyte "password" is a DoS, not a secret.
constexpr std::size_t kMaxPassword = 1024;

tl::unexpected<AccountError> fail(AccountErrc code, std::string description) {
  return tl::unexpected(AccountError{code, std::move(description)});
}

tl::unexpected<AccountError> store_failure(const store::StoreError& e) {
  switch (e.code) {
    case store::StoreErrc::not_found: return fail(AccountErrc::not_found, "No such user.");
    case store::StoreErrc::conflict: return fail(AccountErrc::conflict, "That username or e-mail is already taken.");
    case store::StoreErrc::precondition_failed:
      return fail(AccountErrc::conflict, "The user was changed at the same time; try again.");
    default: return fail(AccountErrc::unavailable, "The user store is unavailable; try again shortly.");
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

Result<void, std::string> validate_username(const std::string& username) {
  if (username.empty() || username.size() > kMaxUsername)
    return tl::unexpected(std::string("username must be 1 to 64 characters"));
  for (unsigned char c : username)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '@' || c == '+' || c == '-'))
      return tl::unexpected(std::string("username may contain only letters, digits and . _ @ + -"));
  return {};
}

Result<void, std::string> validate_email(const std::string& email) {
  if (email.empty()) return {};
  const auto at = email.find('@');
  if (email.size() > kMaxEmail || at == std::string::npos || at == 0 || at == email.size() - 1 ||
      email.find('@', at + 1) != std::string::npos)
    return tl::unexpected(std::string("email must look like name@example.com"));
  for (unsigned char c : email)
    if (c <= ' ' || c == 0x7F) return tl::unexpected(std::string("email must not contain spaces or control characters"));
  return {};
}

Result<void, std::string> validate_roles(const std::vector<std::string>& roles) {
  if (roles.empty()) return tl::unexpected(std::string("roles must name at least one role"));
  for (const auto& r : roles)
    if (!authz::is_known_role(r)) return tl::unexpected("unknown role \"" + r + "\" (known: admin, user)");
  return {};
}

Accounts::Accounts(store::Store& store, tokens::SessionTokens& sessions, audit::AuditLog& audit,
                   const crypto::PasswordHasher& hasher, const Clock& clock, AccountSettings settings)
    : store_(store),
      sessions_(sessions),
      audit_(audit),
      hasher_(hasher),
      clock_(clock),
      settings_(settings),
      lockout_(store, audit, clock, settings.lockout) {}

Result<void, AccountError> Accounts::validate_password(const std::string& password) const {
  if (password.size() < settings_.min_password_length)
    return fail(AccountErrc::invalid_request,
                "password must be at least " + std::to_string(settings_.min_password_length) + " characters");
  if (password.size() > kMaxPassword) return fail(AccountErrc::invalid_request, "password must be at most 1024 characters");
  return {};
}

Result<User, AccountError> Accounts::create(const NewUser& request, const RequestContext& ctx) {
  std::vector<std::string> roles = request.roles.empty() ? std::vector<std::string>{"user"} : request.roles;
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  if (auto ok = validate_username(request.username); !ok) return fail(AccountErrc::invalid_request, ok.error());
  if (auto ok = validate_email(request.email); !ok) return fail(AccountErrc::invalid_request, ok.error());
  if (auto ok = validate_roles(roles); !ok) return fail(AccountErrc::invalid_request, ok.error());
  if (auto ok = validate_password(request.password); !ok) return tl::unexpected(ok.error());
  if (auto ok = check_cross_uniqueness({}, request.username, request.email); !ok) return tl::unexpected(ok.error());
  const auto now = clock_.now();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  User user{.id = new_id(millis),
            .username = request.username,
            .email = request.email,
            .roles = roles,
            .disabled = false,
            .password_hash = hasher_.hash(request.password),
            .created_at = to_unix(now),
            .updated_at = to_unix(now)};
  if (auto stored = store_.create_user(user); !stored) return store_failure(stored.error());
  audit_.record(ctx, audit::AuditEvent{.type = "user.created", .success = true, .user_id = user.id,
                                       .username = user.username, .detail = {{"roles", join(roles)}}});
  return user;
}

Result<User, AccountError> Accounts::create_linked(const std::string& username, const std::string& email,
                                                   store::UpstreamLinkRecord link, const RequestContext& ctx) {
  if (auto ok = validate_username(username); !ok) return fail(AccountErrc::invalid_request, ok.error());
  if (auto ok = validate_email(email); !ok) return fail(AccountErrc::invalid_request, ok.error());
  if (auto ok = check_cross_uniqueness({}, username, email); !ok) return tl::unexpected(ok.error());
  const auto now = clock_.now();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  User user{.id = new_id(millis),
            .username = username,
            .email = email,
            .roles = {"user"},
            .disabled = false,
            .password_hash = std::string(kNoPassword),
            .created_at = to_unix(now),
            .updated_at = to_unix(now)};
  link.user_id = user.id;
  if (auto stored = store_.create_linked_user(user, link); !stored) return store_failure(stored.error());
  audit_.record(ctx, audit::AuditEvent{.type = "user.created", .success = true, .user_id = user.id,
                                       .username = user.username,
                                       .detail = {{"roles", "user"}, {"upstream", link.upstream}}});
  return user;
}

Result<User, AccountError> Accounts::get(const std::string& id) {
  auto found = store_.find_user(id);
  if (!found) return store_failure(found.error());
  if (!*found) return fail(AccountErrc::not_found, "No such user.");
  return **found;
}

Result<UserPage, AccountError> Accounts::list(const std::string& cursor, int limit) {
  // One extra row tells whether another page exists.
  auto rows = store_.list_users(cursor, limit + 1);
  if (!rows) return store_failure(rows.error());
  UserPage page;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(static_cast<std::size_t>(limit));
    page.next_cursor = rows->back().id;
  }
  page.users = std::move(*rows);
  return page;
}

Result<void, AccountError> Accounts::check_cross_uniqueness(const std::string& self_id, const std::string& username,
                                                            const std::string& email) {
  const auto taken = [&](const store::StoreResult<std::optional<User>>& found) {
    return found && *found && (*found)->id != self_id;
  };
  if (username.find('@') != std::string::npos && taken(store_.find_user_by_email(username)))
    return fail(AccountErrc::conflict, "That username is another user's e-mail address.");
  if (!email.empty() && taken(store_.find_user_by_username(email)))
    return fail(AccountErrc::conflict, "That e-mail address is another user's username.");
  return {};
}

Result<User, AccountError> Accounts::update(const std::string& id, const UserPatch& patch, const RequestContext& ctx) {
  store::UserChanges changes{.updated_at = clock_.now_unix()};
  std::vector<std::string> changed;
  if (patch.email) {
    if (auto ok = validate_email(*patch.email); !ok) return fail(AccountErrc::invalid_request, ok.error());
    if (auto ok = check_cross_uniqueness(id, {}, *patch.email); !ok) return tl::unexpected(ok.error());
    changes.email = *patch.email;
    changed.push_back("email");
  }
  if (patch.roles) {
    auto roles = *patch.roles;
    std::sort(roles.begin(), roles.end());
    roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
    if (auto ok = validate_roles(roles); !ok) return fail(AccountErrc::invalid_request, ok.error());
    changes.roles = roles;
    changed.push_back("roles");
  }
  if (patch.password) {
    if (auto ok = validate_password(*patch.password); !ok) return tl::unexpected(ok.error());
    changes.password_hash = hasher_.hash(*patch.password);
    changed.push_back("password");
  }
  if (patch.disabled) {
    changes.disabled = *patch.disabled;
    changed.push_back("disabled");
  }
  // A new password or a disable ends every session in the same transaction as the change.
  if (patch.password || patch.disabled.value_or(false)) {
    changes.revoke_sessions_except = "";
    changes.revoked_until = sessions_.revoked_until();
  }
  // Disabling also revokes the user's API keys (SPEC §7): enabling again does not revive them.
  changes.revoke_api_keys = patch.disabled.value_or(false);
  auto user = store_.update_user(id, changes);
  if (!user) return store_failure(user.error());
  sessions_.changed();
  std::vector<std::pair<std::string, std::string>> detail{{"changed", join(changed)}};
  if (patch.disabled) detail.emplace_back("disabled", user->disabled ? "true" : "false");
  if (patch.roles) detail.emplace_back("roles", join(user->roles));
  audit_.record(ctx, audit::AuditEvent{.type = "user.updated", .success = true, .user_id = user->id,
                                       .username = user->username, .detail = std::move(detail)});
  return std::move(*user);
}

Result<void, AccountError> Accounts::remove(const std::string& id, const RequestContext& ctx) {
  auto user = get(id);
  if (!user) return tl::unexpected(user.error());
  // The foreign keys take the user's sessions and tokens with it, in the same statement.
  if (auto deleted = store_.delete_user(id); !deleted) return store_failure(deleted.error());
  sessions_.changed();
  audit_.record(ctx, audit::AuditEvent{.type = "user.deleted", .success = true, .user_id = user->id,
                                       .username = user->username, .detail = {}});
  return {};
}

Result<User, AccountError> Accounts::check_password(const std::string& login, const std::string& password,
                                                    const RequestContext& ctx) {
  static constexpr std::string_view kWrong = "The username or password is incorrect.";
  const auto locked = [](std::int64_t seconds) -> tl::unexpected<AccountError> {
    return tl::unexpected(AccountError{AccountErrc::locked,
                                       "Too many failed attempts; try again in " + std::to_string(seconds) + " s.",
                                       seconds});
  };
  auto ip_wait = lockout_.ip_wait(ctx.ip);
  if (!ip_wait) return store_failure(ip_wait.error());
  if (*ip_wait > 0) return locked(*ip_wait);
  if (login.empty() || login.size() > kMaxEmail || password.size() > kMaxPassword) {
    hasher_.verify_dummy(password.substr(0, kMaxPassword));
    return fail(AccountErrc::invalid_credentials, std::string(kWrong));
  }
  auto found = store_.find_user_by_username(login);
  if (found && !*found && login.find('@') != std::string::npos) found = store_.find_user_by_email(login);
  if (!found) return store_failure(found.error());
  // One counter per user however it is named (username or e-mail); unknown names get their
  // own, so they lock exactly like real ones.
  const Attempt attempt{.subject = *found ? "user:" + (*found)->id : "login:" + store::fold_case(login),
                        .user_id = *found ? (*found)->id : std::string(),
                        .username = login.substr(0, kMaxUsername),
                        .ctx = ctx};
  bool has_failures = false;
  auto wait = lockout_.subject_wait(attempt.subject, &has_failures);
  if (!wait) return store_failure(wait.error());
  if (*wait > 0) return locked(*wait);
  if (!*found) {
    hasher_.verify_dummy(password);
    lockout_.failed(attempt);
    return fail(AccountErrc::invalid_credentials, std::string(kWrong));
  }
  const User& user = **found;
  bool password_ok = false;
  if (user.password_hash == kNoPassword) hasher_.verify_dummy(password);  // the same cost, no match
  else password_ok = hasher_.verify(user.password_hash, password);
  if (!password_ok || user.disabled) {
    lockout_.failed(attempt);
    return fail(AccountErrc::invalid_credentials, std::string(kWrong));
  }
  if (has_failures) lockout_.succeeded(attempt.subject);
  return user;
}

Result<void, AccountError> Accounts::unlock(const std::string& id, const RequestContext& ctx) {
  auto user = get(id);
  if (!user) return tl::unexpected(user.error());
  if (auto cleared = lockout_.unlock_user(id); !cleared) return store_failure(cleared.error());
  audit_.record(ctx, audit::AuditEvent{.type = "user.updated", .success = true, .user_id = user->id,
                                       .username = user->username, .detail = {{"changed", "unlocked"}}});
  return {};
}

Result<std::pair<User, tokens::TokenPair>, AccountError> Accounts::login(const std::string& login,
                                                                         const std::string& password,
                                                                         const RequestContext& ctx,
                                                                         const tokens::SessionGrant& grant) {
  auto user = check_password(login, password, ctx);
  if (!user) {
    if (user.error().code == AccountErrc::invalid_credentials || user.error().code == AccountErrc::locked)
      audit_.record(ctx, audit::AuditEvent{
                             .type = "login.failure", .success = false, .user_id = {},
                             .username = login.substr(0, kMaxUsername),
                             .detail = {{"reason", user.error().code == AccountErrc::locked ? "locked" : "credentials"}}});
    return tl::unexpected(user.error());
  }
  // Passwords hashed under older argon2id parameters are upgraded on the first good login.
  std::string verified_hash = user->password_hash;
  if (hasher_.needs_rehash(verified_hash)) {
    auto upgraded = store_.update_user(user->id, store::UserChanges{.password_hash = hasher_.hash(password),
                                                                    .expected_password_hash = verified_hash,
                                                                    .updated_at = clock_.now_unix()});
    if (upgraded) verified_hash = upgraded->password_hash;
  }
  auto pair = sessions_.open_session(user->id, verified_hash, grant);
  if (!pair) {
    if (pair.error().code != tokens::TokenErrc::invalid_grant)
      return fail(AccountErrc::unavailable, pair.error().description);
    audit_.record(ctx, audit::AuditEvent{.type = "login.failure", .success = false, .user_id = user->id,
                                         .username = user->username, .detail = {{"reason", "account changed"}}});
    return fail(AccountErrc::invalid_credentials, "The username or password is incorrect.");
  }
  audit_.record(ctx, audit::AuditEvent{.type = "login.success", .success = true, .user_id = user->id,
                                       .username = user->username,
                                       .detail = {{"session_id", pair->session_id},
                                                  {"via", grant.browser ? "browser" : "api"}}});
  return std::make_pair(std::move(*user), std::move(*pair));
}

Result<void, AccountError> Accounts::change_password(const std::string& user_id, const std::string& current,
                                                     const std::string& replacement,
                                                     const std::string& keep_session_id, const RequestContext& ctx) {
  auto user = get(user_id);
  if (!user) return tl::unexpected(user.error());
  if (current.size() > kMaxPassword || !hasher_.verify(user->password_hash, current)) {
    audit_.record(ctx, audit::AuditEvent{.type = "password.changed", .success = false, .user_id = user->id,
                                         .username = user->username, .detail = {{"reason", "wrong current password"}}});
    return fail(AccountErrc::forbidden, "current_password is incorrect.");
  }
  if (auto ok = validate_password(replacement); !ok) return tl::unexpected(ok.error());
  // Compare-and-set on the hash just verified, and the other sessions end in the same
  // transaction: no concurrent change is overwritten, no session opened meanwhile survives.
  auto updated = store_.update_user(user->id, store::UserChanges{.password_hash = hasher_.hash(replacement),
                                                                 .expected_password_hash = user->password_hash,
                                                                 .revoke_sessions_except = keep_session_id,
                                                                 .revoked_until = sessions_.revoked_until(),
                                                                 .updated_at = clock_.now_unix()});
  if (!updated) return store_failure(updated.error());
  sessions_.changed();
  audit_.record(ctx, audit::AuditEvent{.type = "password.changed", .success = true, .user_id = user->id,
                                       .username = user->username, .detail = {}});
  return {};
}

Result<bool, AccountError> Accounts::bootstrap_admin(const std::string& username, const std::string& password) {
  if (password.empty()) return false;
  auto count = store_.count_users();
  if (!count) return store_failure(count.error());
  if (*count > 0) return false;
  auto created = create(NewUser{.username = username, .password = password, .email = {}, .roles = {"admin"}},
                        RequestContext{.ip = {}, .user_agent = "bootstrap", .request_id = {}});
  if (!created) return tl::unexpected(created.error());
  return true;
}

}  // namespace gatehouse::accounts
