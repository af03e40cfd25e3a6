#include "core/random.h"

#include <openssl/rand.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>

namespace gatehouse {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::fputs("fatal: RAND_bytes failed\n", stderr);
    std::abort();
  }
  return out;
}

std::string random_base62(std::size_t n) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    for (unsigned char byte : random_bytes(n * 2)) {
      // 248 = 4 * 62: bytes at or above it would bias the first characters.
      if (byte >= 248) continue;
      out.push_back(kAlphabet[byte % 62]);
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string new_id(std::int64_t unix_millis) {
  static constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string out(26, '0');
  auto ms = static_cast<std::uint64_t>(unix_millis);
  for (int i = 9; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kCrockford[ms & 31];
    ms >>= 5;
  }
  const std::string rnd = random_bytes(10);  // 80 bits -> 16 characters
  std::uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 5; ++i) hi = (hi << 8) | static_cast<unsigned char>(rnd[static_cast<std::size_t>(i)]);
  for (int i = 5; i < 10; ++i) lo = (lo << 8) | static_cast<unsigned char>(rnd[static_cast<std::size_t>(i)]);
  for (int i = 17; i >= 10; --i) {
    out[static_cast<std::size_t>(i)] = kCrockford[hi & 31];
    hi >>= 5;
  }
  for (int i = 25; i >= 18; --i) {
    out[static_cast<std::size_t>(i)] = kCrockford[lo & 31];
    lo >>= 5;
  }
  return out;
}

}  // namespace gatehouse
