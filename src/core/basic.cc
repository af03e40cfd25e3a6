#include "core/basic.h"

#include "core/base64.h"

namespace gatehouse {

std::optional<BasicCredentials> decode_basic(std::string_view encoded) {
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  auto decoded = base64_decode(encoded);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

}  // namespace gatehouse
