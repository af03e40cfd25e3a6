#include "oauth/clients.h"

#include <algorithm>
#include <cctype>

#include "core/random.h"
#include "core/secret.h"
#include "core/utf8.h"
#include "crypto/digest.h"

namespace gatehouse::oauth {
namespace {

constexpr std::size_t kMaxNameBytes = 100;
constexpr std::size_t kMaxRedirectUris = 20;
constexpr std::size_t kMaxUriBytes = 2000;
constexpr std::size_t kMaxScopes = 64;
constexpr std::size_t kMaxScopeBytes = 128;
constexpr std::size_t kClientIdChars = 22;      // 22 base62: 131 bits, not a secret
constexpr std::size_t kClientSecretChars = 43;  // 43 base62: > 256 bits

tl::unexpected<ClientError> fail(ClientErrc code, std::string description) {
  return tl::unexpected(ClientError{code, std::move(description)});
}

tl::unexpected<ClientError> store_down() {
  return fail(ClientErrc::unavailable, "The client store is unavailable; try again shortly.");
}

bool is_loopback_host(std::string_view host) {
  return host == "127.0.0.1" || host == "[::1]" || host == "localhost";
}

// Sorted, unique, each one valid by `ok`.
std::optional<std::string> normalise(std::vector<std::string>& values, std::size_t max, std::string_view what,
                                     const std::function<std::optional<std::string>(const std::string&)>& problem) {
  if (values.size() > max) return "At most " + std::to_string(max) + " " + std::string(what) + ".";
  for (const auto& v : values)
    if (auto p = problem(v)) return *p;
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return std::nullopt;
}

}  // namespace

bool is_client_id(std::string_view id) {
  return id.size() == kClientIdPrefix.size() + kClientIdChars && id.substr(0, kClientIdPrefix.size()) == kClientIdPrefix &&
         std::all_of(id.begin() + static_cast<std::ptrdiff_t>(kClientIdPrefix.size()), id.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

bool valid_scope_token(std::string_view scope) {
  if (scope.empty() || scope.size() > kMaxScopeBytes) return false;
  return std::all_of(scope.begin(), scope.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && c != '"' && c != '\\';
  });
}

std::optional<std::string> redirect_uri_problem(std::string_view uri) {
  if (uri.empty() || uri.size() > kMaxUriBytes) return "A redirect URI must be 1 to 2000 bytes.";
  for (unsigned char c : uri)
    if (c <= 0x20 || c >= 0x7f) return "A redirect URI must be ASCII without spaces or control characters.";
  if (uri.find('#') != std::string_view::npos) return "A redirect URI must not have a fragment.";
  const auto colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) return "A redirect URI must be absolute (scheme:...).";
  const std::string_view scheme = uri.substr(0, colon);
  for (char c : scheme)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'))
      return "A redirect URI has an invalid scheme.";
  if (scheme != "http" && scheme != "https") {
    // RFC 8252 §7.1: private-use schemes are reverse domain names.
    if (scheme.find('.') == std::string_view::npos)
      return "A custom redirect URI scheme must be a reverse domain name (com.example.app:/callback).";
    return std::nullopt;
  }
  if (uri.substr(colon, 3) != "://") return "An http(s) redirect URI must have an authority (https://host/...).";
  const std::string_view rest = uri.substr(colon + 3);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.empty()) return "A redirect URI must name a host.";
  if (authority.find('@') != std::string_view::npos) return "A redirect URI must not carry a user name or password.";
  // host [":" port], the host a name, an IPv4 address or an IPv6 literal (RFC 3986 §3.2.2);
  // nothing else, so the URI can go into a Location header and a CSP source list as it is.
  std::string_view host = authority, port;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return "A redirect URI has an unclosed IPv6 literal.";
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!std::all_of(host.begin() + 1, host.end() - 1,
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'; }))
      return "A redirect URI has an invalid IPv6 literal.";
  } else {
    const auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon);
      host = host.substr(0, colon);
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
        }))
      return "A redirect URI has an invalid host name.";
  }
  if (!port.empty() && (port.front() != ':' || port.size() > 6 ||
                        !std::all_of(port.begin() + 1, port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })))
    return "A redirect URI has an invalid port.";
  if (scheme == "http" && !is_loopback_host(host))
    return "http redirect URIs are allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https.";
  return std::nullopt;
}

Clients::Clients(store::ClientStore& store, audit::AuditLog& audit, const Clock& clock)
    : store_(store), audit_(audit), clock_(clock) {}

Result<IssuedClient, ClientError> Clients::create(const NewClient& request, const RequestContext& ctx,
                                                  const std::string& actor_id) {
  if (request.name.empty() || request.name.size() > kMaxNameBytes || !is_valid_utf8(request.name) ||
      std::any_of(request.name.begin(), request.name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    return fail(ClientErrc::invalid_request, "name must be 1 to 100 bytes of UTF-8 without control characters.");
  if (request.type != "confidential" && request.type != "public")
    return fail(ClientErrc::invalid_request, "type must be \"confidential\" or \"public\".");
  const bool confidential = request.type == "confidential";

  std::vector<std::string> grants = request.grant_types.value_or(std::vector<std::string>{
      std::string(kGrantAuthorizationCode), std::string(kGrantRefreshToken)});
  if (grants.empty()) return fail(ClientErrc::invalid_request, "grant_types must name at least one grant type.");
  if (auto p = normalise(grants, 3, "grant types", [](const std::string& g) -> std::optional<std::string> {
        if (g == kGrantAuthorizationCode || g == kGrantRefreshToken || g == kGrantClientCredentials) return std::nullopt;
        return "Unknown grant type \"" + g.substr(0, 64) +
               "\": use authorization_code, refresh_token or client_credentials.";
      }))
    return fail(ClientErrc::invalid_request, *p);
  const auto has_grant = [&](std::string_view g) { return std::find(grants.begin(), grants.end(), g) != grants.end(); };
  if (!confidential && has_grant(kGrantClientCredentials))
    return fail(ClientErrc::invalid_request, "A public client cannot use client_credentials: it has no secret.");

  std::vector<std::string> uris = request.redirect_uris;
  if (auto p = normalise(uris, kMaxRedirectUris, "redirect URIs", [](const std::string& u) { return redirect_uri_problem(u); }))
    return fail(ClientErrc::invalid_request, *p);
  if (has_grant(kGrantAuthorizationCode) && uris.empty())
    return fail(ClientErrc::invalid_request, "An authorization_code client needs at least one redirect URI.");

  std::vector<std::string> scopes = request.scopes.value_or(std::vector<std::string>{"openid"});
  if (auto p = normalise(scopes, kMaxScopes, "scopes", [](const std::string& s) -> std::optional<std::string> {
        if (valid_scope_token(s)) return std::nullopt;
        return "Scope \"" + s.substr(0, 64) + "\" is not a valid scope token.";
      }))
    return fail(ClientErrc::invalid_request, *p);

  const std::int64_t now = clock_.now_unix();
  IssuedClient issued;
  issued.record = store::ClientRecord{.id = std::string(kClientIdPrefix) + random_base62(kClientIdChars),
                                      .name = request.name,
                                      .type = request.type,
                                      .secret_digest = {},
                                      .redirect_uris = std::move(uris),
                                      .grant_types = std::move(grants),
                                      .scopes = std::move(scopes),
                                      .trusted = request.trusted,
                                      .introspect = request.introspect,
                                      .created_at = now,
                                      .updated_at = now};
  if (confidential) {
    issued.secret = std::string(kClientSecretPrefix) + random_base62(kClientSecretChars);
    issued.record.secret_digest = crypto::sha256_hex(issued.secret);
  }
  if (!store_.create_client(issued.record)) return store_down();
  changed();
  audit_.record(ctx, audit::AuditEvent{.type = "client.created", .success = true, .user_id = actor_id, .username = {},
                                       .detail = {{"client_id", issued.record.id}, {"type", issued.record.type}}});
  return issued;
}

Result<std::vector<store::ClientRecord>, ClientError> Clients::list(const std::string& after_id, int limit) {
  auto clients = store_.list_clients(after_id, limit);
  if (!clients) return store_down();
  return std::move(*clients);
}

Result<store::ClientRecord, ClientError> Clients::get(const std::string& id) {
  auto client = store_.find_client(id);
  if (!client) return store_down();
  if (!*client) return fail(ClientErrc::not_found, "No such client.");
  return std::move(**client);
}

Result<void, ClientError> Clients::remove(const std::string& id, std::int64_t revoked_until,
                                          const RequestContext& ctx, const std::string& actor_id) {
  auto removed = store_.delete_client(id, clock_.now_unix(), revoked_until);
  if (!removed) {
    if (removed.error().code == store::StoreErrc::not_found) return fail(ClientErrc::not_found, "No such client.");
    return store_down();
  }
  invalidate(id);
  changed();
  audit_.record(ctx, audit::AuditEvent{.type = "client.deleted", .success = true, .user_id = actor_id, .username = {},
                                       .detail = {{"client_id", id}}});
  return {};
}

Result<IssuedClient, ClientError> Clients::rotate_secret(const std::string& id, const RequestContext& ctx,
                                                         const std::string& actor_id) {
  IssuedClient issued;
  issued.secret = std::string(kClientSecretPrefix) + random_base62(kClientSecretChars);
  auto updated = store_.set_client_secret(id, crypto::sha256_hex(issued.secret), clock_.now_unix());
  if (!updated) {
    switch (updated.error().code) {
      case store::StoreErrc::not_found: return fail(ClientErrc::not_found, "No such client.");
      case store::StoreErrc::precondition_failed:
        return fail(ClientErrc::conflict, "A public client has no secret to rotate.");
      default: return store_down();
    }
  }
  issued.record = std::move(*updated);
  invalidate(id);
  changed();
  audit_.record(ctx, audit::AuditEvent{.type = "client.secret_rotated", .success = true, .user_id = actor_id,
                                       .username = {}, .detail = {{"client_id", id}}});
  return issued;
}

Result<ClientPtr, ClientError> Clients::find(const std::string& id) {
  std::uint64_t generation;
  {
    std::shared_lock lock(mutex_);
    if (auto it = cache_.find(id); it != cache_.end()) return it->second;
    generation = generation_;
  }
  // Anything else is no client and never reaches the store.
  if (!is_client_id(id)) return ClientPtr{};
  auto found = store_.find_client(id);
  if (!found) return store_down();
  ClientPtr client = *found ? std::make_shared<const store::ClientRecord>(std::move(**found)) : ClientPtr{};
  std::unique_lock lock(mutex_);
  // An invalidation while the store was read may concern this very client: do not keep it.
  if (generation_ == generation) {
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_[id] = client;
  }
  return client;
}

bool Clients::cached(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = cache_.find(id);
  return it != cache_.end() && it->second != nullptr;
}

bool Clients::secret_matches(const store::ClientRecord& client, std::string_view secret) {
  if (client.type != "confidential" || client.secret_digest.empty()) return false;
  return constant_time_equal(crypto::sha256_hex(secret), client.secret_digest);
}

void Clients::invalidate(const std::string& id) {
  std::unique_lock lock(mutex_);
  ++generation_;
  cache_.erase(id);
}

void Clients::clear() {
  std::unique_lock lock(mutex_);
  ++generation_;
  cache_.clear();
}

}  // namespace gatehouse::oauth
