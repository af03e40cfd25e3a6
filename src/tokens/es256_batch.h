// ES256 signatures made several at a time. A token endpoint under load has many requests ready
// on a network thread at once; each one registers what it wants signed (sign_later), the
// server lets the others run up to the same point, and the first to ask for its result signs
// the whole batch. Two modular inversions per batch replace two per signature (see
// es256_batch.cc for the arithmetic and why it keeps OpenSSL's guarantees).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

struct ec_key_st;  // OpenSSL's EC_KEY; this header stays free of OpenSSL's

namespace gatehouse::tokens {

using Sha256Digest = std::array<unsigned char, 32>;

struct Es256Batch;

// A signature asked for and not made yet. Copies share it; get() may be called any number of
// times, from any thread.
class PendingSignature {
 public:
  PendingSignature() = default;
  // An already made signature (other algorithms, or nothing to batch with).
  static PendingSignature ready(std::string signature);

  // The raw JWS signature (for ES256 r‖s, 64 bytes); empty if signing failed. The first call
  // for a batch signs every signature in it.
  std::string get() const;
  // Whether the signature is still to be made (in a batch); false for ready() ones.
  bool waiting() const;

 private:
  friend PendingSignature es256_sign_later(ec_key_st* key, const Sha256Digest& digest);
  std::shared_ptr<Es256Batch> batch_{};
  std::size_t index_{0};
  std::string ready_{};
};

// Registers digest for signing with key (a P-256 private key; the batch holds a reference) in
// this thread's open batch.
PendingSignature es256_sign_later(ec_key_st* key, const Sha256Digest& digest);

// tokens.es256_batch (default on): off, es256_sign_later signs at once, OpenSSL's own way.
void set_es256_batching(bool enabled);

// One signature now, OpenSSL's own way (ECDSA_do_sign): r‖s, or empty on failure.
std::string es256_sign_now(ec_key_st* key, const Sha256Digest& digest);

// Signs keys[i] over digests[i] as one batch (the unit tests call it directly). Batches too
// small for the shared inversions to pay are signed one by one with es256_sign_now.
std::vector<std::string> es256_sign_batch(std::span<ec_key_st* const> keys, std::span<const Sha256Digest> digests);

// The shared-inversion path alone: nullopt when it declines (a key not on P-256, a failed
// check), which es256_sign_batch answers by signing one by one. Exposed for the unit tests.
std::optional<std::vector<std::string>> es256_sign_shared(std::span<ec_key_st* const> keys,
                                                          std::span<const Sha256Digest> digests);

// The smallest batch signed with shared inversions. A batch pays two Fermat inversions (~26 µs
// each on the 2-core test machine); one-by-one signing pays ~20 µs per signature beyond k·G
// (two inversions and their set-up). Below four, one by one is as cheap.
inline constexpr std::size_t kEs256MinSharedBatch = 4;
// A batch closes at this size; later requests open another.
inline constexpr std::size_t kEs256MaxBatch = 64;

}  // namespace gatehouse::tokens
