// tokens/keyring.h: the signing keys. Kept in the store (private keys never leave it but in
// backups), loaded into an immutable snapshot that verification reads without locks or
// store round trips. Rotation makes a new key current; the previous one keeps verifying
// until every token it signed has expired, then leaves the JWKS.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"
#include "tokens/jws.h"

namespace gatehouse::tokens {

// Every process re-reads the keys this often, so a rotation elsewhere reaches it within this.
inline constexpr std::chrono::seconds kKeyReloadInterval{5};

struct KeyRingSettings {
  // The access-token algorithm (tokens.signing_alg). An RS256 key always exists besides,
  // for ID tokens.
  JwsAlg access_alg{JwsAlg::ES256};
  // tokens.hs256_secret; empty = no HS256. Never published in the JWKS.
  std::string hs256_secret{};
  // How long a retired key keeps verifying: the longest lifetime of a token it signed
  // (access TTL + leeway), plus kKeyReloadInterval, during which servers that have not yet
  // reloaded may still sign with it.
  std::chrono::seconds retired_key_lifetime{3600 + 30 + kKeyReloadInterval.count()};
};

struct KeyInfo {
  std::string kid{};
  JwsAlg alg{JwsAlg::ES256};
  std::int64_t created_at{0};
  std::optional<std::int64_t> retired_at{};
  std::optional<std::int64_t> expires_at{};
  bool current{false};
};

class KeyRing {
 public:
  KeyRing(store::SigningKeyStore& store, const Clock& clock, KeyRingSettings settings);

  // Reads the store's keys, creating the access algorithm's key on first start. Called at
  // start and periodically (another process may have rotated).
  Result<void, std::string> load();
  // Creates the RS256 key (for ID tokens) if there is none. Separate from load() because RSA
  // key generation takes up to a second: the server calls it once it is already listening.
  Result<void, std::string> ensure_rs256();
  // A new current key for `alg`; returns its kid.
  Result<std::string, std::string> rotate(JwsAlg alg);

  // The key that signs new tokens of `alg` (null when there is none).
  std::shared_ptr<const JwsKey> current(JwsAlg alg) const;
  // A key that may verify: current or retired-but-not-expired, by kid.
  std::shared_ptr<const JwsKey> find(std::string_view kid) const;
  // The HS256 key, when a secret is configured.
  std::shared_ptr<const JwsKey> hs256() const;
  // {"keys":[...]}: every public key that may still verify. HS256 is never in it.
  std::string jwks() const;
  std::vector<KeyInfo> list() const;
  const KeyRingSettings& settings() const { return settings_; }

 private:
  struct Snapshot {
    std::vector<std::shared_ptr<const JwsKey>> keys;
    std::unordered_map<std::string, std::shared_ptr<const JwsKey>> by_kid;
    std::array<std::shared_ptr<const JwsKey>, 4> current;
    std::shared_ptr<const JwsKey> hs256;
    std::string jwks;
    std::vector<KeyInfo> info;
  };
  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(std::memory_order_acquire); }
  Result<void, std::string> ensure_current(JwsAlg alg, const std::vector<store::SigningKeyRecord>& records);
  Result<std::string, std::string> add_key(JwsAlg alg);

  store::SigningKeyStore& store_;
  const Clock& clock_;
  KeyRingSettings settings_;
  std::mutex write_mutex_;  // one load/rotate at a time
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace gatehouse::tokens
