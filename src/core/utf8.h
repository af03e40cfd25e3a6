// core/utf8.h: UTF-8 well-formedness (RFC 3629): no overlong forms, no surrogates, nothing
// above U+10FFFF.
#pragma once
#include <cstddef>
#include <string_view>

namespace gatehouse {

// Length (2 to 4) of the well-formed multi-byte sequence starting at s[i], or 0 when the bytes
// there are not one. ASCII bytes are not multi-byte sequences: callers handle them first.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);
// The whole string is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

}  // namespace gatehouse
