// core/time.h: RFC 3339 timestamps and the duration syntax of the config file.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// "2030-01-01T00:00:00Z" for the given Unix time (UTC, whole seconds).
std::string rfc3339(std::int64_t unix_seconds);

// Parses "90", "30s", "15m", "1h", "30d" (a positive integer and an optional unit).
// Returns nullopt for anything else, zero, or a value that would overflow.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace gatehouse

namespace gatehouse {
// Parses "2030-01-01T00:00:00Z" (UTC, whole or fractional seconds ignored) to Unix seconds.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
}  // namespace gatehouse
