// Form bodies and query strings (http/message.h): parse_form and form_decode on any text; what
// parses re-encodes (with_query) to text that parses to the same pairs.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)gatehouse::http::form_decode(text);
  auto pairs = gatehouse::http::parse_form(text);
  if (!pairs) return 0;
  const std::string rebuilt = gatehouse::http::with_query("", *pairs);
  auto again = gatehouse::http::parse_form(rebuilt.empty() ? std::string_view() : std::string_view(rebuilt).substr(1));
  if (!again) std::abort();
  // Empty pairs ("&&") are dropped by the parser; everything else comes back in order.
  std::vector<std::pair<std::string, std::string>> expected;
  for (auto& p : *pairs)
    if (!p.first.empty() || !p.second.empty()) expected.push_back(p);
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& p : *again)
    if (!p.first.empty() || !p.second.empty()) got.push_back(p);
  if (got != expected) std::abort();
  return 0;
}
