// authn/principal.h: who is calling, however they proved it. Authorization looks only at this.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::authn {

// oauth: a token an OAuth client obtained (for a user, or for itself by client_credentials).
enum class Method { opaque, jwt, basic, api_key, oauth };

std::string_view method_name(Method m);

struct Principal {
  std::string subject{};   // user id; for a client's own token (client_credentials), its client id
  std::string user_id{};   // empty for a client's own token
  std::string username{};
  std::string email{};          // as loaded while authenticating, so handlers need not re-read
  std::int64_t created_at{0};
  Method method{Method::opaque};
  std::vector<std::string> roles{};
  std::vector<std::string> permissions{};  // sorted: effective permissions of this credential
  std::string session_id{};                // opaque tokens: the login session
  std::string key_id{};                    // API keys: the key's id
  std::string client_id{};
  // The scope the credential was granted, as sent (sorted); empty when it carries none. OAuth
  // scopes such as openid live here; `permissions` are what they allow on Gatehouse's own API.
  std::vector<std::string> scopes{};
  std::string rate_limit{};  // an API key's own limit ("100/minute"), empty for the default
};

}  // namespace gatehouse::authn
