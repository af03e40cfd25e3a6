// The TOML config loader (config/config.h): any file text, no environment. It loads or says
// why not; a loaded config is valid, so loading it changes nothing more.
#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace {
const char* no_env(const char*) { return nullptr; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view toml(reinterpret_cast<const char*>(data), size);
  (void)gatehouse::config::load_from_string(toml, gatehouse::config::Overrides{}, no_env);
  return 0;
}
