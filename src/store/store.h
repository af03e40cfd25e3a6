// store/store.h: what Gatehouse keeps, behind narrow interfaces with no driver headers.
// Records hold digests of bearer secrets, never the secrets themselves. Times are Unix
// seconds. Every backend passes the conformance suite in tests/store/.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gatehouse::store {

enum class StoreErrc {
  not_found,
  conflict,             // a uniqueness rule would break
  precondition_failed,  // a compare-and-set found a different value
  unavailable,
  internal,
};

struct StoreError {
  StoreErrc code{StoreErrc::internal};
  std::string message;  // for logs only: may name tables and constraints, never values
};

template <class T>
using StoreResult = Result<T, StoreError>;

struct UserRecord {
  std::string id{};
  std::string username{};
  std::string email{};  // empty = none
  std::vector<std::string> roles{};
  bool disabled{false};
  std::string password_hash{};  // argon2id PHC string
  std::int64_t created_at{0};
  std::int64_t updated_at{0};
};

// A change to some of a user's columns, applied in one transaction; absent members stay.
struct UserChanges {
  std::optional<std::string> email{};  // "" removes it
  std::optional<std::vector<std::string>> roles{};
  std::optional<bool> disabled{};
  std::optional<std::string> password_hash{};
  // Compare-and-set: apply only while the stored hash is still this one, so a password
  // check that took 50 ms cannot overwrite a change made meanwhile (precondition_failed).
  std::optional<std::string> expected_password_hash{};
  // In the same transaction, revoke every live session of the user except this one ("" = all),
  // and put their ids on the denylist until `revoked_until`.
  std::optional<std::string> revoke_sessions_except{};
  std::int64_t revoked_until{0};
  // In the same transaction, revoke every live API key of the user (revoked_at = updated_at).
  bool revoke_api_keys{false};
  std::int64_t updated_at{0};
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  // conflict when the username or e-mail is taken (both compared case-insensitively).
  virtual StoreResult<void> create_user(const UserRecord& user) = 0;
  virtual StoreResult<std::optional<UserRecord>> find_user(const std::string& id) = 0;
  virtual StoreResult<std::optional<UserRecord>> find_user_by_username(const std::string& username) = 0;
  virtual StoreResult<std::optional<UserRecord>> find_user_by_email(const std::string& email) = 0;
  // Users with id > after_id in id (= creation) order.
  virtual StoreResult<std::vector<UserRecord>> list_users(const std::string& after_id, int limit) = 0;
  // Writes only the changed columns (never a stale copy of the others) and returns the
  // user as stored afterwards; not_found, conflict or precondition_failed.
  virtual StoreResult<UserRecord> update_user(const std::string& id, const UserChanges& changes) = 0;
  // Deletes the user and, with it, every session and token it had.
  virtual StoreResult<void> delete_user(const std::string& id) = 0;
  virtual StoreResult<std::int64_t> count_users() = 0;
};

struct SessionRecord {
  std::string id{};
  std::string user_id{};
  std::string client_id{};
  std::int64_t created_at{0};
  std::optional<std::int64_t> revoked_at{};
  // OAuth sessions: the scope granted to the client (kept for refreshes); absent for
  // first-party sessions, whose tokens carry the user's current permissions.
  std::optional<std::string> scope{};
};

struct TokenRecord {
  std::string digest{};  // SHA-256 hex of the token
  std::string session_id{};
  std::string user_id{};
  std::int64_t created_at{0};
  std::int64_t expires_at{0};
};

struct AccessTokenView {
  TokenRecord token{};
  bool session_revoked{false};
  std::string client_id{};             // the session's
  std::optional<std::string> scope{};  // the session's
};

struct RefreshTokenView {
  TokenRecord token{};
  bool spent{false};
  bool session_revoked{false};  // or the user is disabled
  std::string client_id{};
  std::optional<std::string> scope{};
};

enum class RotateOutcome {
  rotated,         // the old refresh token is spent; the new pair is stored
  reuse_detected,  // the token was already spent: its whole session is now revoked
  invalid,         // unknown, expired, or its session is revoked
};

struct RotateResult {
  RotateOutcome outcome{RotateOutcome::invalid};
  std::string session_id{};
  std::string user_id{};
  std::string client_id{};           // the session's
  std::optional<std::string> scope{};  // the session's
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // Stores a new session with its first access and refresh token, atomically, but only
  // while the user is enabled and its password hash is still `verified_password_hash`:
  // a password change or a disable that raced the login wins (precondition_failed). A
  // session whose id is already on the denylist is refused the same way.
  // `access` is absent for self-contained (JWT) access tokens, which are not stored.
  // `refresh` is absent for sessions that get no refresh token (an OAuth grant without
  // offline_access, a browser session).
  virtual StoreResult<void> create_session(const SessionRecord& session, const std::optional<TokenRecord>& access,
                                           const std::optional<TokenRecord>& refresh,
                                           const std::string& verified_password_hash) = 0;
  virtual StoreResult<std::optional<SessionRecord>> find_session(const std::string& id) = 0;
  virtual StoreResult<std::optional<AccessTokenView>> find_access_token(const std::string& digest) = 0;
  virtual StoreResult<std::optional<RefreshTokenView>> find_refresh_token(const std::string& digest) = 0;
  // Spends `refresh_digest` (of an enabled user's live session) and stores the new pair in one transaction. Of any number of
  // concurrent calls with the same digest exactly one sees `rotated`; the new tokens take
  // their session and user from the old one.
  // A revoked session's id goes on the denylist until `revoked_until` (when the last access
  // token it could have issued expires), in the same transaction.
  virtual StoreResult<RotateResult> rotate_refresh_token(const std::string& refresh_digest, std::int64_t now,
                                                         std::optional<TokenRecord> new_access, TokenRecord new_refresh,
                                                         std::int64_t revoked_until) = 0;
  // Idempotent: revoking an unknown or already revoked session succeeds.
  virtual StoreResult<void> revoke_session(const std::string& session_id, std::int64_t now,
                                           std::int64_t revoked_until) = 0;
  // Revokes every live session of the user except `keep_session_id` (may be empty).
  virtual StoreResult<int> revoke_user_sessions(const std::string& user_id, const std::string& keep_session_id,
                                                std::int64_t now, std::int64_t revoked_until) = 0;
  // Deletes tokens past expiry and sessions left without tokens; returns rows removed.
  virtual StoreResult<int> purge_expired(std::int64_t now) = 0;
};

struct AuditRecord {
  std::int64_t seq{0};  // assigned by the store; the pagination cursor
  std::string id{};
  std::int64_t time{0};
  std::string type{};
  std::string outcome{};
  std::string user_id{};
  std::string username{};
  std::string ip{};
  std::string user_agent{};
  std::string request_id{};
  std::string detail_json{"{}"};
};

struct AuditQuery {
  std::string type{};
  std::string user_id{};
  std::int64_t since{0};       // time >= since
  std::int64_t until{0};       // time < until; 0 = no bound
  std::int64_t before_seq{0};  // 0 = from the newest
  int limit{100};
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  virtual StoreResult<void> append_audit(const AuditRecord& record) = 0;
  // Several at once, in one transaction (all or none).
  virtual StoreResult<void> append_audits(const std::vector<AuditRecord>& records) = 0;
  // Newest first.
  virtual StoreResult<std::vector<AuditRecord>> list_audit(const AuditQuery& query) = 0;
  virtual StoreResult<int> purge_audit_before(std::int64_t time) = 0;
};

// A JWS signing key. The private key stays in the store (PKCS#8 PEM); only public keys
// are published.
struct SigningKeyRecord {
  std::string kid{};
  std::string alg{};  // "RS256", "ES256", "EdDSA"
  std::string private_pem{};
  std::int64_t created_at{0};
  std::optional<std::int64_t> retired_at{};  // stopped signing
  std::optional<std::int64_t> expires_at{};  // no token it signed is valid after this: leaves the JWKS
};

class SigningKeyStore {
 public:
  virtual ~SigningKeyStore() = default;
  // Every key not yet past expires_at, oldest first.
  virtual StoreResult<std::vector<SigningKeyRecord>> list_signing_keys(std::int64_t now) = 0;
  // Adds `key` as the current key of its alg and, in the same transaction, retires the
  // previous current key(s) of that alg: they stop signing at `now` and keep verifying
  // until `retired_expire_at`.
  virtual StoreResult<void> add_signing_key(const SigningKeyRecord& key, std::int64_t now,
                                            std::int64_t retired_expire_at) = 0;
  virtual StoreResult<int> purge_signing_keys(std::int64_t now) = 0;
};

// An API key as stored: the SHA-256 of the key (hex), never the key. A key works while
// `revoked_at` is absent or still in the future (a rotation's grace period) and `expires_at`
// is absent or in the future.
struct ApiKeyRecord {
  std::string id{};
  std::string user_id{};
  std::string name{};
  std::string digest{};  // sha256_hex(key)
  std::string prefix{};  // display prefix, e.g. "gk_7Hq2": safe to show and log
  std::optional<std::vector<std::string>> scopes{};  // absent: the owner's permissions
  std::int64_t created_at{0};
  std::optional<std::int64_t> expires_at{};
  std::optional<std::int64_t> last_used_at{};
  std::optional<std::int64_t> revoked_at{};
  std::string rate_limit{};  // "100/minute"; empty: the owner's limit

  bool live_at(std::int64_t now) const {
    return (!revoked_at || *revoked_at > now) && (!expires_at || *expires_at > now);
  }
};

// Every write here also records a change ("api_key", id) in the same transaction, so every
// node's key cache drops its copy.
class ApiKeyStore {
 public:
  virtual ~ApiKeyStore() = default;
  virtual StoreResult<void> create_api_key(const ApiKeyRecord& key) = 0;
  virtual StoreResult<std::optional<ApiKeyRecord>> find_api_key(const std::string& id) = 0;
  virtual StoreResult<std::optional<ApiKeyRecord>> find_api_key_by_digest(const std::string& digest) = 0;
  // The user's keys, oldest first (revoked ones included).
  virtual StoreResult<std::vector<ApiKeyRecord>> list_api_keys(const std::string& user_id) = 0;
  // Revoked at `now` (or earlier, if it already was). not_found for an unknown id.
  virtual StoreResult<ApiKeyRecord> revoke_api_key(const std::string& id, std::int64_t now) = 0;
  // Adds `replacement` and makes the key `id` stop at `old_revoked_at` (>= now), in one
  // transaction; precondition_failed when that key was revoked or rotated already, or has
  // expired (so two concurrent rotations of one key cannot both succeed), not_found when unknown.
  virtual StoreResult<ApiKeyRecord> rotate_api_key(const std::string& id, const ApiKeyRecord& replacement,
                                                   std::int64_t old_revoked_at, std::int64_t now) = 0;
  // Batched last-use times; a key's time never goes backwards. Records no change.
  virtual StoreResult<void> touch_api_keys(const std::vector<std::pair<std::string, std::int64_t>>& used) = 0;
};

// Failed-login counters (SPEC §9), one per subject: "user:<id>", "login:<folded login>" for
// names that match no user, "ip:<address>". Kept in the store so a restart does not reset
// them and every node shares them.
struct LoginFailures {
  int count{0};                             // failures since first_at
  std::int64_t first_at{0};
  std::optional<std::int64_t> locked_until{};  // refused until then
};

// The rule every backend applies in add_login_failure (see below), given the stored state:
// the state after one more failure at `now`.
inline LoginFailures after_login_failure(LoginFailures f, std::int64_t now, std::int64_t window, int max_failures,
                                         std::int64_t lock_for) {
  if (f.locked_until && *f.locked_until > now) return f;  // locked: attempts are not counted
  if (f.locked_until || f.count == 0 || now - f.first_at >= window) f = LoginFailures{0, now, std::nullopt};
  if (++f.count >= max_failures) {
    f.locked_until = now + lock_for;
    f.count = 0;
  }
  return f;
}

class LockoutStore {
 public:
  virtual ~LockoutStore() = default;
  virtual StoreResult<LoginFailures> login_failures(const std::string& subject) = 0;
  // Atomically: a lock that has ended, or failures older than `window`, start over; then one
  // more failure; at `max_failures` the subject is locked until now + lock_for (count reset).
  // Returns the state after the failure; while locked, nothing changes.
  virtual StoreResult<LoginFailures> add_login_failure(const std::string& subject, std::int64_t now,
                                                       std::int64_t window, int max_failures,
                                                       std::int64_t lock_for) = 0;
  // Success or an admin's unlock. Idempotent.
  virtual StoreResult<void> clear_login_failures(const std::string& subject) = 0;
};

// What other processes changed, for the in-memory caches of every node: revocations (the
// JWT denylist) and users whose record changed. Both carry a monotonic sequence number.
struct Revocation {
  std::int64_t seq{0};
  std::string kind{};  // "sid" or "jti"
  std::string value{};
  std::int64_t expires_at{0};
};

struct Change {
  std::int64_t seq{0};
  std::string kind{};  // "user", "api_key", "client" or "signing_key"
  std::string ref{};   // the user's, the key's or the client's id
};

class ChangeStore {
 public:
  virtual ~ChangeStore() = default;
  // Idempotent; a repeated (kind, value) keeps the later expiry.
  virtual StoreResult<void> add_revocation(const std::string& kind, const std::string& value,
                                           std::int64_t expires_at) = 0;
  // Revocations with seq > after that have not expired at `now`, in seq order.
  virtual StoreResult<std::vector<Revocation>> revocations_since(std::int64_t after, std::int64_t now) = 0;
  virtual StoreResult<std::vector<Change>> changes_since(std::int64_t after) = 0;
  virtual StoreResult<std::int64_t> last_change_seq() = 0;
  // True where another process's changes can be awaited (PostgreSQL's LISTEN/NOTIFY) rather
  // than only polled for.
  virtual bool notifies_changes() const { return false; }
  // Waits up to `timeout` for a change committed by any process. True when one may have
  // arrived (also after the listener reconnected, since it may have missed some); false on a
  // quiet timeout, or at once where notifies_changes() is false. One caller at a time.
  virtual bool wait_for_changes(std::chrono::milliseconds timeout) {
    (void)timeout;
    return false;
  }
};

// An OAuth client (SPEC §8). Confidential clients authenticate with a server-generated
// secret of >= 256 bits, stored as its SHA-256 (hex); public clients have none.
struct ClientRecord {
  std::string id{};  // client_id
  std::string name{};
  std::string type{"confidential"};  // "confidential" or "public"
  std::string secret_digest{};       // empty for public clients
  std::vector<std::string> redirect_uris{};
  std::vector<std::string> grant_types{};
  std::vector<std::string> scopes{};
  bool trusted{false};     // no consent page
  bool introspect{false};  // a resource server: may introspect any token
  std::int64_t created_at{0};
  std::int64_t updated_at{0};
};

// An authorization code, by the SHA-256 of the code. Single use: redeeming it opens the
// session `session_id`, which a replay revokes.
struct AuthCodeRecord {
  std::string digest{};
  std::string client_id{};
  std::string user_id{};
  std::string redirect_uri{};
  std::string code_challenge{};  // PKCE S256
  std::string scope{};
  std::string nonce{};
  std::int64_t auth_time{0};
  std::int64_t created_at{0};
  std::int64_t expires_at{0};
};

enum class RedeemOutcome {
  redeemed,  // first use: the code is now spent and bound to the new session id
  replayed,  // spent before: `session_id` is the session its first use opened
  invalid,   // unknown or expired
};

struct RedeemResult {
  RedeemOutcome outcome{RedeemOutcome::invalid};
  AuthCodeRecord code{};
  std::string session_id{};
};

// Every client write also records a change ("client", id) in the same transaction, so every
// node's client cache drops its copy.
class ClientStore {
 public:
  virtual ~ClientStore() = default;
  virtual StoreResult<void> create_client(const ClientRecord& client) = 0;
  virtual StoreResult<std::optional<ClientRecord>> find_client(const std::string& id) = 0;
  // Clients with id > after_id in id order.
  virtual StoreResult<std::vector<ClientRecord>> list_clients(const std::string& after_id, int limit) = 0;
  // Deletes the client, its codes and remembered grants, and revokes every session issued
  // to it and its own tokens (sids "cc:<id>"), all denylisted until `revoked_until`.
  // not_found when unknown.
  virtual StoreResult<void> delete_client(const std::string& id, std::int64_t now, std::int64_t revoked_until) = 0;
  // A new secret for a confidential client; the old one stops working at once.
  virtual StoreResult<ClientRecord> set_client_secret(const std::string& id, const std::string& secret_digest,
                                                      std::int64_t now) = 0;

  virtual StoreResult<void> create_auth_code(const AuthCodeRecord& code) = 0;
  // Atomically spends the code and binds it to `session_id`: of any number of concurrent
  // redemptions exactly one sees `redeemed`. A spent code gives `replayed` with the session
  // its first redemption opened. A code issued to another client than `client_id` is
  // `invalid` and stays unspent (someone else's code cannot be burnt).
  virtual StoreResult<RedeemResult> redeem_auth_code(const std::string& digest, std::int64_t now,
                                                     const std::string& session_id,
                                                     const std::string& client_id) = 0;

  // Remembered consent: the scopes a user has granted a client.
  virtual StoreResult<std::vector<std::string>> find_grant(const std::string& user_id, const std::string& client_id) = 0;
  // Adds `scopes` to what the user has granted the client.
  virtual StoreResult<void> save_grant(const std::string& user_id, const std::string& client_id,
                                       const std::vector<std::string>& scopes, std::int64_t now) = 0;
};

// Federation (SPEC §8): a sign-in started with an upstream identity provider, until its
// callback. Keyed by the SHA-256 (hex) of the browser's flow cookie; holds nothing secret (the
// state, PKCE verifier and nonce are derived from the cookie, which only the browser has).
struct UpstreamFlowRecord {
  std::string digest{};
  std::string upstream{};
  std::string return_to{};     // validated when the flow started
  std::string link_user_id{};  // the user signed in when the flow started; "" for none
  bool fresh_login{false};     // the upstream was asked to authenticate its user again
  std::int64_t created_at{0};
  std::int64_t expires_at{0};
};

// A local account signed in to through an upstream: (upstream, subject) names one user.
struct UpstreamLinkRecord {
  std::string upstream{};
  std::string subject{};
  std::string user_id{};
  std::int64_t created_at{0};
};

class FederationStore {
 public:
  virtual ~FederationStore() = default;
  virtual StoreResult<void> create_upstream_flow(const UpstreamFlowRecord& flow) = 0;
  // Deletes the flow and returns it, unless it is unknown or expired: of any number of
  // concurrent takes, one gets it.
  virtual StoreResult<std::optional<UpstreamFlowRecord>> take_upstream_flow(const std::string& digest,
                                                                            std::int64_t now) = 0;
  virtual StoreResult<std::optional<UpstreamLinkRecord>> find_upstream_link(const std::string& upstream,
                                                                            const std::string& subject) = 0;
  // conflict when (upstream, subject) is linked already, or when the user is gone.
  virtual StoreResult<void> create_upstream_link(const UpstreamLinkRecord& link) = 0;
  // Removes the user's links to `upstream`; returns how many there were.
  virtual StoreResult<int> delete_upstream_links(const std::string& user_id, const std::string& upstream) = 0;
  // A new user and its link in one transaction (first sign-in with auto_create): conflict
  // when the username, the e-mail or the link is taken, and then neither is written.
  virtual StoreResult<void> create_linked_user(const UserRecord& user, const UpstreamLinkRecord& link) = 0;
  // The user's links, by upstream then subject.
  virtual StoreResult<std::vector<UpstreamLinkRecord>> list_upstream_links(const std::string& user_id) = 0;
};

class Store : public UserStore,
              public SessionStore,
              public AuditStore,
              public SigningKeyStore,
              public ApiKeyStore,
              public LockoutStore,
              public ClientStore,
              public FederationStore,
              public ChangeStore {
 public:
  // Applies pending migrations; returns the schema version now in force.
  virtual StoreResult<int> migrate() = 0;
  virtual StoreResult<int> schema_version() = 0;
  // A cheap round trip: is the store reachable?
  virtual StoreResult<void> ping() = 0;
};

// Opens the store named by a storage URL: sqlite:///path, or postgresql://... (also
// postgres://), which goes to libpq as it is. Does not migrate.
// How a store connects, beyond its URL (PostgreSQL only; SQLite has neither).
struct StoreOptions {
  std::size_t pool_size{4};
  std::string password{};  // overrides one in the URL; never logged
};
StoreResult<std::unique_ptr<Store>> open_store(const std::string& url, const StoreOptions& options = {});

// ASCII case folding used for usernames and e-mails; the same in every backend. Inline so a
// backend library can use it without linking gh_store (which links the backends).
inline std::string fold_case(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace gatehouse::store
