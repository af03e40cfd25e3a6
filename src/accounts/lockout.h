// accounts/lockout.h: brute-force protection for password checks (SPEC §9).
//
// Two counters per attempt: the subject (the user by id, or the folded login name when it
// matches no user - unknown names lock exactly like known ones, so locking reveals nothing)
// and the client IP. `max_failures` consecutive failures of a subject lock it for `duration`;
// `ip_max_failures` failures from one IP within `duration` lock the IP for `duration`. While
// locked every attempt is refused with the time left, even with the right password. A success
// clears the subject's count (never the IP's: one valid account must not reset an attacker's
// IP budget). Failures older than `duration` are forgotten. Counters live in the store:
// restarts keep them and nodes share them. Locks this process has seen are mirrored in memory
// for the paths that must not touch the store (cached Basic credentials).
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "store/store.h"

namespace gatehouse::accounts {

struct LockoutSettings {
  int max_failures{5};
  std::chrono::seconds duration{15 * 60};
  int ip_max_failures{50};
};

// Who is trying: the subject counter key and what the audit says about it.
struct Attempt {
  std::string subject{};   // "user:<id>" or "login:<folded name>"
  std::string user_id{};   // empty for unknown names
  std::string username{};  // as typed (audit only)
  RequestContext ctx{};
};

class Lockout {
 public:
  Lockout(store::LockoutStore& store, audit::AuditLog& audit, const Clock& clock, LockoutSettings settings);

  // Seconds until this IP may try again (0: it may).
  Result<std::int64_t, store::StoreError> ip_wait(const std::string& ip);
  // Seconds until this subject may try again (0: it may); `has_failures` says whether a
  // success would have a count to clear.
  Result<std::int64_t, store::StoreError> subject_wait(const std::string& subject, bool* has_failures);
  // Counts a failed attempt for the subject and its IP; audits login.locked when either locks.
  void failed(const Attempt& attempt);
  void succeeded(const std::string& subject);
  // An admin's unlock: clears the user's counter and lock.
  Result<void, store::StoreError> unlock_user(const std::string& user_id);
  // Memory only: a lock on this subject that this process has seen and that still holds.
  std::int64_t known_wait(const std::string& subject) const;

  const LockoutSettings& settings() const { return settings_; }

 private:
  std::int64_t wait_of(const store::LoginFailures& f, std::int64_t now) const;
  void remember_lock(const std::string& subject, std::int64_t until);

  store::LockoutStore& store_;
  audit::AuditLog& audit_;
  const Clock& clock_;
  LockoutSettings settings_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> locks_;  // subject -> locked until
};

}  // namespace gatehouse::accounts
