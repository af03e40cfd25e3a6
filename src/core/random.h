// core/random.h: cryptographically secure randomness (OpenSSL RAND_bytes) and the
// identifiers and secrets built from it. Aborts if the CSPRNG fails: there is no safe fallback.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace gatehouse {

// n bytes of CSPRNG output. Small draws come from a per-thread pool refilled 512 bytes at a
// time from RAND_bytes (each byte handed out once, then wiped); large ones go straight through.
void fill_random(unsigned char* out, std::size_t n);
std::string random_bytes(std::size_t n);
// n characters from [0-9A-Za-z], uniformly (rejection sampling, no modulo bias).
std::string random_base62(std::size_t n);
// A 26-character, lexicographically time-ordered identifier (ULID layout: 48-bit
// milliseconds + 80 random bits, Crockford base32). Sorting by id sorts by creation.
std::string new_id(std::int64_t unix_millis);

}  // namespace gatehouse
