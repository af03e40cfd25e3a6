#include "tokens/access_tokens.h"

#include <algorithm>

#include "core/log.h"
#include "core/random.h"
#include "core/strict_json.h"
#include "crypto/digest.h"

namespace gatehouse::tokens {
namespace {

tl::unexpected<AccessTokenError> fail(std::string description) {
  return tl::unexpected(AccessTokenError{std::move(description)});
}

void append_member(std::string& out, std::string_view name, std::string_view value) {
  if (out.size() > 1) out.push_back(',');
  log::append_json_string(out, name);
  out.push_back(':');
  log::append_json_string(out, value);
}

void append_number(std::string& out, std::string_view name, std::int64_t value) {
  if (out.size() > 1) out.push_back(',');
  log::append_json_string(out, name);
  out.push_back(':');
  out += std::to_string(value);
}

// RFC 9068 §4: "at+jwt", compared case-insensitively, with or without "application/".
bool is_access_token_type(std::string_view typ) {
  if (typ.size() > 12 && typ.substr(0, 12) == "application/") typ.remove_prefix(12);
  if (typ.size() != 6) return false;
  static constexpr std::string_view kType = "at+jwt";
  for (std::size_t i = 0; i < typ.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(typ[i])) != kType[i]) return false;
  return true;
}

}  // namespace

bool looks_like_jwt(std::string_view token) {
  const auto first = token.find('.');
  return first != std::string_view::npos && token.find('.', first + 1) != std::string_view::npos;
}

AccessTokens::AccessTokens(const KeyRing& keys, const Denylist& denylist, const Clock& clock,
                           AccessTokenSettings settings)
    : keys_(keys), denylist_(denylist), clock_(clock), settings_(std::move(settings)) {}

void AccessTokens::set_issuer(std::string issuer) { settings_.issuer = std::move(issuer); }

std::optional<AccessTokens::Unsigned> AccessTokens::prepare(const AccessClaims& c) const {
  auto key = keys_.current(keys_.settings().access_alg);
  if (!key) return std::nullopt;
  std::string header = "{";
  append_member(header, "alg", alg_name(key->alg()));
  append_member(header, "typ", "at+jwt");
  append_member(header, "kid", key->kid());
  header.push_back('}');

  const std::int64_t now = clock_.now_unix();
  std::string payload = "{";
  append_member(payload, "iss", settings_.issuer);
  append_member(payload, "sub", c.sub);
  append_member(payload, "aud", audience());
  append_number(payload, "exp", now + settings_.ttl.count());
  append_number(payload, "iat", now);
  append_number(payload, "nbf", now);
  append_member(payload, "jti", c.jti.empty() ? random_base62(22) : c.jti);
  append_member(payload, "scope", c.scope);
  append_member(payload, "client_id", c.client_id);
  if (!c.sid.empty()) append_member(payload, "sid", c.sid);
  if (!c.username.empty()) {  // a user's token; a client's own (client_credentials) has neither
    append_member(payload, "username", c.username);
    payload += ",\"roles\":[";
    for (std::size_t i = 0; i < c.roles.size(); ++i) {
      if (i) payload.push_back(',');
      log::append_json_string(payload, c.roles[i]);
    }
    payload.push_back(']');
  }
  payload.push_back('}');
  return Unsigned{std::move(key), std::move(header), std::move(payload)};
}

std::string AccessTokens::issue(const AccessClaims& c) const {
  const auto t = prepare(c);
  return t ? sign_jws(*t->key, t->header, t->payload) : std::string();
}

std::optional<PendingJws> AccessTokens::issue_later(const AccessClaims& c) const {
  const auto t = prepare(c);
  if (!t) return std::nullopt;
  return sign_jws_later(*t->key, t->header, t->payload);
}

Result<AccessClaims, AccessTokenError> AccessTokens::verify(std::string_view token) const {
  auto claims = verify_shared(token);
  if (!claims) return tl::unexpected(std::move(claims.error()));
  return **claims;
}

Result<std::shared_ptr<const AccessClaims>, AccessTokenError> AccessTokens::verify_shared(std::string_view token) const {
  if (token.size() > kMaxJwsBytes) return fail("The token is larger than 8 KiB.");
  TokenDigest digest;
  crypto::sha256_into(token, digest.data());
  std::shared_ptr<const AccessClaims> cached;
  bool aged = false;
  {
    std::shared_lock lock(verified_mutex_);
    if (auto it = fresh_.find(digest); it != fresh_.end()) {
      cached = it->second;
    } else if (auto old = aged_.find(digest); old != aged_.end()) {
      cached = old->second;
      aged = true;
    }
  }
  if (aged) {
    std::unique_lock lock(verified_mutex_);
    remember(digest, cached);  // still in use: back into the fresh generation
  } else if (!cached) {
    auto claims = verify_uncached(token);
    if (!claims) return tl::unexpected(std::move(claims.error()));
    if (claims->has_scope)
      claims->scope_list = std::make_shared<const std::vector<std::string>>(split_scope(claims->scope));
    cached = std::make_shared<const AccessClaims>(std::move(*claims));
    std::unique_lock lock(verified_mutex_);
    remember(digest, cached);
  }
  if (auto failure = live_failure(*cached)) return tl::unexpected(std::move(*failure));
  return cached;
}

std::size_t AccessTokens::remembered() const {
  std::shared_lock lock(verified_mutex_);
  return fresh_.size() + aged_.size();
}

void AccessTokens::remember(const TokenDigest& digest, std::shared_ptr<const AccessClaims> claims) const {
  if (fresh_.size() >= kGeneration) {
    aged_ = std::move(fresh_);
    fresh_ = VerifiedMap{};
  }
  fresh_.insert_or_assign(digest, std::move(claims));
}

// What can change after a token has verified: time and revocation.
std::optional<AccessTokenError> AccessTokens::live_failure(const AccessClaims& claims) const {
  const std::int64_t now = clock_.now_unix();
  if (now >= claims.exp + settings_.leeway.count()) return AccessTokenError{"The token has expired."};
  if (!claims.jti.empty() && denylist_.revoked("jti", claims.jti, now))
    return AccessTokenError{"The token has been revoked."};
  if (!claims.sid.empty() && denylist_.revoked("sid", claims.sid, now))
    return AccessTokenError{"The token's session has ended."};
  return std::nullopt;
}

Result<AccessClaims, AccessTokenError> AccessTokens::verify_uncached(std::string_view token) const {
  auto decoded = decode_jws(token);
  if (!decoded) return fail(decoded.error().description);
  const JwsHeader& header = decoded->header;
  if (!is_access_token_type(header.typ)) return fail("The token is not an access token (typ must be at+jwt).");
  // The key comes from our key ring by kid; only HS256 (a configured shared secret) may be
  // used without one. The algorithm is the key's, never the token's.
  std::shared_ptr<const JwsKey> key = header.kid.empty() ? (header.alg == "HS256" ? keys_.hs256() : nullptr)
                                                         : keys_.find(header.kid);
  if (!key) return fail("The token's signing key is unknown.");
  if (header.alg != alg_name(key->alg())) return fail("The token's alg is not its key's.");
  if (!key->verify(decoded->parts.signing_input, decoded->parts.signature))
    return fail("The token's signature does not verify.");

  const std::string_view text = decoded->parts.payload;
  const auto& members = decoded->claims;
  AccessClaims claims;
  bool has_exp = false, has_iss = false, has_aud = false;
  std::int64_t nbf = 0;
  bool has_nbf = false;
  for (const auto& m : members) {
    const std::string_view name = m.key_escaped ? std::string_view{} : m.raw_key(text);
    const std::string_view raw = m.raw_value(text);
    const auto as_string = [&](std::string& out) -> bool {
      if (m.kind != strict_json::Kind::string) return false;
      auto v = strict_json::string_value(raw);
      if (!v) return false;
      out = std::move(*v);
      return true;
    };
    const auto as_int = [&](std::int64_t& out) -> bool {
      if (m.kind != strict_json::Kind::number) return false;
      auto v = strict_json::integer_value(raw);
      if (!v) return false;
      out = *v;
      return true;
    };
    if (m.key_escaped) {
      // Registered claim names never need escapes; refuse rather than guess.
      return fail("The token's claims use escaped names.");
    } else if (name == "exp") {
      if (!as_int(claims.exp)) return fail("The exp claim must be a number.");
      has_exp = true;
    } else if (name == "nbf") {
      if (!as_int(nbf)) return fail("The nbf claim must be a number.");
      has_nbf = true;
    } else if (name == "iat") {
      if (!as_int(claims.iat)) return fail("The iat claim must be a number.");
    } else if (name == "iss") {
      std::string iss;
      if (!as_string(iss) || iss != settings_.issuer) return fail("The token was issued by someone else (iss).");
      has_iss = true;
    } else if (name == "aud") {
      if (m.kind == strict_json::Kind::string) {
        std::string aud;
        has_aud = as_string(aud) && aud == audience();
      } else if (auto list = strict_json::string_array(raw)) {
        for (const auto& a : *list) has_aud = has_aud || a == audience();
      }
      if (!has_aud) return fail("The token is meant for another audience (aud).");
    } else if (name == "sub") {
      if (!as_string(claims.sub)) return fail("The sub claim must be a string.");
    } else if (name == "jti") {
      if (!as_string(claims.jti)) return fail("The jti claim must be a string.");
    } else if (name == "sid") {
      if (!as_string(claims.sid)) return fail("The sid claim must be a string.");
    } else if (name == "scope") {
      if (!as_string(claims.scope)) return fail("The scope claim must be a string.");
      claims.has_scope = true;
    } else if (name == "client_id") {
      if (!as_string(claims.client_id)) return fail("The client_id claim must be a string.");
    } else if (name == "username") {
      if (!as_string(claims.username)) return fail("The username claim must be a string.");
    }
  }
  const std::int64_t now = clock_.now_unix();
  const std::int64_t leeway = settings_.leeway.count();
  if (!has_exp) return fail("The token has no exp claim.");
  if (now >= claims.exp + leeway) return fail("The token has expired.");
  if (has_nbf && nbf > now + leeway) return fail("The token is not valid yet (nbf).");
  if (claims.iat > now + leeway) return fail("The token was issued in the future (iat).");
  if (!has_iss) return fail("The token has no iss claim.");
  if (!has_aud) return fail("The token has no aud claim.");
  if (claims.sub.empty()) return fail("The token has no sub claim.");
  return claims;
}

std::vector<std::string> split_scope(std::string_view scope) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < scope.size()) {
    auto end = scope.find(' ', start);
    if (end == std::string_view::npos) end = scope.size();
    if (end > start) out.emplace_back(scope.substr(start, end - start));
    start = end + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace gatehouse::tokens
