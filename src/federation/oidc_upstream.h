// federation/oidc_upstream.h: an upstream OpenID provider that users sign in with (SPEC §8,
// Federation; issue 9). Reads its discovery document and its JWKS over the outbound HTTPS
// client, and checks the ID tokens it issues: signature (RS256, ES256 or EdDSA, never HS256 or
// none), `iss`, `aud` (and `azp`), `exp`, `iat`, `nonce` and `sub`.
// Thread-safe.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"
#include "http/client.h"

namespace gatehouse::tokens {
class JwsKey;
}

namespace gatehouse::federation {

// How documents are fetched: http::HttpClient::send in production.
using Fetch = std::function<Result<http::ClientResponse, http::ClientError>(const http::ClientRequest&)>;

struct OidcSettings {
  std::string issuer{};     // exactly as configured; the discovery document must name the same
  std::string client_id{};  // the ID token's audience
  // Also accepted as the ID token's iss (Google's tokens may say "accounts.google.com").
  std::string alternate_issuer{};
  std::chrono::seconds leeway{60};
  // A JWKS is fetched again for an unknown kid (the provider rotated), at most this often.
  std::chrono::seconds jwks_refetch_every{60};
  // A failed discovery is answered from memory this long: a provider that is down costs one
  // timeout per period, not one per sign-in.
  std::chrono::seconds metadata_retry_after{30};
};

struct ProviderMetadata {
  std::string issuer{};
  std::string authorization_endpoint{};
  std::string token_endpoint{};
  std::string userinfo_endpoint{};  // may be empty
  std::string jwks_uri{};
};

// Who the upstream says the user is. Strings are empty when the token does not carry them.
struct UpstreamIdentity {
  std::string subject{};
  std::string email{};
  bool email_verified{false};
  std::string username{};  // preferred_username
  std::string name{};
  std::optional<std::int64_t> auth_time{};  // when the user last authenticated there (ID tokens only)
};

enum class UpstreamErrc {
  unavailable,   // the provider could not be reached, or answered with an error status
  bad_metadata,  // its discovery document or JWKS is not acceptable
  bad_token,     // the ID token fails a check
};

struct UpstreamError {
  UpstreamErrc code;
  std::string reason;  // for the audit log and the error page: names the check, never the token
};

inline tl::unexpected<UpstreamError> upstream_error(UpstreamErrc code, std::string reason) {
  return tl::unexpected(UpstreamError{code, std::move(reason)});
}

// The longest subject kept (OpenID Connect Core §2: sub is at most 255 ASCII characters).
inline constexpr std::size_t kMaxSubjectBytes = 255;

class OidcUpstream {
 public:
  OidcUpstream(OidcSettings settings, Fetch fetch, const Clock& clock);
  ~OidcUpstream();

  // The discovery document, fetched on first use and then kept (a failure: for
  // metadata_retry_after).
  Result<ProviderMetadata, UpstreamError> metadata();
  // The identity in `id_token`, once every check passed; `nonce` is the one sent with the
  // authorization request.
  Result<UpstreamIdentity, UpstreamError> verify_id_token(std::string_view id_token, std::string_view nonce);

 private:
  Result<std::string, UpstreamError> fetch_json(const std::string& url, const char* what);
  Result<ProviderMetadata, UpstreamError> fetch_metadata();  // under mutex_
  Result<void, UpstreamError> load_jwks(const std::string& jwks_uri);

  const OidcSettings settings_;
  const Fetch fetch_;
  const Clock& clock_;
  std::mutex mutex_;
  std::optional<ProviderMetadata> metadata_;
  std::optional<std::pair<std::int64_t, UpstreamError>> metadata_failure_;  // when, what
  std::map<std::string, std::shared_ptr<const tokens::JwsKey>> keys_;  // by kid
  std::optional<std::int64_t> jwks_fetched_at_;
};

}  // namespace gatehouse::federation
