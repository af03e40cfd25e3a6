#include "tokens/jws.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/base64.h"
#include "core/strict_json.h"

namespace gatehouse::tokens {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

// ---------------------------------------------------------------------------------------------
// Published vectors. Every value below is copied from the RFC text (as reproduced by several
// independent JOSE test suites) and was re-checked with an independent implementation (Python
// `cryptography`) before being pasted here: the A.1 MAC recomputes, A.2's n = p·q and the
// signature verifies, A.3's d gives x, y and the signature verifies, RFC 8037's d gives x and
// reproduces the signature.
// ---------------------------------------------------------------------------------------------

// RFC 7515 Appendix A.1 (HS256). The header is {"typ":"JWT",\r\n "alg":"HS256"}.
constexpr std::string_view kA1Header64 = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
// The payload shared by A.1, A.2 and A.3: {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
constexpr std::string_view kA1Payload64 =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
constexpr std::string_view kA1Signature64 = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view kA1Jwk =
    R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})";
const std::string kA1HeaderJson = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
const std::string kA1PayloadJson =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

// RFC 7515 Appendix A.2 (RS256).
constexpr std::string_view kA2Header64 = "eyJhbGciOiJSUzI1NiJ9";  // {"alg":"RS256"}
constexpr std::string_view kA2Signature64 =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw";
constexpr std::string_view kA2N =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
constexpr std::string_view kA2D =
    "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I"
    "jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0"
    "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn"
    "439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT"
    "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh"
    "BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ";
constexpr std::string_view kA2P =
    "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdi"
    "YrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG"
    "BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc";
constexpr std::string_view kA2Q =
    "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxa"
    "ewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA"
    "-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc";
constexpr std::string_view kA2Dp =
    "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3Q"
    "CLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb"
    "34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0";
constexpr std::string_view kA2Dq =
    "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa"
    "7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-ky"
    "NlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU";
constexpr std::string_view kA2Qi =
    "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2o"
    "y26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLU"
    "W0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U";

// RFC 7515 Appendix A.3 (ES256; the signature is raw r‖s).
constexpr std::string_view kA3Header64 = "eyJhbGciOiJFUzI1NiJ9";  // {"alg":"ES256"}
constexpr std::string_view kA3Signature64 =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
constexpr std::string_view kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr std::string_view kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr std::string_view kA3D = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
// Not published: the RFC 7638 §3 thumbprint of the A.3 key, computed with Python's hashlib
// over {"crv":"P-256","kty":"EC","x":...,"y":...}.
constexpr std::string_view kA3Thumbprint = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U";

// RFC 8037 Appendix A.1–A.4 (Ed25519).
constexpr std::string_view kEdD = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr std::string_view kEdX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr std::string_view kEdThumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";  // A.3
constexpr std::string_view kEdToken =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

// RFC 7638 §3.1.
constexpr std::string_view kRfc7638N =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
    "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
constexpr std::string_view kRfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// The order n of P-256.
constexpr std::string_view kP256OrderHex = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
// The order L of the Ed25519 group, little-endian (RFC 8032 §5.1).
constexpr unsigned char kEd25519OrderLe[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                               0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

std::string b64(std::string_view bytes) { return base64url_encode(bytes); }

std::string unb64(std::string_view text) {
  auto bytes = base64url_decode(text);
  if (!bytes) throw std::runtime_error("test bug: not base64url: " + std::string(text));
  return *bytes;
}

std::string from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error("test bug: bad hex");
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  return out;
}

std::string join(std::string_view a, std::string_view b) {
  std::string out(a);
  out += '.';
  out += b;
  return out;
}

std::string join(std::string_view a, std::string_view b, std::string_view c) { return join(join(a, b), c); }

// A token over already-encoded parts, signed with `key` over exactly the text that is sent: a
// verifier that tolerated the encoding would accept it, so only the strictness check can fail it.
std::string forge_raw(const JwsKey& key, std::string_view header64, std::string_view payload64) {
  std::string input = join(header64, payload64);
  return join(input, b64(key.sign(input)));
}

// A token with a valid signature over the given header and payload bytes, built without
// sign_jws (so that headers sign_jws might refuse can still be sent).
std::string forge(const JwsKey& key, std::string_view header, std::string_view payload) {
  return forge_raw(key, b64(header), b64(payload));
}

std::vector<std::string> split_dots(std::string_view token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto dot = token.find('.', start);
    if (dot == std::string_view::npos) {
      parts.emplace_back(token.substr(start));
      return parts;
    }
    parts.emplace_back(token.substr(start, dot - start));
    start = dot + 1;
  }
}

const char* errc_name(JwsErrc code) {
  switch (code) {
    case JwsErrc::malformed: return "malformed";
    case JwsErrc::bad_header: return "bad_header";
    case JwsErrc::bad_signature: return "bad_signature";
  }
  return "?";
}

testing::AssertionResult FailsWith(const Result<DecodedJws, JwsError>& result, JwsErrc expected) {
  if (result) return testing::AssertionFailure() << "accepted; expected " << errc_name(expected);
  if (result.error().code != expected)
    return testing::AssertionFailure() << "failed with " << errc_name(result.error().code) << " ("
                                       << result.error().description << "); expected " << errc_name(expected);
  return testing::AssertionSuccess();
}

testing::AssertionResult FailsWithEither(const Result<DecodedJws, JwsError>& result, JwsErrc a, JwsErrc b) {
  if (result) return testing::AssertionFailure() << "accepted; expected " << errc_name(a) << " or " << errc_name(b);
  if (result.error().code != a && result.error().code != b)
    return testing::AssertionFailure() << "failed with " << errc_name(result.error().code) << "; expected "
                                       << errc_name(a) << " or " << errc_name(b);
  return testing::AssertionSuccess();
}

testing::AssertionResult Verifies(const Result<DecodedJws, JwsError>& result) {
  if (result) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "refused: " << errc_name(result.error().code) << " ("
                                     << result.error().description << ")";
}

JwsKey take(Result<JwsKey, std::string> key, const char* what) {
  if (!key) throw std::runtime_error(std::string(what) + ": " + key.error());
  return std::move(*key);
}

// One key per algorithm for the whole binary (RSA generation is slow).
const JwsKey& hs256() {
  static const JwsKey key = take(JwsKey::hmac("0123456789abcdef0123456789abcdef", "hs-1"), "hmac");
  return key;
}
const JwsKey& rs256() {
  static const JwsKey key = [] {
    auto k = take(JwsKey::generate(JwsAlg::RS256), "generate RS256");
    k.set_kid("rs-1");
    return k;
  }();
  return key;
}
const JwsKey& es256() {
  static const JwsKey key = [] {
    auto k = take(JwsKey::generate(JwsAlg::ES256), "generate ES256");
    k.set_kid("es-1");
    return k;
  }();
  return key;
}
const JwsKey& eddsa() {
  static const JwsKey key = [] {
    auto k = take(JwsKey::generate(JwsAlg::EdDSA), "generate EdDSA");
    k.set_kid("ed-1");
    return k;
  }();
  return key;
}

std::string header_for(const JwsKey& key) { return R"({"alg":")" + std::string(alg_name(key.alg())) + R"("})"; }

// A parsed flat JSON object (a JWK), through the strict scanner.
struct JsonObject {
  std::string text;
  std::vector<strict_json::Member> members;
  bool valid{false};

  explicit JsonObject(std::string t) : text(std::move(t)) { valid = strict_json::parse_object(text, members); }
  bool has(std::string_view key) const { return strict_json::find(text, members, key) != nullptr; }
  std::optional<std::string> str(std::string_view key) const {
    const auto* m = strict_json::find(text, members, key);
    if (m == nullptr || m->kind != strict_json::Kind::string) return std::nullopt;
    return strict_json::string_value(m->raw_value(text));
  }
};

bool is_base64url_text(std::string_view s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

// DER, just enough to write the SubjectPublicKeyInfo an attacker would download.
std::string der_length(std::size_t n) {
  if (n < 0x80) return std::string(1, static_cast<char>(n));
  std::string bytes;
  while (n > 0) {
    bytes.insert(bytes.begin(), static_cast<char>(n & 0xff));
    n >>= 8;
  }
  return std::string(1, static_cast<char>(0x80 | bytes.size())) + bytes;
}
std::string der(unsigned char tag, std::string_view body) {
  return std::string(1, static_cast<char>(tag)) + der_length(body.size()) + std::string(body);
}
std::string der_uint(std::string magnitude) {
  while (magnitude.size() > 1 && magnitude[0] == '\0') magnitude.erase(0, 1);
  if (static_cast<unsigned char>(magnitude[0]) & 0x80) magnitude.insert(magnitude.begin(), '\0');
  return der(0x02, magnitude);
}
std::string pem(std::string_view label, std::string_view der_bytes) {
  std::string body = base64_encode(der_bytes);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < body.size(); i += 64) out += body.substr(i, 64) + "\n";
  return out + "-----END " + std::string(label) + "-----\n";
}
std::string rsa_public_pem(std::string_view n64, std::string_view e64) {
  std::string rsa_key = der(0x30, der_uint(unb64(n64)) + der_uint(unb64(e64)));
  std::string algorithm = der(0x30, from_hex("06092a864886f70d010101") + from_hex("0500"));
  return pem("PUBLIC KEY", der(0x30, algorithm + der(0x03, std::string(1, '\0') + rsa_key)));
}
std::string ec_public_pem(std::string_view x64, std::string_view y64) {
  std::string point = "\x04"s + unb64(x64) + unb64(y64);
  std::string algorithm = der(0x30, from_hex("06072a8648ce3d0201") + from_hex("06082a8648ce3d030107"));
  return pem("PUBLIC KEY", der(0x30, algorithm + der(0x03, std::string(1, '\0') + point)));
}

// The last character of a part whose length is 2 or 3 mod 4 carries unused low bits; setting
// the lowest one gives a spelling a lenient decoder maps to the same bytes.
std::string non_canonical(std::string part) {
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  auto v = alphabet.find(part.back());
  if (part.size() % 4 == 0 || v == std::string_view::npos || (v & 1) != 0)
    throw std::runtime_error("test bug: part has no unused bits to set");
  part.back() = alphabet[v | 1];
  return part;
}

// ---------------------------------------------------------------------------------------------
// Algorithm names
// ---------------------------------------------------------------------------------------------

TEST(JwsAlgorithms, NamesRoundTripAndOnlyExactNamesParse) {
  for (auto alg : {JwsAlg::HS256, JwsAlg::RS256, JwsAlg::ES256, JwsAlg::EdDSA}) {
    auto parsed = parse_alg(alg_name(alg));
    ASSERT_TRUE(parsed) << alg_name(alg);
    EXPECT_EQ(*parsed, alg);
  }
  EXPECT_EQ(alg_name(JwsAlg::HS256), "HS256");
  EXPECT_EQ(alg_name(JwsAlg::RS256), "RS256");
  EXPECT_EQ(alg_name(JwsAlg::ES256), "ES256");
  EXPECT_EQ(alg_name(JwsAlg::EdDSA), "EdDSA");
  for (std::string_view bad : {"none"sv, "None"sv, "NONE"sv, ""sv, "hs256"sv, "es256"sv, "EDDSA"sv, "Ed25519"sv,
                               "HS512"sv, "RS384"sv, "PS256"sv, "ES256K"sv, "ES256 "sv, " ES256"sv, "ES256\0"sv})
    EXPECT_FALSE(parse_alg(bad)) << "'" << bad << "'";
}

// ---------------------------------------------------------------------------------------------
// Published vectors
// ---------------------------------------------------------------------------------------------

// The A.1–A.3 payload with one character of "joe" changed, re-encoded canonically: still a valid
// JSON object, so only the signature can reject it.
std::string tampered_a1_payload64() {
  std::string payload = unb64(kA1Payload64);
  auto at = payload.find("joe");
  if (at == std::string::npos) throw std::runtime_error("test bug");
  payload[at + 2] = 'x';
  return b64(payload);
}

TEST(JwsVectors, Rfc7515A1Hs256Verifies) {
  auto key = JwsKey::from_jwk(kA1Jwk, JwsAlg::HS256);
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(key->alg(), JwsAlg::HS256);
  EXPECT_TRUE(key->can_sign());
  const std::string token = join(kA1Header64, kA1Payload64, kA1Signature64);
  auto verified = verify_jws(token, *key);
  ASSERT_TRUE(Verifies(verified));
  EXPECT_EQ(verified->header.alg, "HS256");
  EXPECT_EQ(verified->header.typ, "JWT");
  EXPECT_EQ(verified->parts.header, kA1HeaderJson);
  EXPECT_EQ(verified->parts.payload, kA1PayloadJson);
  // HMAC is deterministic: the key reproduces the published MAC and sign_jws the whole token.
  EXPECT_EQ(b64(key->sign(join(kA1Header64, kA1Payload64))), kA1Signature64);
  EXPECT_EQ(sign_jws(*key, kA1HeaderJson, kA1PayloadJson), token);
}

TEST(JwsVectors, Rfc7515A1TamperedCopyFails) {
  auto key = JwsKey::from_jwk(kA1Jwk, JwsAlg::HS256);
  ASSERT_TRUE(key) << key.error();
  EXPECT_TRUE(FailsWith(verify_jws(join(kA1Header64, tampered_a1_payload64(), kA1Signature64), *key),
                        JwsErrc::bad_signature));
  // A different key (same length) does not verify the published token either.
  auto other = JwsKey::hmac(std::string(64, 'k'), "");
  ASSERT_TRUE(other) << other.error();
  EXPECT_TRUE(FailsWith(verify_jws(join(kA1Header64, kA1Payload64, kA1Signature64), *other), JwsErrc::bad_signature));
}

std::string a2_private_jwk() {
  return R"({"kty":"RSA","n":")" + std::string(kA2N) + R"(","e":"AQAB","d":")" + std::string(kA2D) +
         R"(","p":")" + std::string(kA2P) + R"(","q":")" + std::string(kA2Q) + R"(","dp":")" + std::string(kA2Dp) +
         R"(","dq":")" + std::string(kA2Dq) + R"(","qi":")" + std::string(kA2Qi) + R"("})";
}
std::string a2_public_jwk() { return R"({"kty":"RSA","n":")" + std::string(kA2N) + R"(","e":"AQAB"})"; }

TEST(JwsVectors, Rfc7515A2Rs256Verifies) {
  auto key = JwsKey::from_jwk(a2_private_jwk(), JwsAlg::RS256);
  ASSERT_TRUE(key) << key.error();
  EXPECT_TRUE(key->can_sign());
  const std::string token = join(kA2Header64, kA1Payload64, kA2Signature64);
  auto verified = verify_jws(token, *key);
  ASSERT_TRUE(Verifies(verified));
  EXPECT_EQ(verified->header.alg, "RS256");
  EXPECT_EQ(verified->parts.payload, kA1PayloadJson);
  // RSASSA-PKCS1-v1_5 is deterministic: signing reproduces the published signature.
  EXPECT_EQ(b64(key->sign(join(kA2Header64, kA1Payload64))), kA2Signature64);
  EXPECT_EQ(sign_jws(*key, R"({"alg":"RS256"})", kA1PayloadJson), token);

  auto public_only = JwsKey::from_jwk(a2_public_jwk(), JwsAlg::RS256);
  ASSERT_TRUE(public_only) << public_only.error();
  EXPECT_FALSE(public_only->can_sign());
  EXPECT_TRUE(Verifies(verify_jws(token, *public_only)));
  EXPECT_EQ(public_only->thumbprint(), key->thumbprint());
}

TEST(JwsVectors, Rfc7515A2TamperedCopyFails) {
  auto key = JwsKey::from_jwk(a2_public_jwk(), JwsAlg::RS256);
  ASSERT_TRUE(key) << key.error();
  EXPECT_TRUE(FailsWith(verify_jws(join(kA2Header64, tampered_a1_payload64(), kA2Signature64), *key),
                        JwsErrc::bad_signature));
}

std::string a3_jwk(bool with_private) {
  std::string jwk = R"({"kty":"EC","crv":"P-256","x":")" + std::string(kA3X) + R"(","y":")" + std::string(kA3Y) + '"';
  if (with_private) jwk += R"(,"d":")" + std::string(kA3D) + '"';
  return jwk + "}";
}

TEST(JwsVectors, Rfc7515A3Es256Verifies) {
  auto key = JwsKey::from_jwk(a3_jwk(true), JwsAlg::ES256);
  ASSERT_TRUE(key) << key.error();
  EXPECT_TRUE(key->can_sign());
  const std::string token = join(kA3Header64, kA1Payload64, kA3Signature64);
  auto verified = verify_jws(token, *key);
  ASSERT_TRUE(Verifies(verified));
  EXPECT_EQ(verified->header.alg, "ES256");
  EXPECT_EQ(verified->parts.signature.size(), 64u);

  auto public_only = JwsKey::from_jwk(a3_jwk(false), JwsAlg::ES256);
  ASSERT_TRUE(public_only) << public_only.error();
  EXPECT_FALSE(public_only->can_sign());
  EXPECT_TRUE(Verifies(verify_jws(token, *public_only)));
  // ECDSA is randomized; a fresh signature by the RFC's private key verifies under its public key.
  std::string fresh = sign_jws(*key, R"({"alg":"ES256"})", kA1PayloadJson);
  EXPECT_TRUE(Verifies(verify_jws(fresh, *public_only)));
  EXPECT_EQ(key->thumbprint(), kA3Thumbprint);
  EXPECT_EQ(public_only->thumbprint(), kA3Thumbprint);
}

TEST(JwsVectors, Rfc7515A3TamperedCopyFails) {
  auto key = JwsKey::from_jwk(a3_jwk(false), JwsAlg::ES256);
  ASSERT_TRUE(key) << key.error();
  EXPECT_TRUE(FailsWith(verify_jws(join(kA3Header64, tampered_a1_payload64(), kA3Signature64), *key),
                        JwsErrc::bad_signature));
}

TEST(JwsVectors, Rfc8037A4Ed25519Verifies) {
  auto key = JwsKey::from_jwk(
      R"({"kty":"OKP","crv":"Ed25519","d":")" + std::string(kEdD) + R"(","x":")" + std::string(kEdX) + R"("})",
      JwsAlg::EdDSA);
  ASSERT_TRUE(key) << key.error();
  auto public_only =
      JwsKey::from_jwk(R"({"kty":"OKP","crv":"Ed25519","x":")" + std::string(kEdX) + R"("})", JwsAlg::EdDSA);
  ASSERT_TRUE(public_only) << public_only.error();
  EXPECT_TRUE(key->can_sign());
  EXPECT_FALSE(public_only->can_sign());

  auto parts = split_compact(kEdToken);
  ASSERT_TRUE(parts) << parts.error().description;
  EXPECT_EQ(parts->header, R"({"alg":"EdDSA"})");
  EXPECT_EQ(parts->payload, "Example of Ed25519 signing");
  EXPECT_EQ(parts->signing_input, kEdToken.substr(0, kEdToken.rfind('.')));
  EXPECT_EQ(parts->signature.size(), 64u);
  EXPECT_TRUE(key->verify(parts->signing_input, parts->signature));
  EXPECT_TRUE(public_only->verify(parts->signing_input, parts->signature));
  // Ed25519 is deterministic: the published signature and token are reproduced.
  EXPECT_EQ(key->sign(parts->signing_input), parts->signature);
  EXPECT_EQ(sign_jws(*key, R"({"alg":"EdDSA"})", "Example of Ed25519 signing"), kEdToken);
  EXPECT_EQ(key->thumbprint(), kEdThumbprint);
  EXPECT_EQ(public_only->thumbprint(), kEdThumbprint);
  // The payload is not a JSON object, so the strict token functions refuse it.
  EXPECT_TRUE(FailsWith(verify_jws(kEdToken, *public_only), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(decode_jws(kEdToken), JwsErrc::malformed));
}

TEST(JwsVectors, Rfc8037A4TamperedCopyFails) {
  auto key = JwsKey::from_jwk(R"({"kty":"OKP","crv":"Ed25519","x":")" + std::string(kEdX) + R"("})", JwsAlg::EdDSA);
  ASSERT_TRUE(key) << key.error();
  auto parts = split_compact(kEdToken);
  ASSERT_TRUE(parts) << parts.error().description;
  std::string tampered = join("eyJhbGciOiJFZERTQSJ9", b64("Example of Ed25519 signinG"));
  EXPECT_FALSE(key->verify(tampered, parts->signature));
  std::string bad_signature = parts->signature;
  bad_signature[10] = static_cast<char>(bad_signature[10] ^ 0x01);
  EXPECT_FALSE(key->verify(parts->signing_input, bad_signature));
  EXPECT_FALSE(key->verify(parts->signing_input, ""));
  EXPECT_FALSE(key->verify(parts->signing_input, parts->signature.substr(0, 63)));
  EXPECT_FALSE(key->verify(parts->signing_input, parts->signature + '\0'));
}

TEST(JwsVectors, Rfc7638ThumbprintOfTheSection31Key) {
  auto key = JwsKey::from_jwk(
      R"({"kty":"RSA","n":")" + std::string(kRfc7638N) + R"(","e":"AQAB","alg":"RS256","kid":"2011-04-29"})",
      JwsAlg::RS256);
  ASSERT_TRUE(key) << key.error();
  EXPECT_FALSE(key->can_sign());
  EXPECT_EQ(key->thumbprint(), kRfc7638Thumbprint);
  // Member order and whitespace of the input do not matter.
  auto reordered = JwsKey::from_jwk("{ \"e\" : \"AQAB\",\n \"n\" : \"" + std::string(kRfc7638N) + "\", \"kty\":\"RSA\" }",
                                    JwsAlg::RS256);
  ASSERT_TRUE(reordered) << reordered.error();
  EXPECT_EQ(reordered->thumbprint(), kRfc7638Thumbprint);
}

// ---------------------------------------------------------------------------------------------
// Keys: round trips
// ---------------------------------------------------------------------------------------------

void expect_thumbprint_shape(const std::string& thumbprint) {
  EXPECT_EQ(thumbprint.size(), 43u) << thumbprint;
  EXPECT_TRUE(is_base64url_text(thumbprint)) << thumbprint;
  auto digest = base64url_decode(thumbprint);
  ASSERT_TRUE(digest) << thumbprint;
  EXPECT_EQ(digest->size(), 32u);
}

TEST(JwsKeys, Hs256RoundTrips) {
  const JwsKey& key = hs256();
  EXPECT_EQ(key.alg(), JwsAlg::HS256);
  EXPECT_EQ(key.kid(), "hs-1");
  EXPECT_TRUE(key.can_sign());
  const std::string token = sign_jws(key, R"({"alg":"HS256","kid":"hs-1"})", R"({"sub":"alice"})");
  auto verified = verify_jws(token, key);
  ASSERT_TRUE(Verifies(verified));
  EXPECT_EQ(verified->parts.payload, R"({"sub":"alice"})");
  EXPECT_EQ(verified->parts.signature.size(), 32u);
  EXPECT_EQ(key.sign("abc"), key.sign("abc"));
  EXPECT_TRUE(key.verify("abc", key.sign("abc")));
  EXPECT_FALSE(key.verify("abd", key.sign("abc")));
  // Never published, never exported.
  EXPECT_EQ(key.public_jwk(), "");
  EXPECT_EQ(key.private_pem(), "");
  expect_thumbprint_shape(key.thumbprint());
  EXPECT_EQ(key.thumbprint(), key.thumbprint());
  // The same secret gives the same thumbprint and verifies; another secret neither.
  auto same = JwsKey::hmac("0123456789abcdef0123456789abcdef", "other-kid");
  ASSERT_TRUE(same) << same.error();
  EXPECT_EQ(same->thumbprint(), key.thumbprint());
  EXPECT_TRUE(Verifies(verify_jws(token, *same)));
  auto other = JwsKey::hmac("0123456789abcdef0123456789abcdeF", "hs-1");
  ASSERT_TRUE(other) << other.error();
  EXPECT_NE(other->thumbprint(), key.thumbprint());
  EXPECT_TRUE(FailsWith(verify_jws(token, *other), JwsErrc::bad_signature));
}

TEST(JwsKeys, HmacNeedsAtLeast32Bytes) {
  EXPECT_FALSE(JwsKey::hmac("", "k"));
  EXPECT_FALSE(JwsKey::hmac(std::string(31, 'x'), "k"));
  EXPECT_TRUE(JwsKey::hmac(std::string(32, 'x'), "k"));
  EXPECT_TRUE(JwsKey::hmac(std::string(32, '\0'), "k"));  // bytes, not a C string
}

struct AsymmetricCase {
  JwsAlg alg;
  std::string_view kty;
  std::string_view crv;  // empty for RSA
  std::size_t signature_size;
  std::vector<std::string_view> public_members;
  std::vector<std::string_view> private_members;
};

void check_asymmetric_round_trip(const JwsKey& key, const AsymmetricCase& c) {
  SCOPED_TRACE(std::string(alg_name(c.alg)));
  EXPECT_EQ(key.alg(), c.alg);
  EXPECT_TRUE(key.can_sign());

  const std::string header = R"({"alg":")" + std::string(alg_name(c.alg)) + R"(","typ":"at+jwt","kid":")" +
                             key.kid() + R"("})";
  const std::string payload = R"({"sub":"alice","n":1})";
  const std::string token = sign_jws(key, header, payload);
  auto verified = verify_jws(token, key);
  ASSERT_TRUE(Verifies(verified));
  EXPECT_EQ(verified->parts.header, header);
  EXPECT_EQ(verified->parts.payload, payload);
  EXPECT_EQ(verified->parts.signature.size(), c.signature_size);
  EXPECT_EQ(key.sign("abc").size(), c.signature_size);
  EXPECT_TRUE(key.verify("abc", key.sign("abc")));
  EXPECT_FALSE(key.verify("abd", key.sign("abc")));

  // The public JWK: a strict JSON object with the right members and nothing private.
  JsonObject jwk(key.public_jwk());
  ASSERT_TRUE(jwk.valid) << jwk.text;
  EXPECT_EQ(jwk.str("kty"), std::string(c.kty)) << jwk.text;
  if (!c.crv.empty()) {
    EXPECT_EQ(jwk.str("crv"), std::string(c.crv)) << jwk.text;
  } else {
    EXPECT_FALSE(jwk.has("crv")) << jwk.text;
  }
  EXPECT_EQ(jwk.str("alg"), std::string(alg_name(c.alg))) << jwk.text;
  EXPECT_EQ(jwk.str("use"), "sig") << jwk.text;
  EXPECT_EQ(jwk.str("kid"), key.kid()) << jwk.text;
  for (auto member : c.public_members) {
    auto value = jwk.str(member);
    ASSERT_TRUE(value) << member << " missing in " << jwk.text;
    EXPECT_TRUE(base64url_decode(*value)) << member << " is not canonical base64url in " << jwk.text;
  }
  for (auto member : c.private_members) EXPECT_FALSE(jwk.has(member)) << member << " published in " << jwk.text;
  EXPECT_FALSE(jwk.has("k")) << jwk.text;

  // Thumbprints: shape, stability, and different keys differ.
  const std::string thumbprint = key.thumbprint();
  expect_thumbprint_shape(thumbprint);
  EXPECT_EQ(key.thumbprint(), thumbprint);

  // PKCS#8 PEM round trip: same key, either signs for the other.
  const std::string private_pem = key.private_pem();
  EXPECT_EQ(private_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u) << private_pem;
  auto reloaded = JwsKey::from_private_pem(c.alg, private_pem, "reloaded");
  ASSERT_TRUE(reloaded) << reloaded.error();
  EXPECT_EQ(reloaded->alg(), c.alg);
  EXPECT_EQ(reloaded->kid(), "reloaded");
  EXPECT_TRUE(reloaded->can_sign());
  EXPECT_EQ(reloaded->thumbprint(), thumbprint);
  EXPECT_TRUE(Verifies(verify_jws(token, *reloaded)));
  EXPECT_TRUE(Verifies(verify_jws(sign_jws(*reloaded, header_for(*reloaded), payload), key)));
  EXPECT_EQ(reloaded->private_pem(), private_pem);

  // The public JWK gives a verify-only key with the same thumbprint.
  auto verifier = JwsKey::from_jwk(key.public_jwk(), c.alg);
  ASSERT_TRUE(verifier) << verifier.error();
  EXPECT_EQ(verifier->alg(), c.alg);
  EXPECT_FALSE(verifier->can_sign());
  EXPECT_EQ(verifier->private_pem(), "");
  EXPECT_EQ(verifier->thumbprint(), thumbprint);
  EXPECT_TRUE(Verifies(verify_jws(token, *verifier)));
  EXPECT_TRUE(verifier->verify("abc", key.sign("abc")));
  JsonObject republished(verifier->public_jwk());
  ASSERT_TRUE(republished.valid) << republished.text;
  for (auto member : c.public_members) EXPECT_EQ(republished.str(member), jwk.str(member)) << member;

  // A second generated key is a different key.
  auto fresh = JwsKey::generate(c.alg);
  ASSERT_TRUE(fresh) << fresh.error();
  EXPECT_NE(fresh->thumbprint(), thumbprint);
  EXPECT_TRUE(FailsWith(verify_jws(token, *fresh), JwsErrc::bad_signature));
}

TEST(JwsKeys, Rs256RoundTrips) {
  check_asymmetric_round_trip(rs256(), {JwsAlg::RS256, "RSA", "", 256, {"n", "e"}, {"d", "p", "q", "dp", "dq", "qi"}});
  JsonObject jwk(rs256().public_jwk());
  EXPECT_EQ(jwk.str("e"), "AQAB");
  EXPECT_EQ(unb64(jwk.str("n").value_or("")).size(), 256u);  // RSA 2048, no leading zero
}

TEST(JwsKeys, Es256RoundTrips) {
  check_asymmetric_round_trip(es256(), {JwsAlg::ES256, "EC", "P-256", 64, {"x", "y"}, {"d"}});
  JsonObject jwk(es256().public_jwk());
  EXPECT_EQ(unb64(jwk.str("x").value_or("")).size(), 32u);  // full-length coordinates (RFC 7518 §6.2.1.2)
  EXPECT_EQ(unb64(jwk.str("y").value_or("")).size(), 32u);
}

// r and s are integers below n; about one in 128 signatures has one of them shorter than 32
// bytes. RFC 7518 §3.4 wants each left-padded to exactly 32 bytes, and the verifier (which goes
// through EVP, not the signing path) must accept every one of them.
TEST(JwsKeys, Es256SignaturesArePaddedToFixedWidth) {
  auto public_only = JwsKey::from_jwk(es256().public_jwk(), JwsAlg::ES256);
  ASSERT_TRUE(public_only) << public_only.error();
  int short_halves = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string input = "eyJhbGciOiJFUzI1NiJ9." + std::to_string(i);
    const std::string sig = es256().sign(input);
    ASSERT_EQ(sig.size(), 64u);
    if (sig[0] == '\0' || sig[32] == '\0') ++short_halves;
    ASSERT_TRUE(public_only->verify(input, sig)) << "signature " << i;
  }
  EXPECT_GT(short_halves, 0);  // P(none in 3000) < 1e-10: the padding path did run
}

TEST(JwsKeys, EdDsaRoundTrips) {
  check_asymmetric_round_trip(eddsa(), {JwsAlg::EdDSA, "OKP", "Ed25519", 64, {"x"}, {"d"}});
  JsonObject jwk(eddsa().public_jwk());
  EXPECT_EQ(unb64(jwk.str("x").value_or("")).size(), 32u);
}

TEST(JwsKeys, SetKidIsWhatThePublicJwkCarries) {
  auto key = JwsKey::generate(JwsAlg::ES256);
  ASSERT_TRUE(key) << key.error();
  auto thumbprint = key->thumbprint();
  key->set_kid("2030-01-01");
  EXPECT_EQ(key->kid(), "2030-01-01");
  EXPECT_EQ(JsonObject(key->public_jwk()).str("kid"), "2030-01-01");
  EXPECT_EQ(key->thumbprint(), thumbprint);  // the kid is not part of the thumbprint
  JwsKey moved = std::move(*key);
  EXPECT_EQ(moved.kid(), "2030-01-01");
  EXPECT_TRUE(moved.verify("x", moved.sign("x")));
}

TEST(JwsKeys, ConstructorsRefuseWrongOrBrokenKeys) {
  // A JWK of one type for another algorithm.
  EXPECT_FALSE(JwsKey::from_jwk(a3_jwk(false), JwsAlg::RS256));
  EXPECT_FALSE(JwsKey::from_jwk(a3_jwk(false), JwsAlg::EdDSA));
  EXPECT_FALSE(JwsKey::from_jwk(a3_jwk(false), JwsAlg::HS256));
  EXPECT_FALSE(JwsKey::from_jwk(a2_public_jwk(), JwsAlg::ES256));
  EXPECT_FALSE(JwsKey::from_jwk(a2_public_jwk(), JwsAlg::HS256));
  EXPECT_FALSE(JwsKey::from_jwk(kA1Jwk, JwsAlg::RS256));
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"OKP","crv":"Ed25519","x":")" + std::string(kEdX) + R"("})", JwsAlg::ES256));
  // A point that is not on P-256 (y with its lowest bit flipped).
  std::string y = unb64(kA3Y);
  y.back() = static_cast<char>(y.back() ^ 0x01);
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"EC","crv":"P-256","x":")" + std::string(kA3X) + R"(","y":")" + b64(y) + R"("})",
                                JwsAlg::ES256));
  // Another curve, or missing members.
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"EC","crv":"P-384","x":")" + std::string(kA3X) + R"(","y":")" +
                                    std::string(kA3Y) + R"("})",
                                JwsAlg::ES256));
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"EC","crv":"P-256","x":")" + std::string(kA3X) + R"("})", JwsAlg::ES256));
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"RSA","e":"AQAB"})", JwsAlg::RS256));
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"OKP","crv":"X25519","x":")" + std::string(kEdX) + R"("})", JwsAlg::EdDSA));
  // Not JSON, not an object, duplicate members.
  EXPECT_FALSE(JwsKey::from_jwk("", JwsAlg::ES256));
  EXPECT_FALSE(JwsKey::from_jwk("not json", JwsAlg::ES256));
  EXPECT_FALSE(JwsKey::from_jwk("[]", JwsAlg::ES256));
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"EC","kty":"EC","crv":"P-256","x":")" + std::string(kA3X) + R"(","y":")" +
                                    std::string(kA3Y) + R"("})",
                                JwsAlg::ES256));

  // PEM of one key type for another algorithm, and garbage.
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::RS256, es256().private_pem(), "k"));
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::EdDSA, es256().private_pem(), "k"));
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::ES256, rs256().private_pem(), "k"));
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::ES256, eddsa().private_pem(), "k"));
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::HS256, es256().private_pem(), "k"));
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::ES256, "", "k"));
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::ES256, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "k"));
  // A public key is not a private key.
  auto x = JsonObject(es256().public_jwk()).str("x").value_or("");
  auto yy = JsonObject(es256().public_jwk()).str("y").value_or("");
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::ES256, ec_public_pem(x, yy), "k"));
}

// Throwaway PKCS#8 keys made with `openssl genpkey` for this test only: the wrong curve or size
// for the algorithm they are offered as.
constexpr std::string_view kP384Pem = R"(-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDyrwN9cDDYGwVSzJse
UC8v1PRTlcCXNHraEWRMrSw7RYZjxBvx+Xv2+itcbwfRzsmhZANiAASaokfKprSK
skA1y/cIsR+rjpTdGJo2Ch5EPxC9uKGEPNGr+ME6bfOUTvYVhn4tXgAaykmJPRNw
iEDObxouQF/qDJ471CPIw1tl92oCrmeNIdwDqgSJGv4EEjsjXvoQNUg=
-----END PRIVATE KEY-----
)";
constexpr std::string_view kSecp256k1Pem = R"(-----BEGIN PRIVATE KEY-----
MIGEAgEAMBAGByqGSM49AgEGBSuBBAAKBG0wawIBAQQgKq4ThJQ9Z2/ZJUCfjnXh
d5XnWixDhvPGGNr49hYL50ShRANCAATJfCKbcgTDdbuJ2YS4zYQ4M85qBSglzo0M
t2kWzcLbu8ZmKruK39mPPB4Nd1EmnzqLjybg9/2D+jDT7LkqYrxD
-----END PRIVATE KEY-----
)";
constexpr std::string_view kRsa1024Pem = R"(-----BEGIN PRIVATE KEY-----
MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBAMh+sS7MRdDPBRTA
mpPbwHumnWFzjgbKIQOBQdV4z79JW86A6AMtgXFkzjbc/yPYwZvejSKorDg2W3uO
hf+e82Gs5uC2jxG1DkImN+ryEliWpLXLcdScZMIzwcNOewW2Bm3k6U5SVlUF3wHh
2hDclxsyUmlLCygI+QZ0c5eC6HlpAgMBAAECgYBsHg3UK6nWcVzPFRIGe/FvfKjP
3W2Qcb2d0z06Lbzx7VBJqq/yzr5H9NFTOpeHsCKvuDKppwXABmgM2A2gjAm4BRfl
M9rHTvMCpc4zyW7yy2TTFnTUlcZPd4NMGmr4G+TVNdGqj8VTZdDzItCcjFztufDm
DwOLXhaw9KSI9sN4AQJBAOSOjIP6uKriTq7ABe/bvI/tvitoL2ooQ0kyQM8BBMZX
seAX/izRAPjqw/4X/T96msbksUJ+AXyGYOzz8icwtwECQQDgkZEKEMdzSkTWLHgA
LCmSt3iKGNl79NFHTbQTc1mhFrW9tP6hQjqF0fNLr3q4jAwBxG0VVuKa8wbNe9pj
J2ppAkBC/1JLYdR+KyabbSiQXh5RJoTHXpv/h1vp+fQregX3Sj+XDBFy+7VIQjE/
q7KNyBfU07buYdd3tEB3VS8Xs90BAkAaNqO5iw/dE1RJs9MmIgGQUL5PUGtCnuc2
7YkRpCtYNHBufowigrqWGFXQBeHLXP2hzy30ibnV4Hxwy/5ICLfRAkAK++qeq7ez
tDg8NvGjMqz7Zoy2/EatbUk2XnNDrkrKaiAKKkA/G8nEzzhrqbjPO/YZtUeErVGf
BaGS/64mJ3Lu
-----END PRIVATE KEY-----
)";
constexpr std::string_view kEd448Pem = R"(-----BEGIN PRIVATE KEY-----
MEcCAQAwBQYDK2VxBDsEObEQWNy78ny6FyxBbMNqS/8AeA4kxDhA0Jn0sz/ucmaq
S1Xox9kRin+5phrIDEFQBx6V1ysbi51Knw==
-----END PRIVATE KEY-----
)";
// The modulus of kRsa1024Pem.
constexpr std::string_view kRsa1024N =
    "yH6xLsxF0M8FFMCak9vAe6adYXOOBsohA4FB1XjPv0lbzoDoAy2BcWTONtz_I9jBm96NIqisODZbe46F_57zYazm4LaPEbUOQiY36vISWJaktctx1"
    "JxkwjPBw057BbYGbeTpTlJWVQXfAeHaENyXGzJSaUsLKAj5BnRzl4LoeWk";

TEST(JwsKeys, OnlyTheAlgorithmsOwnCurveAndSizeAreAccepted) {
  // ES256 is ECDSA on P-256 (RFC 7518 §3.4): other curves, even with 32-byte scalars, are not it.
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::ES256, kP384Pem, "k"));
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::ES256, kSecp256k1Pem, "k"));
  // RS256 keys are 2048 bits or larger (RFC 7518 §3.3: "MUST be used"), from a PEM as from a JWK.
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::RS256, kRsa1024Pem, "k"));
  EXPECT_FALSE(JwsKey::from_jwk(R"({"kty":"RSA","e":"AQAB","n":")" + std::string(kRsa1024N) + R"("})", JwsAlg::RS256));
  // EdDSA here is Ed25519 only.
  EXPECT_FALSE(JwsKey::from_private_pem(JwsAlg::EdDSA, kEd448Pem, "k"));
}

TEST(JwsKeys, ConcurrentSignAndVerify) {
  const JwsKey& key = es256();
  const JwsKey& rsa = rs256();
  const std::string token = sign_jws(key, header_for(key), R"({"sub":"alice"})");
  const std::string rsa_token = sign_jws(rsa, header_for(rsa), R"({"sub":"alice"})");
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (verify_jws(token, key) && verify_jws(rsa_token, rsa)) ++good;
        std::string own = sign_jws(key, header_for(key), R"({"t":)" + std::to_string(t) + "}");
        if (verify_jws(own, key)) ++good;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 8 * 25 * 2);
}

// ---------------------------------------------------------------------------------------------
// Attacks
// ---------------------------------------------------------------------------------------------

TEST(JwsAttacks, AlgNoneIsRefused) {
  const std::string payload64 = b64(R"({"sub":"admin"})");
  for (std::string_view none : {"none", "None", "NONE", "nOnE"}) {
    const std::string header64 = b64(R"({"alg":")" + std::string(none) + R"("})");
    const std::string unsigned_token = join(header64, payload64, "");
    const std::string with_garbage = join(header64, payload64, b64(std::string(32, 'x')));
    for (const JwsKey* key : {&hs256(), &rs256(), &es256(), &eddsa()}) {
      EXPECT_TRUE(FailsWith(verify_jws(unsigned_token, *key), JwsErrc::bad_header)) << none;
      EXPECT_TRUE(FailsWith(verify_jws(with_garbage, *key), JwsErrc::bad_header)) << none;
    }
    EXPECT_TRUE(FailsWith(decode_jws(unsigned_token), JwsErrc::bad_header)) << none;
  }
}

// CVE-2015-9235 style: the attacker HMACs with the public key material it can download, and
// either keeps alg HS256 (the key's algorithm is RS256/ES256, so the header is refused) or
// claims the key's algorithm (then the MAC is not a signature).
void check_hmac_confusion(const JwsKey& victim, const std::vector<std::string>& public_material) {
  const std::string payload = R"({"sub":"admin","roles":["admin"]})";
  for (const auto& secret : public_material) {
    auto attacker = JwsKey::hmac(secret, victim.kid());
    ASSERT_TRUE(attacker) << attacker.error();
    const std::string token = sign_jws(*attacker, R"({"alg":"HS256","kid":")" + victim.kid() + R"("})", payload);
    ASSERT_TRUE(Verifies(verify_jws(token, *attacker)));  // a real HS256 token for that secret
    EXPECT_TRUE(FailsWith(verify_jws(token, victim), JwsErrc::bad_header)) << secret;

    const std::string claiming = forge_raw(*attacker, b64(header_for(victim)), b64(payload));
    EXPECT_TRUE(FailsWith(verify_jws(claiming, victim), JwsErrc::bad_signature)) << secret;
  }
}

TEST(JwsAttacks, HmacKeyConfusionWithTheRsaPublicKey) {
  const JwsKey& rsa = rs256();
  JsonObject jwk(rsa.public_jwk());
  ASSERT_TRUE(jwk.valid);
  const std::string n = jwk.str("n").value_or(""), e = jwk.str("e").value_or("");
  check_hmac_confusion(rsa, {rsa.public_jwk(), rsa_public_pem(n, e), unb64(n)});
  // The same against a verify-only copy, as the JWKS consumer holds it.
  auto verifier = JwsKey::from_jwk(rsa.public_jwk(), JwsAlg::RS256);
  ASSERT_TRUE(verifier) << verifier.error();
  verifier->set_kid(rsa.kid());
  check_hmac_confusion(*verifier, {rsa.public_jwk(), rsa_public_pem(n, e)});
}

TEST(JwsAttacks, HmacKeyConfusionWithTheEcPublicKey) {
  const JwsKey& ec = es256();
  JsonObject jwk(ec.public_jwk());
  ASSERT_TRUE(jwk.valid);
  const std::string x = jwk.str("x").value_or(""), y = jwk.str("y").value_or("");
  check_hmac_confusion(ec, {ec.public_jwk(), ec_public_pem(x, y), "\x04"s + unb64(x) + unb64(y)});
  const JwsKey& ed = eddsa();
  check_hmac_confusion(ed, {ed.public_jwk(), unb64(JsonObject(ed.public_jwk()).str("x").value_or("")) + std::string(8, 'p')});
}

TEST(JwsAttacks, AlgOfAnotherKeyIsRefused) {
  const std::string payload = R"({"sub":"alice"})";
  const JwsKey* keys[] = {&hs256(), &rs256(), &es256(), &eddsa()};
  for (const JwsKey* signer : keys) {
    const std::string token = sign_jws(*signer, header_for(*signer), payload);
    for (const JwsKey* verifier : keys) {
      if (verifier == signer) {
        EXPECT_TRUE(Verifies(verify_jws(token, *verifier)));
        continue;
      }
      EXPECT_TRUE(FailsWith(verify_jws(token, *verifier), JwsErrc::bad_header))
          << alg_name(signer->alg()) << " token, " << alg_name(verifier->alg()) << " key";
    }
  }
}

TEST(JwsAttacks, MissingOrUnknownAlgIsRefused) {
  const JwsKey& key = es256();
  const std::string payload = R"({"sub":"alice"})";
  for (std::string header : {R"({})", R"({"typ":"JWT"})", R"({"kid":"es-1"})", R"({"alg":"es256"})",
                             R"({"alg":"ES256 "})", R"({"alg":"ES384"})", R"({"alg":"ES256K"})", R"({"alg":"HS256"})",
                             R"({"alg":""})", R"({"Alg":"ES256"})", R"({"ALG":"ES256"})"}) {
    EXPECT_TRUE(FailsWith(verify_jws(forge(key, header, payload), key), JwsErrc::bad_header)) << header;
  }
  // alg of the wrong JSON type is not the key's algorithm either; it must fail, never crash.
  for (std::string header : {R"({"alg":null})", R"({"alg":256})", R"({"alg":["ES256"]})", R"({"alg":{"ES256":1}})",
                             R"({"alg":true})"}) {
    auto result = verify_jws(forge(key, header, payload), key);
    EXPECT_TRUE(FailsWithEither(result, JwsErrc::bad_header, JwsErrc::malformed)) << header;
  }
}

TEST(JwsAttacks, KeySourceHeadersAreRefused) {
  const JwsKey& key = es256();
  const std::string jwk = key.public_jwk();
  const std::string payload = R"({"sub":"admin"})";
  for (const std::string& header : std::vector<std::string>{
           R"({"alg":"ES256","jku":"https://attacker.example/jwks.json"})",
           R"({"alg":"ES256","x5u":"https://attacker.example/cert.pem"})",
           R"({"alg":"ES256","jwk":)" + jwk + "}",
           R"({"alg":"ES256","x5c":["MIIBszCCAVmgAwIBAgIUAA=="]})",
           R"({"jku":"https://attacker.example/jwks.json","alg":"ES256"})",
           R"({"alg":"ES256","jku":null})",
           R"({"alg":"ES256","x5c":[]})",
           R"({"alg":"ES256","j\u006bu":"https://attacker.example/jwks.json"})",
       }) {
    const std::string token = forge(key, header, payload);  // validly signed: only the header is wrong
    EXPECT_TRUE(FailsWith(verify_jws(token, key), JwsErrc::bad_header)) << header;
    EXPECT_TRUE(FailsWith(decode_jws(token), JwsErrc::bad_header)) << header;
  }
}

TEST(JwsAttacks, CritIsRefused) {
  const JwsKey& key = es256();
  for (std::string header : {R"({"alg":"ES256","crit":["exp"],"exp":1})", R"({"alg":"ES256","crit":["b64"],"b64":false})",
                             R"({"alg":"ES256","crit":[]})", R"({"alg":"ES256","crit":"exp"})"}) {
    EXPECT_TRUE(FailsWith(verify_jws(forge(key, header, R"({"sub":"a"})"), key), JwsErrc::bad_header)) << header;
  }
}

std::string es256_token_with_signature(const JwsKey& key, std::string_view signature) {
  return join(b64(header_for(key)), b64(R"({"sub":"admin"})"), b64(signature));
}

TEST(JwsAttacks, EcdsaZeroSignatureFails) {  // CVE-2022-21449 ("psychic signatures")
  for (const JwsKey* key : {&es256()}) {
    EXPECT_TRUE(FailsWith(verify_jws(es256_token_with_signature(*key, std::string(64, '\0')), *key),
                          JwsErrc::bad_signature));
    EXPECT_FALSE(key->verify("anything", std::string(64, '\0')));
  }
  auto rfc_key = JwsKey::from_jwk(a3_jwk(false), JwsAlg::ES256);
  ASSERT_TRUE(rfc_key) << rfc_key.error();
  EXPECT_TRUE(FailsWith(verify_jws(join(kA3Header64, kA1Payload64, b64(std::string(64, '\0'))), *rfc_key),
                        JwsErrc::bad_signature));
}

TEST(JwsAttacks, EcdsaScalarsOutOfRangeFail) {
  const JwsKey& key = es256();
  const std::string input = join(b64(header_for(key)), b64(R"({"sub":"admin"})"));
  const std::string good = key.sign(input);
  ASSERT_EQ(good.size(), 64u);
  ASSERT_TRUE(Verifies(verify_jws(join(input, b64(good)), key)));
  const std::string r = good.substr(0, 32), s = good.substr(32);
  const std::string n = from_hex(kP256OrderHex), zero(32, '\0'), ones(32, '\xff');
  const std::pair<const char*, std::string> cases[] = {
      {"r = 0", zero + s},  {"s = 0", r + zero},  {"r = n", n + s},       {"s = n", r + n},
      {"r = s = n", n + n}, {"r = 2^256-1", ones + s}, {"s = 2^256-1", r + ones},
  };
  for (const auto& [what, signature] : cases) {
    EXPECT_TRUE(FailsWith(verify_jws(join(input, b64(signature)), key), JwsErrc::bad_signature)) << what;
    EXPECT_FALSE(key.verify(input, signature)) << what;
  }
}

TEST(JwsAttacks, EcdsaSignatureMustBeRawAndExactly64Bytes) {
  const JwsKey& key = es256();
  const std::string input = join(b64(header_for(key)), b64(R"({"sub":"admin"})"));
  const std::string good = key.sign(input);
  ASSERT_EQ(good.size(), 64u);
  // The same (r, s) as DER, the form OpenSSL itself produces and accepts.
  std::string r = good.substr(0, 32), s = good.substr(32);
  const std::string der_signature = der(0x30, der_uint(r) + der_uint(s));
  const std::pair<const char*, std::string> cases[] = {
      {"DER", der_signature},
      {"63 bytes", good.substr(0, 63)},
      {"65 bytes", good + '\0'},
      {"leading zero", "\0"s + good},
      {"32 bytes", good.substr(0, 32)},
      {"128 bytes", good + good},
  };
  for (const auto& [what, signature] : cases) {
    EXPECT_TRUE(FailsWith(verify_jws(join(input, b64(signature)), key), JwsErrc::bad_signature)) << what;
    EXPECT_FALSE(key.verify(input, signature)) << what;
  }
}

TEST(JwsAttacks, Ed25519NonCanonicalSFails) {  // RFC 8032 §5.1.7: S must be < L (no malleability)
  const JwsKey& key = eddsa();
  const std::string input = join(b64(header_for(key)), b64(R"({"sub":"admin"})"));
  std::string signature = key.sign(input);
  ASSERT_EQ(signature.size(), 64u);
  unsigned carry = 0;
  for (int i = 0; i < 32; ++i) {
    unsigned sum = static_cast<unsigned char>(signature[32 + i]) + kEd25519OrderLe[i] + carry;
    signature[32 + i] = static_cast<char>(sum & 0xff);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);
  EXPECT_FALSE(key.verify(input, signature));
  EXPECT_TRUE(FailsWith(verify_jws(join(input, b64(signature)), key), JwsErrc::bad_signature));
  EXPECT_TRUE(FailsWith(verify_jws(join(input, b64(std::string(64, '\0'))), key), JwsErrc::bad_signature));
}

TEST(JwsAttacks, TruncatedOrExtendedSignaturesFail) {
  for (const JwsKey* key : {&hs256(), &rs256(), &es256(), &eddsa()}) {
    const std::string input = join(b64(header_for(*key)), b64(R"({"sub":"admin"})"));
    const std::string good = key->sign(input);
    for (std::size_t keep : {std::size_t{1}, good.size() / 2, good.size() - 1}) {
      EXPECT_TRUE(FailsWith(verify_jws(join(input, b64(good.substr(0, keep))), *key), JwsErrc::bad_signature))
          << alg_name(key->alg()) << " kept " << keep;
    }
    EXPECT_TRUE(FailsWith(verify_jws(join(input, b64(good + "x")), *key), JwsErrc::bad_signature))
        << alg_name(key->alg());
    EXPECT_TRUE(FailsWith(verify_jws(join(input, b64(std::string(good.size(), '\0'))), *key), JwsErrc::bad_signature))
        << alg_name(key->alg());
  }
}

TEST(JwsAttacks, StrippedSignatureFails) {
  for (const JwsKey* key : {&hs256(), &rs256(), &es256(), &eddsa()}) {
    const std::string token = sign_jws(*key, header_for(*key), R"({"sub":"admin"})");
    const std::string input = token.substr(0, token.rfind('.'));
    EXPECT_TRUE(FailsWithEither(verify_jws(input + ".", *key), JwsErrc::malformed, JwsErrc::bad_signature))
        << alg_name(key->alg());
    EXPECT_TRUE(FailsWith(verify_jws(input, *key), JwsErrc::malformed)) << alg_name(key->alg());
  }
}

TEST(JwsAttacks, TamperedTokensFail) {
  for (const JwsKey* key : {&hs256(), &rs256(), &es256(), &eddsa()}) {
    SCOPED_TRACE(std::string(alg_name(key->alg())));
    const std::string header = R"({"alg":")" + std::string(alg_name(key->alg())) + R"(","kid":"a"})";
    const std::string token = sign_jws(*key, header, R"({"sub":"alice","admin":false})");
    ASSERT_TRUE(Verifies(verify_jws(token, *key)));
    auto parts = split_dots(token);
    ASSERT_EQ(parts.size(), 3u);
    // Payload: a different valid claim set under the old signature.
    EXPECT_TRUE(FailsWith(verify_jws(join(parts[0], b64(R"({"sub":"alice","admin":true})"), parts[2]), *key),
                          JwsErrc::bad_signature));
    EXPECT_TRUE(FailsWith(verify_jws(join(parts[0], b64(R"({"sub":"alicf","admin":false})"), parts[2]), *key),
                          JwsErrc::bad_signature));
    // Header: still acceptable, but not what was signed.
    const std::string other_header = R"({"alg":")" + std::string(alg_name(key->alg())) + R"(","kid":"b"})";
    EXPECT_TRUE(FailsWith(verify_jws(join(b64(other_header), parts[1], parts[2]), *key), JwsErrc::bad_signature));
    // Signature: one bit flipped in the first and in the last byte.
    for (std::size_t at : {std::size_t{0}, std::size_t{1}}) {
      std::string signature = unb64(parts[2]);
      std::size_t index = at == 0 ? 0 : signature.size() - 1;
      signature[index] = static_cast<char>(signature[index] ^ 0x40);
      EXPECT_TRUE(FailsWith(verify_jws(join(parts[0], parts[1], b64(signature)), *key), JwsErrc::bad_signature));
    }
    // Swapping header and payload around.
    EXPECT_TRUE(verify_jws(join(parts[1], parts[0], parts[2]), *key).has_value() == false);
  }
}

// ---------------------------------------------------------------------------------------------
// Strictness
// ---------------------------------------------------------------------------------------------

TEST(JwsStrict, DuplicateKeysAreMalformed) {
  const JwsKey& key = es256();
  const std::string header = header_for(key);
  for (std::string payload : {
           R"({"sub":"a","sub":"b"})",
           R"({"sub":"a","s\u0075b":"b"})",
           R"({"\u0073\u0075\u0062":"a","sub":"b"})",
           R"({"sub":"a","x":{"k":1,"k":2}})",
           R"({"sub":"a","x":[{"k":1,"k":2}]})",
           R"({"sub":"a","x":{"y":{"z":{"k":1,"\u006b":2}}}})",
           R"({"sub":"a","sub":"a"})",
           R"({"":1,"":2})",
       }) {
    EXPECT_TRUE(FailsWith(verify_jws(forge(key, header, payload), key), JwsErrc::malformed)) << payload;
  }
  for (std::string dup_header : {
           R"({"alg":"ES256","alg":"ES256"})",
           R"({"alg":"ES256","alg":"none"})",
           R"({"alg":"none","alg":"ES256"})",
           R"({"alg":"ES256","\u0061lg":"ES256"})",
           R"({"alg":"ES256","kid":"a","kid":"b"})",
           R"({"alg":"ES256","ext":{"k":1,"k":2}})",
       }) {
    const std::string token = forge(key, dup_header, R"({"sub":"a"})");
    EXPECT_TRUE(FailsWith(verify_jws(token, key), JwsErrc::malformed)) << dup_header;
    EXPECT_TRUE(FailsWith(decode_jws(token), JwsErrc::malformed)) << dup_header;
  }
}

TEST(JwsStrict, SameKeyInDifferentObjectsIsNotADuplicate) {
  const JwsKey& key = es256();
  for (std::string payload : {
           R"({"x":{"k":1},"y":{"k":2}})",
           R"({"k":1,"o":{"k":2}})",
           R"({"a":[{"k":1},{"k":2}]})",
           R"({"a":1,"\u0062":2})",
           R"({"sub":"a","Sub":"b"})",
       }) {
    EXPECT_TRUE(Verifies(verify_jws(forge(key, header_for(key), payload), key))) << payload;
  }
}

TEST(JwsStrict, NonCanonicalBase64urlIsMalformed) {
  const JwsKey& key = es256();
  const std::string header64 = b64(R"({"alg":"ES256","kid":"k1"})");
  const std::string payload64 = b64(R"({"sub":"a"})");
  ASSERT_NE(header64.size() % 4, 0u);
  ASSERT_NE(payload64.size() % 4, 0u);
  const std::string token = forge_raw(key, header64, payload64);
  ASSERT_TRUE(Verifies(verify_jws(token, key)));
  auto parts = split_dots(token);
  ASSERT_EQ(parts[2].size() % 4, 2u);  // 64 bytes

  const std::string bad_header = non_canonical(header64), bad_payload = non_canonical(payload64),
                    bad_signature = non_canonical(parts[2]);
  ASSERT_FALSE(base64url_decode(bad_header));  // precondition: core rejects these spellings
  ASSERT_FALSE(base64url_decode(bad_payload));
  ASSERT_FALSE(base64url_decode(bad_signature));

  // Each is signed over exactly what is sent, so a lenient decoder would accept it.
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, bad_header, payload64), key), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, header64, bad_payload), key), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(verify_jws(join(parts[0], parts[1], bad_signature), key), JwsErrc::malformed));
  EXPECT_FALSE(split_compact(join(parts[0], parts[1], bad_signature)));
  // A length that no byte string has (86 + 3 = 89 = 1 mod 4).
  EXPECT_TRUE(FailsWith(verify_jws(join(parts[0], parts[1], parts[2] + "AAA"), key), JwsErrc::malformed));
}

TEST(JwsStrict, PaddingAndTheStandardAlphabetAreMalformed) {
  const JwsKey& key = es256();
  const std::string header64 = b64(R"({"alg":"ES256","kid":"k1"})");  // 35 characters
  const std::string payload64 = b64(R"({"sub":"a"})");                // 15 characters
  const std::string token = forge_raw(key, header64, payload64);
  auto parts = split_dots(token);
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, header64 + "=", payload64), key), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, header64, payload64 + "="), key), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(verify_jws(join(parts[0], parts[1], parts[2] + "=="), key), JwsErrc::malformed));
  const std::string payload26 = b64(R"({"sub":"a","p":"x"})");
  ASSERT_EQ(payload26.size() % 4, 2u);
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, header64, payload26 + "=="), key), JwsErrc::malformed));

  // {"a":"~~~???"} encodes to eyJhIjoifn5-Pz8_In0: '-' and '_' in the standard alphabet are '+' and '/'.
  const std::string url = b64(R"({"a":"~~~???"})");
  ASSERT_EQ(url, "eyJhIjoifn5-Pz8_In0");
  ASSERT_TRUE(Verifies(verify_jws(forge_raw(key, header64, url), key)));
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, header64, "eyJhIjoifn5+Pz8_In0"), key), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, header64, "eyJhIjoifn5-Pz8/In0"), key), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, header64, "eyJhIjoifn5+Pz8/In0="), key), JwsErrc::malformed));
  // The same in a signature: find one that has '-' or '_' in its encoding.
  for (int i = 0; i < 200; ++i) {
    const std::string t = forge_raw(key, header64, b64(R"({"i":)" + std::to_string(i) + "}"));
    auto p = split_dots(t);
    auto at = p[2].find_first_of("-_");
    if (at == std::string::npos) continue;
    std::string standard = p[2];
    standard[at] = standard[at] == '-' ? '+' : '/';
    EXPECT_TRUE(FailsWith(verify_jws(join(p[0], p[1], standard), key), JwsErrc::malformed)) << standard;
    break;
  }
  // Foreign characters and whitespace.
  for (std::string bad : {" " + token, token + " ", token + "\n", token + "\r\n", "\t" + token}) {
    EXPECT_TRUE(FailsWith(verify_jws(bad, key), JwsErrc::malformed));
  }
  for (std::string part : {header64.substr(0, 10) + " " + header64.substr(10), header64.substr(0, 10) + "\n" + header64.substr(10),
                           header64.substr(0, 10) + "*" + header64.substr(10), header64.substr(0, 10) + "\0"s + header64.substr(10),
                           header64.substr(0, 10) + "\xc3\xa9" + header64.substr(10)}) {
    EXPECT_TRUE(FailsWith(verify_jws(forge_raw(key, part, payload64), key), JwsErrc::malformed));
  }
}

TEST(JwsStrict, ExactlyThreePartsAreAccepted) {
  const JwsKey& key = es256();
  const std::string token = sign_jws(key, header_for(key), R"({"sub":"a"})");
  auto parts = split_dots(token);
  for (std::string bad : {
           std::string(),
           std::string("."),
           std::string(".."),
           std::string("..."),
           parts[0],
           join(parts[0], parts[1]),
           token + ".",
           token + "." + parts[2],
           join(join(parts[0], parts[1], parts[2]), parts[1]),
           join(parts[0], "", parts[2]),
           join("", parts[1], parts[2]),
           parts[0] + "." + parts[1] + ".." + parts[2],
       }) {
    EXPECT_TRUE(FailsWith(verify_jws(bad, key), JwsErrc::malformed)) << bad;
    EXPECT_TRUE(FailsWith(decode_jws(bad), JwsErrc::malformed)) << bad;
  }
  EXPECT_FALSE(split_compact(join(parts[0], parts[1])));
  EXPECT_FALSE(split_compact(token + "." + parts[2]));
  EXPECT_FALSE(split_compact(""));
}

TEST(JwsStrict, HeaderAndPayloadMustBeJsonObjects) {
  const JwsKey& key = es256();
  const std::string header = header_for(key);
  for (std::string not_object : {R"([])", R"([{"sub":"a"}])", R"("sub")", R"(1)", R"(null)", R"(true)", R"()",
                                 R"( )", R"({"sub":"a"}[])"}) {
    EXPECT_TRUE(FailsWith(verify_jws(forge(key, header, not_object), key), JwsErrc::malformed))
        << "payload " << not_object;
  }
  for (std::string not_object : {R"(["ES256"])", R"([{"alg":"ES256"}])", R"("ES256")", R"(null)", R"()",
                                 R"({"alg":"ES256"}{})"}) {
    const std::string token = forge(key, not_object, R"({"sub":"a"})");
    EXPECT_TRUE(FailsWith(verify_jws(token, key), JwsErrc::malformed)) << "header " << not_object;
    EXPECT_TRUE(FailsWith(decode_jws(token), JwsErrc::malformed)) << "header " << not_object;
  }
}

TEST(JwsStrict, InvalidJsonIsMalformed) {
  const JwsKey& key = es256();
  const std::string header = header_for(key);
  const std::vector<std::string> invalid = {
      R"({"a":1,})",
      R"({,"a":1})",
      R"({'a':1})",
      R"({"a":'x'})",
      R"({a:1})",
      R"({"a" 1})",
      R"({"a":1 "b":2})",
      R"({"a":1)",
      R"({"a":1}})",
      R"({"a":[1,2})",
      R"({"a":[1,]})",
      R"({"a":[,1]})",
      R"({"a":1} x)",
      R"(/*c*/{"a":1})",
      R"({"a":1}//)",
      "{\"a\":\"x\x01y\"}",         // unescaped control characters
      "{\"a\":\"x\ty\"}",
      "{\"a\":\"x\ny\"}",
      "{\"a\":\"\0\"}"s,
      "{\"a\":1}\0"s,               // trailing NUL
      "{\"a\":\"\xff\"}",           // invalid UTF-8
      "{\"a\":\"\xc3\"}",           // truncated sequence
      "{\"a\":\"\xc0\xaf\"}",       // overlong '/'
      "{\"a\":\"\xe0\x80\xaf\"}",   // overlong
      "{\"a\":\"\xed\xa0\x80\"}",   // UTF-8-encoded surrogate
      "{\"a\":\"\xf4\x90\x80\x80\"}",  // above U+10FFFF
      "{\"\xff\":1}",               // invalid UTF-8 in a key
      R"({"a":"\ud800"})",          // lone surrogates
      R"({"a":"\udc00"})",
      R"({"a":"\ud800\u0041"})",
      R"({"a":"\ud800x"})",
      R"({"\ud800":1})",
      R"({"a":"\x"})",              // bad escapes
      R"({"a":"\u12"})",
      R"({"a":"\u12G4"})",
      R"({"a":"\U0041"})",
      R"({"a":"\'"})",
      R"({"a":"x)",
      R"({"a":01})",                // numbers outside the grammar
      R"({"a":-01})",
      R"({"a":00})",
      R"({"a":NaN})",
      R"({"a":Infinity})",
      R"({"a":-Infinity})",
      R"({"a":.5})",
      R"({"a":1.})",
      R"({"a":+1})",
      R"({"a":0x10})",
      R"({"a":1e})",
      R"({"a":1e+})",
      R"({"a":-})",
      R"({"a":1.5.5})",
      R"({"a":tru})",               // literals
      R"({"a":True})",
      R"({"a":nul})",
      R"({"a":undefined})",
      "{\"a\":1\f}",                // not JSON whitespace
      "{\"a\":1\v}",
      "\xc2\xa0{\"a\":1}",
  };
  for (const auto& payload : invalid) {
    EXPECT_TRUE(FailsWith(verify_jws(forge(key, header, payload), key), JwsErrc::malformed)) << "payload " << payload;
  }
  for (std::string bad_header : {
           R"({"alg":"ES256",})",
           R"({'alg':'ES256'})",
           R"({"alg":"ES256")",
           R"({"alg":"ES256","x":01})",
           R"({"alg":"ES256","x":"\ud800"})",
           "{\"alg\":\"ES256\",\"x\":\"\xff\"}",
           "{\"alg\":\"ES256\",\"x\":\"a\x1f\"}",
           R"({"alg":"ES256"} x)",
       }) {
    const std::string token = forge(key, bad_header, R"({"sub":"a"})");
    EXPECT_TRUE(FailsWith(verify_jws(token, key), JwsErrc::malformed)) << "header " << bad_header;
    EXPECT_TRUE(FailsWith(decode_jws(token), JwsErrc::malformed)) << "header " << bad_header;
  }
}

TEST(JwsStrict, ValidJsonIsAccepted) {
  const JwsKey& key = es256();
  for (std::string payload : {
           R"({})",
           " \t\r\n{ \"a\" :\t1 ,\r\n\"b\" : [ ] } \n",
           R"({"s":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t \u0041"})",
           "{\"s\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}",  // raw UTF-8 up to U+10FFFF
           R"({"n":[0,-0,1,-1,0.5,-0.5,1.5e3,-12.25E-2,1E+2,1e-2,123456789012345]})",
           R"({"t":true,"f":false,"z":null})",
           R"({"o":{"p":{"q":[[],{}]}},"a":[{"b":[1,{"c":null}]}]})",
           R"({"":""})",
       }) {
    EXPECT_TRUE(Verifies(verify_jws(forge(key, header_for(key), payload), key))) << payload;
  }
  // Unknown header members are ignored; whitespace in the header is allowed.
  for (std::string header : {
           R"({"alg":"ES256","typ":"at+jwt","kid":"whatever","cty":"JWT","x5t#S256":"abc","ext":{"a":[1]}})",
           " { \"alg\" : \"ES256\" } ",
           R"({"kid":"x","alg":"ES256"})",
       }) {
    EXPECT_TRUE(Verifies(verify_jws(forge(key, header, R"({"sub":"a"})"), key))) << header;
  }
}

TEST(JwsStrict, DeepNestingIsRefusedWithoutCrashing) {
  const JwsKey& key = es256();
  const int levels = 2500;  // ~6 KB of brackets: still under kMaxJwsBytes once encoded
  const std::string arrays = R"({"a":)" + std::string(levels, '[') + std::string(levels, ']') + "}";
  const std::string token = forge(key, header_for(key), arrays);
  ASSERT_LE(token.size(), kMaxJwsBytes);
  EXPECT_TRUE(FailsWith(verify_jws(token, key), JwsErrc::malformed));
  std::string objects = "{";
  for (int i = 0; i < 1000; ++i) objects += R"("a":{)";
  objects += std::string(1001, '}');
  const std::string object_token = forge(key, header_for(key), objects);
  ASSERT_LE(object_token.size(), kMaxJwsBytes);
  EXPECT_TRUE(FailsWith(verify_jws(object_token, key), JwsErrc::malformed));
  // Unbalanced, too.
  EXPECT_TRUE(FailsWith(verify_jws(forge(key, header_for(key), R"({"a":)" + std::string(levels, '[')), key),
                        JwsErrc::malformed));
}

TEST(JwsStrict, TokensOverTheLimitAreMalformed) {
  const JwsKey& key = es256();
  const std::string big = R"({"sub":"a","pad":")" + std::string(9 * 1024, 'x') + R"("})";
  const std::string token = forge(key, header_for(key), big);
  ASSERT_GT(token.size(), kMaxJwsBytes);
  EXPECT_TRUE(FailsWith(verify_jws(token, key), JwsErrc::malformed));
  EXPECT_TRUE(FailsWith(decode_jws(token), JwsErrc::malformed));
  EXPECT_FALSE(split_compact(token));
  EXPECT_FALSE(split_compact(std::string(1 << 20, 'A') + ".e30." + std::string(86, 'A')));

  // The limit is "at most": a token of exactly kMaxJwsBytes verifies, one byte more does not.
  std::optional<std::string> exact, over;
  for (std::size_t pad = 5500; pad < 6200 && !(exact && over); ++pad) {
    for (std::string_view kid : {"", "k", "kk", "kkk"}) {
      std::string header = kid.empty() ? header_for(key) : R"({"alg":"ES256","kid":")" + std::string(kid) + R"("})";
      std::string t = forge(key, header, R"({"pad":")" + std::string(pad, 'x') + R"("})");
      if (t.size() == kMaxJwsBytes && !exact) exact = t;
      if (t.size() == kMaxJwsBytes + 1 && !over) over = t;
    }
  }
  ASSERT_TRUE(exact && over);
  EXPECT_TRUE(Verifies(verify_jws(*exact, key)));
  EXPECT_TRUE(FailsWith(verify_jws(*over, key), JwsErrc::malformed));
}

// ---------------------------------------------------------------------------------------------
// Decoding without verifying
// ---------------------------------------------------------------------------------------------

TEST(JwsDecode, FillsTheHeaderFields) {
  const std::string a1 = join(kA1Header64, kA1Payload64, kA1Signature64);
  auto decoded = decode_jws(a1);
  ASSERT_TRUE(Verifies(decoded));
  EXPECT_EQ(decoded->header.alg, "HS256");
  EXPECT_EQ(decoded->header.typ, "JWT");
  EXPECT_EQ(decoded->header.kid, "");

  const JwsKey& key = es256();
  const std::string token =
      forge(key, R"({"typ":"at+jwt","kid":"2030-01-01\/k\u0031","alg":"ES256","other":1})", R"({"sub":"a"})");
  auto full = decode_jws(token);
  ASSERT_TRUE(Verifies(full));
  EXPECT_EQ(full->header.alg, "ES256");
  EXPECT_EQ(full->header.kid, "2030-01-01/k1");  // unescaped
  EXPECT_EQ(full->header.typ, "at+jwt");
  auto verified = verify_jws(token, key);
  ASSERT_TRUE(Verifies(verified));
  EXPECT_EQ(verified->header.kid, "2030-01-01/k1");
  EXPECT_EQ(verified->header.typ, "at+jwt");
}

TEST(JwsDecode, DoesNotCheckTheSignature) {
  const std::string input = join(b64(R"({"alg":"RS256","kid":"k"})"), b64(R"({"sub":"a"})"));
  for (std::string signature : {std::string(256, '\0'), std::string("x"), std::string(300, 'y')}) {
    auto decoded = decode_jws(join(input, b64(signature)));
    ASSERT_TRUE(Verifies(decoded));
    EXPECT_EQ(decoded->header.alg, "RS256");
    EXPECT_EQ(decoded->header.kid, "k");
    EXPECT_EQ(decoded->parts.signature, signature);
  }
}

TEST(JwsDecode, SplitCompactGivesTheRawBytes) {
  const std::string token = join(kA2Header64, kA1Payload64, kA2Signature64);
  auto parts = split_compact(token);
  ASSERT_TRUE(parts) << parts.error().description;
  EXPECT_EQ(parts->signing_input, join(kA2Header64, kA1Payload64));
  EXPECT_EQ(parts->header, R"({"alg":"RS256"})");
  EXPECT_EQ(parts->payload, kA1PayloadJson);
  EXPECT_EQ(parts->signature, unb64(kA2Signature64));
  EXPECT_EQ(parts->signature.size(), 256u);

  // Shape only: the parts need not be JSON.
  const std::string odd = join(b64("not json"), b64("\x00\xff"s), b64("sig"));
  auto raw = split_compact(odd);
  ASSERT_TRUE(raw) << raw.error().description;
  EXPECT_EQ(raw->header, "not json");
  EXPECT_EQ(raw->payload, "\x00\xff"s);
  EXPECT_EQ(raw->signature, "sig");
  EXPECT_EQ(raw->signing_input, odd.substr(0, odd.rfind('.')));
  EXPECT_TRUE(FailsWith(decode_jws(odd), JwsErrc::malformed));
}

TEST(JwsSign, SignJwsEncodesTheGivenBytes) {
  for (const JwsKey* key : {&hs256(), &rs256(), &es256(), &eddsa()}) {
    const std::string header = " {\"alg\" : \"" + std::string(alg_name(key->alg())) + "\", \"typ\":\"at+jwt\"}";
    const std::string payload = "{\"sub\":\"\xc3\xa9\",\"n\":[1,2]}";
    const std::string token = sign_jws(*key, header, payload);
    auto parts = split_dots(token);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0], b64(header));
    EXPECT_EQ(parts[1], b64(payload));
    EXPECT_TRUE(key->verify(join(parts[0], parts[1]), unb64(parts[2])));
    EXPECT_TRUE(Verifies(verify_jws(token, *key)));
  }
}

// sign_jws_later gives what sign_jws gives: a token verify_jws accepts, for every algorithm
// (ES256 through the batch, the others signed at once).
TEST(Jws, SignLaterGivesTheSameTokens) {
  for (JwsAlg alg : {JwsAlg::HS256, JwsAlg::ES256, JwsAlg::RS256, JwsAlg::EdDSA}) {
    auto key = alg == JwsAlg::HS256 ? JwsKey::hmac(std::string(32, 'k'), "h") : JwsKey::generate(alg);
    ASSERT_TRUE(key.has_value());
    const std::string header = "{\"alg\":\"" + std::string(alg_name(alg)) + "\"}";
    std::vector<PendingJws> tokens;
    for (int i = 0; i < 5; ++i) tokens.push_back(sign_jws_later(*key, header, "{\"n\":" + std::to_string(i) + "}"));
    for (int i = 0; i < 5; ++i) {
      const std::string jws = tokens[i].finish();
      ASSERT_EQ(jws.rfind(tokens[i].signing_input + ".", 0), 0u) << alg_name(alg);
      auto verified = verify_jws(jws, *key);
      ASSERT_TRUE(verified.has_value()) << alg_name(alg);
      EXPECT_EQ(verified->parts.payload, "{\"n\":" + std::to_string(i) + "}");
    }
  }
}

}  // namespace
}  // namespace gatehouse::tokens
