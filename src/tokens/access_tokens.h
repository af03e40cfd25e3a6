// tokens/access_tokens.h: RFC 9068 JWT access tokens. Issued with the key ring's current key
// for the configured algorithm; verified from memory only: key ring, denylist, clock.
#pragma once
#include <array>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <shared_mutex>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "tokens/denylist.h"
#include "tokens/keyring.h"

namespace gatehouse::tokens {

struct AccessClaims {
  std::string sub{};
  std::string sid{};
  std::string jti{};
  std::string client_id{};
  std::string username{};
  std::string scope{};  // space-separated
  bool has_scope{false};  // absent: the owner's permissions, not narrowed
  // The scope split, sorted and unique: made once by verify() and shared by the cached copies.
  std::shared_ptr<const std::vector<std::string>> scope_list{};
  std::vector<std::string> roles{};
  std::int64_t exp{0};
  std::int64_t iat{0};
};

struct AccessTokenSettings {
  std::string issuer{};
  std::string audience{};  // empty: the issuer
  std::chrono::seconds ttl{3600};
  std::chrono::seconds leeway{30};
};

struct AccessTokenError {
  std::string description{};  // safe to send: says which check failed, never echoes the token
};

class AccessTokens {
 public:
  AccessTokens(const KeyRing& keys, const Denylist& denylist, const Clock& clock, AccessTokenSettings settings);

  // The issuer is only known once the server has bound its port.
  void set_issuer(std::string issuer);
  std::string issue(const AccessClaims& claims) const;
  // The same token with its signature still to be made (batched for ES256; see
  // tokens/es256_batch.h); nullopt when there is no signing key.
  std::optional<PendingJws> issue_later(const AccessClaims& claims) const;
  Result<AccessClaims, AccessTokenError> verify(std::string_view token) const;
  // The same checks as verify(), sharing the cached claims instead of copying them (the
  // per-request path: no strings copied on a cache hit).
  Result<std::shared_ptr<const AccessClaims>, AccessTokenError> verify_shared(std::string_view token) const;
  const AccessTokenSettings& settings() const { return settings_; }
  // How many verified tokens are remembered now (at most 2 × kGeneration).
  std::size_t remembered() const;
  static constexpr std::size_t kGeneration = 2048;

 private:
  const std::string& audience() const { return settings_.audience.empty() ? settings_.issuer : settings_.audience; }

  // The JWS header and payload of a token for claims, signed with the key returned.
  struct Unsigned {
    std::shared_ptr<const JwsKey> key;
    std::string header, payload;
  };
  std::optional<Unsigned> prepare(const AccessClaims& claims) const;
  Result<AccessClaims, AccessTokenError> verify_uncached(std::string_view token) const;
  // Why a verified token no longer holds (expired, revoked), or nullopt while it does.
  std::optional<AccessTokenError> live_failure(const AccessClaims& claims) const;

  const KeyRing& keys_;
  const Denylist& denylist_;
  const Clock& clock_;
  AccessTokenSettings settings_;

  // Tokens whose signature and claims have verified, by SHA-256 of the exact token (~0.5 us
  // with SHA-NI; an ES256 verification costs ~120 us). The token itself is not kept: a cache
  // of live bearer tokens in the heap would be worth stealing. Only the immutable part is
  // remembered; expiry and the denylist are checked on every use.
  //
  // Bounded by two generations of kGeneration entries (about 1.3 KiB each, so under 6 MiB):
  // new entries go into fresh_; when it is full it becomes aged_ and the previous aged_ is
  // dropped. A hit in aged_ moves the entry back into fresh_, so tokens in use stay while a
  // stream of new ones (every refresh mints one) only ever costs the two generations. (It was
  // one map of 100,000 entries, cleared when full: over 100 MiB before the first clear, which
  // the soak, bench/soak.sh, showed as steady growth.)
  using TokenDigest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const TokenDigest& d) const noexcept {
      std::size_t h;  // the digest is uniform already: its first bytes are the bucket
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  using VerifiedMap = std::unordered_map<TokenDigest, std::shared_ptr<const AccessClaims>, DigestHash>;
  // Under the unique lock: into fresh_, aging the generations first if it is full.
  void remember(const TokenDigest& digest, std::shared_ptr<const AccessClaims> claims) const;
  mutable std::shared_mutex verified_mutex_;
  mutable VerifiedMap fresh_, aged_;
};

// A space-separated scope (RFC 6749 §3.3) as sorted, unique tokens; empty tokens dropped.
std::vector<std::string> split_scope(std::string_view scope);

// Looks like a compact JWS (two dots); cheap, no decoding.
bool looks_like_jwt(std::string_view token);

}  // namespace gatehouse::tokens
