// core/random.h: cryptographically secure randomness (OpenSSL RAND_bytes) and the
// identifiers and secrets built from it. Aborts if the CSPRNG fails: there is no safe fallback.
#pragma once
#include <cstddef>
#include <string>

namespace gatehouse {

std::string random_bytes(std::size_t n);
// n characters from [0-9A-Za-z], uniformly (rejection sampling, no modulo bias).
std::string random_base62(std::size_t n);
// A 26-character, lexicographically time-ordered identifier (ULID layout: 48-bit
// milliseconds + 80 random bits, Crockford base32). Sorting by id sorts by creation.
std::string new_id(std::int64_t unix_millis);

}  // namespace gatehouse
