// bench/argon2_rate.cc: the cost a login pays, measured alone. One argon2id hash is made with
// the server's default parameters (m = 19 MiB, t = 2, p = 1, via crypto_pwhash_str_alg, as
// src/crypto/password.cc does); then N threads run crypto_pwhash_str_verify against it for D
// seconds. A login is exactly one such verify, so this is the ceiling for logins/s on N cores.
//
//   argon2_rate [threads=2] [seconds=10] [memory_kib=19456] [iterations=2]
//
// The last stdout line is machine-readable:
//   argon2_rate threads=2 seconds=10.03 verifies=512 verifies_per_second=51.05
#include <sodium.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

bool parse_u64(const char* text, std::uint64_t& out) {
  const std::string_view s(text);
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

bool parse_double(const char* text, double& out) {
  try {
    std::size_t used = 0;
    out = std::stod(text, &used);
    return used == std::strlen(text);
  } catch (...) {
    return false;
  }
}

int usage() {
  std::fprintf(stderr, "usage: argon2_rate [threads=2] [seconds=10] [memory_kib=19456] [iterations=2]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t threads = 2;
  double seconds = 10.0;
  std::uint64_t memory_kib = 19456;
  std::uint64_t iterations = 2;
  if (argc > 5) return usage();
  if (argc > 1 && (!parse_u64(argv[1], threads) || threads == 0 || threads > 1024)) return usage();
  if (argc > 2 && (!parse_double(argv[2], seconds) || !(seconds > 0.0))) return usage();
  if (argc > 3 && !parse_u64(argv[3], memory_kib)) return usage();
  if (argc > 4 && !parse_u64(argv[4], iterations)) return usage();

  if (sodium_init() < 0) {
    std::fprintf(stderr, "argon2_rate: libsodium failed to initialise\n");
    return 1;
  }
  const std::size_t memlimit = static_cast<std::size_t>(memory_kib) * 1024u;
  if (memlimit < crypto_pwhash_MEMLIMIT_MIN || iterations < crypto_pwhash_OPSLIMIT_MIN) {
    std::fprintf(stderr, "argon2_rate: parameters below libsodium's minimum\n");
    return 2;
  }

  static constexpr std::string_view kPassword = "correct horse battery staple";
  char phc[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(phc, kPassword.data(), kPassword.size(), iterations, memlimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    std::fprintf(stderr, "argon2_rate: crypto_pwhash_str_alg failed (out of memory?)\n");
    return 1;
  }
  std::printf("argon2_rate: %s\n", phc);

  std::atomic<bool> failed{false};
  std::vector<std::uint64_t> counts(threads, 0);
  std::vector<Clock::time_point> finished(threads);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (std::uint64_t i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      std::uint64_t n = 0;
      while (Clock::now() < deadline) {
        if (crypto_pwhash_str_verify(phc, kPassword.data(), kPassword.size()) != 0) {
          failed = true;
          break;
        }
        ++n;
      }
      counts[i] = n;
      finished[i] = Clock::now();
    });
  }
  for (auto& t : pool) t.join();
  if (failed) {
    std::fprintf(stderr, "argon2_rate: a verify failed (out of memory?)\n");
    return 1;
  }

  // Each thread's rate over its own span (it may finish one verify past the deadline), summed.
  std::uint64_t total = 0;
  double rate = 0.0;
  double longest = 0.0;
  for (std::uint64_t i = 0; i < threads; ++i) {
    const double span = std::chrono::duration<double>(finished[i] - start).count();
    total += counts[i];
    if (span > 0.0) rate += static_cast<double>(counts[i]) / span;
    if (span > longest) longest = span;
  }
  std::printf("argon2_rate threads=%llu seconds=%.2f verifies=%llu verifies_per_second=%.2f\n",
              static_cast<unsigned long long>(threads), longest, static_cast<unsigned long long>(total), rate);
  return 0;
}
