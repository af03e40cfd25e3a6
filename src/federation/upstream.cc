#include "federation/upstream.h"

#include <boost/json.hpp>

#include "core/base64.h"
#include "federation/userinfo.h"

namespace gatehouse::federation {
namespace {

namespace json = boost::json;

std::string join_scopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) out += (out.empty() ? "" : " ") + s;
  return out;
}

// An RFC 6749 error code is a short word of printable ASCII; anything else is not quoted.
std::string error_code_of(const json::object& o) {
  const auto* e = o.if_contains("error");
  if (!e || !e->is_string()) return {};
  const std::string code(e->get_string());
  const bool plain = !code.empty() && code.size() <= 40 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || c == '_';
  });
  return plain ? code : std::string("an unnamed error");
}

bool is_bearer(std::string_view type) {
  constexpr std::string_view kBearer = "bearer";
  return type.size() == kBearer.size() && std::equal(type.begin(), type.end(), kBearer.begin(), [](char a, char b) {
           return static_cast<char>(std::tolower(static_cast<unsigned char>(a))) == b;
         });
}

}  // namespace

Upstream::Upstream(config::UpstreamConfig config, Fetch fetch, const Clock& clock)
    : config_(std::move(config)), fetch_(std::move(fetch)) {
  if (config_.kind == "oidc")
    oidc_ = std::make_unique<OidcUpstream>(
        OidcSettings{.issuer = config_.issuer,
                     .client_id = config_.client_id,
                     .alternate_issuer = config_.preset == "google" ? "accounts.google.com" : ""},
        fetch_, clock);
}

Upstream::~Upstream() = default;

Result<std::string, UpstreamError> Upstream::authorize_url(const AuthorizeParams& p) {
  std::string endpoint = config_.authorize_url;
  if (oidc_) {
    auto metadata = oidc_->metadata();
    if (!metadata) return tl::unexpected(metadata.error());
    endpoint = metadata->authorization_endpoint;
  }
  std::vector<std::pair<std::string, std::string>> params{{"response_type", "code"},
                                                          {"client_id", config_.client_id},
                                                          {"redirect_uri", p.redirect_uri},
                                                          {"scope", join_scopes(config_.scopes)},
                                                          {"state", p.state},
                                                          {"code_challenge", p.code_challenge},
                                                          {"code_challenge_method", "S256"}};
  if (oidc_) params.emplace_back("nonce", p.nonce);
  if (p.force_login) {
    // GitHub and Google have no prompt=login; select_account makes them show the account.
    const bool picker = config_.kind == "github" || config_.preset == "google";
    params.emplace_back("prompt", picker ? "select_account" : "login");
    // OpenID: max_age=0 asks for a new authentication and makes auth_time a required claim
    // (OpenID Connect Core §3.1.2.1), which the callback checks.
    if (oidc_) params.emplace_back("max_age", "0");
  }
  return http::with_query(endpoint, params);
}

Result<Upstream::Tokens, UpstreamError> Upstream::redeem(const std::string& token_url, std::string_view code,
                                                         std::string_view code_verifier,
                                                         const std::string& redirect_uri) {
  http::ClientRequest request{.method = "POST", .url = token_url,
                              .headers = {{"content-type", "application/x-www-form-urlencoded"},
                                          {"accept", "application/json"}}};
  request.body = "grant_type=authorization_code&code=" + http::form_encode(code) +
                 "&redirect_uri=" + http::form_encode(redirect_uri) +
                 "&code_verifier=" + http::form_encode(code_verifier);
  if (config_.kind == "github") {
    // GitHub reads the client's credentials from the body (client_secret_post).
    request.body += "&client_id=" + http::form_encode(config_.client_id) +
                    "&client_secret=" + http::form_encode(config_.client_secret);
  } else {
    // client_secret_basic, each part form-encoded first (RFC 6749 §2.3.1).
    request.headers.push_back({"authorization", "Basic " + base64_encode(http::form_encode(config_.client_id) + ":" +
                                                                         http::form_encode(config_.client_secret))});
  }
  auto response = fetch_(request);
  if (!response)
    return upstream_error(UpstreamErrc::unavailable, "the token endpoint: " + response.error().message);
  json::error_code ec;
  const json::value doc = json::parse(response->body, ec);
  if (ec || !doc.is_object()) {
    if (response->status != 200)
      return upstream_error(UpstreamErrc::unavailable, "the token endpoint: HTTP status " + std::to_string(response->status));
    return upstream_error(UpstreamErrc::bad_metadata, "the token endpoint's answer is not a JSON object");
  }
  const auto& o = doc.get_object();
  // GitHub reports a refused code with status 200 and an "error" member.
  if (const std::string error = error_code_of(o); !error.empty() || response->status != 200) {
    if (response->status >= 500)
      return upstream_error(UpstreamErrc::unavailable, "the token endpoint: HTTP status " + std::to_string(response->status));
    return upstream_error(UpstreamErrc::bad_token,
                          "the token endpoint refused the code (" + (error.empty() ? std::string("no error code") : error) + ")");
  }
  Tokens tokens;
  const auto* access = o.if_contains("access_token");
  const auto* type = o.if_contains("token_type");
  if (!access || !access->is_string() || access->get_string().empty())
    return upstream_error(UpstreamErrc::bad_token, "the token endpoint's answer has no access_token");
  if (!type || !type->is_string() || !is_bearer(type->get_string()))
    return upstream_error(UpstreamErrc::bad_token, "the token endpoint's answer is not a bearer token");
  tokens.access_token = std::string(access->get_string());
  if (const auto* id = o.if_contains("id_token"); id && id->is_string()) tokens.id_token = std::string(id->get_string());
  return tokens;
}

Result<UpstreamIdentity, UpstreamError> Upstream::identify(std::string_view code, std::string_view code_verifier,
                                                           const std::string& redirect_uri, std::string_view nonce) {
  std::string token_url = config_.token_url;
  if (oidc_) {
    auto metadata = oidc_->metadata();
    if (!metadata) return tl::unexpected(metadata.error());
    token_url = metadata->token_endpoint;
  }
  auto tokens = redeem(token_url, code, code_verifier, redirect_uri);
  if (!tokens) return tl::unexpected(tokens.error());
  if (oidc_) {
    if (tokens->id_token.empty())
      return upstream_error(UpstreamErrc::bad_token, "the token endpoint's answer has no id_token");
    return oidc_->verify_id_token(tokens->id_token, nonce);
  }
  if (config_.kind == "github") return github_identity(fetch_, config_.userinfo_url, tokens->access_token);
  return oauth2_identity(fetch_, config_.userinfo_url, tokens->access_token,
                         ClaimMapping{.subject = config_.subject_claim, .email = config_.email_claim,
                                      .username = config_.username_claim});
}

}  // namespace gatehouse::federation
