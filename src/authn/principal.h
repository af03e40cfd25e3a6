// authn/principal.h: who is calling, however they proved it. Authorization looks only at this.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::authn {

enum class Method { opaque, jwt, basic, api_key };

std::string_view method_name(Method m);

struct Principal {
  std::string subject{};   // user id
  std::string user_id{};
  std::string username{};
  std::string email{};          // as loaded while authenticating, so handlers need not re-read
  std::int64_t created_at{0};
  Method method{Method::opaque};
  std::vector<std::string> roles{};
  std::vector<std::string> permissions{};  // sorted: effective permissions of this credential
  std::string session_id{};                // opaque tokens: the login session
  std::string key_id{};                    // API keys: the key's id
  std::string client_id{};
  std::string rate_limit{};  // an API key's own limit ("100/minute"), empty for the default
};

}  // namespace gatehouse::authn
