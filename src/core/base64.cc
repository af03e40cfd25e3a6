#include "core/base64.h"

#include <array>
#include <cstdint>

namespace gatehouse {
namespace {

constexpr std::string_view kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_table(std::string_view alphabet) {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (std::size_t i = 0; i < alphabet.size(); ++i) table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}
constexpr auto kStdTable = make_table(kStd);
constexpr auto kUrlTable = make_table(kUrl);

std::string encode(std::string_view in, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    if (pad) out.append("==");
  } else if (rest == 2) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    if (pad) out.push_back('=');
  }
  return out;
}

// Decodes unpadded characters; `text` holds no '='. Works in blocks of four characters
// into a buffer sized once: tokens are decoded on every request.
std::optional<std::string> decode(std::string_view text, const std::array<std::int8_t, 256>& table) {
  const std::size_t n = text.size();
  const std::size_t rest = n % 4;
  if (rest == 1) return std::nullopt;
  std::string out(n / 4 * 3 + (rest ? rest - 1 : 0), '\0');
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
    if ((a | b | c | d) < 0) return std::nullopt;
    const std::uint32_t v = (static_cast<std::uint32_t>(a) << 18) | (static_cast<std::uint32_t>(b) << 12) |
                            (static_cast<std::uint32_t>(c) << 6) | static_cast<std::uint32_t>(d);
    *o++ = static_cast<unsigned char>(v >> 16);
    *o++ = static_cast<unsigned char>(v >> 8);
    *o++ = static_cast<unsigned char>(v);
  }
  if (rest == 2) {
    const int a = table[in[i]], b = table[in[i + 1]];
    // Canonical form: the 4 bits b carries beyond the last byte must be zero.
    if ((a | b) < 0 || (b & 0x0F) != 0) return std::nullopt;
    *o = static_cast<unsigned char>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    const int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]];
    if ((a | b | c) < 0 || (c & 0x03) != 0) return std::nullopt;
    *o++ = static_cast<unsigned char>((a << 2) | (b >> 4));
    *o = static_cast<unsigned char>(((b & 0x0F) << 4) | (c >> 2));
  }
  return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, kStd, true); }
std::string base64url_encode(std::string_view bytes) { return encode(bytes, kUrl, false); }

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  const std::string_view body = text.substr(0, text.size() - padding);
  // With padding stripped, the length must be exactly what that padding implies.
  if (padding > 0 && body.size() % 4 != 4 - padding) return std::nullopt;
  return decode(body, kStdTable);
}

std::optional<std::string> base64url_decode(std::string_view text) { return decode(text, kUrlTable); }

}  // namespace gatehouse
