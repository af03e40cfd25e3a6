// core/strict_json.h: a validating, non-allocating-per-value JSON scanner for untrusted
// compact objects (JWS headers and claims). Strict RFC 8259: one object, no trailing
// characters but whitespace, UTF-8 only, escapes checked (no lone surrogates), numbers in
// the RFC grammar, depth ≤ kMaxDepth, and no duplicate key in any object — compared after
// unescaping, so {"sub":1,"s\u0075b":2} is refused. Top-level members are reported as
// offsets into the text, so the result survives moving the string that holds it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::strict_json {

inline constexpr int kMaxDepth = 32;
inline constexpr std::size_t kMaxMembers = 256;  // per object

enum class Kind : std::uint8_t { string, number, object, array, boolean, null };

struct Member {
  std::uint32_t key_begin{0}, key_end{0};      // between the quotes, still escaped
  std::uint32_t value_begin{0}, value_end{0};  // the raw value (strings with their quotes)
  Kind kind{Kind::null};
  bool key_escaped{false};

  std::string_view raw_key(std::string_view text) const { return text.substr(key_begin, key_end - key_begin); }
  std::string_view raw_value(std::string_view text) const {
    return text.substr(value_begin, value_end - value_begin);
  }
};

// True when `text` is exactly one strict JSON object; `members` then holds its top-level
// members in order.
bool parse_object(std::string_view text, std::vector<Member>& members);

// The top-level member named `key` (compared after unescaping), or null.
const Member* find(std::string_view text, const std::vector<Member>& members, std::string_view key);

// The unescaped value of a raw JSON string token (quotes included).
std::optional<std::string> string_value(std::string_view raw);
// The strings of a raw JSON array of strings (as validated by parse_object); nullopt when the
// value is not an array or holds anything but strings.
std::optional<std::vector<std::string>> string_array(std::string_view raw);
// A raw number token as an integer; fractions are truncated toward zero (NumericDate allows
// them); nullopt beyond ±2^53 or for non-numbers.
std::optional<std::int64_t> integer_value(std::string_view raw);

}  // namespace gatehouse::strict_json
