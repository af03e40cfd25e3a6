// Batched ES256 signing.
//
// OpenSSL's ECDSA_do_sign spends, per signature on this machine, ~14 µs on k·G and ~20 µs on
// two modular inversions (Z⁻¹ mod p to make k·G affine, k⁻¹ mod n) and their set-up. With
// Montgomery's trick a batch of n values is inverted with one inversion and 3(n−1)
// multiplications, so a batch of n signatures pays for two inversions instead of 2n.
//
// What is kept from OpenSSL, step by step:
// - the nonce: BN_generate_dsa_nonce, the hedged nonce ECDSA_do_sign itself uses (SHA-512
//   over the private key, the digest and fresh bytes from the private DRBG). Every k is drawn
//   for its own message when the batch is signed, never ahead of time: no nonce outlives the
//   batch, and a forked or cloned process draws different nonces for different messages;
// - k·G: EC_POINT_mul, OpenSSL's constant-time fixed-base multiplication (the same call
//   ECDSA_do_sign makes);
// - s = k⁻¹(m + r·d): ECDSA_do_sign_ex with our k⁻¹ and r, OpenSSL's constant-time code.
// What is ours: the two batched inversions. They use only Montgomery multiplication
// (BN_mod_mul_montgomery: fixed-length assembly for 256-bit operands) and one Fermat
// inversion per batch (BN_mod_exp_mont_consttime, x^(m−2)), both constant-time; a product of
// secrets is never passed to a variable-time routine. Each inversion is checked (a·a⁻¹ = 1)
// and r must be non-zero; anything unexpected signs that batch one by one the OpenSSL way.
#define OPENSSL_SUPPRESS_DEPRECATED  // EC_KEY, ECDSA_do_sign_ex, Jacobian coordinates
#include "tokens/es256_batch.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <atomic>
#include <mutex>
#include <optional>

#include "core/log.h"
#include "metrics/metrics.h"

namespace gatehouse::tokens {

struct Es256Batch {
  std::mutex mutex;
  bool done{false};
  std::vector<ec_key_st*> keys;  // each holds a reference of ours
  std::vector<Sha256Digest> digests;
  std::vector<std::string> signatures;

  ~Es256Batch() {
    for (auto* key : keys) EC_KEY_free(key);
  }
};

namespace {

constexpr int kHalf = 32;  // bytes of r and of s

struct BnFree {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
struct BnCtxFree {
  void operator()(BN_CTX* c) const { BN_CTX_free(c); }
};
struct MontFree {
  void operator()(BN_MONT_CTX* m) const { BN_MONT_CTX_free(m); }
};
struct GroupFree {
  void operator()(EC_GROUP* g) const { EC_GROUP_free(g); }
};
struct PointFree {
  void operator()(EC_POINT* p) const { EC_POINT_clear_free(p); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

Bn secret_bn() {
  Bn b(BN_new());
  if (b) BN_set_flags(b.get(), BN_FLG_CONSTTIME);
  return b;
}

std::string raw_signature(const ECDSA_SIG* sig) {
  std::string out(2 * kHalf, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), p, kHalf) != kHalf || BN_bn2binpad(ECDSA_SIG_get0_s(sig), p + kHalf, kHalf) != kHalf)
    return {};
  return out;
}

// P-256's public constants, one set per thread (a BN_MONT_CTX is not to be shared while in use).
// Scratch space holding secrets is a fresh BN_CTX per batch, as ECDSA_do_sign has per signature.
struct P256 {
  std::unique_ptr<EC_GROUP, GroupFree> group{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)};
  Bn p{BN_new()}, p_minus_2{BN_new()}, n_minus_2{BN_new()};
  const BIGNUM* n{nullptr};
  std::unique_ptr<BN_MONT_CTX, MontFree> mont_p{BN_MONT_CTX_new()}, mont_n{BN_MONT_CTX_new()};
  std::unique_ptr<EC_POINT, PointFree> point{};
  bool ok{false};

  P256() {
    std::unique_ptr<BN_CTX, BnCtxFree> ctx{BN_CTX_new()};
    if (!group || !ctx || !p || !p_minus_2 || !n_minus_2 || !mont_p || !mont_n) return;
    n = EC_GROUP_get0_order(group.get());
    point.reset(EC_POINT_new(group.get()));
    ok = n && point && EC_GROUP_get_curve(group.get(), p.get(), nullptr, nullptr, ctx.get()) == 1 &&
         BN_copy(p_minus_2.get(), p.get()) && BN_sub_word(p_minus_2.get(), 2) == 1 && BN_copy(n_minus_2.get(), n) &&
         BN_sub_word(n_minus_2.get(), 2) == 1 && BN_MONT_CTX_set(mont_p.get(), p.get(), ctx.get()) == 1 &&
         BN_MONT_CTX_set(mont_n.get(), n, ctx.get()) == 1;
  }
};

P256& p256() {
  thread_local P256 curve;
  return curve;
}

// a[i]⁻¹ mod m (m prime) for every i, all a[i] in [1, m): Montgomery's trick, with the one
// inversion done by Fermat in constant time. nullopt if anything fails or does not check out.
std::optional<std::vector<Bn>> invert_all(const std::vector<Bn>& a, const BIGNUM* m, const BIGNUM* m_minus_2,
                                          BN_MONT_CTX* mont, BN_CTX* ctx) {
  const std::size_t count = a.size();
  if (count == 0) return std::nullopt;
  // am[i] = a[i]·R; prefix[i] = a[0]⋯a[i]·R (Montgomery form: x ⊗ y = x·y·R⁻¹).
  std::vector<Bn> am(count), prefix(count);
  for (std::size_t i = 0; i < count; ++i) {
    am[i] = secret_bn();
    prefix[i] = secret_bn();
    if (!am[i] || !prefix[i] || BN_to_montgomery(am[i].get(), a[i].get(), mont, ctx) != 1) return std::nullopt;
    const bool step = i == 0 ? BN_copy(prefix[i].get(), am[i].get()) != nullptr
                             : BN_mod_mul_montgomery(prefix[i].get(), prefix[i - 1].get(), am[i].get(), mont, ctx) == 1;
    if (!step) return std::nullopt;
  }
  // t = (a[0]⋯a[n−1])⁻¹·R
  Bn t = secret_bn();
  if (!t || BN_from_montgomery(t.get(), prefix[count - 1].get(), mont, ctx) != 1 ||
      BN_mod_exp_mont_consttime(t.get(), t.get(), m_minus_2, m, ctx, mont) != 1 ||
      BN_to_montgomery(t.get(), t.get(), mont, ctx) != 1)
    return std::nullopt;
  std::vector<Bn> out(count);
  for (std::size_t i = count - 1; i > 0; --i) {
    out[i] = secret_bn();
    // out[i] = t ⊗ prefix[i−1], out of Montgomery form; then t drops a[i].
    if (!out[i] || BN_mod_mul_montgomery(out[i].get(), t.get(), prefix[i - 1].get(), mont, ctx) != 1 ||
        BN_from_montgomery(out[i].get(), out[i].get(), mont, ctx) != 1 ||
        BN_mod_mul_montgomery(t.get(), t.get(), am[i].get(), mont, ctx) != 1)
      return std::nullopt;
  }
  out[0] = secret_bn();
  if (!out[0] || BN_from_montgomery(out[0].get(), t.get(), mont, ctx) != 1) return std::nullopt;
  // Every a[i]·a[i]⁻¹ must be 1 (am[i] ⊗ out[i] = a[i]·a[i]⁻¹): ECDSA_do_sign_ex trusts the
  // k⁻¹ it is given, so a wrong one must never reach it. 2n more products: little next to k·G.
  Bn check = secret_bn();
  if (!check) return std::nullopt;
  for (std::size_t i = 0; i < count; ++i)
    if (BN_mod_mul_montgomery(check.get(), am[i].get(), out[i].get(), mont, ctx) != 1 || !BN_is_one(check.get()))
      return std::nullopt;
  return out;
}

// Whether batches are signed with shared inversions (tokens.es256_batch).
std::atomic<bool> g_batching{true};

thread_local std::shared_ptr<Es256Batch> t_open_batch;

}  // namespace

std::optional<std::vector<std::string>> es256_sign_shared(std::span<ec_key_st* const> keys,
                                                          std::span<const Sha256Digest> digests) {
  static metrics::Counter& shared_count = metrics::es256_signatures().with({"shared"});  // children never move
  if (keys.size() != digests.size() || keys.empty()) return std::nullopt;
  P256& c = p256();
  std::unique_ptr<BN_CTX, BnCtxFree> scratch{BN_CTX_new()};
  if (!c.ok || !scratch) return std::nullopt;
  BN_CTX* ctx = scratch.get();
  const std::size_t count = keys.size();
  std::vector<Bn> k(count), x(count), z(count);
  for (std::size_t i = 0; i < count; ++i) {
    const EC_GROUP* group = EC_KEY_get0_group(keys[i]);
    const BIGNUM* d = EC_KEY_get0_private_key(keys[i]);
    if (!group || EC_GROUP_get_curve_name(group) != NID_X9_62_prime256v1 || !d) return std::nullopt;
    k[i] = secret_bn();
    x[i] = secret_bn();  // Jacobian X: as secret as Z until the batch is signed
    z[i] = secret_bn();
    if (!k[i] || !x[i] || !z[i]) return std::nullopt;
    // k in [1, n): zero has probability 2⁻²⁵⁶ and is simply refused.
    if (BN_generate_dsa_nonce(k[i].get(), c.n, d, digests[i].data(), digests[i].size(), ctx) != 1 ||
        BN_is_zero(k[i].get()))
      return std::nullopt;
    if (EC_POINT_mul(c.group.get(), c.point.get(), k[i].get(), nullptr, nullptr, ctx) != 1 ||
        EC_POINT_get_Jprojective_coordinates_GFp(c.group.get(), c.point.get(), x[i].get(), nullptr, z[i].get(),
                                                 ctx) != 1 ||
        BN_is_zero(z[i].get()))
      return std::nullopt;
  }
  auto z_inv = invert_all(z, c.p.get(), c.p_minus_2.get(), c.mont_p.get(), ctx);
  auto k_inv = z_inv ? invert_all(k, c.n, c.n_minus_2.get(), c.mont_n.get(), ctx) : std::nullopt;
  if (!k_inv) return std::nullopt;
  std::vector<std::string> out(count);
  std::size_t shared = 0;
  Bn zz = secret_bn(), affine(BN_new()), r(BN_new());
  if (!zz || !affine || !r) return std::nullopt;
  for (std::size_t i = 0; i < count; ++i) {
    // Affine x = X·Z⁻², in three Montgomery products: Z⁻¹·R, then (Z⁻¹·R)⊗(Z⁻¹·R) = Z⁻²·R,
    // then X ⊗ Z⁻²·R = X·Z⁻² (plain form again).
    if (BN_to_montgomery(zz.get(), (*z_inv)[i].get(), c.mont_p.get(), ctx) != 1 ||
        BN_mod_mul_montgomery(zz.get(), zz.get(), zz.get(), c.mont_p.get(), ctx) != 1 ||   // Z⁻²·R
        BN_mod_mul_montgomery(affine.get(), x[i].get(), zz.get(), c.mont_p.get(), ctx) != 1 ||  // X·Z⁻²
        BN_nnmod(r.get(), affine.get(), c.n, ctx) != 1)  // r = x mod n: public, in the signature
      return std::nullopt;
    if (BN_is_zero(r.get())) {
      out[i] = es256_sign_now(keys[i], digests[i]);  // probability 2⁻²⁵⁶: a fresh nonce
      continue;
    }
    ECDSA_SIG* sig = ECDSA_do_sign_ex(digests[i].data(), static_cast<int>(digests[i].size()), (*k_inv)[i].get(),
                                      r.get(), keys[i]);
    if (!sig) {
      out[i] = es256_sign_now(keys[i], digests[i]);  // s = 0 (probability 2⁻²⁵⁶): a fresh nonce
      continue;
    }
    out[i] = raw_signature(sig);
    ECDSA_SIG_free(sig);
    ++shared;
  }
  shared_count.inc(shared);
  return out;
}

void set_es256_batching(bool enabled) { g_batching.store(enabled, std::memory_order_relaxed); }

bool PendingSignature::waiting() const { return batch_ != nullptr; }

PendingSignature PendingSignature::ready(std::string signature) {
  PendingSignature p;
  p.ready_ = std::move(signature);
  return p;
}

std::string PendingSignature::get() const {
  if (!batch_) return ready_;
  std::lock_guard lock(batch_->mutex);
  if (!batch_->done) {
    batch_->signatures = es256_sign_batch(batch_->keys, batch_->digests);
    batch_->done = true;
    // The keys (private) are not kept past their use, even by a batch still referenced.
    for (auto* key : batch_->keys) EC_KEY_free(key);
    batch_->keys.clear();
    batch_->digests.clear();
  }
  return index_ < batch_->signatures.size() ? batch_->signatures[index_] : std::string();
}

PendingSignature es256_sign_later(ec_key_st* key, const Sha256Digest& digest) {
  if (!g_batching.load(std::memory_order_relaxed)) return PendingSignature::ready(es256_sign_now(key, digest));
  std::shared_ptr<Es256Batch>& open = t_open_batch;
  while (true) {
    if (!open) open = std::make_shared<Es256Batch>();
    {
      std::lock_guard lock(open->mutex);
      // Not signed yet (nobody has asked for a result) and not full: join it.
      if (!open->done && open->keys.size() < kEs256MaxBatch) {
        EC_KEY_up_ref(key);
        open->keys.push_back(key);
        open->digests.push_back(digest);
        PendingSignature p;
        p.batch_ = open;
        p.index_ = open->keys.size() - 1;
        return p;
      }
    }
    open.reset();  // later requests start another batch
  }
}

std::string es256_sign_now(ec_key_st* key, const Sha256Digest& digest) {
  static metrics::Counter& single_count = metrics::es256_signatures().with({"single"});  // children never move
  single_count.inc();
  ECDSA_SIG* sig = ECDSA_do_sign(digest.data(), static_cast<int>(digest.size()), key);
  if (!sig) return {};
  std::string out = raw_signature(sig);
  ECDSA_SIG_free(sig);
  return out;
}

std::vector<std::string> es256_sign_batch(std::span<ec_key_st* const> keys, std::span<const Sha256Digest> digests) {
  if (keys.size() != digests.size()) return std::vector<std::string>(keys.size());
  if (keys.size() >= kEs256MinSharedBatch) {
    // A declined attempt leaves nothing in this thread's OpenSSL error queue (TLS reads it).
    ERR_set_mark();
    auto shared = es256_sign_shared(keys, digests);
    ERR_pop_to_mark();
    if (shared) return std::move(*shared);
    static std::atomic<bool> told{false};
    if (!told.exchange(true))
      log::warn("batched ES256 signing declined a batch; signing one by one",
                {{"size", std::to_string(keys.size())}});
  }
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) out.push_back(es256_sign_now(keys[i], digests[i]));
  return out;
}

}  // namespace gatehouse::tokens
