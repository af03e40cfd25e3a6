// Gateway policy globs and request paths (authz/route_policy.h): the first half of the input is
// a pattern, the second a request URI. Compiling, normalizing and matching are clean, and a
// normalized path is a fixed point of normalization.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "authz/route_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto cut = input.find('\n');
  const std::string_view pattern = input.substr(0, cut);
  const std::string_view uri = cut == std::string_view::npos ? std::string_view() : input.substr(cut + 1);
  auto path = gatehouse::authz::normalize_request_path(uri);
  if (path) {
    auto again = gatehouse::authz::normalize_request_path(*path);
    if (!again || *again != *path) std::abort();
  }
  auto glob = gatehouse::authz::PathGlob::compile(pattern);
  if (glob && path) (void)glob->matches(*path);
  return 0;
}
