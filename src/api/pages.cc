#include "api/pages.h"

#include "core/base64.h"
#include "crypto/digest.h"

namespace gatehouse::api::pages {
namespace {

constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}"
    "h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}"
    "input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}"
    "button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem;font-size:1rem}"
    ".error{color:#a00000;border-left:3px solid #a00000;padding-left:.6rem}"
    "code{background:#f2f2f2;padding:0 .2rem}";

// The page's only style, allowed by its hash (CSP level 2).
const std::string& style_hash() {
  static const std::string hash = "'sha256-" + base64_encode(crypto::sha256(kStyle)) + "'";
  return hash;
}

// Where a form may be sent: this server and, for the authorization endpoint, the client's
// redirect target (browsers apply form-action to the redirect that follows the POST).
std::string form_action(std::string_view target) {
  std::string out = "'self'";
  if (target.empty()) return out;
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) {
    // A private-use scheme (com.example.app:/cb): allow the scheme.
    out += " " + std::string(target.substr(0, target.find(':') + 1));
    return out;
  }
  const auto path = target.find_first_of("/?", scheme_end + 3);
  out += " " + std::string(target.substr(0, path));
  return out;
}

http::Response html(int status, std::string_view title, const std::string& body, std::string_view form_target) {
  std::string page;
  page.reserve(1024 + body.size());
  page += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<meta name=\"referrer\" content=\"no-referrer\"><title>";
  page += escape(title);
  page += " - Gatehouse</title><style>";
  page += kStyle;
  page += "</style></head>\n<body><main>\n";
  page += body;
  page += "</main></body></html>\n";
  http::Response res;
  res.status = status;
  res.set("Content-Type", "text/html; charset=utf-8");
  res.set("Cache-Control", "no-store");
  res.set("Pragma", "no-cache");
  res.set("Content-Security-Policy", "default-src 'none'; style-src " + style_hash() +
                                         "; img-src 'self'; form-action " + form_action(form_target) +
                                         "; frame-ancestors 'none'; base-uri 'none'");
  res.body = std::move(page);
  return res;
}

std::string hidden(std::string_view name, std::string_view value) {
  return "<input type=\"hidden\" name=\"" + escape(name) + "\" value=\"" + escape(value) + "\">\n";
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

http::Response login(const LoginPage& page, int status, std::string_view form_target) {
  std::string body = "<h1>Log in</h1>\n";
  if (!page.client_name.empty())
    body += "<p><strong>" + escape(page.client_name) + "</strong> wants you to log in with Gatehouse.</p>\n";
  if (!page.error.empty()) body += "<p class=\"error\" role=\"alert\">" + escape(page.error) + "</p>\n";
  body += "<form method=\"post\" action=\"/oauth/authorize\">\n";
  body += hidden("csrf_token", page.csrf_token);
  body += hidden("authorize_query", page.authorize_query);
  body += "<label for=\"username\">Username or e-mail</label>\n"
          "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus value=\"" +
          escape(page.username) + "\">\n";
  body += "<label for=\"password\">Password</label>\n"
          "<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n";
  body += "<button type=\"submit\">Log in</button>\n</form>\n";
  if (!page.upstreams.empty()) {
    body += "<nav aria-label=\"Other ways to log in\">\n<ul>\n";
    for (const auto& u : page.upstreams)
      body += "<li><a href=\"" + escape(u.href) + "\">Log in with " + escape(u.name) + "</a></li>\n";
    body += "</ul>\n</nav>\n";
  }
  return html(status, "Log in", body, form_target);
}

http::Response consent(const ConsentPage& page, std::string_view form_target) {
  std::string body = "<h1>Allow access?</h1>\n";
  body += "<p><strong>" + escape(page.client_name) + "</strong> asks to access your account <strong>" +
          escape(page.username) + "</strong> with these permissions:</p>\n<ul>\n";
  for (const auto& s : page.scopes) body += "<li><code>" + escape(s) + "</code></li>\n";
  if (page.scopes.empty()) body += "<li>none beyond knowing that you logged in</li>\n";
  body += "</ul>\n<form method=\"post\" action=\"/oauth/authorize\">\n";
  body += hidden("csrf_token", page.csrf_token);
  body += hidden("authorize_query", page.authorize_query);
  body += "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
          "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n</form>\n";
  return html(200, "Allow access?", body, form_target);
}

http::Response error(int status, std::string_view title, std::string_view message) {
  std::string body = "<h1>" + escape(title) + "</h1>\n<p class=\"error\" role=\"alert\">" + escape(message) + "</p>\n";
  return html(status, title, body, {});
}

http::Response signed_in(std::string_view username) {
  std::string body = "<h1>Signed in</h1>\n<p>You are signed in to Gatehouse as <strong>" + escape(username) +
                     "</strong>. You can close this page.</p>\n";
  return html(200, "Signed in", body, {});
}

}  // namespace gatehouse::api::pages
