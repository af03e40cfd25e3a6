// bench/jws_bench.cc: JWS sign and verify rates for a typical access token (issue 3).
//
// Headline figures, one per algorithm (HS256, RS256 with RSA-2048, ES256, EdDSA):
//   verify_jws/<ALG>   tokens::verify_jws(token, key): strict split, base64url, JSON header and
//                      claims, alg check and the signature - what a resource server pays per token
//   sign_jws/<ALG>     tokens::sign_jws(key, header, payload)
// Breakdown, to tell where the time of verify_jws goes:
//   decode_jws/<ALG>   tokens::decode_jws(token): everything but the signature
//   key_verify/<ALG>   JwsKey::verify(signing input, signature): the signature only
//   evp_floor/<ALG>    the least OpenSSL work for the same check, with every context set up once
//                      (as `openssl speed` does): HMAC via EVP_MAC; SHA-256 then EVP_PKEY_verify
//                      on a ready EVP_PKEY_CTX (RS256, ES256); EVP_DigestVerify on a ready
//                      EVP_MD_CTX (EdDSA). Same signing input as the token's.
//   evp_init_per_op/<ALG>  EVP_MD_CTX_reset + EVP_DigestVerifyInit + EVP_DigestVerify per check
//                      on one EVP_MD_CTX (the pattern of JwsKey::verify), asymmetric algorithms only
//
// Keys are made (or loaded) and tokens signed once, before any benchmark runs; the timed loops
// only verify or sign. Rates are items_per_second, i.e. per CPU second of the benchmark thread
// (`openssl speed` also divides by CPU time).
//
// Extra flags (before or after the --benchmark_* ones):
//   --jws_dir=DIR      share keys and tokens through DIR: an algorithm whose files are there is
//                      loaded from them, otherwise its key is generated and its files written:
//                      <ALG>.jws (the token), <ALG>.jwk (public JWK; none for HS256), <ALG>.pem
//                      (PKCS#8 private key) or HS256.key (the secret, base64url), payload.json.
//                      Every run of bench/jws.sh and the node peer then see the same tokens.
//   --jws_setup_only   make/load keys and tokens, run the self-checks, write DIR, run nothing.
#include <benchmark/benchmark.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.h"
#include "tokens/jws.h"

namespace {

using gatehouse::tokens::JwsAlg;
using gatehouse::tokens::JwsKey;
namespace tokens = gatehouse::tokens;
namespace fs = std::filesystem;

// A typical Gatehouse access token's claims: 321 bytes. exp is 2100-01-01 so that peers that
// check the time (fast-jwt does) accept the token for as long as anyone runs this.
constexpr std::string_view kPayload =
    R"({"iss":"http://127.0.0.1:8080","sub":"01JD0000000000000000000000","aud":"http://127.0.0.1:8080",)"
    R"("exp":4102444800,"iat":1795892400,"nbf":1795892400,"jti":"Wq3v5r0GQ2mL9xYkT7bN1c",)"
    R"("scope":"profile:read profile:write","client_id":"gatehouse","sid":"01JDXK3M9Q7T2V5W8Y0Z4A6B1C",)"
    R"("username":"john@example.com","roles":["user"]})";
constexpr std::size_t kPayloadMembers = 12;

[[noreturn]] void die(const std::string& what) {
  std::cerr << "jws_bench: " << what << "\n";
  std::exit(2);
}

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, std::string_view data) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) die("cannot write " + tmp.string());
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) die("cannot write " + tmp.string());
  }
  ::chmod(tmp.c_str(), 0600);  // private keys: the directory is the script's mktemp -d (0700)
  fs::rename(tmp, path);
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct MdFree {
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
};
struct MacFree {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};

// One algorithm: its key, its token and what the baselines need, all made before timing.
struct Case {
  JwsAlg alg{};
  std::string name;
  std::optional<JwsKey> key;
  std::string header;         // the JOSE header JSON the token was signed with
  std::string token;
  std::string signing_input;  // "header.payload" of the token
  std::string signature;      // decoded JWS signature (ES256: r‖s)
  std::string secret;         // HS256
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey;  // the same key, loaded into OpenSSL directly
  std::string der_signature;  // ES256: the signature as DER ECDSA-Sig-Value (for EVP_PKEY_verify)
  bool loaded{false};         // key and token came from --jws_dir
};

std::string header_for(const Case& c) {
  return R"({"alg":")" + std::string(tokens::alg_name(c.alg)) + R"(","typ":"at+jwt","kid":")" + c.key->kid() + R"("})";
}

// Key and token for one algorithm: from dir when its files are there, otherwise made fresh
// (and written to dir when one is given).
void make_case(Case& c, const std::optional<fs::path>& dir) {
  c.name = std::string(tokens::alg_name(c.alg));
  const auto file = [&](std::string_view ext) { return *dir / (c.name + std::string(ext)); };
  std::optional<std::string> stored_token;
  if (dir) stored_token = read_file(file(".jws"));

  if (c.alg == JwsAlg::HS256) {
    std::optional<std::string> stored = dir && stored_token ? read_file(file(".key")) : std::nullopt;
    if (stored) {
      auto secret = gatehouse::base64url_decode(*stored);
      if (!secret) die(file(".key").string() + " is not base64url");
      c.secret = *secret;
    } else {
      c.secret.assign(32, '\0');
      if (RAND_bytes(reinterpret_cast<unsigned char*>(c.secret.data()), 32) != 1) die("RAND_bytes failed");
      stored_token.reset();
    }
    auto key = JwsKey::hmac(c.secret, "");
    if (!key) die("HS256 key: " + key.error());
    c.key.emplace(std::move(*key));
  } else {
    std::optional<std::string> stored = dir && stored_token ? read_file(file(".pem")) : std::nullopt;
    if (stored) {
      auto key = JwsKey::from_private_pem(c.alg, *stored, "");
      if (!key) die(file(".pem").string() + ": " + key.error());
      c.key.emplace(std::move(*key));
    } else {
      auto key = JwsKey::generate(c.alg);
      if (!key) die(c.name + " key generation: " + key.error());
      c.key.emplace(std::move(*key));
      stored_token.reset();
    }
    const std::string pem = c.key->private_pem();
    if (pem.empty()) die(c.name + ": private_pem() is empty");
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    c.pkey.reset(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!c.pkey) die(c.name + ": OpenSSL cannot read private_pem()");
  }
  c.key->set_kid(c.key->thumbprint());  // 43 characters, as the server's kids are
  c.header = header_for(c);
  c.loaded = stored_token.has_value();
  c.token = c.loaded ? *stored_token : tokens::sign_jws(*c.key, c.header, kPayload);
  while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == '\r')) c.token.pop_back();

  if (dir && !c.loaded) {
    write_file(file(".jws"), c.token);
    if (c.alg == JwsAlg::HS256) {
      write_file(file(".key"), gatehouse::base64url_encode(c.secret));
    } else {
      write_file(file(".pem"), c.key->private_pem());
      write_file(file(".jwk"), c.key->public_jwk());
    }
  }
}

// What must hold before any figure means anything; exits otherwise.
void check_case(Case& c) {
  const auto where = c.name + (c.loaded ? " (loaded token)" : " (fresh token)");
  auto ok = tokens::verify_jws(c.token, *c.key);
  if (!ok) die(where + ": verify_jws refused our own token: " + ok.error().description);
  if (ok->parts.payload != kPayload) die(where + ": the payload differs from the benchmark's");
  if (ok->parts.header != c.header) die(where + ": the header differs from " + c.header);
  if (ok->claims.size() != kPayloadMembers) die(where + ": unexpected claim count");
  if (ok->header.alg != c.name || ok->header.typ != "at+jwt" || ok->header.kid.size() != 43)
    die(where + ": unexpected header members");
  c.signing_input = std::string(ok->parts.signing_input);
  c.signature = ok->parts.signature;

  // Another user's claims under this signature, and a changed signature, must both fail on
  // the signature (not earlier, or the check would prove nothing).
  std::string other_payload(kPayload);
  other_payload.replace(other_payload.find("john@"), 5, "jane@");
  const std::string swapped = gatehouse::base64url_encode(c.header) + "." + gatehouse::base64url_encode(other_payload) +
                              c.token.substr(c.token.rfind('.'));
  std::string bent = c.token;
  const auto sig_at = bent.rfind('.') + 1;
  bent[sig_at] = bent[sig_at] == 'A' ? 'B' : 'A';
  for (const std::string& bad_token : {swapped, bent}) {
    auto bad = tokens::verify_jws(bad_token, *c.key);
    if (bad || bad.error().code != tokens::JwsErrc::bad_signature)
      die(where + ": a tampered token was not refused as bad_signature");
  }
  // sign_jws must make a token that verifies (for HS256 and EdDSA: the very same token).
  const std::string again = tokens::sign_jws(*c.key, c.header, kPayload);
  if (!tokens::verify_jws(again, *c.key)) die(where + ": sign_jws made a token verify_jws refuses");

  if (c.alg == JwsAlg::ES256) {
    if (c.signature.size() != 64) die(where + ": ES256 signature is not 64 bytes");
    const auto* raw = reinterpret_cast<const unsigned char*>(c.signature.data());
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (len <= 0) die("i2d_ECDSA_SIG failed");
    c.der_signature.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
  }
}

const auto* u8(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// ---- the benchmarks -----------------------------------------------------------------------

void finish(benchmark::State& state, std::int64_t failures) {
  state.SetItemsProcessed(state.iterations());
  if (failures != 0) state.SkipWithError("an operation failed inside the timed loop");
}

void bm_verify_jws(benchmark::State& state, const Case* c) {
  std::int64_t failures = 0;
  for (auto _ : state) {
    auto result = tokens::verify_jws(c->token, *c->key);
    failures += result ? 0 : 1;
    benchmark::DoNotOptimize(result);
  }
  finish(state, failures);
}

void bm_sign_jws(benchmark::State& state, const Case* c) {
  std::int64_t failures = 0;
  for (auto _ : state) {
    std::string token = tokens::sign_jws(*c->key, c->header, kPayload);
    failures += token.size() > 200 ? 0 : 1;
    benchmark::DoNotOptimize(token);
  }
  finish(state, failures);
}

void bm_decode_jws(benchmark::State& state, const Case* c) {
  std::int64_t failures = 0;
  for (auto _ : state) {
    auto result = tokens::decode_jws(c->token);
    failures += result ? 0 : 1;
    benchmark::DoNotOptimize(result);
  }
  finish(state, failures);
}

void bm_key_verify(benchmark::State& state, const Case* c) {
  std::int64_t failures = 0;
  for (auto _ : state) {
    const bool ok = c->key->verify(c->signing_input, c->signature);
    failures += ok ? 0 : 1;
    benchmark::DoNotOptimize(ok);
  }
  finish(state, failures);
}

void bm_evp_floor(benchmark::State& state, const Case* c) {
  std::int64_t failures = 0;
  std::unique_ptr<EVP_MD, MdFree> sha256(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (c->alg == JwsAlg::HS256) {
    // As `openssl speed -hmac sha256`: EVP_MAC_init (same key) + update + final per operation.
    std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(mac.get()));
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                                 OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_init(ctx.get(), u8(c->secret), c->secret.size(), params) != 1) die("EVP_MAC_init");
    unsigned char out[EVP_MAX_MD_SIZE];
    for (auto _ : state) {
      std::size_t len = 0;
      const bool ok = EVP_MAC_init(ctx.get(), nullptr, 0, nullptr) == 1 &&
                      EVP_MAC_update(ctx.get(), u8(c->signing_input), c->signing_input.size()) == 1 &&
                      EVP_MAC_final(ctx.get(), out, &len, sizeof out) == 1 && len == 32 &&
                      CRYPTO_memcmp(out, c->signature.data(), 32) == 0;
      failures += ok ? 0 : 1;
      benchmark::ClobberMemory();
    }
  } else if (c->alg == JwsAlg::EdDSA) {
    // As `openssl speed ed25519`: one EVP_DigestVerifyInit, then one-shot EVP_DigestVerify calls.
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, c->pkey.get()) != 1) die("EVP_DigestVerifyInit");
    for (auto _ : state) {
      const bool ok = EVP_DigestVerify(ctx.get(), u8(c->signature), c->signature.size(), u8(c->signing_input),
                                       c->signing_input.size()) == 1;
      failures += ok ? 0 : 1;
      benchmark::ClobberMemory();
    }
  } else {
    // As `openssl speed rsa2048` / `ecdsap256`: EVP_PKEY_verify on a context initialised once;
    // plus the SHA-256 of the signing input that speed leaves out (it verifies a fixed buffer).
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, c->pkey.get(), nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256.get()) != 1)
      die("EVP_PKEY_verify_init");
    if (c->alg == JwsAlg::RS256 && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
      die("EVP_PKEY_CTX_set_rsa_padding");
    const std::string& sig = c->alg == JwsAlg::ES256 ? c->der_signature : c->signature;
    unsigned char digest[32];
    for (auto _ : state) {
      unsigned int dlen = 0;
      const bool ok = EVP_Digest(c->signing_input.data(), c->signing_input.size(), digest, &dlen, sha256.get(),
                                 nullptr) == 1 &&
                      EVP_PKEY_verify(ctx.get(), u8(sig), sig.size(), digest, dlen) == 1;
      failures += ok ? 0 : 1;
      benchmark::ClobberMemory();
    }
  }
  finish(state, failures);
}

void bm_evp_init_per_op(benchmark::State& state, const Case* c) {
  std::int64_t failures = 0;
  std::unique_ptr<EVP_MD, MdFree> sha256(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  const EVP_MD* md = c->alg == JwsAlg::EdDSA ? nullptr : sha256.get();
  const std::string& sig = c->alg == JwsAlg::ES256 ? c->der_signature : c->signature;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  for (auto _ : state) {
    // The reset matters: OpenSSL 3.0 re-initialises a context that still holds an EVP_PKEY_CTX
    // with that old EVP_PKEY_CTX (and its key), which is cheaper but wrong for a different key.
    EVP_MD_CTX_reset(ctx.get());
    const bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, c->pkey.get()) == 1 &&
                    EVP_DigestVerify(ctx.get(), u8(sig), sig.size(), u8(c->signing_input), c->signing_input.size()) == 1;
    failures += ok ? 0 : 1;
    benchmark::ClobberMemory();
  }
  finish(state, failures);
}

// Removes our own --jws_* flags from argv; returns false on an unknown --jws_ flag.
bool take_flags(int& argc, char** argv, std::optional<fs::path>& dir, bool& setup_only) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--jws_dir=", 0) == 0) {
      dir = fs::path(std::string(arg.substr(std::strlen("--jws_dir="))));
    } else if (arg == "--jws_setup_only") {
      setup_only = true;
    } else if (arg.rfind("--jws_", 0) == 0) {
      std::cerr << "jws_bench: unknown flag " << arg << " (known: --jws_dir=DIR, --jws_setup_only)\n";
      return false;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<fs::path> dir;
  bool setup_only = false;
  if (!take_flags(argc, argv, dir, setup_only)) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  if (dir) {
    std::error_code ec;
    fs::create_directories(*dir, ec);
    if (ec) die("cannot create " + dir->string() + ": " + ec.message());
    if (!read_file(*dir / "payload.json")) write_file(*dir / "payload.json", kPayload);
  }
  // Static storage: the registered benchmarks hold pointers to these until exit.
  static std::vector<Case> cases(4);
  const JwsAlg algs[] = {JwsAlg::HS256, JwsAlg::RS256, JwsAlg::ES256, JwsAlg::EdDSA};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    cases[i].alg = algs[i];
    make_case(cases[i], dir);
    check_case(cases[i]);
  }
  if (setup_only) {
    for (const Case& c : cases)
      std::cout << c.name << " token " << c.token.size() << " bytes (" << (c.loaded ? "loaded" : "new") << ")\n";
    return 0;
  }

  // Registration order = run order: each algorithm's figures run back to back.
  for (const Case& c : cases) {
    const Case* p = &c;
    benchmark::RegisterBenchmark(("verify_jws/" + c.name).c_str(), bm_verify_jws, p);
    benchmark::RegisterBenchmark(("sign_jws/" + c.name).c_str(), bm_sign_jws, p);
    benchmark::RegisterBenchmark(("decode_jws/" + c.name).c_str(), bm_decode_jws, p);
    benchmark::RegisterBenchmark(("key_verify/" + c.name).c_str(), bm_key_verify, p);
    benchmark::RegisterBenchmark(("evp_floor/" + c.name).c_str(), bm_evp_floor, p);
    if (c.alg != JwsAlg::HS256)
      benchmark::RegisterBenchmark(("evp_init_per_op/" + c.name).c_str(), bm_evp_init_per_op, p);
  }
  benchmark::AddCustomContext("token_bytes",
                              std::to_string(cases[0].token.size()) + " (HS256), " + std::to_string(cases[1].token.size()) +
                                  " (RS256), " + std::to_string(cases[2].token.size()) + " (ES256), " +
                                  std::to_string(cases[3].token.size()) + " (EdDSA)");
  benchmark::AddCustomContext("payload_bytes", std::to_string(kPayload.size()));
  benchmark::AddCustomContext("openssl", OpenSSL_version(OPENSSL_VERSION));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
