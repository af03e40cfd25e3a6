// Batched ES256 signing: every signature of a batch verifies with OpenSSL, under its own key
// and digest; nonces are never shared; the shared-inversion path is really taken for batches
// of four or more; and pending signatures work across threads and batches.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tokens/es256_batch.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include <set>
#include <thread>


namespace gatehouse::tokens {
namespace {

struct EcKey {
  EC_KEY* key{nullptr};
  explicit EcKey(int nid = NID_X9_62_prime256v1) : key(EC_KEY_new_by_curve_name(nid)) {
    if (!key || EC_KEY_generate_key(key) != 1) ADD_FAILURE() << "key generation failed";
  }
  ~EcKey() { EC_KEY_free(key); }
  EcKey(const EcKey&) = delete;
  EcKey& operator=(const EcKey&) = delete;
};

Sha256Digest random_digest() {
  Sha256Digest d;
  EXPECT_EQ(RAND_bytes(d.data(), static_cast<int>(d.size())), 1);
  return d;
}

// OpenSSL's own verification of a raw r‖s signature.
bool verifies(EC_KEY* key, const Sha256Digest& digest, const std::string& raw) {
  if (raw.size() != 64) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  ECDSA_SIG_set0(sig, r, s);
  const bool ok = ECDSA_do_verify(digest.data(), static_cast<int>(digest.size()), sig, key) == 1;
  ECDSA_SIG_free(sig);
  return ok;
}

TEST(Es256Batch, SharedPathSignsEveryEntryUnderItsOwnKey) {
  EcKey a, b, c;
  for (std::size_t size : {4u, 5u, 17u, 64u}) {
    std::vector<ec_key_st*> keys;
    std::vector<Sha256Digest> digests;
    for (std::size_t i = 0; i < size; ++i) {
      keys.push_back(i % 3 == 0 ? a.key : i % 3 == 1 ? b.key : c.key);
      digests.push_back(random_digest());
    }
    auto sigs = es256_sign_shared(keys, digests);
    ASSERT_TRUE(sigs.has_value()) << "the shared path declined a batch of " << size;
    ASSERT_EQ(sigs->size(), size);
    std::set<std::string> r_values;
    for (std::size_t i = 0; i < size; ++i) {
      EXPECT_TRUE(verifies(keys[i], digests[i], (*sigs)[i])) << "entry " << i << " of " << size;
      // A signature must not verify under another key, nor for another digest.
      EXPECT_FALSE(verifies(keys[i] == a.key ? b.key : a.key, digests[i], (*sigs)[i]));
      EXPECT_FALSE(verifies(keys[i], digests[(i + 1) % size], (*sigs)[i]));
      r_values.insert((*sigs)[i].substr(0, 32));
    }
    EXPECT_EQ(r_values.size(), size) << "two signatures of one batch share a nonce";
  }
}

TEST(Es256Batch, SameKeyAndDigestTwiceGetsTwoNonces) {
  EcKey a;
  const Sha256Digest d = random_digest();
  std::vector<ec_key_st*> keys(8, a.key);
  std::vector<Sha256Digest> digests(8, d);
  auto sigs = es256_sign_shared(keys, digests);
  ASSERT_TRUE(sigs.has_value());
  std::set<std::string> distinct(sigs->begin(), sigs->end());
  EXPECT_EQ(distinct.size(), 8u) << "the hedged nonce must still draw fresh randomness";
  for (const auto& s : *sigs) EXPECT_TRUE(verifies(a.key, d, s));
}

TEST(Es256Batch, DeclinesKeysOffP256AndBatchSigningFallsBack) {
  EcKey a, other(NID_secp384r1);
  std::vector<ec_key_st*> keys{a.key, a.key, other.key, a.key};
  std::vector<Sha256Digest> digests{random_digest(), random_digest(), random_digest(), random_digest()};
  EXPECT_FALSE(es256_sign_shared(keys, digests).has_value());
  EXPECT_FALSE(es256_sign_shared(std::vector<ec_key_st*>{}, std::vector<Sha256Digest>{}).has_value());
  EXPECT_FALSE(es256_sign_shared(std::vector<ec_key_st*>{a.key}, digests).has_value());  // sizes differ
  // P-256 entries of the same batch still get good signatures, one by one.
  std::vector<ec_key_st*> p256{a.key, a.key, a.key};
  std::vector<Sha256Digest> three{digests[0], digests[1], digests[3]};
  auto sigs = es256_sign_batch(p256, three);
  ASSERT_EQ(sigs.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(verifies(a.key, three[i], sigs[i]));
}

TEST(Es256Batch, SmallBatchesSignOneByOne) {
  EcKey a;
  for (std::size_t size = 1; size < kEs256MinSharedBatch; ++size) {
    std::vector<ec_key_st*> keys(size, a.key);
    std::vector<Sha256Digest> digests;
    for (std::size_t i = 0; i < size; ++i) digests.push_back(random_digest());
    auto sigs = es256_sign_batch(keys, digests);
    ASSERT_EQ(sigs.size(), size);
    for (std::size_t i = 0; i < size; ++i) EXPECT_TRUE(verifies(a.key, digests[i], sigs[i]));
  }
}

TEST(Es256Batch, PendingSignaturesShareABatchUntilOneIsAskedFor) {
  EcKey a;
  std::vector<Sha256Digest> digests;
  std::vector<PendingSignature> pending;
  for (int i = 0; i < 6; ++i) {
    digests.push_back(random_digest());
    pending.push_back(es256_sign_later(a.key, digests.back()));
  }
  // Asked for from another thread: the batch is not tied to the thread that opened it.
  std::string third;
  std::thread([&] { third = pending[2].get(); }).join();
  EXPECT_TRUE(verifies(a.key, digests[2], third));
  EXPECT_EQ(pending[2].get(), third) << "asking twice gives the same signature";
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(verifies(a.key, digests[i], pending[i].get())) << i;
  // That batch is signed: a new request opens another, and is signed on its own.
  const Sha256Digest late = random_digest();
  PendingSignature after = es256_sign_later(a.key, late);
  EXPECT_TRUE(verifies(a.key, late, after.get()));
}

TEST(Es256Batch, AFullBatchClosesAndTheNextOpens) {
  EcKey a;
  std::vector<Sha256Digest> digests;
  std::vector<PendingSignature> pending;
  for (std::size_t i = 0; i < kEs256MaxBatch + 3; ++i) {
    digests.push_back(random_digest());
    pending.push_back(es256_sign_later(a.key, digests.back()));
  }
  // The last three are in a second batch: asking for one of them signs only that one.
  EXPECT_TRUE(verifies(a.key, digests.back(), pending.back().get()));
  std::set<std::string> distinct;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const std::string sig = pending[i].get();
    EXPECT_TRUE(verifies(a.key, digests[i], sig)) << i;
    distinct.insert(sig.substr(0, 32));
  }
  EXPECT_EQ(distinct.size(), pending.size());
}

TEST(Es256Batch, ThePendingKeyOutlivesItsOwner) {
  const Sha256Digest d = random_digest();
  PendingSignature pending;
  EC_KEY* verify_key = nullptr;
  {
    EcKey a;
    verify_key = EC_KEY_dup(a.key);
    pending = es256_sign_later(a.key, d);
    // a's EC_KEY is released here; the batch holds its own reference.
  }
  EXPECT_TRUE(verifies(verify_key, d, pending.get()));
  EC_KEY_free(verify_key);
}

TEST(Es256Batch, ReadyPendingSignatures) {
  EXPECT_EQ(PendingSignature::ready("abc").get(), "abc");
  EXPECT_EQ(PendingSignature().get(), "");
}

}  // namespace
}  // namespace gatehouse::tokens
