// api/pages.h: the server-rendered HTML pages of the authorization endpoint (SPEC §8): login,
// consent and error. Small, accessible, no scripts, no third-party assets; one inline style
// allowed by its hash in a strict Content-Security-Policy. The form fields are a contract
// that scripts and tests rely on: login has username, password and a hidden csrf_token;
// consent a hidden csrf_token and buttons named decision with values allow and deny; both
// carry the pending authorization request in the hidden field authorize_query.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace gatehouse::api::pages {

// HTML-escapes text for element content and double-quoted attribute values.
std::string escape(std::string_view text);

// A "Sign in with <name>" link to an upstream identity provider's start URL.
struct UpstreamLink {
  std::string name{};
  std::string href{};
};

struct LoginPage {
  std::string client_name{};
  std::string authorize_query{};
  std::string csrf_token{};
  std::string username{};  // to refill after a failure
  std::string error{};     // shown above the form; empty: none
  std::vector<UpstreamLink> upstreams{};  // listed under the form
};

struct ConsentPage {
  std::string client_name{};
  std::string username{};
  std::vector<std::string> scopes{};
  std::string authorize_query{};
  std::string csrf_token{};
};

// `form_target`: where the form's POST may end up after redirects (the client's redirect URI),
// for the page's CSP form-action; empty: this server only.
http::Response login(const LoginPage& page, int status, std::string_view form_target);
http::Response consent(const ConsentPage& page, std::string_view form_target);
http::Response error(int status, std::string_view title, std::string_view message);
// After an upstream sign-in that named no page to return to.
http::Response signed_in(std::string_view username);

}  // namespace gatehouse::api::pages
