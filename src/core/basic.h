// core/basic.h: HTTP Basic credentials (RFC 7617): base64(user-id ":" password).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

struct BasicCredentials {
  std::string user;      // before the first ':', never empty
  std::string password;  // after it, possibly empty, possibly holding ':'
};

// The credentials in the part of an Authorization header after "Basic " (leading spaces are
// skipped); nullopt when it is not base64 of "user:password" with a non-empty user.
std::optional<BasicCredentials> decode_basic(std::string_view encoded);

}  // namespace gatehouse
