// keys/api_keys.h: API keys (SPEC §6). A key is `<prefix><43 base62 characters>` from
// RAND_bytes (256 bits), shown once; the store keeps its SHA-256 and a display prefix.
//
// Verification is a hash and a lookup in an in-memory cache (digest -> record), so the steady
// state never waits on the store. The cache is kept true by the change feed: every write to a
// key records an ("api_key", id) change, every write to a user a ("user", id) change, and
// invalidate_key / invalidate_user drop what they name on every node within the poll interval.
// Unknown digests are cached as absent too (so a flood of wrong keys does not become a flood
// of store reads); any key creation anywhere clears those, so a new key is never refused
// because someone tried it before it existed. Last-use times are kept in memory and written
// in batches (flush_last_used), at most once a minute per key.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "store/store.h"

namespace gatehouse::keys {

inline constexpr std::size_t kKeyRandomChars = 43;   // 43 base62 characters: > 256 bits
inline constexpr std::size_t kDisplayChars = 4;      // random characters kept in the display prefix

struct ApiKeySettings {
  std::string prefix{"gk_"};
  std::size_t max_cached{100000};         // live and revoked keys
  std::size_t max_cached_absent{100000};  // digests known to be no key, kept apart
  std::chrono::seconds last_used_interval{60};
};

enum class KeyErrc {
  invalid_request,  // 400: a bad name, scope or duration
  not_found,        // 404
  conflict,         // 409: the key was revoked or rotated already
  unavailable,      // 503: the store did not answer
};

struct KeyError {
  KeyErrc code{KeyErrc::invalid_request};
  std::string description{};  // safe to send
};

struct NewKey {
  std::string user_id{};
  std::string name{};
  std::optional<std::vector<std::string>> scopes{};  // absent or empty: the owner's permissions
  std::optional<std::int64_t> expires_in{};          // seconds
  std::string rate_limit{};                          // "100/minute"; empty: the owner's
};

struct IssuedKey {
  store::ApiKeyRecord record{};
  std::string key{};  // the only time the key exists outside the caller's hands
};

// What a verified key grants, from the cache.
struct VerifiedKey {
  std::string key_id{};
  std::string user_id{};
  std::string prefix{};
  std::optional<std::string> scope{};  // space-separated; absent: the owner's permissions
  std::string rate_limit{};            // the key's own limit, empty for the owner's
};

enum class VerifyFailure { malformed, unknown, revoked, expired, unavailable };

struct KeyRejection {
  VerifyFailure reason{VerifyFailure::unknown};
  std::string prefix{};  // the display prefix of what was presented, when it had the key's shape
  std::string description{};
  std::string user_id{};  // the owner, for a key that exists (revoked, expired)
};

class ApiKeys {
 public:
  ApiKeys(store::ApiKeyStore& store, audit::AuditLog& audit, const Clock& clock, ApiKeySettings settings);

  // Has the shape of a key: the prefix, then exactly kKeyRandomChars base62 characters.
  bool looks_like_key(std::string_view text) const;

  // `allowed` are the permissions the owner holds: scopes must be among them.
  Result<IssuedKey, KeyError> create(const NewKey& request, const std::vector<std::string>& allowed,
                                     const RequestContext& ctx, const std::string& actor_id);
  Result<std::vector<store::ApiKeyRecord>, KeyError> list(const std::string& user_id);
  Result<store::ApiKeyRecord, KeyError> get(const std::string& id);
  Result<store::ApiKeyRecord, KeyError> revoke(const std::string& id, const RequestContext& ctx,
                                               const std::string& actor_id);
  // A new key with the same name, scopes and remaining lifetime; the old one keeps working for
  // `grace` (0: stops at once).
  Result<IssuedKey, KeyError> rotate(const std::string& id, std::chrono::seconds grace, const RequestContext& ctx,
                                     const std::string& actor_id);

  // The hot path. Memory only when the key is cached; otherwise one store read.
  Result<VerifiedKey, KeyRejection> verify(std::string_view key);
  // The owner of `key` when verify(key) would succeed from memory alone; nullopt otherwise.
  std::optional<std::string> cached_owner(std::string_view key) const;

  // Change feed hooks.
  void invalidate_key(const std::string& key_id);
  void invalidate_user(const std::string& user_id);
  void clear();
  // Writes the last-use times due (at most one per key per last_used_interval).
  Result<void, store::StoreError> flush_last_used();
  std::size_t cached() const;

  // Called after this service changed keys, so the change feed runs at once.
  void set_change_hook(std::function<void()> hook) { changed_ = std::move(hook); }
  const ApiKeySettings& settings() const { return settings_; }

 private:
  struct Entry {
    store::ApiKeyRecord record;
    std::optional<std::string> scope;
    mutable std::atomic<std::int64_t> last_used{0};
    mutable std::atomic<std::int64_t> flushed{0};
  };
  using EntryPtr = std::shared_ptr<const Entry>;

  std::string display_prefix(std::string_view key) const;
  std::string new_key_text() const;
  store::ApiKeyRecord new_record(const store::ApiKeyRecord& like, std::string* key_out) const;
  void changed() const {
    if (changed_) changed_();
  }
  // A cached entry (null = known absent), or nullopt when the digest is not cached.
  std::optional<EntryPtr> lookup(const std::string& digest) const;
  void remember(const std::string& digest, EntryPtr entry, std::uint64_t generation);

  store::ApiKeyStore& store_;
  audit::AuditLog& audit_;
  const Clock& clock_;
  ApiKeySettings settings_;
  std::function<void()> changed_;

  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, EntryPtr> entries_;       // digest -> key
  std::unordered_map<std::string, std::string> digest_of_;  // key id -> digest, for invalidation
  // Digests that are no key. Kept apart so a flood of made-up keys can only evict its own
  // kind, and dropped wholesale (O(1)) whenever any key is created.
  std::unordered_set<std::string> absent_;
  std::atomic<std::uint64_t> generation_{0};  // bumped by every invalidation
};

}  // namespace gatehouse::keys
