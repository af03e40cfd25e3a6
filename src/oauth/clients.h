// oauth/clients.h: OAuth clients (SPEC §8). Registered by an admin, with exact redirect URIs,
// the grant types and scopes they may use, and for confidential clients a secret that the
// server generates (`gcs_` + 43 base62 characters: > 256 bits), shows once and keeps as a
// SHA-256 digest. Because the secret is high-entropy, a digest compared in constant time is
// the right check; a password hash would only slow the token endpoint down.
//
// Clients are read on every token request, so they are cached in memory; every write records
// a ("client", id) change and the change feed drops that entry on every node.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/context.h"
#include "core/result.h"
#include "store/store.h"

namespace gatehouse::oauth {

inline constexpr std::string_view kClientIdPrefix = "gcl_";
inline constexpr std::string_view kClientSecretPrefix = "gcs_";
// Client ids have one shape: "gcl_" and 22 base62 characters. Anything else names no client.
bool is_client_id(std::string_view id);

inline constexpr std::string_view kGrantAuthorizationCode = "authorization_code";
inline constexpr std::string_view kGrantRefreshToken = "refresh_token";
inline constexpr std::string_view kGrantClientCredentials = "client_credentials";

enum class ClientErrc {
  invalid_request,  // 400: a bad field
  not_found,        // 404
  conflict,         // 409: e.g. a secret for a public client
  unavailable,      // 503
};

struct ClientError {
  ClientErrc code{ClientErrc::invalid_request};
  std::string description{};  // safe to send
};

struct NewClient {
  std::string name{};
  std::string type{"confidential"};
  std::vector<std::string> redirect_uris{};
  std::optional<std::vector<std::string>> grant_types{};  // default: authorization_code (+ refresh_token)
  std::optional<std::vector<std::string>> scopes{};       // default: openid
  bool trusted{false};
  bool introspect{false};
};

struct IssuedClient {
  store::ClientRecord record{};
  std::string secret{};  // confidential clients: the only time it exists outside the caller
};

using ClientPtr = std::shared_ptr<const store::ClientRecord>;

// A redirect URI a client may register (RFC 8252, OAuth 2.1 §2.3.1): absolute, no fragment,
// no userinfo; https, or http only to a loopback host, or a private-use scheme with a dot
// (com.example.app:/cb). Returns why not, or nullopt when it is acceptable.
std::optional<std::string> redirect_uri_problem(std::string_view uri);
// A scope token (RFC 6749 §3.3): NQCHAR without space, '"' or '\'.
bool valid_scope_token(std::string_view scope);

class Clients {
 public:
  Clients(store::ClientStore& store, audit::AuditLog& audit, const Clock& clock);

  Result<IssuedClient, ClientError> create(const NewClient& request, const RequestContext& ctx,
                                           const std::string& actor_id);
  Result<std::vector<store::ClientRecord>, ClientError> list(const std::string& after_id, int limit);
  Result<store::ClientRecord, ClientError> get(const std::string& id);
  // Deletes the client and revokes every token issued to it.
  Result<void, ClientError> remove(const std::string& id, std::int64_t revoked_until, const RequestContext& ctx,
                                   const std::string& actor_id);
  Result<IssuedClient, ClientError> rotate_secret(const std::string& id, const RequestContext& ctx,
                                                  const std::string& actor_id);

  // The client by id from the cache (one store read on a miss); null when there is none,
  // error when the store did not answer.
  Result<ClientPtr, ClientError> find(const std::string& id);
  // Memory only: is this client cached (so find() will not touch the store)?
  bool cached(const std::string& id) const;
  // True when `secret` is this confidential client's secret (constant time).
  static bool secret_matches(const store::ClientRecord& client, std::string_view secret);

  // Change feed hooks.
  void invalidate(const std::string& id);
  void clear();
  void set_change_hook(std::function<void()> hook) { changed_ = std::move(hook); }

 private:
  void changed() const {
    if (changed_) changed_();
  }

  store::ClientStore& store_;
  audit::AuditLog& audit_;
  const Clock& clock_;
  std::function<void()> changed_;

  static constexpr std::size_t kMaxCached = 10000;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, ClientPtr> cache_;  // id -> client (null: none)
  std::uint64_t generation_{0};                       // bumped by every invalidation
};

}  // namespace gatehouse::oauth
