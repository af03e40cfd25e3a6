// GET and POST /oauth/authorize (SPEC §8, RFC 6749 §4.1, OAuth 2.1 §4.1): the only OAuth
// endpoint a browser sees. The request is checked first; an unknown client or redirect URI
// gets an error page and never a redirect. Then the user logs in (a browser session in the
// gatehouse_session cookie), consents unless the client is trusted or was granted these
// scopes before, and is sent back to the client with a code, `state` and `iss` (RFC 9207).
//
// CSRF: every form carries the value of the gatehouse_csrf cookie (HttpOnly, SameSite=Strict;
// under TLS named __Host-gatehouse_csrf, so a sibling subdomain cannot plant one) in csrf_token
// and a POST must present both, equal (double submit): another site can make the browser post
// a form but can neither read nor set that cookie. A request carrying either cookie twice (one
// planted with a narrower path, say) is treated as having none.
#include <boost/json.hpp>

#include "api/browser.h"
#include "api/common.h"
#include "api/pages.h"
#include "core/random.h"
#include "core/secret.h"

namespace gatehouse::api {
namespace {

constexpr std::size_t kCsrfChars = 32;

std::string_view csrf_cookie_name(const Request& request) {
  return request.secure ? "__Host-gatehouse_csrf" : "gatehouse_csrf";
}

bool valid_csrf(std::string_view token) {
  return token.size() == kCsrfChars &&
         std::all_of(token.begin(), token.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
}

// The request's CSRF token (its cookie's, or a new one the response must set).
struct Csrf {
  std::string token;
  bool fresh{false};
};

Csrf csrf_of(const Request& request) {
  if (auto existing = cookie(request, csrf_cookie_name(request)); existing && valid_csrf(*existing))
    return Csrf{*existing, false};
  return Csrf{random_base62(kCsrfChars), true};
}

Response with_csrf(Response res, const Request& request, const Csrf& csrf) {
  if (csrf.fresh)
    res.add("Set-Cookie", set_cookie(request, csrf_cookie_name(request), csrf.token, "/", 12 * 3600, "Strict"));
  return res;
}

// Back to the client: the redirect URI with our parameters added to its own query.
Response to_client(Services& services, const std::string& redirect_uri,
                   std::vector<std::pair<std::string, std::string>> params, const std::string& state, int status) {
  if (!state.empty()) params.emplace_back("state", state);
  params.emplace_back("iss", services.provider.settings().issuer);  // RFC 9207
  return http::redirect(http::with_query(redirect_uri, params), status);
}

Response authorization_failed(Services& services, const oauth::AuthorizationError& e, int status) {
  if (e.redirect)
    return to_client(services, e.redirect_uri, {{"error", e.error.error}, {"error_description", e.error.description}},
                     e.state, status);
  return pages::error(e.error.status == 503 ? 503 : 400, "This request cannot be authorized", e.error.description);
}

// The user is known: send a code back, or ask for consent first.
Response proceed(Services& services, const Request& request, const oauth::AuthorizationRequest& ar,
                 const store::UserRecord& user, std::int64_t auth_time, const std::string& query, const Csrf& csrf,
                 int status) {
  bool ask = !ar.client->trusted || ar.prompt_consent;
  if (ask && !ar.prompt_consent) {
    auto granted = services.provider.granted_scopes(user.id, ar.client->id);
    if (!granted) return pages::error(503, "Try again shortly", granted.error().description);
    ask = !std::all_of(ar.scopes.begin(), ar.scopes.end(),
                       [&](const std::string& s) { return oauth::has_scope(*granted, s); });
  }
  if (ask) {
    return with_csrf(pages::consent(pages::ConsentPage{.client_name = ar.client->name, .username = user.username,
                                                       .scopes = ar.scopes, .authorize_query = query,
                                                       .csrf_token = csrf.token},
                                    ar.redirect_uri),
                     request, csrf);
  }
  auto code = services.provider.issue_code(ar, user.id, auth_time, context_of(request));
  if (!code) return pages::error(503, "Try again shortly", code.error().description);
  return to_client(services, ar.redirect_uri, {{"code", *code}}, ar.state, status);
}

// The login page; its upstream links come back to this authorization request once signed in.
// A prompt=login moves from the request to the link: the upstream is asked for the fresh login
// (federation/sign_in.h), and the request must not ask again when it comes back. Other prompt
// values (consent) stay. A login that max_age found too old (`stale`) moves the same way, and
// max_age is dropped from the way back: a slow upstream must not send the browser round again.
Response login_page(Services& services, const oauth::AuthorizationRequest& ar, const std::string& query,
                    const Request& request, const Csrf& csrf, int status, std::string error,
                    std::string username = {}, bool stale = false) {
  std::vector<pages::UpstreamLink> upstreams;
  if (const auto names = services.sign_in.upstream_names(); !names.empty()) {
    auto params = http::parse_form(query).value_or(std::vector<std::pair<std::string, std::string>>{});
    bool fresh_login = stale;
    if (stale) std::erase_if(params, [](const auto& p) { return p.first == "max_age"; });
    for (auto& [key, value] : params) {
      if (key != "prompt") continue;
      std::string kept;
      for (const auto& word : tokens::split_scope(value)) {
        if (word == "login") fresh_login = true;
        else kept += (kept.empty() ? "" : " ") + word;
      }
      value = std::move(kept);
    }
    std::erase_if(params, [](const auto& p) { return p.first == "prompt" && p.second.empty(); });
    const std::string suffix = "/start?return_to=" + http::form_encode(http::with_query("/oauth/authorize", params)) +
                               (fresh_login ? "&prompt=login" : "");
    for (const auto& name : names)
      upstreams.push_back(pages::UpstreamLink{.name = name, .href = "/auth/upstream/" + name + suffix});
  }
  return with_csrf(pages::login(pages::LoginPage{.client_name = ar.client->name, .authorize_query = query,
                                                 .csrf_token = csrf.token, .username = std::move(username),
                                                 .error = std::move(error), .upstreams = std::move(upstreams)},
                                status, ar.redirect_uri),
                   request, csrf);
}

Response authorize_get(Services& services, const Request& request) {
  auto form = http::parse_form(request.query);
  if (!form) return pages::error(400, "This request cannot be authorized", "The query string is malformed.");
  auto ar = services.provider.check_authorization(*form);
  if (!ar) return authorization_failed(services, ar.error(), 302);
  const Csrf csrf = csrf_of(request);
  auto prompt = oauth::single(*form, "prompt");
  const bool force_login = prompt && *prompt && (*prompt)->find("login") != std::string::npos;
  auto known = force_login ? std::nullopt : browser_user(services, request);
  if (!known) return login_page(services, *ar, request.query, request, csrf, 200, {});
  // OpenID Connect Core §3.1.2.1: a login older than max_age is repeated, as prompt=login would.
  // max_age=0 is prompt=login (Core errata 2).
  if (ar->max_age && (*ar->max_age == 0 || services.clock.now_unix() - known->auth_time > *ar->max_age))
    return login_page(services, *ar, request.query, request, csrf, 200, {}, {}, true);
  return proceed(services, request, *ar, *known->user, known->auth_time, request.query, csrf, 302);
}

Response authorize_post(Services& services, const Request& request) {
  static constexpr std::string_view kRefused = "This form cannot be accepted";
  const std::string* type = request.header("content-type");
  if (!type || type->rfind("application/x-www-form-urlencoded", 0) != 0)
    return pages::error(400, kRefused, "The form must be sent as application/x-www-form-urlencoded.");
  auto form = http::parse_form(request.body);
  if (!form) return pages::error(400, kRefused, "The form is malformed.");
  auto sent_csrf = oauth::single(*form, "csrf_token");
  auto cookie_csrf = cookie(request, csrf_cookie_name(request));
  if (!sent_csrf || !*sent_csrf || !cookie_csrf || !valid_csrf(*cookie_csrf) ||
      !constant_time_equal(**sent_csrf, *cookie_csrf))
    return pages::error(400, kRefused,
                        "The form's CSRF token is missing or does not match; go back, reload the page and try again.");
  const Csrf csrf{*cookie_csrf, false};
  auto query = oauth::single(*form, "authorize_query");
  if (!query || !*query) return pages::error(400, kRefused, "The form does not carry an authorization request.");
  auto pending = http::parse_form(**query);
  if (!pending) return pages::error(400, kRefused, "The authorization request is malformed.");
  auto ar = services.provider.check_authorization(*pending);
  if (!ar) return authorization_failed(services, ar.error(), 303);

  auto username = oauth::single(*form, "username");
  auto password = oauth::single(*form, "password");
  auto decision = oauth::single(*form, "decision");
  if (!username || !password || !decision) return pages::error(400, kRefused, "A form field is repeated.");
  if (*username || *password) {
    if (!*username || !*password)
      return login_page(services, *ar, **query, request, csrf, 400, "Enter both a username and a password.", username->value_or(""));
    if (auto refused = rate_limit_anonymous(services, request)) {
      Response page = login_page(services, *ar, **query, request, csrf, 429, "Too many attempts from this address; wait a little.",
                                 **username);
      if (const auto* retry = refused->header("Retry-After")) page.set("Retry-After", *retry);
      return page;
    }
    auto logged_in = services.accounts.login(**username, **password, context_of(request),
                                             tokens::SessionGrant{.browser = true});
    if (!logged_in) {
      const auto& e = logged_in.error();
      switch (e.code) {
        case accounts::AccountErrc::locked: {
          Response page = login_page(services, *ar, **query, request, csrf, 429, e.description, **username);
          page.set("Retry-After", std::to_string(std::max<std::int64_t>(1, e.retry_after)));
          return page;
        }
        case accounts::AccountErrc::unavailable: return pages::error(503, "Try again shortly", e.description);
        default: return login_page(services, *ar, **query, request, csrf, 401, "The username or password is incorrect.", **username);
      }
    }
    const auto& [user, session] = *logged_in;
    auto record = services.provider.users().get(user.id);
    if (!record || !*record) return pages::error(503, "Try again shortly", "The user store is unavailable.");
    Response res = proceed(services, request, *ar, **record, services.clock.now_unix(), **query, csrf, 303);
    res.add("Set-Cookie", session_cookie(services, request, session.access_token));
    return res;
  }

  if (!*decision) return pages::error(400, kRefused, "The form has neither credentials nor a decision.");
  auto known = browser_user(services, request);
  if (!known) return login_page(services, *ar, **query, request, csrf, 401, "Your session has ended; log in again.");
  const auto& user = *known->user;
  const bool allow = **decision == "allow";
  if (!allow && **decision != "deny") return pages::error(400, kRefused, "decision must be allow or deny.");
  services.audit.record(context_of(request),
                        audit::AuditEvent{.type = allow ? "consent.given" : "consent.denied", .success = allow,
                                          .user_id = user.id, .username = user.username,
                                          .detail = {{"client_id", ar->client->id},
                                                     {"scope", oauth::join_scope(ar->scopes)}}});
  if (!allow)
    return to_client(services, ar->redirect_uri,
                     {{"error", "access_denied"}, {"error_description", "The user denied the request."}}, ar->state, 303);
  if (auto saved = services.provider.remember_grant(user.id, ar->client->id, ar->scopes); !saved)
    return pages::error(503, "Try again shortly", saved.error().description);
  auto code = services.provider.issue_code(*ar, user.id, known->auth_time, context_of(request));
  if (!code) return pages::error(503, "Try again shortly", code.error().description);
  return to_client(services, ar->redirect_uri, {{"code", *code}}, ar->state, 303);
}

}  // namespace

void add_authorize_routes(http::Router& router, Services& services) {
  router.add("GET", "/oauth/authorize", http::Execution::blocking_pool,
             [&services](Request& r) { return authorize_get(services, r); });
  // A POST may carry a password: argon2id runs on the hashing pool.
  router.add("POST", "/oauth/authorize", http::Execution::hashing_pool,
             [&services](Request& r) { return authorize_post(services, r); });
}

}  // namespace gatehouse::api
