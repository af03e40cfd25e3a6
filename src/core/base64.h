// core/base64.h: strict base64 (RFC 4648 §4) and base64url (§5). Decoding accepts only the
// canonical encoding: no whitespace, no foreign characters, correct padding (base64) or no
// padding (base64url), and zero bits in the unused low bits of the last character. One byte
// string therefore has exactly one accepted spelling.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);  // unpadded
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace gatehouse
