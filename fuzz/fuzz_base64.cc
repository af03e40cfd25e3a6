// base64 and base64url (core/base64.h): decoding any text is clean, and what decodes encodes
// back to the canonical form that decodes to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/base64.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto bytes = gatehouse::base64url_decode(text)) {
    if (gatehouse::base64url_decode(gatehouse::base64url_encode(*bytes)) != bytes) std::abort();
  }
  if (auto bytes = gatehouse::base64_decode(text)) {
    if (gatehouse::base64_decode(gatehouse::base64_encode(*bytes)) != bytes) std::abort();
  }
  // Any bytes encode to text that decodes back to them.
  if (gatehouse::base64url_decode(gatehouse::base64url_encode(text)) != text) std::abort();
  if (gatehouse::base64_decode(gatehouse::base64_encode(text)) != text) std::abort();
  return 0;
}
