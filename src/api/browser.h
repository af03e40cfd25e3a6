// api/browser.h: what the HTML endpoints share about the browser: its cookies and its
// session (the gatehouse_session cookie, SPEC §3).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/common.h"

namespace gatehouse::api {

inline constexpr std::string_view kSessionCookie = "gatehouse_session";

// The cookie's value when the request carries it exactly once: a second copy (one planted
// with a narrower path, say) makes it count as absent.
std::optional<std::string> cookie(const Request& request, std::string_view name);

// A Set-Cookie value: HttpOnly always, Secure under TLS.
std::string set_cookie(const Request& request, std::string_view name, std::string_view value, std::string_view path,
                       std::int64_t max_age, std::string_view same_site);

struct BrowserUser {
  std::shared_ptr<const store::UserRecord> user;
  std::int64_t auth_time{0};
};

// The user of the request's browser session, if it has a live one and is not disabled.
std::optional<BrowserUser> browser_user(Services& services, const Request& request);

// The browser session cookie for a session token.
std::string session_cookie(Services& services, const Request& request, std::string_view token);

}  // namespace gatehouse::api
