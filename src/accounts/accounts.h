// accounts/accounts.h: users, their passwords, and logging in. Password hashing runs on
// the caller's thread, which must be a blocking-pool thread (argon2id is slow on purpose).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "accounts/lockout.h"
#include "audit/audit.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "crypto/password.h"
#include "store/store.h"
#include "tokens/session_tokens.h"

namespace gatehouse::accounts {

using User = store::UserRecord;

// The password hash of a user who has no password (one created by an upstream sign-in): no
// password matches it, and checking one against it costs what a real check costs.
inline constexpr std::string_view kNoPassword = "!none";

enum class AccountErrc {
  invalid_request,      // 400
  invalid_credentials,  // 401
  forbidden,            // 403
  not_found,            // 404
  conflict,             // 409
  unavailable,          // 503
  locked,               // 429: too many failed attempts (retry_after)
};

struct AccountError {
  AccountErrc code{AccountErrc::invalid_request};
  std::string description{};  // safe to send to the client
  std::int64_t retry_after{0};  // seconds, for locked
};

struct NewUser {
  std::string username{};
  std::string password{};
  std::string email{};
  std::vector<std::string> roles{};  // empty = ["user"]
};

// Absent members are left unchanged. email: set to "" to remove it.
struct UserPatch {
  std::optional<bool> disabled{};
  std::optional<std::vector<std::string>> roles{};
  std::optional<std::string> password{};
  std::optional<std::string> email{};
};

struct AccountSettings {
  std::size_t min_password_length{8};
  LockoutSettings lockout{};
};

struct UserPage {
  std::vector<User> users{};
  std::string next_cursor{};  // empty: no more
};

class Accounts {
 public:
  Accounts(store::Store& store, tokens::SessionTokens& sessions, audit::AuditLog& audit,
           const crypto::PasswordHasher& hasher, const Clock& clock, AccountSettings settings);

  Result<User, AccountError> create(const NewUser& request, const RequestContext& ctx);
  // A user who signs in through an upstream (SPEC §8, Federation): no password, role "user",
  // created in one transaction with its link (`link.user_id` is filled in). conflict when the
  // username, the e-mail or the link is taken, and then nothing is written.
  Result<User, AccountError> create_linked(const std::string& username, const std::string& email,
                                           store::UpstreamLinkRecord link, const RequestContext& ctx);
  Result<User, AccountError> get(const std::string& id);
  Result<UserPage, AccountError> list(const std::string& cursor, int limit);
  Result<User, AccountError> update(const std::string& id, const UserPatch& patch, const RequestContext& ctx);
  Result<void, AccountError> remove(const std::string& id, const RequestContext& ctx);

  // Finds the user by username, or by e-mail when no username matches, and checks the
  // password. Unknown users cost a dummy verify; disabled users fail like wrong passwords.
  // Subject to the lockout (SPEC §9): locked subjects and IPs get `locked`, failures count.
  Result<User, AccountError> check_password(const std::string& login, const std::string& password,
                                            const RequestContext& ctx);
  // An admin's unlock of a user locked by failed logins.
  Result<void, AccountError> unlock(const std::string& id, const RequestContext& ctx);
  Lockout& lockout() { return lockout_; }
  // check_password + a new session, with the audit events.
  // `grant` says what kind of session (first-party tokens by default, or a browser session).
  Result<std::pair<User, tokens::TokenPair>, AccountError> login(const std::string& login,
                                                                 const std::string& password,
                                                                 const RequestContext& ctx,
                                                                 const tokens::SessionGrant& grant = {});
  Result<void, AccountError> change_password(const std::string& user_id, const std::string& current,
                                             const std::string& replacement, const std::string& keep_session_id,
                                             const RequestContext& ctx);

  // First start on an empty store: creates the admin. Returns true when it did.
  Result<bool, AccountError> bootstrap_admin(const std::string& username, const std::string& password);

  const AccountSettings& settings() const { return settings_; }

 private:
  Result<void, AccountError> validate_password(const std::string& password) const;
  // A username must not equal another user's e-mail and vice versa, or one could shadow
  // the other's login (login tries usernames first, then e-mails).
  Result<void, AccountError> check_cross_uniqueness(const std::string& self_id, const std::string& username,
                                                    const std::string& email);

  store::Store& store_;
  tokens::SessionTokens& sessions_;
  audit::AuditLog& audit_;
  const crypto::PasswordHasher& hasher_;
  const Clock& clock_;
  AccountSettings settings_;
  Lockout lockout_;
};

// Syntax checks shared by the API and the CLI; the error names the rule.
Result<void, std::string> validate_username(const std::string& username);
Result<void, std::string> validate_email(const std::string& email);
Result<void, std::string> validate_roles(const std::vector<std::string>& roles);

}  // namespace gatehouse::accounts
