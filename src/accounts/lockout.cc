#include "accounts/lockout.h"

#include "metrics/metrics.h"

namespace gatehouse::accounts {
namespace {

constexpr std::size_t kMaxRememberedLocks = 100000;

}  // namespace

Lockout::Lockout(store::LockoutStore& store, audit::AuditLog& audit, const Clock& clock, LockoutSettings settings)
    : store_(store), audit_(audit), clock_(clock), settings_(settings) {}

std::int64_t Lockout::wait_of(const store::LoginFailures& f, std::int64_t now) const {
  return f.locked_until && *f.locked_until > now ? *f.locked_until - now : 0;
}

void Lockout::remember_lock(const std::string& subject, std::int64_t until) {
  std::lock_guard lock(mutex_);
  if (locks_.size() >= kMaxRememberedLocks) {
    const std::int64_t now = clock_.now_unix();
    std::erase_if(locks_, [now](const auto& entry) { return entry.second <= now; });
    if (locks_.size() >= kMaxRememberedLocks) locks_.clear();
  }
  locks_[subject] = until;
}

Result<std::int64_t, store::StoreError> Lockout::ip_wait(const std::string& ip) {
  if (ip.empty()) return 0;
  bool unused = false;
  return subject_wait("ip:" + ip, &unused);
}

Result<std::int64_t, store::StoreError> Lockout::subject_wait(const std::string& subject, bool* has_failures) {
  auto f = store_.login_failures(subject);
  if (!f) return tl::unexpected(f.error());
  const std::int64_t now = clock_.now_unix();
  const std::int64_t wait = wait_of(*f, now);
  if (wait > 0) remember_lock(subject, *f->locked_until);
  *has_failures = f->count > 0 || f->locked_until.has_value();
  return wait;
}

void Lockout::failed(const Attempt& attempt) {
  const std::int64_t now = clock_.now_unix();
  const std::int64_t window = settings_.duration.count();
  const auto count = [&](const std::string& subject, int max, std::string_view scope) {
    auto f = store_.add_login_failure(subject, now, window, max, window);
    // A store that cannot count fails open here: the password check itself already failed.
    if (!f || !f->locked_until || *f->locked_until <= now) return;
    if (*f->locked_until != now + window) return;  // locked before this attempt: audited then
    remember_lock(subject, *f->locked_until);
    metrics::lockouts().with({scope}).inc();
    audit_.record(attempt.ctx, audit::AuditEvent{.type = "login.locked", .success = false,
                                                 .user_id = attempt.user_id, .username = attempt.username,
                                                 .detail = {{"scope", std::string(scope)},
                                                            {"seconds", std::to_string(window)}}});
  };
  count(attempt.subject, settings_.max_failures, "username");
  if (!attempt.ctx.ip.empty()) count("ip:" + attempt.ctx.ip, settings_.ip_max_failures, "ip");
}

void Lockout::succeeded(const std::string& subject) { (void)store_.clear_login_failures(subject); }

Result<void, store::StoreError> Lockout::unlock_user(const std::string& user_id) {
  const std::string subject = "user:" + user_id;
  {
    std::lock_guard lock(mutex_);
    locks_.erase(subject);
  }
  return store_.clear_login_failures(subject);
}

std::int64_t Lockout::known_wait(const std::string& subject) const {
  std::lock_guard lock(mutex_);
  auto it = locks_.find(subject);
  if (it == locks_.end()) return 0;
  const std::int64_t now = clock_.now_unix();
  return it->second > now ? it->second - now : 0;
}

}  // namespace gatehouse::accounts
