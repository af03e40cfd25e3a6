#include "authz/route_policy.h"

#include <algorithm>

#include "ratelimit/limiter.h"

namespace gatehouse::authz {
namespace {

constexpr std::string_view kMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"};

std::vector<std::string_view> split_segments(std::string_view path) {
  // path starts with '/': "/a/b" -> {"a", "b"}, "/" -> {""}.
  std::vector<std::string_view> out;
  path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

// '*' matches any run of characters within the segment.
bool segment_matches(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool segments_match(const std::vector<std::string>& pattern, std::size_t p, const std::vector<std::string_view>& path,
                    std::size_t s) {
  for (; p < pattern.size(); ++p, ++s) {
    if (pattern[p] == "**") {
      // Zero or more whole segments: try every split (patterns are short).
      for (std::size_t rest = s; rest <= path.size(); ++rest)
        if (segments_match(pattern, p + 1, path, rest)) return true;
      return false;
    }
    if (s >= path.size() || !segment_matches(pattern[p], path[s])) return false;
  }
  return s == path.size();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

}  // namespace

Result<PathGlob, std::string> PathGlob::compile(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') return unexpected("path \"" + std::string(pattern) + "\" must start with '/'");
  for (unsigned char c : pattern) {
    if (c < 0x20 || c == 0x7F) return unexpected(std::string("path has a control character"));
    if (c == '?' || c == '[' || c == '{' || c == '\\')
      return unexpected("path \"" + std::string(pattern) + "\": '" + std::string(1, static_cast<char>(c)) +
                        "' is not glob syntax here (use * for one segment, ** for any depth; queries are ignored)");
  }
  PathGlob glob;
  glob.pattern_ = std::string(pattern);
  for (auto segment : split_segments(pattern)) {
    if (segment.find("**") != std::string_view::npos && segment != "**")
      return unexpected("path \"" + std::string(pattern) + "\": ** must be a whole segment, as in /api/**");
    if (segment == "." || segment == "..")
      return unexpected("path \"" + std::string(pattern) + "\" has a dot segment; write the path it stands for");
    glob.segments_.emplace_back(segment);
  }
  return glob;
}

bool PathGlob::matches(std::string_view normalized_path) const {
  if (normalized_path.empty() || normalized_path.front() != '/') return false;
  return segments_match(segments_, 0, split_segments(normalized_path), 0);
}

Result<RoutePolicies, std::string> RoutePolicies::compile(const std::vector<PolicySpec>& specs) {
  RoutePolicies out;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const PolicySpec& spec = specs[i];
    const std::string where = "policy[" + std::to_string(i) + "]";
    auto glob = PathGlob::compile(spec.path);
    if (!glob) return unexpected(where + ": " + glob.error());
    for (const auto& method : spec.methods)
      if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods))
        return unexpected(where + ": unknown method \"" + method + "\" (expected upper-case GET, POST, ...)");
    for (const auto& need : spec.require)
      if (need.empty() || need.find_first_of(" \t\r\n") != std::string::npos)
        return unexpected(where + ": require entries are permission names without spaces");
    if (spec.anonymous && !spec.require.empty())
      return unexpected(where + ": anonymous = true and require contradict each other; choose one");
    if (!spec.rate_limit.empty() && !ratelimit::parse_limit(spec.rate_limit))
      return unexpected(where + ": rate_limit: expected N/second, N/minute, N/hour, N/day or N/<duration>, got \"" +
                        spec.rate_limit + "\"");
    out.policies_.push_back(RoutePolicy{spec, std::move(*glob), i});
  }
  return out;
}

const RoutePolicy* RoutePolicies::match(std::string_view method, std::string_view normalized_path) const {
  for (const auto& policy : policies_) {
    const auto& methods = policy.spec.methods;
    if (!methods.empty() && std::find(methods.begin(), methods.end(), method) == methods.end()) continue;
    if (policy.glob.matches(normalized_path)) return &policy;
  }
  return nullptr;
}

Result<std::string, std::string> normalize_request_path(std::string_view uri) {
  uri = uri.substr(0, uri.find_first_of("?#"));
  if (uri.empty() || uri.front() != '/') return unexpected(std::string("The original URI must be a path starting with '/'."));
  // Decode what may be decoded; keep every other escape as sent (upper-cased).
  std::string decoded;
  decoded.reserve(uri.size());
  for (std::size_t i = 0; i < uri.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(uri[i]);
    if (c < 0x20 || c == 0x7F) return unexpected(std::string("The original URI has a control character."));
    if (c == '\\') return unexpected(std::string("The original URI has a backslash."));
    if (c != '%') {
      decoded.push_back(static_cast<char>(c));
      continue;
    }
    const int hi = i + 2 < uri.size() ? hex_value(uri[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_value(uri[i + 2]) : -1;
    if (lo < 0) return unexpected(std::string("The original URI has a malformed percent-escape."));
    const auto byte = static_cast<unsigned char>(hi * 16 + lo);
    if (byte == '/' || byte == '\\') return unexpected(std::string("The original URI has an encoded '/' or '\\'."));
    if (byte == 0) return unexpected(std::string("The original URI has an encoded NUL."));
    if (unreserved(byte)) {
      decoded.push_back(static_cast<char>(byte));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      decoded += '%';
      decoded += kHex[byte >> 4];
      decoded += kHex[byte & 15];
    }
    i += 2;
  }
  // Segments, with empty ones (a run of '/') dropped and dot segments resolved (RFC 3986 §5.2.4).
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  for (auto segment : split_segments(decoded)) {
    trailing_slash = segment.empty() || segment == "." || segment == "..";
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (out.empty()) return unexpected(std::string("The original URI climbs above the root."));
      out.pop_back();
      continue;
    }
    out.push_back(segment);
  }
  std::string path;
  for (auto segment : out) {
    path += '/';
    path += segment;
  }
  if (path.empty() || trailing_slash) path += '/';
  return path;
}

}  // namespace gatehouse::authz
