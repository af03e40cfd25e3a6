#include "core/time.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>

namespace gatehouse {

std::string rfc3339(std::int64_t unix_seconds) {
  // Every audit event formats "now": keep the last second formatted, per thread.
  thread_local std::int64_t last_seconds = std::numeric_limits<std::int64_t>::min();
  thread_local std::string last_text;
  if (unix_seconds == last_seconds) return last_text;
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  last_seconds = unix_seconds;
  last_text = buf;
  return last_text;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t multiplier = 1;
  switch (text.back()) {
    case 's': multiplier = 1; text.remove_suffix(1); break;
    case 'm': multiplier = 60; text.remove_suffix(1); break;
    case 'h': multiplier = 3600; text.remove_suffix(1); break;
    case 'd': multiplier = 86400; text.remove_suffix(1); break;
    default: break;
  }
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value <= 0) return std::nullopt;
  // Cap at 100 years: anything longer is a typo, and the cap keeps time arithmetic in range.
  constexpr std::int64_t kMax = 100LL * 365 * 86400;
  if (value > kMax / multiplier) return std::nullopt;
  return std::chrono::seconds{value * multiplier};
}

}  // namespace gatehouse

namespace gatehouse {

std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  if (text.size() < 20 || text.size() > 40) return std::nullopt;
  const std::string s(text);
  int y, mo, d, h, mi, sec;
  char t, z;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &t, &h, &mi, &sec, &consumed) != 7 ||
      (t != 'T' && t != 't') || consumed != 19)
    return std::nullopt;
  std::size_t pos = 19;
  if (s[pos] == '.') {
    ++pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
  }
  if (pos + 1 != s.size()) return std::nullopt;
  z = s[pos];
  if (z != 'Z' && z != 'z') return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace gatehouse
