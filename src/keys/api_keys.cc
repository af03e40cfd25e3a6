#include "keys/api_keys.h"

#include <algorithm>
#include <array>
#include <mutex>

#include "authz/permissions.h"
#include "core/random.h"
#include "core/utf8.h"
#include "crypto/digest.h"
#include "metrics/metrics.h"
#include "ratelimit/limiter.h"

namespace gatehouse::keys {
namespace {

constexpr std::size_t kMaxNameBytes = 100;
constexpr std::size_t kMaxScopes = 64;
// Ten years: longer-lived keys should not expire by accident, and never is allowed anyway.
constexpr std::int64_t kMaxExpiresIn = 10LL * 366 * 86400;
constexpr std::int64_t kMaxGrace = 30LL * 86400;

tl::unexpected<KeyError> fail(KeyErrc code, std::string description) {
  return tl::unexpected(KeyError{code, std::move(description)});
}

tl::unexpected<KeyError> store_down() {
  return fail(KeyErrc::unavailable, "The key store is unavailable; try again shortly.");
}

// [0-9A-Za-z] by table: a key is checked on every request that presents one.
constexpr auto kBase62 = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  return t;
}();

std::optional<std::string> join_scope(const std::optional<std::vector<std::string>>& scopes) {
  if (!scopes) return std::nullopt;
  std::string out;
  for (const auto& s : *scopes) {
    if (!out.empty()) out.push_back(' ');
    out += s;
  }
  return out;
}

std::int64_t now_millis(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch()).count();
}

}  // namespace

ApiKeys::ApiKeys(store::ApiKeyStore& store, audit::AuditLog& audit, const Clock& clock, ApiKeySettings settings)
    : store_(store), audit_(audit), clock_(clock), settings_(std::move(settings)) {}

bool ApiKeys::looks_like_key(std::string_view text) const {
  const std::string_view prefix = settings_.prefix;
  if (text.size() != prefix.size() + kKeyRandomChars || text.substr(0, prefix.size()) != prefix) return false;
  bool ok = true;
  for (char c : text.substr(prefix.size())) ok &= kBase62[static_cast<unsigned char>(c)];
  return ok;
}

std::string ApiKeys::display_prefix(std::string_view key) const {
  return std::string(key.substr(0, settings_.prefix.size() + kDisplayChars));
}

std::string ApiKeys::new_key_text() const { return settings_.prefix + random_base62(kKeyRandomChars); }

// A fresh key with `like`'s owner, name, scopes, expiry and rate limit.
store::ApiKeyRecord ApiKeys::new_record(const store::ApiKeyRecord& like, std::string* key_out) const {
  *key_out = new_key_text();
  store::ApiKeyRecord r = like;
  r.id = new_id(now_millis(clock_));
  r.digest = crypto::sha256_hex(*key_out);
  r.prefix = display_prefix(*key_out);
  r.created_at = clock_.now_unix();
  r.last_used_at.reset();
  r.revoked_at.reset();
  return r;
}

Result<IssuedKey, KeyError> ApiKeys::create(const NewKey& request, const std::vector<std::string>& allowed,
                                            const RequestContext& ctx, const std::string& actor_id) {
  if (request.name.empty() || request.name.size() > kMaxNameBytes || !is_valid_utf8(request.name))
    return fail(KeyErrc::invalid_request, "name must be 1 to 100 bytes of UTF-8.");
  if (std::any_of(request.name.begin(), request.name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    return fail(KeyErrc::invalid_request, "name must not contain control characters.");
  std::optional<std::vector<std::string>> scopes;
  if (request.scopes && !request.scopes->empty()) {
    if (request.scopes->size() > kMaxScopes) return fail(KeyErrc::invalid_request, "At most 64 scopes per key.");
    std::vector<std::string> sorted = *request.scopes;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    const auto& known = authz::all_permissions();
    for (const auto& s : sorted) {
      if (!std::binary_search(known.begin(), known.end(), s))
        return fail(KeyErrc::invalid_request, "Unknown scope \"" + s.substr(0, 64) + "\": scopes are permission names.");
      if (!authz::has_permission(allowed, s))
        return fail(KeyErrc::invalid_request,
                    "Scope \"" + s + "\" is not among the owner's permissions: a key can only narrow them.");
    }
    scopes = std::move(sorted);
  }
  std::optional<std::int64_t> expires_at;
  if (request.expires_in) {
    if (*request.expires_in < 1 || *request.expires_in > kMaxExpiresIn)
      return fail(KeyErrc::invalid_request, "expires_in must be from 1 second to 10 years (in seconds).");
    expires_at = clock_.now_unix() + *request.expires_in;
  }
  if (!request.rate_limit.empty() && !ratelimit::parse_limit(request.rate_limit))
    return fail(KeyErrc::invalid_request,
                "rate_limit must look like 100/minute (N per second, minute, hour, day or a duration).");
  IssuedKey issued;
  issued.record = new_record(store::ApiKeyRecord{.user_id = request.user_id, .name = request.name, .scopes = scopes,
                                                 .expires_at = expires_at, .rate_limit = request.rate_limit},
                             &issued.key);
  if (auto created = store_.create_api_key(issued.record); !created) {
    if (created.error().code == store::StoreErrc::conflict)
      return fail(KeyErrc::not_found, "The key's owner does not exist.");
    return store_down();
  }
  changed();
  metrics::tokens_issued().with({"api_key"}).inc();
  audit_.record(ctx, audit::AuditEvent{.type = "apikey.created", .success = true, .user_id = request.user_id,
                                       .username = {},
                                       .detail = {{"key_id", issued.record.id}, {"prefix", issued.record.prefix},
                                                  {"by", actor_id}}});
  return issued;
}

Result<std::vector<store::ApiKeyRecord>, KeyError> ApiKeys::list(const std::string& user_id) {
  auto keys = store_.list_api_keys(user_id);
  if (!keys) return store_down();
  return std::move(*keys);
}

Result<store::ApiKeyRecord, KeyError> ApiKeys::get(const std::string& id) {
  auto key = store_.find_api_key(id);
  if (!key) return store_down();
  if (!*key) return fail(KeyErrc::not_found, "No such API key.");
  return std::move(**key);
}

Result<store::ApiKeyRecord, KeyError> ApiKeys::revoke(const std::string& id, const RequestContext& ctx,
                                                      const std::string& actor_id) {
  const std::int64_t now = clock_.now_unix();
  auto revoked = store_.revoke_api_key(id, now);
  if (!revoked) {
    if (revoked.error().code == store::StoreErrc::not_found) return fail(KeyErrc::not_found, "No such API key.");
    return store_down();
  }
  changed();
  if (revoked->revoked_at != now) return std::move(*revoked);  // revoked before: audited then
  audit_.record(ctx, audit::AuditEvent{.type = "apikey.revoked", .success = true, .user_id = revoked->user_id,
                                       .username = {},
                                       .detail = {{"key_id", id}, {"prefix", revoked->prefix}, {"by", actor_id}}});
  return std::move(*revoked);
}

Result<IssuedKey, KeyError> ApiKeys::rotate(const std::string& id, std::chrono::seconds grace,
                                            const RequestContext& ctx, const std::string& actor_id) {
  if (grace.count() < 0 || grace.count() > kMaxGrace)
    return fail(KeyErrc::invalid_request, "grace_seconds must be from 0 to 2592000 (30 days).");
  auto old = get(id);
  if (!old) return tl::unexpected(old.error());
  const std::int64_t now = clock_.now_unix();
  IssuedKey issued;
  issued.record = new_record(*old, &issued.key);
  auto rotated = store_.rotate_api_key(id, issued.record, now + grace.count(), now);
  if (!rotated) {
    switch (rotated.error().code) {
      case store::StoreErrc::not_found: return fail(KeyErrc::not_found, "No such API key.");
      case store::StoreErrc::precondition_failed:
        return fail(KeyErrc::conflict, "Only a working key that was never revoked or rotated can be rotated.");
      default: return store_down();
    }
  }
  changed();
  metrics::tokens_issued().with({"api_key"}).inc();
  audit_.record(ctx, audit::AuditEvent{.type = "apikey.rotated", .success = true, .user_id = old->user_id,
                                       .username = {},
                                       .detail = {{"key_id", id},
                                                  {"prefix", old->prefix},
                                                  {"new_key_id", issued.record.id},
                                                  {"new_prefix", issued.record.prefix},
                                                  {"grace_seconds", std::to_string(grace.count())},
                                                  {"by", actor_id}}});
  return issued;
}

std::optional<ApiKeys::EntryPtr> ApiKeys::lookup(const std::string& digest) const {
  std::shared_lock lock(mutex_);
  if (auto it = entries_.find(digest); it != entries_.end()) return it->second;
  if (absent_.count(digest)) return EntryPtr{};
  return std::nullopt;
}

void ApiKeys::remember(const std::string& digest, EntryPtr entry, std::uint64_t generation) {
  std::unique_lock lock(mutex_);
  // An invalidation that ran while the store was read may concern this very record: then
  // the record may be stale, and the next request reads it again.
  if (generation_.load() != generation) return;
  if (!entry) {
    if (absent_.size() >= settings_.max_cached_absent) absent_.clear();
    absent_.insert(digest);
    return;
  }
  if (entries_.size() >= settings_.max_cached) {
    entries_.clear();
    digest_of_.clear();
  }
  digest_of_[entry->record.id] = digest;
  entries_[digest] = std::move(entry);
}

Result<VerifiedKey, KeyRejection> ApiKeys::verify(std::string_view key) {
  if (!looks_like_key(key))
    return tl::unexpected(KeyRejection{VerifyFailure::malformed, {},
                                       "The API key is malformed: expected " + settings_.prefix + " and 43 letters or digits."});
  const std::string digest = crypto::sha256_hex(key);
  auto cached = lookup(digest);
  EntryPtr entry;
  if (cached) {
    entry = *cached;
  } else {
    const std::uint64_t generation = generation_.load();
    auto found = store_.find_api_key_by_digest(digest);
    if (!found)
      return tl::unexpected(KeyRejection{VerifyFailure::unavailable, display_prefix(key),
                                         "The key store is unavailable; try again shortly."});
    if (*found) {
      auto fresh = std::make_shared<Entry>();
      fresh->record = std::move(**found);
      fresh->scope = join_scope(fresh->record.scopes);
      const std::int64_t used = fresh->record.last_used_at.value_or(0);
      fresh->last_used.store(used);
      fresh->flushed.store(used);
      entry = std::move(fresh);
    }
    remember(digest, entry, generation);
  }
  if (!entry)
    return tl::unexpected(KeyRejection{VerifyFailure::unknown, display_prefix(key), "The API key is not valid."});
  const auto& record = entry->record;
  const std::int64_t now = clock_.now_unix();
  if (record.revoked_at && *record.revoked_at <= now)
    return tl::unexpected(
        KeyRejection{VerifyFailure::revoked, record.prefix, "The API key has been revoked.", record.user_id});
  if (record.expires_at && *record.expires_at <= now)
    return tl::unexpected(
        KeyRejection{VerifyFailure::expired, record.prefix, "The API key has expired.", record.user_id});
  if (entry->last_used.load(std::memory_order_relaxed) < now) entry->last_used.store(now, std::memory_order_relaxed);
  return VerifiedKey{.key_id = record.id, .user_id = record.user_id, .prefix = record.prefix, .scope = entry->scope,
                     .rate_limit = record.rate_limit};
}

std::optional<std::string> ApiKeys::cached_owner(std::string_view key) const {
  if (!looks_like_key(key)) return std::nullopt;
  auto cached = lookup(crypto::sha256_hex(key));
  if (!cached || !*cached || !(*cached)->record.live_at(clock_.now_unix())) return std::nullopt;
  return (*cached)->record.user_id;
}

void ApiKeys::invalidate_key(const std::string& key_id) {
  std::unique_lock lock(mutex_);
  generation_.fetch_add(1);
  // Any key change may be a creation: forget the digests known to be absent.
  absent_.clear();
  if (auto it = digest_of_.find(key_id); it != digest_of_.end()) {
    entries_.erase(it->second);
    digest_of_.erase(it);
  }
}

void ApiKeys::invalidate_user(const std::string& user_id) {
  std::unique_lock lock(mutex_);
  generation_.fetch_add(1);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second->record.user_id == user_id) {
      digest_of_.erase(it->second->record.id);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void ApiKeys::clear() {
  std::unique_lock lock(mutex_);
  generation_.fetch_add(1);
  entries_.clear();
  digest_of_.clear();
  absent_.clear();
}

Result<void, store::StoreError> ApiKeys::flush_last_used() {
  std::vector<std::pair<std::string, std::int64_t>> due;
  std::vector<EntryPtr> touched;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [digest, entry] : entries_) {
      const std::int64_t used = entry->last_used.load(std::memory_order_relaxed);
      const std::int64_t flushed = entry->flushed.load(std::memory_order_relaxed);
      // A key's first use ever is written at the next flush; later ones once an interval.
      if (used > flushed && (flushed == 0 || used - flushed >= settings_.last_used_interval.count())) {
        due.emplace_back(entry->record.id, used);
        touched.push_back(entry);
      }
    }
  }
  if (due.empty()) return {};
  if (auto written = store_.touch_api_keys(due); !written) return written;
  for (std::size_t i = 0; i < touched.size(); ++i) touched[i]->flushed.store(due[i].second);
  return {};
}

std::size_t ApiKeys::cached() const {
  std::shared_lock lock(mutex_);
  return entries_.size() + absent_.size();
}

}  // namespace gatehouse::keys
