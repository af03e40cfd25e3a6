#include "crypto/password.h"

#include <sodium.h>

#include <stdexcept>

#include "core/random.h"

namespace gatehouse::crypto {

PasswordHasher::PasswordHasher(Argon2Params params) : params_(params) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  if (params_.memory_bytes < crypto_pwhash_MEMLIMIT_MIN || params_.iterations < crypto_pwhash_OPSLIMIT_MIN)
    throw std::runtime_error("argon2id parameters below libsodium's minimum");
}

std::string PasswordHasher::hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params_.iterations, params_.memory_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("argon2id: out of memory");
  return out;
}

bool PasswordHasher::verify(std::string_view phc, std::string_view password) const {
  // libsodium wants a NUL-terminated string of at most STRBYTES - 1 characters.
  if (phc.empty() || phc.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string terminated(phc);
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::needs_rehash(std::string_view phc) const {
  if (phc.empty() || phc.size() >= crypto_pwhash_STRBYTES) return true;
  const std::string terminated(phc);
  return crypto_pwhash_str_needs_rehash(terminated.c_str(), params_.iterations, params_.memory_bytes) != 0;
}

void PasswordHasher::verify_dummy(std::string_view password) const {
  std::call_once(dummy_once_, [this] { dummy_hash_ = hash(random_bytes(16)); });
  (void)verify(dummy_hash_, password);
}

}  // namespace gatehouse::crypto
