#include "core/strict_json.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/utf8.h"

namespace gatehouse::strict_json {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at s[i..i+4), or -1.
int read_hex4(std::string_view s, std::size_t i) {
  if (i + 4 > s.size()) return -1;
  int v = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const int h = hex_value(s[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Unescapes the body of a string (between the quotes) that the scanner has validated.
std::string unescape_body(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\') {
      out.push_back(body[i]);
      continue;
    }
    const char e = body[++i];
    switch (e) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        std::uint32_t cp = static_cast<std::uint32_t>(read_hex4(body, i + 1));
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // validated: a low surrogate follows
          const auto low = static_cast<std::uint32_t>(read_hex4(body, i + 3));
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        append_utf8(out, cp);
        break;
      }
      default: out.push_back(e); break;  // " \ /
    }
  }
  return out;
}

// Bytes that may appear in a JSON string as they are: printable ASCII other than '"' and '\\'.
// The scanner skips runs of them with one table lookup a byte.
constexpr std::array<bool, 256> make_plain_table() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return t;
}
constexpr auto kPlain = make_plain_table();

bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// The index of the first byte at or after `i` that is not plain (see kPlain), or n. With SSE2
// (every x86-64) sixteen bytes at a time: claims are mostly long runs of plain ASCII.
std::size_t skip_plain(const unsigned char* data, std::size_t i, std::size_t n) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (i + 16 <= n) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    // Signed compare: bytes >= 0x80 are negative, so "< 0x20" also catches non-ASCII.
    const __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                         _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    i += 16;
  }
#endif
  while (i < n && kPlain[data[i]]) ++i;
  return i;
}

// Key equality with the cheap tests first: most keys differ in length, first or last byte.
bool same_key(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || (a.front() == b.front() && a.back() == b.back() && a == b));
}

class Scanner {
 public:
  explicit Scanner(std::string_view text) : s_(text) {}

  bool top_object(std::vector<Member>& members) {
    skip_ws();
    if (!object(&members)) return false;
    skip_ws();
    return i_ == s_.size();
  }

 private:
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  bool value(Kind& kind) {
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{': kind = Kind::object; return object(nullptr);
      case '[': kind = Kind::array; return array();
      case '"': {
        kind = Kind::string;
        bool escaped;
        return string(escaped);
      }
      case 't': kind = Kind::boolean; return literal("true");
      case 'f': kind = Kind::boolean; return literal("false");
      case 'n': kind = Kind::null; return literal("null");
      default: kind = Kind::number; return number();
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool number() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ >= s_.size()) return false;
    if (s_[i_] == '0') {
      ++i_;
    } else if (s_[i_] >= '1' && s_[i_] <= '9') {
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    } else {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      const std::size_t digits = i_;
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
      if (i_ == digits) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      const std::size_t digits = i_;
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
      if (i_ == digits) return false;
    }
    return i_ > start;
  }

  // At an opening quote; leaves i_ after the closing one.
  bool string(bool& escaped) {
    escaped = false;
    ++i_;
    const std::size_t n = s_.size();
    const auto* data = reinterpret_cast<const unsigned char*>(s_.data());
    while (i_ < n) {
      i_ = skip_plain(data, i_, n);
      if (i_ >= n) return false;
      const unsigned char c = data[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        escaped = true;
        if (++i_ >= s_.size()) return false;
        const char e = s_[i_];
        if (e == 'u') {
          const int cp = read_hex4(s_, i_ + 1);
          if (cp < 0) return false;
          i_ += 5;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.substr(i_, 2) != "\\u") return false;
            const int low = read_hex4(s_, i_ + 2);
            if (low < 0xDC00 || low > 0xDFFF) return false;
            i_ += 6;
          }
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
          return false;
        ++i_;
        continue;
      }
      if (c < 0x80) {
        ++i_;
        continue;
      }
      const std::size_t n = utf8_sequence_length(s_, i_);
      if (n == 0) return false;
      i_ += n;
    }
    return false;
  }

  bool array() {
    if (++depth_ > kMaxDepth) return false;
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      --depth_;
      return true;
    }
    for (;;) {
      skip_ws();
      Kind kind;
      if (!value(kind)) return false;
      skip_ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] != ']') return false;
      ++i_;
      --depth_;
      return true;
    }
  }

  // `top` collects members of the outermost object; nested objects check duplicates only.
  bool object(std::vector<Member>* top) {
    if (i_ >= s_.size() || s_[i_] != '{') return false;
    if (++depth_ > kMaxDepth) return false;
    ++i_;
    std::vector<Member> local;
    std::vector<Member>& members = top ? *top : local;
    members.clear();
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      --depth_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return false;
      Member m;
      m.key_begin = static_cast<std::uint32_t>(i_ + 1);
      if (!string(m.key_escaped)) return false;
      m.key_end = static_cast<std::uint32_t>(i_ - 1);
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return false;
      ++i_;
      skip_ws();
      m.value_begin = static_cast<std::uint32_t>(i_);
      if (!value(m.kind)) return false;
      m.value_end = static_cast<std::uint32_t>(i_);
      if (members.size() >= kMaxMembers || is_duplicate(members, m)) return false;
      members.push_back(m);
      skip_ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] != '}') return false;
      ++i_;
      --depth_;
      return true;
    }
  }

  bool is_duplicate(const std::vector<Member>& members, const Member& m) const {
    const std::string_view key = m.raw_key(s_);
    if (!m.key_escaped) {
      for (const auto& other : members) {
        if (!other.key_escaped) {
          if (same_key(other.raw_key(s_), key)) return true;
        } else if (unescape_body(other.raw_key(s_)) == key) {
          return true;
        }
      }
      return false;
    }
    const std::string decoded = unescape_body(key);
    for (const auto& other : members) {
      const std::string_view other_key = other.raw_key(s_);
      if (other.key_escaped ? unescape_body(other_key) == decoded : other_key == decoded) return true;
    }
    return false;
  }

  std::string_view s_;
  std::size_t i_{0};
  int depth_{0};
};

}  // namespace

bool parse_object(std::string_view text, std::vector<Member>& members) {
  if (text.size() > UINT32_MAX) return false;
  Scanner scanner(text);
  if (scanner.top_object(members)) return true;
  members.clear();
  return false;
}

const Member* find(std::string_view text, const std::vector<Member>& members, std::string_view key) {
  for (const auto& m : members) {
    if (m.key_escaped ? unescape_body(m.raw_key(text)) == key : m.raw_key(text) == key) return &m;
  }
  return nullptr;
}

std::optional<std::string> string_value(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return std::nullopt;
  const std::string_view body = raw.substr(1, raw.size() - 2);
  if (body.find('\\') == std::string_view::npos) return std::string(body);
  return unescape_body(body);
}

std::optional<std::vector<std::string>> string_array(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '[' || raw.back() != ']') return std::nullopt;
  std::vector<std::string> out;
  std::size_t i = 1;
  const auto skip_ws = [&] {
    while (i < raw.size() && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r')) ++i;
  };
  skip_ws();
  if (raw[i] == ']') return out;
  for (;;) {
    skip_ws();
    if (i >= raw.size() || raw[i] != '"') return std::nullopt;
    std::size_t end = i + 1;
    while (end < raw.size() && raw[end] != '"') end += raw[end] == '\\' ? 2 : 1;
    if (end >= raw.size()) return std::nullopt;
    auto value = string_value(raw.substr(i, end - i + 1));
    if (!value) return std::nullopt;
    out.push_back(std::move(*value));
    i = end + 1;
    skip_ws();
    if (i < raw.size() && raw[i] == ',') {
      ++i;
      continue;
    }
    if (i + 1 == raw.size() && raw[i] == ']') return out;
    return std::nullopt;
  }
}

std::optional<std::int64_t> integer_value(std::string_view raw) {
  constexpr std::int64_t kLimit = std::int64_t{1} << 53;
  if (raw.empty()) return std::nullopt;
  const bool simple = raw.find_first_of(".eE") == std::string_view::npos;
  if (simple) {
    std::size_t i = raw[0] == '-' ? 1 : 0;
    if (i >= raw.size() || raw.size() - i > 16) return std::nullopt;
    std::int64_t v = 0;
    for (; i < raw.size(); ++i) {
      if (!is_digit(raw[i])) return std::nullopt;
      v = v * 10 + (raw[i] - '0');
    }
    if (v > kLimit) return std::nullopt;
    return raw[0] == '-' ? -v : v;
  }
  const std::string copy(raw);
  char* end = nullptr;
  const double d = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(d) || std::fabs(d) > static_cast<double>(kLimit))
    return std::nullopt;
  return static_cast<std::int64_t>(std::trunc(d));
}

}  // namespace gatehouse::strict_json
