#include "core/base64.h"

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace gatehouse {
namespace {

constexpr std::string_view kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


std::string encode(std::string_view in, std::string_view alphabet, bool pad) {
  const std::size_t rest = in.size() % 3;
  const std::size_t full = in.size() - rest;
  std::string out((full / 3) * 4 + (rest == 0 ? 0 : pad ? 4 : rest + 1), '\0');
  const auto* src = reinterpret_cast<const unsigned char*>(in.data());
  char* dst = out.data();
  for (std::size_t i = 0; i < full; i += 3, dst += 4) {
    const std::uint32_t v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
    dst[0] = alphabet[(v >> 18) & 63];
    dst[1] = alphabet[(v >> 12) & 63];
    dst[2] = alphabet[(v >> 6) & 63];
    dst[3] = alphabet[v & 63];
  }
  if (rest == 0) return out;
  const std::uint32_t v = (src[full] << 16) | (rest == 2 ? src[full + 1] << 8 : 0);
  dst[0] = alphabet[(v >> 18) & 63];
  dst[1] = alphabet[(v >> 12) & 63];
  if (rest == 2) dst[2] = alphabet[(v >> 6) & 63];
  if (pad) {
    if (rest == 1) dst[2] = '=';
    dst[3] = '=';
  }
  return out;
}

// Decoding tables with each character's six bits already shifted into place for its
// position in a block of four, so a block is four loads and three ORs. A character outside
// the alphabet maps to kBad, a bit above the 24 data bits, and the loop only ORs the blocks'
// values into `seen` and checks that bit once at the end: no branch per character.
constexpr std::uint32_t kBad = 0x01000000;
struct DecodeTables {
  std::array<std::uint32_t, 256> at[4];
};
constexpr DecodeTables make_decode_tables(std::string_view alphabet) {
  DecodeTables t{};
  for (int pos = 0; pos < 4; ++pos) {
    for (auto& v : t.at[pos]) v = kBad;
    for (std::size_t i = 0; i < alphabet.size(); ++i)
      t.at[pos][static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint32_t>(i) << (18 - 6 * pos);
  }
  return t;
}
constexpr DecodeTables kStdDecode = make_decode_tables(kStd);
constexpr DecodeTables kUrlDecode = make_decode_tables(kUrl);

#if defined(__x86_64__)
// base64url with AVX2, 32 characters into 24 bytes a step (the method of Muła and Lemire,
// "Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018): classify each byte by
// range, add the range's offset to get its six bits, then merge the bits of each block of
// four with two multiply-adds and gather the 24 bytes with shuffles. Any byte outside the
// alphabet (non-ASCII bytes compare as negative) fails the whole input. Returns how many
// characters it consumed (a multiple of 32, leaving the tail to the scalar loop), or SIZE_MAX.
__attribute__((target("avx2"))) std::size_t decode_url_avx2(const unsigned char* in, std::size_t n,
                                                            unsigned char* out) {
#define GH_IN_RANGE(c, lo, hi) \
  _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8((lo) - 1)), _mm256_cmpgt_epi8(_mm256_set1_epi8((hi) + 1), c))
  const __m256i merge_pairs = _mm256_set1_epi32(0x01400140);  // a*64 + b, c*64 + d
  const __m256i merge_quads = _mm256_set1_epi32(0x00011000);  // ab*4096 + cd
  const __m256i gather = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,  //
                                          2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i pack = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32, out += 24) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i upper = GH_IN_RANGE(c, 'A', 'Z');
    const __m256i lower = GH_IN_RANGE(c, 'a', 'z');
    const __m256i digit = GH_IN_RANGE(c, '0', '9');
    const __m256i dash = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('-'));
    const __m256i under = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('_'));
    const __m256i valid = _mm256_or_si256(_mm256_or_si256(upper, lower), _mm256_or_si256(_mm256_or_si256(digit, dash), under));
    if (_mm256_movemask_epi8(valid) != -1) return SIZE_MAX;
    __m256i offset = _mm256_and_si256(upper, _mm256_set1_epi8(-'A'));
    offset = _mm256_or_si256(offset, _mm256_and_si256(lower, _mm256_set1_epi8(26 - 'a')));
    offset = _mm256_or_si256(offset, _mm256_and_si256(digit, _mm256_set1_epi8(52 - '0')));
    offset = _mm256_or_si256(offset, _mm256_and_si256(dash, _mm256_set1_epi8(62 - '-')));
    offset = _mm256_or_si256(offset, _mm256_and_si256(under, _mm256_set1_epi8(63 - '_')));
    const __m256i sextets = _mm256_add_epi8(c, offset);
    const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(sextets, merge_pairs), merge_quads);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, gather), pack);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(bytes));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 16), _mm256_extracti128_si256(bytes, 1));
  }
#undef GH_IN_RANGE
  return i;
}

bool have_avx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}
#endif

// Decodes unpadded characters; `text` holds no '='. Tokens are decoded on every request.
std::optional<std::string> decode(std::string_view text, const DecodeTables& tables) {
  const std::size_t n = text.size();
  const std::size_t rest = n % 4;
  if (rest == 1) return std::nullopt;
  std::string out(n / 4 * 3 + (rest ? rest - 1 : 0), '\0');
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const auto& [t0, t1, t2, t3] = tables.at;
  std::uint32_t seen = 0;
  std::size_t i = 0;
#if defined(__x86_64__)
  if (&tables == &kUrlDecode && have_avx2()) {
    i = decode_url_avx2(in, n, o);
    if (i == SIZE_MAX) return std::nullopt;
    o += i / 4 * 3;
  }
#endif
  for (; i + 4 <= n; i += 4, o += 3) {
    const std::uint32_t v = t0[in[i]] | t1[in[i + 1]] | t2[in[i + 2]] | t3[in[i + 3]];
    seen |= v;
    o[0] = static_cast<unsigned char>(v >> 16);
    o[1] = static_cast<unsigned char>(v >> 8);
    o[2] = static_cast<unsigned char>(v);
  }
  if (rest == 2) {
    const std::uint32_t v = t0[in[i]] | t1[in[i + 1]];
    // Canonical form: the bits the last character carries beyond the last byte must be zero.
    seen |= v | ((v & 0x0000FFFF) ? kBad : 0);
    o[0] = static_cast<unsigned char>(v >> 16);
  } else if (rest == 3) {
    const std::uint32_t v = t0[in[i]] | t1[in[i + 1]] | t2[in[i + 2]];
    seen |= v | ((v & 0x000000FF) ? kBad : 0);
    o[0] = static_cast<unsigned char>(v >> 16);
    o[1] = static_cast<unsigned char>(v >> 8);
  }
  if (seen & kBad) return std::nullopt;
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
  return decode(body, kStdDecode);
}

std::optional<std::string> base64url_decode(std::string_view text) { return decode(text, kUrlDecode); }

}  // namespace gatehouse
