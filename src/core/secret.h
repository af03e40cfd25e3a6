// core/secret.h: comparisons of secrets and their digests in constant time.
#pragma once
#include <string_view>

namespace gatehouse {

// True when a and b are equal. Time depends only on the lengths, never on the contents.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace gatehouse
