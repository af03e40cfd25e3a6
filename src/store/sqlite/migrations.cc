#include "store/sqlite/migrations.h"

namespace gatehouse::store::sqlite {

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
  disabled      INTEGER NOT NULL DEFAULT 0,
  password_hash TEXT NOT NULL,          -- argon2id PHC string
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
-- One login = one session = one refresh-token family.
CREATE TABLE sessions (
  id         TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE access_tokens (
  digest     TEXT PRIMARY KEY,          -- SHA-256 hex; the token itself is never stored
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_session ON access_tokens(session_id);
CREATE TABLE refresh_tokens (
  digest     TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  user_id    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  spent_at   INTEGER                    -- set when rotated; presenting it again is reuse
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);
CREATE TABLE audit_events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  id         TEXT NOT NULL UNIQUE,
  time       INTEGER NOT NULL,
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
  created_at  INTEGER NOT NULL,
  retired_at  INTEGER,                    -- stopped signing
  expires_at  INTEGER                     -- every token it signed has expired: leaves the JWKS
);
CREATE INDEX signing_keys_by_alg ON signing_keys(alg, retired_at);
-- Revoked JWT ids and sessions, kept until the last token they could affect expires.
CREATE TABLE revocations (
  kind       TEXT NOT NULL,               -- 'jti' or 'sid'
  value      TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (kind, value)
);
)sql"},
      {3, R"sql(
-- Revocations get a sequence so every node can follow them; nothing used the table yet.
DROP TABLE revocations;
CREATE TABLE revocations (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT NOT NULL,               -- 'jti' or 'sid'
  value      TEXT NOT NULL,
  expires_at INTEGER NOT NULL,            -- the last token it could affect has expired
  UNIQUE (kind, value)
);
CREATE INDEX revocations_by_expiry ON revocations(expires_at);
-- Users whose record changed (any process, any node): caches drop their copy.
CREATE TABLE changes (
  seq  INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  ref  TEXT NOT NULL,
  at   INTEGER NOT NULL
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
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  last_used_at INTEGER,
  revoked_at   INTEGER                    -- may lie in the future: a rotation's grace period
);
CREATE INDEX api_keys_by_user ON api_keys(user_id, id);
)sql"},
      {5, R"sql(
-- Failed logins per subject ('user:<id>', 'login:<name>', 'ip:<address>'), SPEC §9.
CREATE TABLE login_failures (
  subject      TEXT PRIMARY KEY,
  count        INTEGER NOT NULL,
  first_at     INTEGER NOT NULL,
  locked_until INTEGER
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
  trusted       INTEGER NOT NULL DEFAULT 0,
  introspect    INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE TABLE oauth_codes (
  digest         TEXT PRIMARY KEY,         -- SHA-256 hex of the code
  client_id      TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  redirect_uri   TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  scope          TEXT NOT NULL,
  nonce          TEXT NOT NULL,
  auth_time      INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  redeemed_at    INTEGER,                  -- spent; presenting it again is a replay
  session_id     TEXT                      -- the session its redemption opened
);
CREATE INDEX oauth_codes_by_expiry ON oauth_codes(expires_at);
CREATE TABLE oauth_grants (
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  scopes     TEXT NOT NULL,                -- space-separated
  granted_at INTEGER NOT NULL,
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
  fresh_login  INTEGER NOT NULL DEFAULT 0, -- the upstream was asked for a new authentication
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
);
CREATE INDEX upstream_flows_by_expiry ON upstream_flows(expires_at);
CREATE TABLE upstream_links (
  upstream   TEXT NOT NULL,
  subject    TEXT NOT NULL,                -- the upstream's stable id for the account
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (upstream, subject)
);
CREATE INDEX upstream_links_by_user ON upstream_links(user_id);
)sql"},
  };
  return list;
}

}  // namespace gatehouse::store::sqlite
