#include "core/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gatehouse {

namespace {

void rand_or_abort(unsigned char* out, std::size_t n) {
  if (n > 0 && RAND_bytes(out, static_cast<int>(n)) != 1) {
    std::fputs("fatal: RAND_bytes failed\n", stderr);
    std::abort();
  }
}

// A child of fork() must not hand out bytes its parent also holds: forking bumps this, and a
// pool filled before the fork is dropped.
std::atomic<std::uint64_t> g_fork_generation{0};

// Each RAND_bytes call takes the DRBG's lock and runs its generate step, ~2-3 µs however few
// bytes are asked for; a token endpoint wants three small draws per request (jti, audit id,
// request id). So each thread draws kPoolSize bytes at once and hands out every byte exactly
// once, wiping it as it goes: the output is the same CSPRNG stream, read in larger pieces.
struct Pool {
  static constexpr std::size_t kPoolSize = 512;
  unsigned char bytes[kPoolSize];
  std::size_t used = kPoolSize;  // empty until first use
  std::uint64_t generation = 0;

  ~Pool() { OPENSSL_cleanse(bytes, sizeof bytes); }

  void take(unsigned char* out, std::size_t n) {
    if (n > kPoolSize / 4) return rand_or_abort(out, n);  // large draws (keys) go straight through
    const std::uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
    if (generation != gen || kPoolSize - used < n) {
      rand_or_abort(bytes, kPoolSize);
      used = 0;
      generation = gen;
    }
    std::memcpy(out, bytes + used, n);
    OPENSSL_cleanse(bytes + used, n);
    used += n;
  }
};

const bool g_fork_hook = [] {
  pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
  return true;
}();

}  // namespace

void fill_random(unsigned char* out, std::size_t n) {
  thread_local Pool pool;
  pool.take(out, n);
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  fill_random(reinterpret_cast<unsigned char*>(out.data()), n);
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
  unsigned char rnd[10];  // 80 bits -> 16 characters
  fill_random(rnd, sizeof rnd);
  std::uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 5; ++i) hi = (hi << 8) | rnd[i];
  for (int i = 5; i < 10; ++i) lo = (lo << 8) | rnd[i];
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
