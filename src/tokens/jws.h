// tokens/jws.h: strict compact JWS (RFC 7515) with one key per algorithm.
//
// Strict means: exactly three parts; canonical unpadded base64url; header and payload are
// JSON objects without duplicate keys (at any depth); at most kMaxJwsBytes; the header's
// "alg" equals the key's algorithm (the algorithm comes from the key, never from the token);
// "jku", "x5u", "jwk", "x5c" headers are refused; "crit" is refused (no extension is
// understood). ECDSA signatures are raw r‖s (RFC 7518 §3.4); r or s of zero or ≥ n fail.
//
// Thread-safe after construction. OpenSSL appears only in jws.cc.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/strict_json.h"
#include "tokens/es256_batch.h"

namespace gatehouse::tokens {

inline constexpr std::size_t kMaxJwsBytes = 8 * 1024;

enum class JwsAlg { HS256, RS256, ES256, EdDSA };

std::string_view alg_name(JwsAlg alg);
std::optional<JwsAlg> parse_alg(std::string_view name);

enum class JwsErrc {
  malformed,         // not three canonical base64url parts of JSON objects, or too large
  bad_header,        // alg mismatch or missing, forbidden or critical header
  bad_signature,     // the signature does not verify
};

struct JwsError {
  JwsErrc code{JwsErrc::malformed};
  std::string description{};  // safe to return to a client
};

class JwsKey {
 public:
  // HS256 with a shared secret (at least 32 bytes).
  static Result<JwsKey, std::string> hmac(std::string_view secret, std::string kid);
  // A fresh key: RSA 2048 (RS256), P-256 (ES256) or Ed25519 (EdDSA).
  static Result<JwsKey, std::string> generate(JwsAlg alg);
  // A private key in PKCS#8 PEM, as private_pem() writes it (the store's format).
  static Result<JwsKey, std::string> from_private_pem(JwsAlg alg, std::string_view pem, std::string kid);
  // A JWK (RFC 7517) as JSON: oct, RSA, EC P-256 or OKP Ed25519; public or private.
  static Result<JwsKey, std::string> from_jwk(std::string_view jwk_json, JwsAlg alg);

  JwsKey(JwsKey&&) noexcept;
  JwsKey& operator=(JwsKey&&) noexcept;
  ~JwsKey();

  JwsAlg alg() const;
  const std::string& kid() const;
  void set_kid(std::string kid);
  bool can_sign() const;

  // The raw JWS signature of signing_input (for ES256: r‖s, 64 bytes).
  std::string sign(std::string_view signing_input) const;
  // The same signature, made later: ES256 joins this thread's batch (tokens/es256_batch.h);
  // other algorithms sign now.
  PendingSignature sign_later(std::string_view signing_input) const;
  bool verify(std::string_view signing_input, std::string_view signature) const;

  // {"kty":...,"kid":...,"use":"sig","alg":...,<public members>}; empty for HS256 (never published).
  std::string public_jwk() const;
  // RFC 7638 JWK thumbprint (SHA-256, base64url); for HS256 a digest of the secret.
  std::string thumbprint() const;
  // PKCS#8 PEM of the private key; empty for HS256 and public-only keys.
  std::string private_pem() const;

 private:
  struct Impl;
  explicit JwsKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The three parts of a compact JWS, checked for shape only: sizes, canonical base64url.
struct CompactJws {
  std::string_view signing_input{};  // "header.payload" as sent
  std::string header{};              // decoded bytes
  std::string payload{};
  std::string signature{};
};
Result<CompactJws, JwsError> split_compact(std::string_view token);

// The header members Gatehouse acts on. Unknown members are ignored unless listed above.
struct JwsHeader {
  std::string alg{};
  std::string kid{};
  std::string typ{};
};

// split_compact, then the header and payload are strict JSON objects, the header is
// acceptable (see top), and `header.alg` is known. The signature is NOT checked here.
struct DecodedJws {
  CompactJws parts{};
  JwsHeader header{};
  std::vector<strict_json::Member> claims{};  // top-level members of parts.payload
};
Result<DecodedJws, JwsError> decode_jws(std::string_view token);

// decode_jws, then the header's alg must be the key's and the signature must verify.
Result<DecodedJws, JwsError> verify_jws(std::string_view token, const JwsKey& key);

// header_json must be an object holding "alg" equal to the key's; payload_json any bytes.
std::string sign_jws(const JwsKey& key, std::string_view header_json, std::string_view payload_json);

// A compact JWS whose signature is still to be made (sign_later); finish() gives the token,
// or an empty string if signing failed.
struct PendingJws {
  std::string signing_input{};
  PendingSignature signature{};
  std::string finish() const;
};
PendingJws sign_jws_later(const JwsKey& key, std::string_view header_json, std::string_view payload_json);

}  // namespace gatehouse::tokens
