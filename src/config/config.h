// config/config.h: the typed configuration. Plain structs; every member has a default that
// says why. Loaded once at start from TOML, then GATEHOUSE_<SECTION>_<KEY> environment
// variables (and <...>_FILE for secrets), then command-line flags; validated once.
#pragma once
#include <chrono>
#include <cstdlib>
#include <string_view>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "authz/permissions.h"
#include "authz/route_policy.h"
#include "core/result.h"

namespace gatehouse::config {

using std::chrono::seconds;

struct ServerConfig {
  std::string listen{"127.0.0.1:8080"};
  // 0 = one network thread per core.
  int threads{0};
  // Threads for blocking work (argon2id, store round trips). 0 = one per core.
  int blocking_threads{0};
  // Threads for argon2id (login, password changes). 0 = one per core.
  int hashing_threads{0};
  // Open connections beyond this are closed at accept.
  std::int64_t max_connections{10000};
  // Plain HTTP is served only on loopback unless a TLS-terminating proxy sits in front.
  bool allow_insecure_http{false};
  std::vector<std::string> trusted_proxies{};
  // Empty: http://<listen>.
  std::string issuer{};
  std::int64_t max_body_bytes{64 * 1024};
  std::int64_t max_header_bytes{16 * 1024};
  // Slow-loris guard: a client gets this long to send a complete request head.
  seconds header_timeout{10};
  // Idle keep-alive connections are closed after this long.
  seconds idle_timeout{60};
  // SIGTERM: in-flight requests get this long to finish.
  seconds shutdown_timeout{10};
};

struct StorageConfig {
  // Empty: sqlite://<data_dir>/gatehouse.db.
  std::string url{};
  std::string data_dir{"./var"};
  // PostgreSQL only. Overrides a password in the URL; best given as
  // GATEHOUSE_STORAGE_PASSWORD_FILE, so it is in neither the TOML file nor the environment.
  std::string password{};
  std::int64_t pool_size{4};  // PostgreSQL connections per node
};

// [[upstream]]: an identity provider users may sign in with (SPEC §8, Federation). TOML only;
// the secret may also come from `client_secret_file` or GATEHOUSE_UPSTREAM_<NAME>_CLIENT_SECRET
// (or its _FILE form), NAME upper-cased with '-' as '_'.
struct UpstreamConfig {
  std::string name{};  // 1-32 of a-z 0-9 - _; in the URLs /auth/upstream/{name}/...
  std::string kind{};  // "oidc", "github" or "oauth2" ("google" is read as oidc at Google's issuer)
  std::string preset{};  // "google" when kind was "google"
  std::string client_id{};
  std::string client_secret{};  // secret
  std::vector<std::string> scopes{};  // default per kind
  std::string issuer{};  // oidc: endpoints come from its discovery document
  // oauth2: all three required. github: overridable (GitHub Enterprise), defaults github.com's.
  std::string authorize_url{};
  std::string token_url{};
  std::string userinfo_url{};  // github: the API base, /user and /user/emails under it
  // oauth2: where the userinfo JSON keeps each claim.
  std::string subject_claim{"sub"};
  std::string email_claim{"email"};
  std::string username_claim{"preferred_username"};
  bool auto_create{false};  // an unknown identity makes an account on first login
  std::string ca_file{};    // trust for this upstream's HTTPS instead of the system store
};

struct TlsConfig {
  std::string cert_file{};
  std::string key_file{};
  // `serve --tls-self-signed`: a development certificate in <data_dir>/tls/ (made if missing).
  bool self_signed{false};
  bool enabled() const { return self_signed || !cert_file.empty(); }
};

struct TokenConfig {
  // "jwt": self-contained RFC 9068 access tokens, verified from memory on every node.
  // "opaque": random tokens looked up by digest in the store.
  std::string format{"jwt"};
  std::string signing_alg{"ES256"};
  // Access tokens cannot be recalled once copied, so they live one hour.
  seconds access_ttl{3600};
  // Refresh tokens rotate on every use; an unused one dies after 30 days.
  seconds refresh_ttl{30 * 86400};
  seconds leeway{30};
  std::string audience{};
  std::string hs256_secret{};
  // ES256 signatures of requests that arrive together made in one batch, sharing two modular
  // inversions (docs/security.md); false signs each one by one with OpenSSL's ECDSA_do_sign.
  bool es256_batch{true};
};

struct AccountsConfig {
  bool allow_registration{false};
  // NIST SP 800-63B: at least 8 characters.
  std::int64_t min_password_length{8};
  // argon2id cost (OWASP baseline): 19 MiB, 2 passes.
  std::int64_t argon2_memory_kib{19 * 1024};
  std::int64_t argon2_iterations{2};
};

struct AuthConfig {
  bool basic{true};
  // Successful Basic verifications are remembered this long, so a client that sends
  // Basic on every request does not pay argon2id every time. Failures are never cached.
  seconds basic_cache_ttl{60};
};

struct ApiKeysConfig {
  // Keys look like gk_<43 base62>: a recognisable prefix lets secret scanners find leaked keys.
  std::string prefix{"gk_"};
  // ?api_key= ends up in proxy logs, browser history and Referer headers: off by default.
  bool allow_query_param{false};
};

struct RateLimitConfig {
  bool enabled{true};
  // Per principal (user, API key; client IP for login and refresh): SPEC §9.
  std::string default_limit{"1000/hour"};
  // "role=limit" entries ([ratelimit.roles] table in TOML: role = "limit").
  std::vector<std::string> roles{};
};

struct LockoutConfig {
  // SPEC §9: 5 consecutive failures lock a username for 15 minutes; 50 failures from one IP
  // within that time lock the IP.
  std::int64_t max_failures{5};
  seconds duration{15 * 60};
  std::int64_t ip_max_failures{50};
};

struct AuditConfig {
  // Empty: JSON lines on stderr.
  std::string file{};
  seconds retention{90 * 86400};
};

struct AdminConfig {
  // First start on an empty store: create this admin when a password is given.
  std::string username{"admin"};
  std::string password{};
};

struct LogConfig {
  std::string level{"info"};
};

struct Config {
  ServerConfig server{};
  StorageConfig storage{};
  TlsConfig tls{};
  TokenConfig tokens{};
  AccountsConfig accounts{};
  AuthConfig auth{};
  ApiKeysConfig api_keys{};
  LockoutConfig lockout{};
  RateLimitConfig ratelimit{};
  AuditConfig audit{};
  AdminConfig admin{};
  LogConfig log{};
  // [roles]: custom role = ["permission", ...] (SPEC §7). TOML only.
  std::vector<authz::CustomRole> roles{};
  // [[policy]]: the gateway's route policies for /auth/check, in order (SPEC §10). TOML only.
  std::vector<authz::PolicySpec> policies{};
  // [[upstream]]: identity providers to sign in with, by name. TOML only (secrets also from env).
  std::vector<UpstreamConfig> upstreams{};

  // Derived once by finalize(): never set directly.
  std::string listen_host{};
  std::uint16_t listen_port{0};
  std::string storage_path{};  // the SQLite file path; empty for PostgreSQL

  std::string storage_url() const;
  std::string issuer_for(std::uint16_t bound_port) const;
};

struct Overrides {
  std::optional<std::string> listen{};
  std::optional<std::string> data_dir{};
  std::optional<std::string> issuer{};
  bool tls_self_signed{false};
};

using EnvLookup = const char* (*)(const char*);
const char* system_env(const char* name);

// Reads the file (if any), the environment and the overrides, then validates. The error
// names the key, where it came from and the expected form.
Result<Config, std::string> load(const std::optional<std::string>& file, const Overrides& overrides,
                                 EnvLookup env = &system_env);
Result<Config, std::string> load_from_string(std::string_view toml, const Overrides& overrides, EnvLookup env);

// Checks cross-key rules and fills the derived members.
Result<void, std::string> finalize(Config& config);

}  // namespace gatehouse::config
