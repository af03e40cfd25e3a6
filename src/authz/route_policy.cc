#include "authz/route_policy.h"

#include <algorithm>
#include <array>

#include "core/utf8.h"

namespace gatehouse::authz {
namespace {

constexpr std::string_view kMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"};

std::vector<std::string_view> split_segments(std::string_view path) {
  // path starts with '/': "/a/b" -> {"a", "b"}, "/" -> {""}.
  std::vector<std::string_view> out;
  path.remove_prefix(1);
  // One allocation per split (every request splits the path once per policy it tries).
  out.reserve(static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) + 1);
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

// Dynamic programming over (pattern segment, path segment): O(pattern × path) whatever the
// number of "**" (a backtracking matcher is polynomial in the path per "**", and the path
// comes from the client). can[p][s]: pattern[p..] matches path[s..].
bool segments_match(const std::vector<std::string>& pattern, const std::vector<std::string_view>& path) {
  const std::size_t m = pattern.size(), n = path.size();
  // Two rows of n + 1 flags: on the stack for ordinary paths, on the heap for long ones.
  constexpr std::size_t kInline = 64;
  std::array<char, 2 * kInline> inline_rows{};
  std::vector<char> heap_rows;
  char* rows = inline_rows.data();
  if (n + 1 > kInline) {
    heap_rows.assign(2 * (n + 1), 0);
    rows = heap_rows.data();
  }
  char* next = rows;
  char* here = rows + (n + 1);
  next[n] = 1;  // the empty pattern matches only the empty rest
  for (std::size_t p = m; p-- > 0;) {
    const bool any_depth = pattern[p] == "**";
    here[n] = any_depth && next[n];
    for (std::size_t s = n; s-- > 0;) {
      here[s] = any_depth ? (next[s] || here[s + 1]) : (next[s + 1] && segment_matches(pattern[p], path[s]));
    }
    std::swap(here, next);
  }
  return next[0] != 0;
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
    if (segment == "**" && !glob.segments_.empty() && glob.segments_.back() == "**") continue;  // same thing
    glob.segments_.emplace_back(segment);
  }
  for (const auto& segment : glob.segments_) {
    if (segment.find('*') != std::string::npos) {
      glob.has_wildcard_ = true;
      break;
    }
    glob.literal_.append("/").append(segment);
  }
  return glob;
}

bool PathGlob::matches(std::string_view normalized_path) const {
  if (normalized_path.empty() || normalized_path.front() != '/') return false;
  if (!has_wildcard_) return normalized_path == literal_;
  if (!normalized_path.starts_with(literal_)) return false;
  return segments_match(segments_, split_segments(normalized_path));
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
    std::optional<ratelimit::Limit> limit;
    if (!spec.rate_limit.empty() && !(limit = ratelimit::parse_limit(spec.rate_limit)))
      return unexpected(where + ": rate_limit: expected N/second, N/minute, N/hour, N/day or N/<duration>, got \"" +
                        spec.rate_limit + "\"");
    out.policies_.push_back(RoutePolicy{spec, std::move(*glob), i, limit, "policy:" + std::to_string(i)});
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
  // Most paths are already normal: printable ASCII with no escape, no '\\' or ';', no "//"
  // and no segment ending in '.' (which covers "." and ".."). Those come back as sent.
  bool plain = true;
  for (std::size_t i = 0; i < uri.size() && plain; ++i) {
    const auto c = static_cast<unsigned char>(uri[i]);
    if (c <= ' ' || c >= 0x7F || c == '%' || c == '\\' || c == ';') plain = false;
    else if (c == '/') plain = i == 0 || uri[i - 1] != '/';
    else if (c == '.') plain = i + 1 < uri.size() && uri[i + 1] != '/';
  }
  if (plain) return std::string(uri);
  // Decode what may be decoded; keep every other escape as sent (upper-cased). `bytes` is the
  // fully decoded path, kept only to check it is UTF-8.
  std::string decoded, bytes;
  decoded.reserve(uri.size());
  for (std::size_t i = 0; i < uri.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(uri[i]);
    if (c < 0x20 || c >= 0x7F) return unexpected(std::string("The original URI has a control or non-ASCII byte."));
    if (c == '\\') return unexpected(std::string("The original URI has a backslash."));
    // Servlet containers and others read ";..." as a path parameter and drop it ("/a;x/b" is
    // /a/b, "..;" is ".."): a path that means different things upstream and here is refused.
    if (c == ';') return unexpected(std::string("The original URI has a ';' (path parameters are refused)."));
    if (c != '%') {
      decoded.push_back(static_cast<char>(c));
      bytes.push_back(static_cast<char>(c));
      continue;
    }
    const int hi = i + 2 < uri.size() ? hex_value(uri[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_value(uri[i + 2]) : -1;
    if (lo < 0) return unexpected(std::string("The original URI has a malformed percent-escape."));
    const auto byte = static_cast<unsigned char>(hi * 16 + lo);
    if (byte == '/' || byte == '\\') return unexpected(std::string("The original URI has an encoded '/' or '\\'."));
    if (byte == 0) return unexpected(std::string("The original URI has an encoded NUL."));
    bytes.push_back(static_cast<char>(byte));
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
  // Encoded bytes must spell UTF-8: overlong forms ("%C0%AE" for '.') and stray bytes are how
  // some servers have been walked past their own checks.
  for (std::size_t i = 0; i < bytes.size();) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence_length(bytes, i);
    if (n == 0) return unexpected(std::string("The original URI's escapes are not UTF-8."));
    i += n;
  }
  // Segments, with empty ones (a run of '/') dropped and dot segments resolved (RFC 3986 §5.2.4).
  const std::vector<std::string_view> segments = split_segments(decoded);
  std::vector<std::string_view> out;
  out.reserve(segments.size());
  bool trailing_slash = false;
  for (auto segment : segments) {
    trailing_slash = segment.empty() || segment == "." || segment == "..";
    if (segment.empty() || segment == ".") continue;
    // Windows and IIS drop trailing dots ("admin." is admin): refused rather than guessed at.
    if (segment.back() == '.' && segment != "..")
      return unexpected(std::string("The original URI has a segment ending in '.'."));
    if (segment == "..") {
      if (out.empty()) return unexpected(std::string("The original URI climbs above the root."));
      out.pop_back();
      continue;
    }
    out.push_back(segment);
  }
  std::string path;
  path.reserve(decoded.size() + 1);
  for (auto segment : out) {
    path += '/';
    path += segment;
  }
  if (path.empty() || trailing_slash) path += '/';
  return path;
}

}  // namespace gatehouse::authz
