#include "oauth/provider.h"

#include <boost/json.hpp>

#include <algorithm>
#include <array>

#include "core/base64.h"
#include "core/random.h"
#include "core/secret.h"
#include "crypto/digest.h"
#include "metrics/metrics.h"

namespace gatehouse::oauth {
namespace {

constexpr std::size_t kCodeChars = 43;
constexpr std::size_t kMaxStateBytes = 1024;
constexpr std::size_t kMaxNonceBytes = 512;

bool is_unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
}

OAuthError invalid_client(bool basic, std::string description) {
  OAuthError e = oauth_error("invalid_client", std::move(description), 401);
  e.basic_challenge = basic;
  return e;
}

tl::unexpected<OAuthError> unavailable() { return tl::unexpected(store_unavailable()); }

}  // namespace

OAuthError store_unavailable() {
  return oauth_error("temporarily_unavailable", "The store is unavailable; try again shortly.", 503);
}

OAuthError grant_error(const tokens::TokenError& error) {
  if (error.code == tokens::TokenErrc::unavailable) return oauth_error("temporarily_unavailable", error.description, 503);
  return oauth_error("invalid_grant", error.description);
}

OAuthError oauth_error(std::string error, std::string description, int status) {
  return OAuthError{.status = status, .error = std::move(error), .description = std::move(description),
                    .basic_challenge = false};
}

Result<std::optional<std::string>, OAuthError> single(const Form& form, std::string_view name) {
  std::optional<std::string> out;
  for (const auto& [k, v] : form) {
    if (k != name) continue;
    if (out) return tl::unexpected(oauth_error("invalid_request", "The parameter " + std::string(name) +
                                                                      " must not be repeated."));
    out = v;
  }
  if (out && out->empty()) return std::optional<std::string>{};  // RFC 6749 §3.1: empty = omitted
  return out;
}

std::optional<std::vector<std::string>> parse_scope(std::string_view scope) {
  auto out = tokens::split_scope(scope);
  for (const auto& token : out)
    if (!valid_scope_token(token)) return std::nullopt;
  return out;
}

std::string join_scope(const std::vector<std::string>& scopes) {
  std::size_t size = scopes.size();
  for (const auto& s : scopes) size += s.size();
  std::string out;
  out.reserve(size);
  for (const auto& s : scopes) {
    if (!out.empty()) out.push_back(' ');
    out += s;
  }
  return out;
}

bool has_scope(const std::vector<std::string>& scopes, std::string_view scope) {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

bool valid_code_verifier(std::string_view verifier) {
  return verifier.size() >= 43 && verifier.size() <= 128 && std::all_of(verifier.begin(), verifier.end(), is_unreserved);
}

// RFC 6749 Appendix A.5: state is 1*VSCHAR, printable ASCII; we hold nonce to the same, since
// it is echoed into the ID token. Anything else is refused rather than carried through an
// HTML form, a redirect and a JWT.
bool vschar_only(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
}

// OpenID Connect Core §3.1.2.1: prompt is a space-delimited list of these; an unknown value
// is refused (as Hydra does) rather than ignored.
bool known_prompts(std::string_view prompts) {
  static constexpr std::array<std::string_view, 4> kKnown{"login", "consent", "select_account", "none"};
  while (!prompts.empty()) {
    const std::size_t space = prompts.find(' ');
    const std::string_view value = prompts.substr(0, space);
    if (!value.empty() && std::find(kKnown.begin(), kKnown.end(), value) == kKnown.end()) return false;
    if (space == std::string_view::npos) break;
    prompts.remove_prefix(space + 1);
  }
  return true;
}

bool valid_code_challenge(std::string_view challenge) {
  // base64url of a SHA-256: 43 characters.
  return challenge.size() == 43 && base64url_decode(challenge).has_value();
}

bool pkce_matches(std::string_view verifier, std::string_view challenge) {
  if (!valid_code_verifier(verifier)) return false;
  const std::string computed = base64url_encode(crypto::sha256(verifier));
  return constant_time_equal(computed, challenge);
}

Provider::Provider(Clients& clients, store::Store& store, tokens::SessionTokens& sessions,
                   tokens::AccessTokens& access_tokens, const tokens::KeyRing& keyring, accounts::UserCache& users,
                   audit::AuditLog& audit, const Clock& clock, ProviderSettings settings)
    : clients_(clients),
      store_(store),
      sessions_(sessions),
      access_tokens_(access_tokens),
      keyring_(keyring),
      users_(users),
      audit_(audit),
      clock_(clock),
      settings_(std::move(settings)) {
  grants_.emplace(kGrantAuthorizationCode, make_authorization_code_grant(*this));
  grants_.emplace(kGrantRefreshToken, make_refresh_token_grant(*this));
  grants_.emplace(kGrantClientCredentials, make_client_credentials_grant(*this));
  render_discovery();
}

Provider::~Provider() = default;

void Provider::set_issuer(std::string issuer) {
  settings_.issuer = std::move(issuer);
  render_discovery();
}

void Provider::render_discovery() {
  const std::string& iss = settings_.issuer;
  boost::json::object d;
  d["issuer"] = iss;
  d["authorization_endpoint"] = iss + "/oauth/authorize";
  d["token_endpoint"] = iss + "/oauth/token";
  d["introspection_endpoint"] = iss + "/oauth/introspect";
  d["revocation_endpoint"] = iss + "/oauth/revoke";
  d["userinfo_endpoint"] = iss + "/oauth/userinfo";
  d["jwks_uri"] = iss + "/.well-known/jwks.json";
  d["scopes_supported"] = {"openid", "profile", "email", "offline_access"};
  d["response_types_supported"] = {"code"};
  d["response_modes_supported"] = {"query"};
  d["grant_types_supported"] = {"authorization_code", "refresh_token", "client_credentials"};
  d["code_challenge_methods_supported"] = {"S256"};
  d["token_endpoint_auth_methods_supported"] = {"client_secret_basic", "client_secret_post", "none"};
  d["introspection_endpoint_auth_methods_supported"] = {"client_secret_basic", "client_secret_post"};
  d["revocation_endpoint_auth_methods_supported"] = {"client_secret_basic", "client_secret_post", "none"};
  d["subject_types_supported"] = {"public"};
  d["id_token_signing_alg_values_supported"] = {"RS256"};
  d["claims_supported"] = {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "preferred_username",
                           "email"};
  d["authorization_response_iss_parameter_supported"] = true;
  d["request_parameter_supported"] = false;
  d["request_uri_parameter_supported"] = false;
  discovery_ = boost::json::serialize(d);
}

Result<ClientPtr, OAuthError> Provider::authenticate_client(const PresentedClient& presented, const Form& form) {
  auto form_id = single(form, "client_id");
  if (!form_id) return tl::unexpected(form_id.error());
  auto form_secret = single(form, "client_secret");
  if (!form_secret) return tl::unexpected(form_secret.error());
  if (presented.basic_malformed)
    return tl::unexpected(invalid_client(true, "The Basic credentials are malformed."));

  std::string id;
  std::optional<std::string> secret;
  if (presented.basic) {
    // RFC 6749 §2.3: one authentication method per request.
    if (*form_secret)
      return tl::unexpected(oauth_error("invalid_request", "Send the client secret in one place only."));
    if (*form_id && **form_id != presented.basic_id)
      return tl::unexpected(oauth_error("invalid_request", "client_id differs from the Basic credentials."));
    id = presented.basic_id;
    secret = presented.basic_secret;
  } else {
    if (!*form_id)
      return tl::unexpected(invalid_client(false, "Client authentication is required (client_id missing)."));
    id = **form_id;
    secret = *form_secret;
  }
  auto client = clients_.find(id);
  if (!client) return unavailable();
  static constexpr std::string_view kFailed = "Client authentication failed.";
  if (!*client) return tl::unexpected(invalid_client(presented.basic, std::string(kFailed)));
  const auto& c = **client;
  if (c.type == "public") {
    if (secret && !secret->empty())
      return tl::unexpected(invalid_client(presented.basic, "A public client has no secret."));
    return *client;
  }
  if (!secret || !Clients::secret_matches(c, *secret))
    return tl::unexpected(invalid_client(presented.basic, std::string(kFailed)));
  return *client;
}

Result<TokenResponse, OAuthError> Provider::token(const PresentedClient& presented, const Form& form,
                                                  const RequestContext& ctx, const Admission& admit) {
  auto issued = token_later(presented, form, ctx, admit);
  if (issued && !finish_token(*issued, ctx))
    return tl::unexpected(oauth_error("temporarily_unavailable", "The access token could not be signed.", 503));
  return issued;
}

bool Provider::finish_token(TokenResponse& response, const RequestContext& ctx) {
  if (!response.pending_access_token) return true;
  const TokenResponse::Pending pending = std::move(*response.pending_access_token);
  response.pending_access_token.reset();
  response.access_token = pending.jws.finish();
  const bool ok = !response.access_token.empty();
  audit_token(ctx, pending.grant_type, pending.client_id, ok ? std::string() : "temporarily_unavailable");
  if (ok) {
    static metrics::Counter& client_credentials = metrics::tokens_issued().with({kGrantClientCredentials});  // never moves
    (pending.grant_type == kGrantClientCredentials ? client_credentials
                                                   : metrics::tokens_issued().with({pending.grant_type}))
        .inc();
  }
  return ok;
}

Result<TokenResponse, OAuthError> Provider::token_later(const PresentedClient& presented, const Form& form,
                                                        const RequestContext& ctx, const Admission& admit) {
  auto grant_type = single(form, "grant_type");
  if (!grant_type) return tl::unexpected(grant_type.error());
  if (!*grant_type) return tl::unexpected(oauth_error("invalid_request", "grant_type is required."));
  auto client = authenticate_client(presented, form);
  if (!client) {
    audit_.record(ctx, audit::AuditEvent{.type = "oauth.token", .success = false, .user_id = {}, .username = {},
                                         .detail = {{"grant_type", grant_type->value().substr(0, 64)},
                                                    {"reason", client.error().error}}});
    return tl::unexpected(client.error());
  }
  if (admit && !admit(**client))
    return tl::unexpected(oauth_error(std::string(OAuthError::kRateLimited), "Rate limit reached.", 429));
  auto grant = grants_.find(**grant_type);
  if (grant == grants_.end())
    return tl::unexpected(oauth_error("unsupported_grant_type",
                                      "Supported grant types: authorization_code, refresh_token, client_credentials."));
  const auto& allowed = (*client)->grant_types;
  if (std::find(allowed.begin(), allowed.end(), **grant_type) == allowed.end())
    return tl::unexpected(oauth_error("unauthorized_client", "This client may not use the " + **grant_type + " grant."));
  auto issued = grant->second->exchange(**client, form, ctx);
  if (issued && issued->pending_access_token) {
    // Audited once signed (finish_token), so that the record says what the client got.
    issued->pending_access_token->grant_type = **grant_type;
    issued->pending_access_token->client_id = (*client)->id;
    return issued;
  }
  audit_token(ctx, **grant_type, (*client)->id, issued ? std::string() : issued.error().error);
  return issued;
}

void Provider::audit_token(const RequestContext& ctx, const std::string& grant_type, const std::string& client_id,
                           const std::string& reason) {
  audit_.record(ctx, audit::AuditEvent{.type = "oauth.token", .success = reason.empty(), .user_id = {}, .username = {},
                                       .detail = {{"grant_type", grant_type}, {"client_id", client_id}, {"reason", reason}}});
}

Result<Introspection, OAuthError> Provider::introspect(const PresentedClient& presented, const Form& form) {
  auto client = authenticate_client(presented, form);
  if (!client) return tl::unexpected(client.error());
  if ((*client)->type != "confidential")
    return tl::unexpected(invalid_client(presented.basic, "Only confidential clients may introspect tokens."));
  auto token = single(form, "token");
  if (!token) return tl::unexpected(token.error());
  if (!*token) return tl::unexpected(oauth_error("invalid_request", "token is required."));
  const auto& caller = **client;
  const auto mine = [&](const std::string& client_id) { return caller.introspect || client_id == caller.id; };
  const std::string& text = **token;
  Introspection out;
  if (tokens::looks_like_jwt(text)) {
    auto claims = access_tokens_.verify(text);
    if (!claims || !mine(claims->client_id)) return out;
    if (!claims->username.empty() || claims->sub != claims->client_id) {
      auto user = users_.get(claims->sub);
      if (!user) return unavailable();
      if (!*user || (*user)->disabled) return out;
      out.username = (*user)->username;
    }
    out.active = true;
    out.scope = claims->scope;
    out.client_id = claims->client_id;
    out.sub = claims->sub;
    out.exp = claims->exp;
    out.iat = claims->iat;
    out.iss = settings_.issuer;
    out.aud = access_tokens_.settings().audience.empty() ? settings_.issuer : access_tokens_.settings().audience;
    out.token_type = "Bearer";
    out.jti = claims->jti;
    return out;
  }
  if (tokens::has_token_shape(text, tokens::kAccessPrefix)) {
    auto grant = sessions_.verify_access(text);
    if (!grant) {
      if (grant.error().code == tokens::TokenErrc::unavailable) return unavailable();
      return out;
    }
    if (!mine(grant->client_id)) return out;
    auto user = users_.get(grant->user_id);
    if (!user) return unavailable();
    if (!*user || (*user)->disabled) return out;
    out.active = true;
    out.scope = grant->scope.value_or("");
    out.client_id = grant->client_id;
    out.sub = grant->user_id;
    out.username = (*user)->username;
    out.exp = grant->expires_at;
    out.iat = grant->issued_at;
    out.iss = settings_.issuer;
    out.token_type = "Bearer";
    return out;
  }
  if (tokens::has_token_shape(text, tokens::kRefreshPrefix)) {
    auto found = store_.find_refresh_token(crypto::sha256_hex(text));
    if (!found) return unavailable();
    if (!*found) return out;
    const auto& view = **found;
    if (view.spent || view.session_revoked || view.token.expires_at <= clock_.now_unix() || !mine(view.client_id))
      return out;
    auto user = users_.get(view.token.user_id);
    if (!user) return unavailable();
    if (!*user || (*user)->disabled) return out;
    out.active = true;
    out.scope = view.scope.value_or("");
    out.client_id = view.client_id;
    out.sub = view.token.user_id;
    out.username = (*user)->username;
    out.exp = view.token.expires_at;
    out.iat = view.token.created_at;
    out.iss = settings_.issuer;
    out.token_type = "refresh_token";
    return out;
  }
  return out;
}

Result<void, OAuthError> Provider::revoke(const PresentedClient& presented, const Form& form,
                                          const RequestContext& ctx) {
  auto client = authenticate_client(presented, form);
  if (!client) return tl::unexpected(client.error());
  auto token = single(form, "token");
  if (!token) return tl::unexpected(token.error());
  if (!*token) return tl::unexpected(oauth_error("invalid_request", "token is required."));
  const auto& caller = **client;
  const std::string& text = **token;
  const auto revoked = [&](std::string_view kind, const std::string& user_id) {
    audit_.record(ctx, audit::AuditEvent{.type = "token.revoked", .success = true, .user_id = user_id, .username = {},
                                         .detail = {{"kind", std::string(kind)}, {"client_id", caller.id},
                                                    {"via", "oauth"}}});
  };
  // RFC 7009 §2.2: an invalid token, or someone else's, is answered like a revoked one.
  if (tokens::looks_like_jwt(text)) {
    auto claims = access_tokens_.verify(text);
    if (!claims || claims->client_id != caller.id || claims->jti.empty()) return {};
    if (!store_.add_revocation("jti", claims->jti, claims->exp + settings_.leeway.count())) return unavailable();
    sessions_.changed();
    revoked("access_token", claims->username.empty() ? std::string() : claims->sub);
    return {};
  }
  std::string session_id, user_id;
  if (tokens::has_token_shape(text, tokens::kAccessPrefix)) {
    auto grant = sessions_.verify_access(text);
    if (!grant) return grant.error().code == tokens::TokenErrc::unavailable ? unavailable() : Result<void, OAuthError>{};
    if (grant->client_id != caller.id) return {};
    session_id = grant->session_id;
    user_id = grant->user_id;
  } else if (tokens::has_token_shape(text, tokens::kRefreshPrefix)) {
    auto found = store_.find_refresh_token(crypto::sha256_hex(text));
    if (!found) return unavailable();
    if (!*found || (*found)->client_id != caller.id) return {};
    session_id = (*found)->token.session_id;
    user_id = (*found)->token.user_id;
  } else {
    return {};
  }
  // Revoking either token of an opaque session ends the session: both stop working.
  if (!sessions_.end_session(session_id)) return unavailable();
  revoked("session", user_id);
  return {};
}

Result<AuthorizationRequest, AuthorizationError> Provider::check_authorization(const Form& query) {
  const auto page = [](std::string description) {
    return tl::unexpected(AuthorizationError{.redirect = false, .error = oauth_error("invalid_request", std::move(description)),
                                             .redirect_uri = {}, .state = {}});
  };
  auto client_id = single(query, "client_id");
  if (!client_id) return page(client_id.error().description);
  if (!*client_id) return page("The request has no client_id.");
  auto client = clients_.find(**client_id);
  if (!client) {
    return tl::unexpected(AuthorizationError{.redirect = false, .error = store_unavailable(), .redirect_uri = {}, .state = {}});
  }
  if (!*client) return page("Unknown client.");
  auto redirect_uri = single(query, "redirect_uri");
  if (!redirect_uri) return page(redirect_uri.error().description);
  const auto& uris = (*client)->redirect_uris;
  std::string effective;
  if (*redirect_uri) {
    // Exact string match against the registered list (OAuth 2.1 §2.3.1), no normalisation.
    if (std::find(uris.begin(), uris.end(), **redirect_uri) == uris.end())
      return page("The redirect_uri is not registered for this client.");
    effective = **redirect_uri;
  } else {
    if (uris.size() != 1) return page("redirect_uri is required: this client has several registered.");
    effective = uris.front();
  }
  // From here on errors go back to the client.
  auto state = single(query, "state");
  std::string state_value = state && *state ? **state : std::string();
  if (state_value.size() > kMaxStateBytes || !vschar_only(state_value)) state_value.clear();
  const auto back = [&](std::string error, std::string description) {
    return tl::unexpected(AuthorizationError{.redirect = true, .error = oauth_error(std::move(error), std::move(description)),
                                             .redirect_uri = effective, .state = state_value});
  };
  if (!state) return back("invalid_request", state.error().description);
  if (state && *state && (*state)->size() > kMaxStateBytes) return back("invalid_request", "state is too long.");
  if (state && *state && !vschar_only(**state)) return back("invalid_request", "state must be printable ASCII.");
  auto response_type = single(query, "response_type");
  if (!response_type) return back("invalid_request", response_type.error().description);
  if (!*response_type) return back("invalid_request", "response_type is required.");
  if (**response_type != "code") return back("unsupported_response_type", "Only response_type=code is supported.");
  const auto& grants = (*client)->grant_types;
  if (std::find(grants.begin(), grants.end(), kGrantAuthorizationCode) == grants.end())
    return back("unauthorized_client", "This client may not use the authorization code flow.");
  if (auto request = single(query, "request"); !request || *request)
    return back("request_not_supported", "Request objects are not supported.");
  if (auto request_uri = single(query, "request_uri"); !request_uri || *request_uri)
    return back("request_uri_not_supported", "request_uri is not supported.");
  auto method = single(query, "code_challenge_method");
  auto challenge = single(query, "code_challenge");
  if (!method || !challenge) return back("invalid_request", "PKCE parameters must not be repeated.");
  if (!*challenge) return back("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256.");
  if (!*method || **method != "S256")
    return back("invalid_request", "code_challenge_method must be S256 (plain is not accepted).");
  if (!valid_code_challenge(**challenge))
    return back("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier (43 characters).");
  auto scope = single(query, "scope");
  if (!scope) return back("invalid_scope", scope.error().description);
  std::vector<std::string> scopes;
  if (*scope) {
    auto parsed = parse_scope(**scope);
    if (!parsed) return back("invalid_scope", "The scope is malformed.");
    scopes = std::move(*parsed);
  } else {
    scopes = (*client)->scopes;  // RFC 6749 §3.3: the client's registered scope by default
  }
  for (const auto& s : scopes)
    if (!has_scope((*client)->scopes, s)) return back("invalid_scope", "The client may not request the scope " + s + ".");
  auto nonce = single(query, "nonce");
  if (!nonce) return back("invalid_request", nonce.error().description);
  if (*nonce && (*nonce)->size() > kMaxNonceBytes) return back("invalid_request", "nonce is too long.");
  if (*nonce && !vschar_only(**nonce)) return back("invalid_request", "nonce must be printable ASCII.");
  auto max_age = single(query, "max_age");
  if (!max_age) return back("invalid_request", max_age.error().description);
  std::optional<std::int64_t> max_age_seconds;
  if (*max_age) {
    const std::string& text = **max_age;
    if (text.empty() || text.size() > 10 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return back("invalid_request", "max_age must be a whole number of seconds.");
    max_age_seconds = std::stoll(text);
  }
  auto prompt = single(query, "prompt");
  if (!prompt) return back("invalid_request", prompt.error().description);
  const std::string prompts = prompt->value_or("");
  if (!known_prompts(prompts))
    return back("invalid_request", "prompt may hold only login, consent, select_account and none.");
  if (prompts.find("none") != std::string::npos)
    return back("login_required", "prompt=none is not supported: the user must interact.");
  return AuthorizationRequest{.client = *client,
                              .redirect_uri = effective,
                              .redirect_uri_sent = redirect_uri->has_value(),
                              .prompt_consent = prompts.find("consent") != std::string::npos,
                              .state = state_value,
                              .nonce = nonce->value_or(""),
                              .code_challenge = **challenge,
                              .scopes = std::move(scopes),
                              .max_age = max_age_seconds};
}

Result<std::vector<std::string>, OAuthError> Provider::granted_scopes(const std::string& user_id,
                                                                       const std::string& client_id) {
  auto scopes = store_.find_grant(user_id, client_id);
  if (!scopes) return unavailable();
  return std::move(*scopes);
}

Result<void, OAuthError> Provider::remember_grant(const std::string& user_id, const std::string& client_id,
                                                  const std::vector<std::string>& scopes) {
  if (!store_.save_grant(user_id, client_id, scopes, clock_.now_unix())) return unavailable();
  return {};
}

Result<std::string, OAuthError> Provider::issue_code(const AuthorizationRequest& request, const std::string& user_id,
                                                     std::int64_t auth_time, const RequestContext& ctx) {
  const std::string code = std::string(kCodePrefix) + random_base62(kCodeChars);
  const std::int64_t now = clock_.now_unix();
  const store::AuthCodeRecord record{.digest = crypto::sha256_hex(code),
                                     .client_id = request.client->id,
                                     .user_id = user_id,
                                     // Empty when the request did not name it: then the token
                                     // request need not either (RFC 6749 §4.1.3).
                                     .redirect_uri = request.redirect_uri_sent ? request.redirect_uri : std::string(),
                                     .code_challenge = request.code_challenge,
                                     .scope = join_scope(request.scopes),
                                     .nonce = request.nonce,
                                     .auth_time = auth_time,
                                     .created_at = now,
                                     .expires_at = now + settings_.code_ttl.count()};
  if (!store_.create_auth_code(record)) return unavailable();
  audit_.record(ctx, audit::AuditEvent{.type = "oauth.authorized", .success = true, .user_id = user_id, .username = {},
                                       .detail = {{"client_id", request.client->id}, {"scope", record.scope}}});
  return code;
}

std::string Provider::id_token(const IdTokenInput& in) const {
  const auto key = keyring_.current(tokens::JwsAlg::RS256);
  if (!key) return {};
  boost::json::object header{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", key->kid()}};
  const std::int64_t now = clock_.now_unix();
  boost::json::object claims;
  claims["iss"] = settings_.issuer;
  claims["sub"] = in.user.id;
  claims["aud"] = in.client_id;
  claims["azp"] = in.client_id;
  claims["exp"] = now + settings_.id_token_ttl.count();
  claims["iat"] = now;
  claims["auth_time"] = in.auth_time;
  if (!in.nonce.empty()) claims["nonce"] = in.nonce;
  if (!in.access_token.empty()) {
    // OIDC Core §3.1.3.6: the left half of the access token's SHA-256, base64url.
    claims["at_hash"] = base64url_encode(crypto::sha256(in.access_token).substr(0, 16));
  }
  if (has_scope(in.scopes, "profile")) claims["preferred_username"] = in.user.username;
  if (has_scope(in.scopes, "email") && !in.user.email.empty()) claims["email"] = in.user.email;
  return tokens::sign_jws(*key, boost::json::serialize(header), boost::json::serialize(claims));
}

}  // namespace gatehouse::oauth
