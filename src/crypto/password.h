// crypto/password.h: argon2id password hashing through libsodium (PHC strings, so the
// parameters travel with each hash and can be raised later). Slow on purpose: callers run
// it on the blocking pool, never on a network thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace gatehouse::crypto {

struct Argon2Params {
  // OWASP's argon2id baseline (2024): m = 19 MiB, t = 2, p = 1.
  std::size_t memory_bytes{19u * 1024 * 1024};
  std::uint64_t iterations{2};
};

class PasswordHasher {
 public:
  explicit PasswordHasher(Argon2Params params);
  std::string hash(std::string_view password) const;
  // False for a wrong password and for a hash that is not a valid argon2id PHC string.
  bool verify(std::string_view phc, std::string_view password) const;
  // True when the hash was made with other parameters than the current ones.
  bool needs_rehash(std::string_view phc) const;
  // Burns the same time as verify() against a real hash; used for unknown users so that
  // "no such user" and "wrong password" cannot be told apart by timing.
  void verify_dummy(std::string_view password) const;
  const Argon2Params& params() const { return params_; }

 private:
  Argon2Params params_;
  // Made on first use, not at start: one argon2id hash would cost tens of milliseconds of
  // start-up time.
  mutable std::once_flag dummy_once_;
  mutable std::string dummy_hash_;
};

}  // namespace gatehouse::crypto
