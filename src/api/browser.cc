#include "api/browser.h"

namespace gatehouse::api {

std::optional<std::string> cookie(const Request& request, std::string_view name) {
  std::optional<std::string> found;
  int seen = 0;
  for (const auto& h : request.headers) {
    if (h.name != "cookie") continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const auto end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        ++seen;
        found = std::string(pair.substr(eq + 1));
      }
    }
  }
  if (seen != 1) return std::nullopt;
  return found;
}

std::string set_cookie(const Request& request, std::string_view name, std::string_view value, std::string_view path,
                       std::int64_t max_age, std::string_view same_site) {
  std::string out = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                    "; Max-Age=" + std::to_string(max_age) + "; HttpOnly; SameSite=" + std::string(same_site);
  if (request.secure) out += "; Secure";
  return out;
}

std::optional<BrowserUser> browser_user(Services& services, const Request& request) {
  auto token = cookie(request, kSessionCookie);
  if (!token) return std::nullopt;
  auto grant = services.sessions.verify_browser(*token);
  if (!grant) return std::nullopt;
  auto user = services.provider.users().get(grant->user_id);
  if (!user || !*user || (*user)->disabled) return std::nullopt;
  return BrowserUser{*user, grant->issued_at};
}

std::string session_cookie(Services& services, const Request& request, std::string_view token) {
  return set_cookie(request, kSessionCookie, token, "/", services.sessions.settings().browser_ttl.count(), "Lax");
}

}  // namespace gatehouse::api
