// core/result.h: expected failures are values. One alias, so moving to std::expected
// (C++23) is a one-line change.
#pragma once
#include <tl/expected.hpp>

namespace gatehouse {
template <class T, class E>
using Result = tl::expected<T, E>;
using tl::unexpected;
}  // namespace gatehouse
