// federation/userinfo.h: who an upstream access token belongs to, for providers that issue no
// ID token: GitHub (GET /user and /user/emails under its API base) and any OAuth 2.0 provider
// with a userinfo URL and a claim mapping ([[upstream]] kind "oauth2"). The token goes in an
// Authorization header only, and never into an error.
#pragma once
#include <string>
#include <string_view>

#include "federation/oidc_upstream.h"

namespace gatehouse::federation {

// Where an oauth2 provider's userinfo JSON keeps each part of the identity.
struct ClaimMapping {
  std::string subject{"sub"};  // a string or an integer
  std::string email{"email"};
  std::string username{"preferred_username"};
};

// GitHub: the subject is the numeric account id (a login can be renamed and reused); the email
// is the primary, verified one from /user/emails, or /user's public email, unverified, when the
// token may not read the email list.
Result<UpstreamIdentity, UpstreamError> github_identity(const Fetch& fetch, const std::string& api_base,
                                                        std::string_view access_token);

Result<UpstreamIdentity, UpstreamError> oauth2_identity(const Fetch& fetch, const std::string& userinfo_url,
                                                        std::string_view access_token, const ClaimMapping& mapping);

}  // namespace gatehouse::federation
