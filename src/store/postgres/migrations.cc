#include "store/postgres/migrations.h"

#include <libpq-fe.h>

#include <memory>
#include <string>

namespace gatehouse::store::postgres {
namespace {

// pg_advisory_lock key: "gatehouse" folded into 63 bits. Any constant works; it only has to
// be the same for every node.
constexpr const char* kLockKey = "7146981312771634530";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

StoreError failure(pg_conn* conn, std::string what) {
  // The server's message names tables and constraints, never bound values (we bind none here).
  const bool down = PQstatus(conn) != CONNECTION_OK;
  return StoreError{down ? StoreErrc::unavailable : StoreErrc::internal, what + ": " + PQerrorMessage(conn)};
}

StoreResult<void> exec(pg_conn* conn, const std::string& sql, const char* what) {
  ResultPtr r(PQexec(conn, sql.c_str()));
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return tl::unexpected(failure(conn, what));
  return {};
}

StoreResult<int> current_version(pg_conn* conn) {
  ResultPtr r(PQexec(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1)
    return tl::unexpected(failure(conn, "reading the schema version"));
  return std::stoi(PQgetvalue(r.get(), 0, 0));
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1, R"sql(
CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL,
  username_key  TEXT NOT NULL UNIQUE,   -- case-folded username
  email         TEXT,
  email_key     TEXT UNIQUE,            -- case-folded e-mail
  roles         TEXT NOT NULL,          -- space-separated
  disabled      BOOLEAN NOT NULL DEFAULT FALSE,
  password_hash TEXT NOT NULL,          -- argon2id PHC string
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
-- One login = one session = one refresh-token family.
CREATE TABLE sessions (
  id         TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE access_tokens (
  digest     TEXT PRIMARY KEY,          -- SHA-256 hex; the token itself is never stored
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_by_session ON access_tokens(session_id);
CREATE TABLE refresh_tokens (
  digest     TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  spent_at   BIGINT                     -- set when rotated; presenting it again is reuse
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);
CREATE TABLE audit_events (
  seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  time       BIGINT NOT NULL,
  type       TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  username   TEXT NOT NULL,
  ip         TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  request_id TEXT NOT NULL,
  detail     TEXT NOT NULL
);
CREATE INDEX audit_by_type ON audit_events(type, seq);
CREATE INDEX audit_by_user ON audit_events(user_id, seq);
CREATE INDEX audit_by_time ON audit_events(time);
)sql"},
      {2, R"sql(
CREATE TABLE signing_keys (
  kid         TEXT PRIMARY KEY,           -- RFC 7638 thumbprint
  alg         TEXT NOT NULL,
  private_pem TEXT NOT NULL,              -- PKCS#8; never leaves the store but in backups
  created_at  BIGINT NOT NULL,
  retired_at  BIGINT,                     -- stopped signing
  expires_at  BIGINT                      -- every token it signed has expired: leaves the JWKS
);
CREATE INDEX signing_keys_by_alg ON signing_keys(alg, retired_at);
CREATE TABLE revocations (
  kind       TEXT NOT NULL,
  value      TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (kind, value)
);
)sql"},
      {3, R"sql(
-- Revocations get a sequence so every node can follow them.
DROP TABLE revocations;
CREATE TABLE revocations (
  seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind       TEXT NOT NULL,               -- 'jti' or 'sid'
  value      TEXT NOT NULL,
  expires_at BIGINT NOT NULL,             -- the last token it could affect has expired
  UNIQUE (kind, value)
);
CREATE INDEX revocations_by_expiry ON revocations(expires_at);
-- Records whose state changed (any node): caches drop their copy.
CREATE TABLE changes (
  seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind TEXT NOT NULL,
  ref  TEXT NOT NULL,
  at   BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes(at);
)sql"},
      {4, R"sql(
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  digest       TEXT NOT NULL UNIQUE,      -- SHA-256 of the key, hex; the key itself is never kept
  prefix       TEXT NOT NULL,             -- display prefix, e.g. gk_7Hq2
  scopes       TEXT,                      -- space-separated; NULL = the owner's permissions
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT,
  last_used_at BIGINT,
  revoked_at   BIGINT                     -- may lie in the future: a rotation's grace period
);
CREATE INDEX api_keys_by_user ON api_keys(user_id, id);
)sql"},
      {5, R"sql(
-- Failed logins per subject ('user:<id>', 'login:<name>', 'ip:<address>'), SPEC §9.
CREATE TABLE login_failures (
  subject      TEXT PRIMARY KEY,
  count        INTEGER NOT NULL,
  first_at     BIGINT NOT NULL,
  locked_until BIGINT
);
)sql"},
      {6, R"sql(
-- An API key's own rate limit ("100/minute"); NULL: its owner's.
ALTER TABLE api_keys ADD COLUMN rate_limit TEXT;
)sql"},
      {7, R"sql(
-- OAuth 2.1 / OpenID Connect provider (SPEC §8).
ALTER TABLE sessions ADD COLUMN scope TEXT;  -- OAuth: the scope granted; NULL: first-party
CREATE INDEX sessions_by_client ON sessions(client_id);
CREATE TABLE oauth_clients (
  id            TEXT PRIMARY KEY,          -- client_id
  name          TEXT NOT NULL,
  type          TEXT NOT NULL,             -- 'confidential' or 'public'
  secret_digest TEXT,                      -- SHA-256 hex of the secret; NULL for public clients
  redirect_uris TEXT NOT NULL,             -- space-separated (a URI holds no raw space)
  grant_types   TEXT NOT NULL,
  scopes        TEXT NOT NULL,
  trusted       BOOLEAN NOT NULL DEFAULT FALSE,
  introspect    BOOLEAN NOT NULL DEFAULT FALSE,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
CREATE TABLE oauth_codes (
  digest         TEXT PRIMARY KEY,         -- SHA-256 hex of the code
  client_id      TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  redirect_uri   TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  scope          TEXT NOT NULL,
  nonce          TEXT NOT NULL,
  auth_time      BIGINT NOT NULL,
  created_at     BIGINT NOT NULL,
  expires_at     BIGINT NOT NULL,
  redeemed_at    BIGINT,                   -- spent; presenting it again is a replay
  session_id     TEXT                      -- the session its redemption opened
);
CREATE INDEX oauth_codes_by_expiry ON oauth_codes(expires_at);
CREATE TABLE oauth_grants (
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  scopes     TEXT NOT NULL,                -- space-separated
  granted_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, client_id)
);
)sql"},
      {8, R"sql(
-- Federation (SPEC §8): sign-ins through upstream identity providers.
CREATE TABLE upstream_flows (
  digest       TEXT PRIMARY KEY,           -- SHA-256 hex of the browser's flow cookie
  upstream     TEXT NOT NULL,
  return_to    TEXT NOT NULL,
  link_user_id TEXT,                       -- signed in when the flow started: link to this user
  fresh_login  BOOLEAN NOT NULL DEFAULT false, -- the upstream was asked for a new authentication
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL
);
CREATE INDEX upstream_flows_by_expiry ON upstream_flows(expires_at);
CREATE TABLE upstream_links (
  upstream   TEXT NOT NULL,
  subject    TEXT NOT NULL,                -- the upstream's stable id for the account
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (upstream, subject)
);
CREATE INDEX upstream_links_by_user ON upstream_links(user_id);
)sql"},
  };
  return list;
}

StoreResult<int> schema_version(pg_conn* conn) {
  ResultPtr exists(PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL"));
  if (!exists || PQresultStatus(exists.get()) != PGRES_TUPLES_OK || PQntuples(exists.get()) != 1)
    return tl::unexpected(failure(conn, "looking for schema_migrations"));
  if (std::string(PQgetvalue(exists.get(), 0, 0)) != "t") return 0;
  return current_version(conn);
}

StoreResult<int> migrate(pg_conn* conn) {
  if (auto locked = exec(conn, std::string("SELECT pg_advisory_lock(") + kLockKey + ")", "taking the migration lock");
      !locked)
    return tl::unexpected(locked.error());
  // Released on every path out, and by the server if this connection dies.
  struct Unlock {
    pg_conn* conn;
    ~Unlock() { ResultPtr(PQexec(conn, (std::string("SELECT pg_advisory_unlock(") + kLockKey + ")").c_str())); }
  } unlock{conn};

  // "already exists, skipping" is not news: only warnings and errors reach the client.
  if (auto quiet = exec(conn, "SET client_min_messages TO warning", "setting client_min_messages"); !quiet)
    return tl::unexpected(quiet.error());
  if (auto made = exec(conn,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                       "creating schema_migrations");
      !made)
    return tl::unexpected(made.error());
  auto version = current_version(conn);
  if (!version) return version;
  for (const auto& step : migrations()) {
    if (step.version <= *version) continue;
    const std::string sql = std::string("BEGIN;\n") + step.sql + "\nINSERT INTO schema_migrations (version) VALUES (" +
                            std::to_string(step.version) + ");\nCOMMIT;";
    if (auto applied = exec(conn, sql, "applying a migration"); !applied) {
      ResultPtr(PQexec(conn, "ROLLBACK"));
      return tl::unexpected(StoreError{applied.error().code, "migration " + std::to_string(step.version) + ": " +
                                                                 applied.error().message});
    }
    *version = step.version;
  }
  return *version;
}

}  // namespace gatehouse::store::postgres
