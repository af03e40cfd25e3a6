// store/postgres/pg_store.h: the PostgreSQL backend, over libpq. It keeps the SQLite backend's
// semantics (the conformance suite runs against both) under PostgreSQL's READ COMMITTED: every
// compare-and-set is a conditional UPDATE ... RETURNING, a row lock or an INSERT ... ON CONFLICT,
// and a transaction that hits a serialization failure or a deadlock is run again.
// Thread-safe. libpq appears only in the .cc files of this folder.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace gatehouse::store::postgres {

class Pool;
class Listener;

class PgStore final : public Store {
 public:
  // Enough for a small node: a request holds a connection for one transaction only.
  static constexpr std::size_t kDefaultPoolSize = 4;
  // How long a call waits for a free connection before it answers `unavailable`, so a stuck
  // database turns into errors rather than a pile of blocked request threads.
  static constexpr std::chrono::milliseconds kDefaultAcquireTimeout{5000};

  // `url` is a libpq connection URI, used as it is. Connections are made on first use.
  // `password`, when not empty, overrides one in the URL.
  explicit PgStore(std::string url, std::size_t pool_size = kDefaultPoolSize,
                   std::chrono::milliseconds acquire_timeout = kDefaultAcquireTimeout, std::string password = {});
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  StoreResult<int> migrate() override;
  StoreResult<int> schema_version() override;
  StoreResult<void> ping() override;

  StoreResult<void> create_user(const UserRecord& user) override;
  StoreResult<std::optional<UserRecord>> find_user(const std::string& id) override;
  StoreResult<std::optional<UserRecord>> find_user_by_username(const std::string& username) override;
  StoreResult<std::optional<UserRecord>> find_user_by_email(const std::string& email) override;
  StoreResult<std::vector<UserRecord>> list_users(const std::string& after_id, int limit) override;
  StoreResult<UserRecord> update_user(const std::string& id, const UserChanges& changes) override;
  StoreResult<void> delete_user(const std::string& id) override;
  StoreResult<std::int64_t> count_users() override;

  StoreResult<void> create_session(const SessionRecord& session, const std::optional<TokenRecord>& access,
                                   const std::optional<TokenRecord>& refresh,
                                   const std::string& verified_password_hash) override;
  StoreResult<std::optional<SessionRecord>> find_session(const std::string& id) override;
  StoreResult<std::optional<AccessTokenView>> find_access_token(const std::string& digest) override;
  StoreResult<std::optional<RefreshTokenView>> find_refresh_token(const std::string& digest) override;
  StoreResult<RotateResult> rotate_refresh_token(const std::string& refresh_digest, std::int64_t now,
                                                 std::optional<TokenRecord> new_access, TokenRecord new_refresh,
                                                 std::int64_t revoked_until) override;
  StoreResult<void> revoke_session(const std::string& session_id, std::int64_t now,
                                   std::int64_t revoked_until) override;
  StoreResult<int> revoke_user_sessions(const std::string& user_id, const std::string& keep_session_id,
                                        std::int64_t now, std::int64_t revoked_until) override;
  StoreResult<int> purge_expired(std::int64_t now) override;

  StoreResult<void> append_audit(const AuditRecord& record) override;
  StoreResult<void> append_audits(const std::vector<AuditRecord>& records) override;
  StoreResult<std::vector<AuditRecord>> list_audit(const AuditQuery& query) override;
  StoreResult<int> purge_audit_before(std::int64_t time) override;

  StoreResult<std::vector<SigningKeyRecord>> list_signing_keys(std::int64_t now) override;
  StoreResult<void> add_signing_key(const SigningKeyRecord& key, std::int64_t now,
                                    std::int64_t retired_expire_at) override;
  StoreResult<int> purge_signing_keys(std::int64_t now) override;

  StoreResult<void> create_api_key(const ApiKeyRecord& key) override;
  StoreResult<std::optional<ApiKeyRecord>> find_api_key(const std::string& id) override;
  StoreResult<std::optional<ApiKeyRecord>> find_api_key_by_digest(const std::string& digest) override;
  StoreResult<std::vector<ApiKeyRecord>> list_api_keys(const std::string& user_id) override;
  StoreResult<ApiKeyRecord> revoke_api_key(const std::string& id, std::int64_t now) override;
  StoreResult<ApiKeyRecord> rotate_api_key(const std::string& id, const ApiKeyRecord& replacement,
                                           std::int64_t old_revoked_at, std::int64_t now) override;
  StoreResult<void> touch_api_keys(const std::vector<std::pair<std::string, std::int64_t>>& used) override;

  StoreResult<LoginFailures> login_failures(const std::string& subject) override;
  StoreResult<LoginFailures> add_login_failure(const std::string& subject, std::int64_t now, std::int64_t window,
                                               int max_failures, std::int64_t lock_for) override;
  StoreResult<void> clear_login_failures(const std::string& subject) override;

  StoreResult<void> add_revocation(const std::string& kind, const std::string& value,
                                   std::int64_t expires_at) override;
  StoreResult<std::vector<Revocation>> revocations_since(std::int64_t after, std::int64_t now) override;
  StoreResult<std::vector<Change>> changes_since(std::int64_t after) override;
  StoreResult<std::int64_t> last_change_seq() override;
  bool notifies_changes() const override { return true; }
  // LISTENs on a connection of its own, outside the pool, made on first call and again after
  // it breaks.
  bool wait_for_changes(std::chrono::milliseconds timeout) override;

  StoreResult<void> create_client(const ClientRecord& client) override;
  StoreResult<std::optional<ClientRecord>> find_client(const std::string& id) override;
  StoreResult<std::vector<ClientRecord>> list_clients(const std::string& after_id, int limit) override;
  StoreResult<void> delete_client(const std::string& id, std::int64_t now, std::int64_t revoked_until) override;
  StoreResult<ClientRecord> set_client_secret(const std::string& id, const std::string& secret_digest,
                                              std::int64_t now) override;
  StoreResult<void> create_auth_code(const AuthCodeRecord& code) override;
  StoreResult<RedeemResult> redeem_auth_code(const std::string& digest, std::int64_t now,
                                             const std::string& session_id, const std::string& client_id) override;
  StoreResult<std::vector<std::string>> find_grant(const std::string& user_id, const std::string& client_id) override;
  StoreResult<void> save_grant(const std::string& user_id, const std::string& client_id,
                               const std::vector<std::string>& scopes, std::int64_t now) override;

  StoreResult<void> create_upstream_flow(const UpstreamFlowRecord& flow) override;
  StoreResult<std::optional<UpstreamFlowRecord>> take_upstream_flow(const std::string& digest,
                                                                    std::int64_t now) override;
  StoreResult<std::optional<UpstreamLinkRecord>> find_upstream_link(const std::string& upstream,
                                                                    const std::string& subject) override;
  StoreResult<void> create_upstream_link(const UpstreamLinkRecord& link) override;
  StoreResult<int> delete_upstream_links(const std::string& user_id, const std::string& upstream) override;
  StoreResult<void> create_linked_user(const UserRecord& user, const UpstreamLinkRecord& link) override;
  StoreResult<std::vector<UpstreamLinkRecord>> list_upstream_links(const std::string& user_id) override;

  // The channel every change is announced on (NOTIFY), and that wait_for_changes LISTENs to.
  static constexpr const char* kChangeChannel = "gatehouse_changes";

 private:
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<Listener> listener_;
};

// Checks that `url` parses as a libpq connection string; connects nothing yet.
StoreResult<std::unique_ptr<Store>> open(const std::string& url, const StoreOptions& options = {});

}  // namespace gatehouse::store::postgres
