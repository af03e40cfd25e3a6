// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but EVP cannot copy
// a digest state without a heap allocation, and HS256 copies two per verify (RFC 2104's
// precomputed inner and outer pads). The plain SHA256_CTX is a struct copy; same assembly.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tokens/jws.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <array>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <cstring>
#include <vector>

#include "core/base64.h"
#include "core/secret.h"
#include "core/strict_json.h"
#include "crypto/digest.h"

namespace gatehouse::tokens {
namespace {

constexpr std::size_t kEs256Half = 32;
constexpr std::size_t kHmacBlock = 64;
constexpr std::size_t kMinHmacSecret = 32;

// The order n of P-256 (SEC 2 §2.4.2): r and s must lie in [1, n-1].
constexpr std::array<unsigned char, 32> kP256Order = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

tl::unexpected<JwsError> fail(JwsErrc code, std::string description) {
  return tl::unexpected(JwsError{code, std::move(description)});
}

const EVP_MD* sha256_md() {
  // Fetched once: implicit fetches on every operation cost more than the HMAC itself.
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

std::atomic<std::uint64_t> g_next_key_id{1};

struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EcKeyDeleter {
  void operator()(EC_KEY* p) const { EC_KEY_free(p); }
};

// Verification contexts, one per thread and key, initialised once: setting up an OpenSSL 3
// operation costs several microseconds, a tenth of an RS256 verify. Each context holds its
// own reference to the key, so it stays valid whatever happens to the JwsKey. A context is
// never shared between keys: OpenSSL 3 reuses the EVP_PKEY_CTX inside an EVP_MD_CTX on
// re-initialisation, which with another key would check a signature against the wrong key.
struct ThreadVerifiers {
  std::unordered_map<std::uint64_t, std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>> digest_verifiers;
  std::unordered_map<std::uint64_t, std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>> digest_signers;
  std::unordered_map<std::uint64_t, MdCtxPtr> message_verifiers;
  static constexpr std::size_t kMaxKeys = 64;  // keys rotate rarely; a bound keeps it small
};

ThreadVerifiers& thread_verifiers() {
  thread_local ThreadVerifiers verifiers;
  return verifiers;
}

// RS256 and ES256: verifies a SHA-256 digest with a ready EVP_PKEY_CTX.
EVP_PKEY_CTX* digest_verifier(std::uint64_t key_id, EVP_PKEY* pkey, bool rsa) {
  auto& cache = thread_verifiers().digest_verifiers;
  if (auto it = cache.find(key_id); it != cache.end()) return it->second.get();
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return nullptr;
  if (rsa && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) return nullptr;
  if (EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256_md()) != 1) return nullptr;
  if (cache.size() >= ThreadVerifiers::kMaxKeys) cache.clear();
  return cache.emplace(key_id, std::move(ctx)).first->second.get();
}

// RS256 signing: a ready EVP_PKEY_CTX per thread and key signs a SHA-256 digest (setting one
// up costs more than the padding around the RSA operation).
EVP_PKEY_CTX* rs256_signer(std::uint64_t key_id, EVP_PKEY* pkey) {
  auto& cache = thread_verifiers().digest_signers;
  if (auto it = cache.find(key_id); it != cache.end()) return it->second.get();
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1) return nullptr;
  if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) return nullptr;
  if (EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256_md()) != 1) return nullptr;
  if (cache.size() >= ThreadVerifiers::kMaxKeys) cache.clear();
  return cache.emplace(key_id, std::move(ctx)).first->second.get();
}


// EdDSA signs the message itself (no pre-hash), so it goes through EVP_DigestVerify with a
// context kept per key and re-initialised with that same key on each use.
EVP_MD_CTX* message_verifier(std::uint64_t key_id) {
  auto& cache = thread_verifiers().message_verifiers;
  if (auto it = cache.find(key_id); it != cache.end()) return it->second.get();
  if (cache.size() >= ThreadVerifiers::kMaxKeys) cache.clear();
  return cache.emplace(key_id, MdCtxPtr(EVP_MD_CTX_new())).first->second.get();
}

bool in_p256_range(const unsigned char* half) {
  bool zero = true;
  for (std::size_t i = 0; i < kEs256Half; ++i) zero = zero && half[i] == 0;
  if (zero) return false;
  return std::memcmp(half, kP256Order.data(), kEs256Half) < 0;  // big-endian: memcmp orders numerically
}

std::string bn_bytes(const BIGNUM* bn, std::size_t width = 0) {
  const int n = BN_num_bytes(bn);
  std::string out(std::max<std::size_t>(static_cast<std::size_t>(n), width), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

std::string get_bn_param(EVP_PKEY* pkey, const char* name, std::size_t width = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) return {};
  BnPtr owned(bn);
  return bn_bytes(bn, width);
}

std::string json_member(std::string_view name, std::string_view value) {
  return "\"" + std::string(name) + "\":\"" + std::string(value) + "\"";
}

}  // namespace

std::string_view alg_name(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::HS256: return "HS256";
    case JwsAlg::RS256: return "RS256";
    case JwsAlg::ES256: return "ES256";
    case JwsAlg::EdDSA: return "EdDSA";
  }
  return "";
}

std::optional<JwsAlg> parse_alg(std::string_view name) {
  for (JwsAlg alg : {JwsAlg::HS256, JwsAlg::RS256, JwsAlg::ES256, JwsAlg::EdDSA})
    if (alg_name(alg) == name) return alg;
  return std::nullopt;
}

struct JwsKey::Impl {
  std::uint64_t id{g_next_key_id.fetch_add(1)};  // names this key in per-thread caches
  JwsAlg alg{JwsAlg::HS256};
  std::string kid;
  PkeyPtr pkey;           // RS256, ES256, EdDSA
  bool has_private{false};
  std::string secret;     // HS256
  SHA256_CTX hmac_inner{};  // SHA-256 state after absorbing (key ^ ipad)
  SHA256_CTX hmac_outer{};  // ... after (key ^ opad)
  // ES256 signing below the EVP layer. ECDSA_do_sign runs the same code as EVP_PKEY_sign
  // (OpenSSL's hedged nonce: private key, digest and fresh randomness; constant-time scalar
  // multiplication and inversion), minus the provider dispatch and the DER encoding that would
  // only be decoded again into r‖s: a token endpoint signing thousands per second notices.
  // The EC_KEY is the one OpenSSL keeps for the EVP_PKEY; threads may sign with it at once.
  mutable std::once_flag es256_once;
  mutable std::unique_ptr<EC_KEY, EcKeyDeleter> es256;

  EC_KEY* es256_signer() const {
    std::call_once(es256_once, [this] { es256.reset(EVP_PKEY_get1_EC_KEY(pkey.get())); });
    return es256.get();
  }

  ~Impl() {
    OPENSSL_cleanse(&hmac_inner, sizeof hmac_inner);
    OPENSSL_cleanse(&hmac_outer, sizeof hmac_outer);
  }

  void init_hmac() {
    std::array<unsigned char, kHmacBlock> block{};
    if (secret.size() > kHmacBlock) {
      const std::string digest = crypto::sha256(secret);
      std::memcpy(block.data(), digest.data(), digest.size());
    } else {
      std::memcpy(block.data(), secret.data(), secret.size());
    }
    std::array<unsigned char, kHmacBlock> pad{};
    for (std::size_t i = 0; i < kHmacBlock; ++i) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&hmac_inner);
    SHA256_Update(&hmac_inner, pad.data(), pad.size());
    for (std::size_t i = 0; i < kHmacBlock; ++i) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&hmac_outer);
    SHA256_Update(&hmac_outer, pad.data(), pad.size());
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(pad.data(), pad.size());
  }

  // HMAC-SHA256 from the precomputed states (RFC 2104), into out[32].
  void hmac(std::string_view data, unsigned char* out) const {
    SHA256_CTX ctx = hmac_inner;
    unsigned char inner[SHA256_DIGEST_LENGTH];
    SHA256_Update(&ctx, data.data(), data.size());
    SHA256_Final(inner, &ctx);
    ctx = hmac_outer;
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(&ctx, sizeof ctx);
  }
};

JwsKey::JwsKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JwsKey::JwsKey(JwsKey&&) noexcept = default;
JwsKey& JwsKey::operator=(JwsKey&&) noexcept = default;
JwsKey::~JwsKey() = default;

JwsAlg JwsKey::alg() const { return impl_->alg; }
const std::string& JwsKey::kid() const { return impl_->kid; }
void JwsKey::set_kid(std::string kid) { impl_->kid = std::move(kid); }
bool JwsKey::can_sign() const { return impl_->alg == JwsAlg::HS256 || impl_->has_private; }

Result<JwsKey, std::string> JwsKey::hmac(std::string_view secret, std::string kid) {
  if (secret.size() < kMinHmacSecret)
    return tl::unexpected(std::string("an HS256 secret must be at least 32 bytes"));
  auto impl = std::make_unique<Impl>();
  impl->alg = JwsAlg::HS256;
  impl->secret = std::string(secret);
  impl->kid = std::move(kid);
  impl->init_hmac();
  return JwsKey(std::move(impl));
}

Result<JwsKey, std::string> JwsKey::generate(JwsAlg alg) {
  EVP_PKEY* pkey = nullptr;
  switch (alg) {
    case JwsAlg::RS256: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)); break;
    case JwsAlg::ES256: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
    case JwsAlg::EdDSA: pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
    case JwsAlg::HS256: return tl::unexpected(std::string("HS256 keys come from a configured secret"));
  }
  if (!pkey) return tl::unexpected(std::string("key generation failed"));
  auto impl = std::make_unique<Impl>();
  impl->alg = alg;
  impl->pkey.reset(pkey);
  impl->has_private = true;
  JwsKey key(std::move(impl));
  key.set_kid(key.thumbprint());
  return key;
}

Result<JwsKey, std::string> JwsKey::from_private_pem(JwsAlg alg, std::string_view pem, std::string kid) {
  if (alg == JwsAlg::HS256) return tl::unexpected(std::string("HS256 keys have no PEM form"));
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  // A callback that supplies no passphrase: an encrypted PEM fails instead of prompting on a terminal.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, no_passphrase, nullptr);
  BIO_free(bio);
  if (!pkey) return tl::unexpected(std::string("not a PKCS#8 PEM private key"));
  auto impl = std::make_unique<Impl>();
  impl->alg = alg;
  impl->pkey.reset(pkey);
  impl->has_private = true;
  const bool matches = (alg == JwsAlg::RS256 && EVP_PKEY_is_a(pkey, "RSA")) ||
                       (alg == JwsAlg::ES256 && EVP_PKEY_is_a(pkey, "EC")) ||
                       (alg == JwsAlg::EdDSA && EVP_PKEY_is_a(pkey, "ED25519"));
  if (!matches) return tl::unexpected(std::string("the PEM key does not match ") + std::string(alg_name(alg)));
  if (alg == JwsAlg::ES256) {
    char group[32] = {};
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, nullptr) != 1 ||
        std::string_view(group) != "prime256v1")
      return tl::unexpected(std::string("an ES256 key must be on P-256"));
  }
  if (alg == JwsAlg::RS256 && EVP_PKEY_get_bits(pkey) < 2048)
    return tl::unexpected(std::string("an RS256 key must have at least 2048 bits (RFC 7518 §3.3)"));
  impl->kid = std::move(kid);
  return JwsKey(std::move(impl));
}

Result<JwsKey, std::string> JwsKey::from_jwk(std::string_view jwk, JwsAlg alg) {
  using tl::unexpected;
  std::vector<strict_json::Member> members;
  if (!strict_json::parse_object(jwk, members)) return unexpected(std::string("the JWK is not a strict JSON object"));
  const auto text_of = [&](std::string_view name) -> std::optional<std::string> {
    const auto* m = strict_json::find(jwk, members, name);
    if (!m || m->kind != strict_json::Kind::string) return std::nullopt;
    return strict_json::string_value(m->raw_value(jwk));
  };
  const auto bytes_of = [&](std::string_view name) -> std::optional<std::string> {
    auto text = text_of(name);
    if (!text) return std::nullopt;
    return base64url_decode(*text);
  };
  const std::string kty = text_of("kty").value_or("");
  const std::string kid = text_of("kid").value_or("");
  if (auto declared = text_of("alg"); declared && *declared != alg_name(alg))
    return unexpected("the JWK is for " + *declared + ", not " + std::string(alg_name(alg)));

  if (alg == JwsAlg::HS256) {
    auto k = bytes_of("k");
    if (kty != "oct" || !k) return unexpected(std::string("an HS256 JWK needs kty oct and k"));
    return hmac(*k, kid);
  }

  auto impl = std::make_unique<Impl>();
  impl->alg = alg;
  impl->kid = kid;
  if (alg == JwsAlg::EdDSA) {
    auto x = bytes_of("x");
    auto d = bytes_of("d");
    if (kty != "OKP" || text_of("crv") != "Ed25519" || !x || x->size() != 32)
      return unexpected(std::string("an EdDSA JWK needs kty OKP, crv Ed25519 and a 32-byte x"));
    EVP_PKEY* pkey =
        d ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(d->data()), d->size())
          : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
    if (!pkey) return unexpected(std::string("invalid Ed25519 key"));
    impl->pkey.reset(pkey);
    impl->has_private = d.has_value();
    if (d) {
      // The private key determines the public one: refuse a JWK whose x disagrees.
      std::string derived(32, '\0');
      std::size_t len = derived.size();
      EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(derived.data()), &len);
      if (derived != *x) return unexpected(std::string("the Ed25519 JWK's x does not match d"));
    }
    return JwsKey(std::move(impl));
  }

  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::vector<BnPtr> bns;
  const auto push_bn = [&](const char* param, const std::string& bytes) {
    bns.emplace_back(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
    OSSL_PARAM_BLD_push_BN(bld, param, bns.back().get());
  };
  const char* type = nullptr;
  bool is_private = false;
  std::string point;
  if (alg == JwsAlg::RS256) {
    auto n = bytes_of("n"), e = bytes_of("e");
    if (kty != "RSA" || !n || !e || n->size() < 256) {
      OSSL_PARAM_BLD_free(bld);
      return unexpected(std::string("an RS256 JWK needs kty RSA, e and an n of at least 2048 bits"));
    }
    push_bn(OSSL_PKEY_PARAM_RSA_N, *n);
    push_bn(OSSL_PKEY_PARAM_RSA_E, *e);
    if (auto d = bytes_of("d")) {
      push_bn(OSSL_PKEY_PARAM_RSA_D, *d);
      is_private = true;
      const std::pair<const char*, const char*> crt[] = {
          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},    {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
          {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1}, {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
          {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
      for (const auto& [name, param] : crt)
        if (auto v = bytes_of(name)) push_bn(param, *v);
    }
    type = "RSA";
  } else {
    auto x = bytes_of("x"), y = bytes_of("y");
    if (kty != "EC" || text_of("crv") != "P-256" || !x || !y || x->size() != 32 || y->size() != 32) {
      OSSL_PARAM_BLD_free(bld);
      return unexpected(std::string("an ES256 JWK needs kty EC, crv P-256 and 32-byte x and y"));
    }
    point = "\x04" + *x + *y;
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    if (auto d = bytes_of("d")) {
      push_bn(OSSL_PKEY_PARAM_PRIV_KEY, *d);
      is_private = true;
    }
    type = "EC";
  }
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  const bool ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &pkey, is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (!ok || !pkey) return unexpected(std::string("the JWK does not describe a valid key"));
  impl->pkey.reset(pkey);
  impl->has_private = is_private;
  if (alg == JwsAlg::ES256) {
    // A point not on the curve must never be accepted (invalid-curve attacks).
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new(pkey, nullptr);
    const bool on_curve = check && EVP_PKEY_public_check(check) == 1;
    EVP_PKEY_CTX_free(check);
    if (!on_curve) return unexpected(std::string("the EC point is not on P-256"));
  }
  return JwsKey(std::move(impl));
}

std::string JwsKey::sign(std::string_view input) const {
  const Impl& k = *impl_;
  if (k.alg == JwsAlg::HS256) {
    std::string mac(32, '\0');
    k.hmac(input, reinterpret_cast<unsigned char*>(mac.data()));
    return mac;
  }
  if (!k.has_private) return {};
  std::string sig;
  if (k.alg == JwsAlg::EdDSA) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t len = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, k.pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      return {};
    sig.resize(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      return {};
    sig.resize(len);
    return sig;
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  crypto::sha256_into(input, digest);
  if (k.alg == JwsAlg::ES256) {
    EC_KEY* ec = k.es256_signer();
    if (!ec) return {};
    Sha256Digest d;
    std::memcpy(d.data(), digest, d.size());
    return es256_sign_now(ec, d);
  }
  EVP_PKEY_CTX* signer = rs256_signer(k.id, k.pkey.get());
  if (!signer) return {};
  std::size_t len = static_cast<std::size_t>(EVP_PKEY_get_size(k.pkey.get()));
  sig.resize(len);
  if (EVP_PKEY_sign(signer, reinterpret_cast<unsigned char*>(sig.data()), &len, digest, sizeof digest) != 1) return {};
  sig.resize(len);
  return sig;
}

PendingSignature JwsKey::sign_later(std::string_view input) const {
  const Impl& k = *impl_;
  if (k.alg != JwsAlg::ES256 || !k.has_private) return PendingSignature::ready(sign(input));
  EC_KEY* ec = k.es256_signer();
  if (!ec) return PendingSignature::ready({});
  Sha256Digest d;
  crypto::sha256_into(input, d.data());
  return es256_sign_later(ec, d);
}

bool JwsKey::verify(std::string_view input, std::string_view signature) const {
  const Impl& k = *impl_;
  switch (k.alg) {
    case JwsAlg::HS256: {
      if (signature.size() != 32) return false;
      unsigned char mac[32];
      k.hmac(input, mac);
      return constant_time_equal(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac), signature);
    }
    case JwsAlg::ES256: {
      if (signature.size() != 2 * kEs256Half) return false;
      const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
      // CVE-2022-21449 and friends: r and s must be in [1, n-1] before any arithmetic.
      if (!in_p256_range(raw) || !in_p256_range(raw + kEs256Half)) return false;
      ECDSA_SIG* es = ECDSA_SIG_new();
      ECDSA_SIG_set0(es, BN_bin2bn(raw, kEs256Half, nullptr), BN_bin2bn(raw + kEs256Half, kEs256Half, nullptr));
      unsigned char der[80];
      unsigned char* out = der;
      const int der_len = i2d_ECDSA_SIG(es, &out);
      ECDSA_SIG_free(es);
      unsigned char digest[32];
      crypto::sha256_into(input, digest);
      EVP_PKEY_CTX* ctx = digest_verifier(k.id, k.pkey.get(), false);
      return der_len > 0 && ctx &&
             EVP_PKEY_verify(ctx, der, static_cast<std::size_t>(der_len), digest, sizeof digest) == 1;
    }
    case JwsAlg::RS256: {
      unsigned char digest[32];
      crypto::sha256_into(input, digest);
      EVP_PKEY_CTX* ctx = digest_verifier(k.id, k.pkey.get(), true);
      return ctx &&
             EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(), digest,
                             sizeof digest) == 1;
    }
    case JwsAlg::EdDSA: {
      if (signature.size() != 64) return false;
      EVP_MD_CTX* ctx = message_verifier(k.id);
      return EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, k.pkey.get()) == 1 &&
             EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                              reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    }
  }
  return false;
}

std::string JwsKey::public_jwk() const {
  const Impl& k = *impl_;
  std::string members;
  switch (k.alg) {
    case JwsAlg::HS256: return {};
    case JwsAlg::RS256:
      members = json_member("kty", "RSA") + "," + json_member("n", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_N))) +
                "," + json_member("e", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_E)));
      break;
    case JwsAlg::ES256:
      members = json_member("kty", "EC") + "," + json_member("crv", "P-256") + "," +
                json_member("x", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32))) + "," +
                json_member("y", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)));
      break;
    case JwsAlg::EdDSA: {
      std::string x(32, '\0');
      std::size_t len = x.size();
      EVP_PKEY_get_raw_public_key(k.pkey.get(), reinterpret_cast<unsigned char*>(x.data()), &len);
      members = json_member("kty", "OKP") + "," + json_member("crv", "Ed25519") + "," + json_member("x", base64url_encode(x));
      break;
    }
  }
  return "{" + members + "," + json_member("kid", k.kid) + "," + json_member("use", "sig") + "," +
         json_member("alg", alg_name(k.alg)) + "}";
}

std::string JwsKey::thumbprint() const {
  const Impl& k = *impl_;
  // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
  std::string canonical;
  switch (k.alg) {
    case JwsAlg::HS256:
      canonical = "{" + json_member("k", base64url_encode(k.secret)) + "," + json_member("kty", "oct") + "}";
      break;
    case JwsAlg::RS256:
      canonical = "{" + json_member("e", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_E))) + "," +
                  json_member("kty", "RSA") + "," +
                  json_member("n", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_N))) + "}";
      break;
    case JwsAlg::ES256:
      canonical = "{" + json_member("crv", "P-256") + "," + json_member("kty", "EC") + "," +
                  json_member("x", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32))) + "," +
                  json_member("y", base64url_encode(get_bn_param(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32))) + "}";
      break;
    case JwsAlg::EdDSA: {
      std::string x(32, '\0');
      std::size_t len = x.size();
      EVP_PKEY_get_raw_public_key(k.pkey.get(), reinterpret_cast<unsigned char*>(x.data()), &len);
      canonical = "{" + json_member("crv", "Ed25519") + "," + json_member("kty", "OKP") + "," +
                  json_member("x", base64url_encode(x)) + "}";
      break;
    }
  }
  return base64url_encode(crypto::sha256(canonical));
}

std::string JwsKey::private_pem() const {
  if (!impl_->pkey || !impl_->has_private) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (PEM_write_bio_PrivateKey(bio, impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<std::size_t>(len));
  }
  BIO_free(bio);
  return out;
}

Result<CompactJws, JwsError> split_compact(std::string_view token) {
  if (token.size() > kMaxJwsBytes) return fail(JwsErrc::malformed, "The token is larger than 8 KiB.");
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return fail(JwsErrc::malformed, "A JWS has exactly three dot-separated parts.");
  auto header = base64url_decode(token.substr(0, first));
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  auto signature = base64url_decode(token.substr(second + 1));
  if (!header || !payload || !signature || header->empty())
    return fail(JwsErrc::malformed, "The token is not canonical unpadded base64url.");
  return CompactJws{.signing_input = token.substr(0, second), .header = std::move(*header),
                    .payload = std::move(*payload), .signature = std::move(*signature)};
}

Result<DecodedJws, JwsError> decode_jws(std::string_view token) {
  auto parts = split_compact(token);
  if (!parts) return tl::unexpected(parts.error());
  thread_local std::vector<strict_json::Member> members;
  if (!strict_json::parse_object(parts->header, members))
    return fail(JwsErrc::malformed, "The JOSE header is not a strict JSON object.");
  DecodedJws out{.parts = std::move(*parts), .header = {}, .claims = {}};
  out.claims.reserve(16);
  const std::string_view header = out.parts.header;
  for (const auto& m : members) {
    std::string unescaped;
    std::string_view name = m.raw_key(header);
    if (m.key_escaped) name = unescaped = strict_json::string_value("\"" + std::string(name) + "\"").value_or("");
    // Key sources named by the token would let the attacker pick the key (RFC 8725 §3.10);
    // "crit" names extensions this verifier does not implement (RFC 7515 §4.1.11).
    if (name.size() == 3 && (name == "jku" || name == "x5u" || name == "jwk" || name == "x5c"))
      return fail(JwsErrc::bad_header, "The JOSE header uses \"" + std::string(name) + "\", which is not accepted.");
    if (name == "crit") return fail(JwsErrc::bad_header, "The JOSE header uses \"crit\", which is not accepted.");
    std::string* target = name.size() != 3 ? nullptr
                          : name == "alg"  ? &out.header.alg
                          : name == "kid"  ? &out.header.kid
                          : name == "typ"  ? &out.header.typ
                                           : nullptr;
    if (!target) continue;
    if (m.kind != strict_json::Kind::string)
      return fail(JwsErrc::bad_header, "The header's " + std::string(name) + " must be a string.");
    const std::string_view raw = m.raw_value(header);
    if (raw.find('\\') == std::string_view::npos)
      target->assign(raw.substr(1, raw.size() - 2));
    else
      *target = strict_json::string_value(raw).value_or("");
  }
  if (!parse_alg(out.header.alg)) return fail(JwsErrc::bad_header, "The header's alg is missing or not accepted.");
  if (!strict_json::parse_object(out.parts.payload, out.claims))
    return fail(JwsErrc::malformed, "The payload is not a strict JSON object.");
  return out;
}

Result<DecodedJws, JwsError> verify_jws(std::string_view token, const JwsKey& key) {
  auto decoded = decode_jws(token);
  if (!decoded) return decoded;
  if (decoded->header.alg != alg_name(key.alg()))
    return fail(JwsErrc::bad_header, "The token's alg is not the key's.");
  if (!key.verify(decoded->parts.signing_input, decoded->parts.signature))
    return fail(JwsErrc::bad_signature, "The signature does not verify.");
  return decoded;
}

namespace {
// "BASE64URL(header).BASE64URL(payload)" (RFC 7515 §7.1).
std::string signing_input_of(std::string_view header_json, std::string_view payload_json) {
  std::string input = base64url_encode(header_json);
  input.push_back('.');
  input += base64url_encode(payload_json);
  return input;
}
}  // namespace

std::string sign_jws(const JwsKey& key, std::string_view header_json, std::string_view payload_json) {
  std::string token = signing_input_of(header_json, payload_json);
  const std::string signature = key.sign(token);
  token.push_back('.');
  token += base64url_encode(signature);
  return token;
}

PendingJws sign_jws_later(const JwsKey& key, std::string_view header_json, std::string_view payload_json) {
  PendingJws out;
  out.signing_input = signing_input_of(header_json, payload_json);
  out.signature = key.sign_later(out.signing_input);
  return out;
}

std::string PendingJws::finish() const {
  const std::string sig = signature.get();
  if (sig.empty()) return {};
  std::string token;
  token.reserve(signing_input.size() + 1 + (sig.size() * 4 + 2) / 3);
  token.append(signing_input).push_back('.');
  token += base64url_encode(sig);
  return token;
}

}  // namespace gatehouse::tokens
