// federation/upstream.h: one [[upstream]] identity provider as an OAuth client sees it (SPEC §8,
// Federation; issue 9): where to send the browser, and — once it comes back with a code — the
// code exchanged server side (the client secret never reaches the browser) and the identity
// read from the ID token (oidc) or the userinfo endpoint (github, oauth2).
// Thread-safe; its calls block on the network, so they run on a blocking-pool thread.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "federation/oidc_upstream.h"

namespace gatehouse::federation {

// What the authorization request carries besides the client's own settings.
struct AuthorizeParams {
  std::string state{};
  std::string nonce{};           // oidc only
  std::string code_challenge{};  // PKCE S256
  std::string redirect_uri{};
  bool force_login{false};  // ask the upstream to authenticate its user again (prompt, max_age=0)
};

class Upstream {
 public:
  Upstream(config::UpstreamConfig config, Fetch fetch, const Clock& clock);
  ~Upstream();

  const std::string& name() const { return config_.name; }
  const config::UpstreamConfig& config() const { return config_; }

  // The URL of the upstream's authorization endpoint with the request in its query.
  Result<std::string, UpstreamError> authorize_url(const AuthorizeParams& params);
  // Redeems `code` at the token endpoint (with the PKCE verifier and the client's credentials)
  // and says who signed in; `nonce` is the one the authorization request carried.
  Result<UpstreamIdentity, UpstreamError> identify(std::string_view code, std::string_view code_verifier,
                                                   const std::string& redirect_uri, std::string_view nonce);

 private:
  struct Tokens {
    std::string access_token;
    std::string id_token;
  };
  Result<Tokens, UpstreamError> redeem(const std::string& token_url, std::string_view code,
                                       std::string_view code_verifier, const std::string& redirect_uri);

  const config::UpstreamConfig config_;
  const Fetch fetch_;
  std::unique_ptr<OidcUpstream> oidc_;  // kind "oidc" only
};

}  // namespace gatehouse::federation
