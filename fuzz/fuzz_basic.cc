// The Basic header decoder (core/basic.h): any header value; what it accepts has a non-empty
// user without ':' and re-encodes to the same credentials.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/base64.h"
#include "core/basic.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  auto credentials = gatehouse::decode_basic(value);
  if (!credentials) return 0;
  if (credentials->user.empty() || credentials->user.find(':') != std::string::npos) std::abort();
  auto again = gatehouse::decode_basic(gatehouse::base64_encode(credentials->user + ":" + credentials->password));
  if (!again || again->user != credentials->user || again->password != credentials->password) std::abort();
  return 0;
}
