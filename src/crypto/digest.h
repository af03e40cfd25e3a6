// crypto/digest.h: SHA-256 and HMAC-SHA-256. What the store keeps of every bearer secret
// (opaque tokens, refresh tokens, later API keys and client secrets) is its SHA-256.
#pragma once
#include <string>
#include <string_view>

namespace gatehouse::crypto {

std::string sha256(std::string_view data);      // 32 raw bytes
void sha256_into(std::string_view data, unsigned char* out);  // 32 bytes into out, no allocation
std::string sha256_hex(std::string_view data);  // 64 lower-case hex characters
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string to_hex(std::string_view bytes);

}  // namespace gatehouse::crypto
