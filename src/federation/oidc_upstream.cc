#include "federation/oidc_upstream.h"

#include <boost/json.hpp>

#include "core/net.h"
#include "core/secret.h"
#include "core/strict_json.h"
#include "tokens/jws.h"

namespace gatehouse::federation {
namespace {

namespace json = boost::json;

std::string string_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The algorithm a JWK is for: its own "alg", else what its key type implies.
std::optional<tokens::JwsAlg> alg_of(const json::object& jwk) {
  if (const std::string alg = string_member(jwk, "alg"); !alg.empty()) return tokens::parse_alg(alg);
  const std::string kty = string_member(jwk, "kty"), crv = string_member(jwk, "crv");
  if (kty == "RSA") return tokens::JwsAlg::RS256;
  if (kty == "EC" && crv == "P-256") return tokens::JwsAlg::ES256;
  if (kty == "OKP" && crv == "Ed25519") return tokens::JwsAlg::EdDSA;
  return std::nullopt;
}

}  // namespace

OidcUpstream::OidcUpstream(OidcSettings settings, Fetch fetch, const Clock& clock)
    : settings_(std::move(settings)), fetch_(std::move(fetch)), clock_(clock) {}

OidcUpstream::~OidcUpstream() = default;

Result<std::string, UpstreamError> OidcUpstream::fetch_json(const std::string& url, const char* what) {
  auto response = fetch_(http::ClientRequest{.method = "GET", .url = url, .headers = {{"accept", "application/json"}}});
  if (!response) return upstream_error(UpstreamErrc::unavailable, std::string(what) + ": " + response.error().message);
  if (response->status != 200)
    return upstream_error(UpstreamErrc::unavailable, std::string(what) + ": HTTP status " + std::to_string(response->status));
  return std::move(response->body);
}

Result<ProviderMetadata, UpstreamError> OidcUpstream::metadata() {
  std::lock_guard lock(mutex_);
  if (metadata_) return *metadata_;
  const std::int64_t now = clock_.now_unix();
  if (metadata_failure_ && now - metadata_failure_->first < settings_.metadata_retry_after.count())
    return tl::unexpected(metadata_failure_->second);
  auto fetched = fetch_metadata();
  if (!fetched) metadata_failure_.emplace(now, fetched.error());
  else metadata_ = *fetched;
  return fetched;
}

Result<ProviderMetadata, UpstreamError> OidcUpstream::fetch_metadata() {
  std::string issuer = settings_.issuer;
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  auto body = fetch_json(issuer + "/.well-known/openid-configuration", "the discovery document");
  if (!body) return tl::unexpected(body.error());
  json::error_code ec;
  const json::value doc = json::parse(*body, ec);
  if (ec || !doc.is_object()) return upstream_error(UpstreamErrc::bad_metadata, "the discovery document is not a JSON object");
  const auto& o = doc.get_object();
  ProviderMetadata m{.issuer = string_member(o, "issuer"),
                     .authorization_endpoint = string_member(o, "authorization_endpoint"),
                     .token_endpoint = string_member(o, "token_endpoint"),
                     .userinfo_endpoint = string_member(o, "userinfo_endpoint"),
                     .jwks_uri = string_member(o, "jwks_uri")};
  // OpenID Connect Discovery §4.3: the issuer it names must be exactly the one asked.
  if (m.issuer != settings_.issuer)
    return upstream_error(UpstreamErrc::bad_metadata, "the discovery document names another issuer");
  for (const auto& [name, url] : {std::pair<const char*, const std::string*>{"authorization_endpoint", &m.authorization_endpoint},
                                  {"token_endpoint", &m.token_endpoint}, {"jwks_uri", &m.jwks_uri}})
    if (!is_https_or_loopback_http(*url))
      return upstream_error(UpstreamErrc::bad_metadata, std::string("the discovery document's ") + name + " is missing or not https");
  if (!m.userinfo_endpoint.empty() && !is_https_or_loopback_http(m.userinfo_endpoint))
    return upstream_error(UpstreamErrc::bad_metadata, "the discovery document's userinfo_endpoint is not https");
  return m;
}

// Replaces the keys by the provider's current set. Keys for other uses ("use":"enc"), of
// unknown types, or without a kid are skipped.
Result<void, UpstreamError> OidcUpstream::load_jwks(const std::string& jwks_uri) {
  auto body = fetch_json(jwks_uri, "the JWKS");
  jwks_fetched_at_ = clock_.now_unix();
  if (!body) return tl::unexpected(body.error());
  json::error_code ec;
  const json::value doc = json::parse(*body, ec);
  const auto* keys = !ec && doc.is_object() ? doc.get_object().if_contains("keys") : nullptr;
  if (!keys || !keys->is_array()) return upstream_error(UpstreamErrc::bad_metadata, "the JWKS has no keys array");
  std::map<std::string, std::shared_ptr<const tokens::JwsKey>> loaded;
  for (const auto& entry : keys->get_array()) {
    if (!entry.is_object()) continue;
    const auto& jwk = entry.get_object();
    const std::string kid = string_member(jwk, "kid"), use = string_member(jwk, "use");
    const auto alg = alg_of(jwk);
    if (kid.empty() || (!use.empty() && use != "sig") || !alg || *alg == tokens::JwsAlg::HS256) continue;
    auto key = tokens::JwsKey::from_jwk(json::serialize(jwk), *alg);
    if (!key || key->can_sign()) continue;  // a JWKS that publishes a private key is not trusted for it
    loaded.emplace(kid, std::make_shared<const tokens::JwsKey>(std::move(*key)));
  }
  keys_ = std::move(loaded);
  return {};
}

Result<UpstreamIdentity, UpstreamError> OidcUpstream::verify_id_token(std::string_view id_token, std::string_view nonce) {
  auto meta = metadata();
  if (!meta) return tl::unexpected(meta.error());
  auto decoded = tokens::decode_jws(id_token);
  if (!decoded) return upstream_error(UpstreamErrc::bad_token, "the ID token is not a well-formed JWS");
  const auto alg = tokens::parse_alg(decoded->header.alg);
  if (!alg || *alg == tokens::JwsAlg::HS256)
    return upstream_error(UpstreamErrc::bad_token, "the ID token's algorithm is not accepted (RS256, ES256 or EdDSA)");

  std::shared_ptr<const tokens::JwsKey> key;
  {
    std::lock_guard lock(mutex_);
    const auto find = [&]() -> std::shared_ptr<const tokens::JwsKey> {
      if (!decoded->header.kid.empty()) {
        auto it = keys_.find(decoded->header.kid);
        return it == keys_.end() ? nullptr : it->second;
      }
      std::shared_ptr<const tokens::JwsKey> only;  // no kid: the one key of that algorithm, if just one
      for (const auto& [kid, k] : keys_) {
        if (k->alg() != *alg) continue;
        if (only) return nullptr;
        only = k;
      }
      return only;
    };
    key = find();
    const bool may_refetch =
        !jwks_fetched_at_ || clock_.now_unix() - *jwks_fetched_at_ >= settings_.jwks_refetch_every.count();
    if (!key && may_refetch) {
      if (auto loaded = load_jwks(meta->jwks_uri); !loaded) return tl::unexpected(loaded.error());
      key = find();
    }
  }
  if (!key) return upstream_error(UpstreamErrc::bad_token, "no key of the provider's JWKS matches the ID token");
  auto verified = tokens::verify_jws(id_token, *key);
  if (!verified) return upstream_error(UpstreamErrc::bad_token, "the ID token's signature does not verify");

  const std::string_view payload = verified->parts.payload;
  const auto& claims = verified->claims;
  const auto text = [&](std::string_view name) -> std::optional<std::string> {
    const auto* m = strict_json::find(payload, claims, name);
    if (!m || m->kind != strict_json::Kind::string) return std::nullopt;
    return strict_json::string_value(m->raw_value(payload));
  };
  const auto number = [&](std::string_view name) -> std::optional<std::int64_t> {
    const auto* m = strict_json::find(payload, claims, name);
    if (!m || m->kind != strict_json::Kind::number) return std::nullopt;
    return strict_json::integer_value(m->raw_value(payload));
  };

  if (const auto iss = text("iss");
      iss != meta->issuer && (settings_.alternate_issuer.empty() || iss != settings_.alternate_issuer))
    return upstream_error(UpstreamErrc::bad_token, "the ID token is from another issuer");
  std::vector<std::string> audiences;
  if (const auto* aud = strict_json::find(payload, claims, "aud"); aud && aud->kind == strict_json::Kind::string) {
    audiences.push_back(strict_json::string_value(aud->raw_value(payload)).value_or(""));
  } else if (aud && aud->kind == strict_json::Kind::array) {
    audiences = strict_json::string_array(aud->raw_value(payload)).value_or(std::vector<std::string>{});
  }
  if (std::find(audiences.begin(), audiences.end(), settings_.client_id) == audiences.end())
    return upstream_error(UpstreamErrc::bad_token, "the ID token is for another client");
  if (const auto azp = text("azp"); (audiences.size() > 1 || azp) && azp != settings_.client_id)
    return upstream_error(UpstreamErrc::bad_token, "the ID token's authorized party is another client");
  const std::int64_t now = clock_.now_unix(), leeway = settings_.leeway.count();
  const auto exp = number("exp"), iat = number("iat");
  if (!exp || *exp + leeway <= now) return upstream_error(UpstreamErrc::bad_token, "the ID token has expired");
  if (!iat || *iat - leeway > now) return upstream_error(UpstreamErrc::bad_token, "the ID token's iat is missing or in the future");
  const auto sent_nonce = text("nonce");
  if (nonce.empty() || !sent_nonce || !constant_time_equal(*sent_nonce, nonce))
    return upstream_error(UpstreamErrc::bad_token, "the ID token's nonce is not the one sent");
  const auto sub = text("sub");
  if (!sub || sub->empty() || sub->size() > kMaxSubjectBytes)
    return upstream_error(UpstreamErrc::bad_token, "the ID token has no usable subject");

  UpstreamIdentity identity{.subject = *sub,
                            .email = text("email").value_or(""),
                            .email_verified = false,
                            .username = text("preferred_username").value_or(""),
                            .name = text("name").value_or(""),
                            .auth_time = number("auth_time")};
  if (const auto* v = strict_json::find(payload, claims, "email_verified"); v && v->kind == strict_json::Kind::boolean)
    identity.email_verified = v->raw_value(payload) == "true";
  return identity;
}

}  // namespace gatehouse::federation
