#include "store/postgres/pg_store.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "core/utf8.h"
#include "store/postgres/libpq_loader.h"
#include "store/postgres/migrations.h"
#include "store/words.h"

// Where PostgreSQL behaves differently from SQLite, and what this file does about it:
//
// - Isolation. SQLite runs one writer at a time (BEGIN IMMEDIATE), so a read-then-write in a
//   transaction sees no one else's writes. PostgreSQL runs transactions side by side under READ
//   COMMITTED: each statement sees what was committed when it started. Every read that a write
//   depends on therefore either is the write (UPDATE ... WHERE <still valid> RETURNING, which
//   re-checks the condition on the newest row version after waiting for a concurrent writer), or
//   locks what it read (SELECT ... FOR UPDATE / FOR SHARE, an upsert that locks the row, or an
//   advisory lock for rows that may not exist yet). Deadlocks and serialization failures run
//   the whole transaction again.
// - Sequence numbers (audit_events, revocations, changes) come from identity columns, which hand
//   out a value at INSERT, not at COMMIT. Two transactions can commit in the opposite order of
//   their numbers, so a reader following `seq > after` may already have moved past a number whose
//   row becomes visible a moment later, and never see that row. For the change feed (changes,
//   revocations) this cannot happen: its writers hold one advisory lock from before their row
//   is numbered until they commit (Connection::lock_feed). Audit events are only paged, never
//   followed, so their order at commit does not matter.
// - Text order. `ORDER BY id` and `id > $1` would follow the database's collation (en_US sorts
//   "b" before "C"); SQLite compares bytes. Every id comparison says COLLATE "C" so pages come in
//   the same order on both backends. The primary-key indexes use the database collation, so on a
//   database not created with LC_COLLATE=C list_users and list_clients sort instead of walking
//   the index.
// - Text must be valid UTF-8 in a UTF-8 database and cannot hold a NUL byte. Lookups by such a
//   value find nothing, audit records and failed-login subjects are mended (see storable), and
//   any other write of one is refused (internal), where SQLite would store the bytes.

namespace gatehouse::store::postgres {
namespace {

// Type OIDs from the server's pg_type.h (not part of libpq's headers); fixed in the catalog.
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

// How often a transaction that hit a deadlock or a serialization failure runs in all.
constexpr int kTransactionAttempts = 3;
// libpq waits forever for a server that does not answer by default; a caller would hold its
// pool slot all that time.
constexpr const char* kConnectTimeoutSeconds = "5";
// How much of a statement's text a StoreError quotes. Statements hold only placeholders, so
// the text names tables and columns, never values.
constexpr std::size_t kQuotedStatementChars = 48;

tl::unexpected<StoreError> fail(StoreErrc code, std::string message) {
  return tl::unexpected(StoreError{code, std::move(message)});
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// Bound parameters. Each goes as text with an explicit type, so the server never has to guess
// one (it would make the `$1` of `$1 - 86400` an int4).
class Params {
 public:
  Params& text(std::string v) { return add(kTextOid, std::move(v)); }
  Params& integer(std::int64_t v) { return add(kInt8Oid, std::to_string(v)); }
  Params& boolean(bool v) { return add(kBoolOid, v ? "true" : "false"); }
  Params& text_or_null(const std::optional<std::string>& v) { return v ? text(*v) : add(kTextOid, std::nullopt); }
  Params& integer_or_null(const std::optional<std::int64_t>& v) {
    return v ? integer(*v) : add(kInt8Oid, std::nullopt);
  }
  Params& boolean_or_null(const std::optional<bool>& v) { return v ? boolean(*v) : add(kBoolOid, std::nullopt); }
  // Optional text columns keep "none" as NULL, as in SQLite.
  Params& text_or_null_if_empty(const std::string& v) { return v.empty() ? add(kTextOid, std::nullopt) : text(v); }

  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  // PostgreSQL text cannot hold a NUL byte, and libpq would cut the value short there: such a
  // value is refused rather than stored (or looked up) as a different, shorter one.
  bool has_nul() const {
    return std::any_of(values_.begin(), values_.end(),
                       [](const auto& v) { return v && v->find('\0') != std::string::npos; });
  }
  // Pointers into this object, nullptr for NULL; valid while it lives unchanged.
  std::vector<const char*> values() const {
    std::vector<const char*> out;
    out.reserve(values_.size());
    for (const auto& v : values_) out.push_back(v ? v->c_str() : nullptr);
    return out;
  }

 private:
  Params& add(Oid type, std::optional<std::string> value) {
    types_.push_back(type);
    values_.push_back(std::move(value));
    return *this;
  }

  std::vector<Oid> types_;
  std::vector<std::optional<std::string>> values_;
};

// One row of a result, in text format. A NULL reads as "" or 0, like SQLite's column accessors.
class Row {
 public:
  Row(const PGresult* result, int row) : result_(result), row_(row) {}
  std::string text(int col) const {
    return std::string(PQgetvalue(result_, row_, col), static_cast<std::size_t>(PQgetlength(result_, row_, col)));
  }
  std::int64_t integer(int col) const {
    const char* p = PQgetvalue(result_, row_, col);
    std::int64_t v = 0;
    std::from_chars(p, p + PQgetlength(result_, row_, col), v);
    return v;
  }
  bool boolean(int col) const { return PQgetvalue(result_, row_, col)[0] == 't'; }
  bool is_null(int col) const { return PQgetisnull(result_, row_, col) != 0; }
  std::optional<std::int64_t> optional_integer(int col) const {
    if (is_null(col)) return std::nullopt;
    return integer(col);
  }
  std::optional<std::string> optional_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }

 private:
  const PGresult* result_;
  int row_;
};

class Rows {
 public:
  explicit Rows(ResultPtr result) : result_(std::move(result)) {}
  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  Row row(int i) const { return Row(result_.get(), i); }
  // Rows an INSERT, UPDATE or DELETE changed.
  int affected() const {
    const char* n = PQcmdTuples(result_.get());
    int v = 0;
    std::from_chars(n, n + std::char_traits<char>::length(n), v);
    return v;
  }

 private:
  ResultPtr result_;
};

std::string first_line(const char* text) {
  std::string s = text ? text : "";
  return s.substr(0, s.find('\n'));
}

StoreErrc code_for(const std::string& sqlstate) {
  // unique_violation, and foreign_key_violation (a key or code whose owner does not exist),
  // which SQLite reports as a constraint failure too.
  if (sqlstate == "23505" || sqlstate == "23503") return StoreErrc::conflict;
  // The connection (08), the server's resources (53), a shutdown (57P0x), a cancelled statement
  // (57014), and deadlocks or serialization failures that outlasted their retries: the same
  // call may well succeed later.
  if (sqlstate.starts_with("08") || sqlstate.starts_with("53") || sqlstate.starts_with("57P0") ||
      sqlstate == "57014" || sqlstate == "40001" || sqlstate == "40P01")
    return StoreErrc::unavailable;
  return StoreErrc::internal;
}

// One libpq connection and the statements prepared on it. The pool lends it to one thread at
// a time.
class Connection {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Where `password` is not empty, it overrides one in the URL.
  static StoreResult<std::unique_ptr<Connection>> open(const std::string& url, const std::string& password) {
    if (std::string why; !load_libpq(&why)) return fail(StoreErrc::unavailable, "postgres: " + why);
    // Defaults go before "dbname": the URL, expanded there, overrides them if it sets them too.
    // A password given apart goes after it, and overrides the URL's.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", password.empty() ? nullptr : "password",
                          nullptr};
    const char* values[] = {kConnectTimeoutSeconds, "gatehouse", url.c_str(), password.c_str(), nullptr};
    auto conn = std::make_unique<Connection>(PQconnectdbParams(keys, values, 1));
    if (!conn->conn_) return fail(StoreErrc::unavailable, "postgres: out of memory");
    // libpq's reason names the host, port and database user, never the password.
    if (PQstatus(conn->conn_) != CONNECTION_OK)
      return fail(StoreErrc::unavailable, "postgres: cannot connect: " + first_line(PQerrorMessage(conn->conn_)));
    PQsetNoticeReceiver(conn->conn_, &Connection::receive_notice, conn.get());
    return conn;
  }

  pg_conn* raw() const { return conn_; }

  // False once the connection broke or the server said it is closing it, or if a transaction
  // was left open (a failed ROLLBACK).
  bool reusable() const {
    return !server_closing_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
  }

  // Reads, without blocking, whatever the server sent while the connection sat idle. A server
  // that closes it (restart, pg_terminate_backend, an idle timeout) first sends a FATAL error,
  // then EOF: either marks the connection unusable, and the pool replaces it before a statement
  // is sent on it, so nothing is lost or run twice. Hence at most a few reads.
  bool still_open() {
    pollfd fd{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0};
    for (int reads = 0; reads < 4 && PQstatus(conn_) == CONNECTION_OK && poll(&fd, 1, 0) > 0; ++reads) {
      if (!PQconsumeInput(conn_)) break;
      (void)PQisBusy(conn_);  // parses what arrived, so a notice does not wait in the buffer
    }
    return reusable();
  }

  // Runs `sql` (prepared on this connection the first time) with `params` bound.
  StoreResult<Rows> query(const std::string& sql, const Params& params = {}) {
    if (params.has_nul()) return fail(StoreErrc::internal, "postgres: a text value holds a NUL byte");
    auto name = prepared(sql, params);
    if (!name) return tl::unexpected(name.error());
    const auto values = params.values();
    ResultPtr result(PQexecPrepared(conn_, (*name)->c_str(), params.size(), values.data(), nullptr, nullptr, 0));
    const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return tl::unexpected(failure(result.get(), sql));
    return Rows(std::move(result));
  }

  StoreResult<void> execute(const std::string& sql, const Params& params = {}) {
    auto rows = query(sql, params);
    if (!rows) return tl::unexpected(rows.error());
    return {};
  }

  // Returns how many rows the statement changed.
  StoreResult<int> execute_count(const std::string& sql, const Params& params = {}) {
    auto rows = query(sql, params);
    if (!rows) return tl::unexpected(rows.error());
    return rows->affected();
  }

  StoreResult<void> begin() {
    retry_suggested_ = false;
    feed_locked_ = false;
    return simple("BEGIN");
  }

  // Every transaction that adds to the change feed (a row in `changes` or `revocations`) calls
  // this before its first such row, and holds the lock until it ends. Identity columns number
  // rows at INSERT, not at COMMIT: without the lock, seq 11 could commit before seq 10, and a
  // node that read 11 and moved past it would never see 10. With it, whoever holds a number has
  // committed or rolled back before the next number is drawn. The lock is released after the
  // commit is visible; the NOTIFY is delivered at commit, and wakes every node's listener.
  // Take it before any session-id lock (lock_session_id), never after: one order, no deadlock.
  StoreResult<void> lock_feed() {
    // A transaction-scoped lock outside a transaction would end with its own statement.
    if (PQtransactionStatus(conn_) != PQTRANS_INTRANS)
      return fail(StoreErrc::internal, "postgres: the change feed is written outside a transaction");
    if (feed_locked_) return {};
    auto locked = execute("SELECT pg_advisory_xact_lock(hashtext('gatehouse.feed'), 0), pg_notify('" +
                          std::string(PgStore::kChangeChannel) + "', '')");
    if (locked) feed_locked_ = true;
    return locked;
  }
  StoreResult<void> commit() {
    feed_locked_ = false;
    return simple("COMMIT");
  }
  // If even this fails, the connection is not idle afterwards and the pool drops it.
  void rollback() {
    feed_locked_ = false;
    ResultPtr(PQexec(conn_, "ROLLBACK"));
  }
  // The last failure was a deadlock or a serialization failure: PostgreSQL asks the client to
  // run the transaction again.
  bool retry_suggested() const { return retry_suggested_; }

 private:
  StoreResult<const std::string*> prepared(const std::string& sql, const Params& params) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return &it->second;
    std::string name = "gh" + std::to_string(statements_.size() + 1);
    ResultPtr result(PQprepare(conn_, name.c_str(), sql.c_str(), params.size(), params.types()));
    if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) return tl::unexpected(failure(result.get(), sql));
    return &statements_.emplace(sql, std::move(name)).first->second;
  }

  StoreResult<void> simple(const char* sql) {
    ResultPtr result(PQexec(conn_, sql));
    if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) return tl::unexpected(failure(result.get(), sql));
    return {};
  }

  // Never the server's message text: a unique violation's detail quotes the duplicate value and
  // a malformed value is echoed back. The SQLSTATE and the names involved say enough.
  StoreError failure(const PGresult* result, std::string_view sql) {
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    retry_suggested_ = sqlstate == "40001" || sqlstate == "40P01";
    const bool lost = PQstatus(conn_) != CONNECTION_OK;
    std::string message = lost ? "postgres: connection lost" : "postgres: error";
    if (!sqlstate.empty()) message += ", SQLSTATE " + sqlstate;
    const char* table = result ? PQresultErrorField(result, PG_DIAG_TABLE_NAME) : nullptr;
    if (table) message += std::string(", table ") + table;
    const char* constraint = result ? PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME) : nullptr;
    if (constraint) message += std::string(", constraint ") + constraint;
    message += ", in \"" + std::string(sql.substr(0, kQuotedStatementChars));
    message += sql.size() > kQuotedStatementChars ? "...\"" : "\"";
    return StoreError{lost ? StoreErrc::unavailable : code_for(sqlstate), std::move(message)};
  }

  // Server notices reach the log by severity and SQLSTATE only: their text may quote values.
  // Outside a statement, the usual one is the FATAL a server sends before it closes the
  // connection; the EOF may follow a moment later.
  static void receive_notice(void* self, const PGresult* notice) {
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char* sqlstate = PQresultErrorField(notice, PG_DIAG_SQLSTATE);
    log::warn("postgres notice", {{"severity", severity ? severity : ""}, {"sqlstate", sqlstate ? sqlstate : ""}});
    const std::string_view level = severity ? severity : "";
    if (level == "FATAL" || level == "PANIC") static_cast<Connection*>(self)->server_closing_ = true;
  }

  PGconn* conn_;
  std::unordered_map<std::string, std::string> statements_;  // SQL -> its prepared statement's name
  bool retry_suggested_{false};
  bool server_closing_{false};
  bool feed_locked_{false};  // lock_feed() ran in the current transaction
};

}  // namespace

// Up to `size` connections, made on first use. One the server closed, or that broke while lent
// out, is dropped; its slot makes a new connection on the next call.
class Pool {
 public:
  Pool(std::string url, std::string password, std::size_t size, std::chrono::milliseconds acquire_timeout)
      : url_(std::move(url)),
        password_(std::move(password)),
        size_(std::max<std::size_t>(size, 1)),
        acquire_timeout_(acquire_timeout) {}

  StoreResult<std::unique_ptr<Connection>> acquire() {
    std::unique_ptr<Connection> conn;
    {
      std::unique_lock lock(mutex_);
      if (!returned_.wait_for(lock, acquire_timeout_, [&] { return !idle_.empty() || open_ < size_; }))
        return fail(StoreErrc::unavailable, "postgres: no free connection within " +
                                                std::to_string(acquire_timeout_.count()) + " ms (pool of " +
                                                std::to_string(size_) + ")");
      if (idle_.empty()) {
        ++open_;
      } else {
        conn = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (conn && conn->still_open()) return conn;
    conn.reset();  // closed by the server while idle: its slot goes to the replacement
    auto opened = Connection::open(url_, password_);
    if (!opened) give_up_slot();
    return opened;
  }

  void release(std::unique_ptr<Connection> conn) {
    if (conn->reusable()) {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(conn));
    } else {
      conn.reset();
      give_up_slot();
      return;
    }
    returned_.notify_one();
  }

 private:
  void give_up_slot() {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    returned_.notify_one();
  }

  const std::string url_;
  const std::string password_;
  const std::size_t size_;
  const std::chrono::milliseconds acquire_timeout_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;  // the most recently used last
  std::size_t open_{0};                            // idle, lent out, or being connected
};

namespace {

// Borrows a connection for the duration of fn.
template <class Fn>
auto with_connection(Pool& pool, Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  auto conn = pool.acquire();
  if (!conn) return tl::unexpected(conn.error());
  struct Lease {
    Pool& pool;
    std::unique_ptr<Connection> conn;
    ~Lease() { pool.release(std::move(conn)); }
  } lease{pool, std::move(*conn)};
  return fn(*lease.conn);
}

template <class Fn>
auto transaction_once(Connection& c, Fn& fn) -> decltype(fn(c)) {
  if (auto begun = c.begin(); !begun) return tl::unexpected(begun.error());
  auto result = fn(c);
  if (!result) {
    c.rollback();
    return result;
  }
  // A COMMIT that fails has ended the transaction already.
  if (auto committed = c.commit(); !committed) return tl::unexpected(committed.error());
  return result;
}

// Runs fn between BEGIN and COMMIT; an error result rolls back. After a deadlock or a
// serialization failure the whole transaction runs again, fn included, so fn must not depend
// on what an earlier attempt did.
template <class Fn>
auto in_transaction(Pool& pool, Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  return with_connection(pool, [&](Connection& c) -> decltype(fn(c)) {
    for (int attempt = 1;; ++attempt) {
      auto result = transaction_once(c, fn);
      if (result || attempt == kTransactionAttempts || !c.retry_suggested()) return result;
    }
  });
}

// in_transaction for calls that always write to the change feed: the feed lock comes first, so
// every such transaction takes its locks in one order (feed, then rows, session ids and
// tables). Taken after a row lock instead, two of them could wait on each other until
// PostgreSQL's deadlock check (1 s) ends one, with the feed lock held cluster-wide meanwhile.
template <class Fn>
auto in_feed_transaction(Pool& pool, Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  return in_transaction(pool, [&](Connection& c) -> decltype(fn(c)) {
    if (auto locked = c.lock_feed(); !locked) return tl::unexpected(locked.error());
    return fn(c);
  });
}

// PostgreSQL text holds neither malformed UTF-8 nor NUL, where SQLite keeps any bytes, and
// values from clients can be either (a Basic-auth name, a User-Agent cut mid-character). No row
// can hold such a value, so a lookup by one finds nothing, as in SQLite, instead of failing.
bool storable(std::string_view s) { return is_valid_utf8(s) && s.find('\0') == std::string_view::npos; }

// Where client text is kept anyway (audit records, failed-login subjects), each byte that is
// not part of a well-formed character, and each NUL, becomes U+FFFD: one odd record must not
// fail the audit writer's whole batch. Two such login names then share a failure counter,
// which only locks them out sooner.
std::string storable_text(std::string_view s) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c == 0 ? 0 : c < 0x80 ? 1 : utf8_sequence_length(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out += s.substr(i, n);
      i += n;
    }
  }
  return out;
}

const std::string kUserColumns = "id, username, email, roles, disabled, password_hash, created_at, updated_at";

UserRecord read_user(const Row& r) {
  return UserRecord{.id = r.text(0), .username = r.text(1), .email = r.text(2), .roles = split_words(r.text(3)),
                    .disabled = r.boolean(4), .password_hash = r.text(5), .created_at = r.integer(6),
                    .updated_at = r.integer(7)};
}

const std::string kApiKeyColumns =
    "id, user_id, name, digest, prefix, scopes, created_at, expires_at, last_used_at, revoked_at, rate_limit";

ApiKeyRecord read_api_key(const Row& r) {
  ApiKeyRecord k{.id = r.text(0), .user_id = r.text(1), .name = r.text(2), .digest = r.text(3),
                 .prefix = r.text(4), .scopes = {}, .created_at = r.integer(6), .expires_at = r.optional_integer(7),
                 .last_used_at = r.optional_integer(8), .revoked_at = r.optional_integer(9),
                 .rate_limit = r.text(10)};
  if (!r.is_null(5)) k.scopes = split_words(r.text(5));
  return k;
}

const std::string kClientColumns =
    "id, name, type, secret_digest, redirect_uris, grant_types, scopes, trusted, introspect, created_at, updated_at";

ClientRecord read_client(const Row& r) {
  return ClientRecord{.id = r.text(0), .name = r.text(1), .type = r.text(2), .secret_digest = r.text(3),
                      .redirect_uris = split_words(r.text(4)), .grant_types = split_words(r.text(5)),
                      .scopes = split_words(r.text(6)), .trusted = r.boolean(7), .introspect = r.boolean(8),
                      .created_at = r.integer(9), .updated_at = r.integer(10)};
}

TokenRecord read_token(const Row& r) {
  return TokenRecord{.digest = r.text(0), .session_id = r.text(1), .user_id = r.text(2), .created_at = r.integer(3),
                     .expires_at = r.integer(4)};
}

StoreResult<void> insert_user_on(Connection& c, const UserRecord& u) {
  return c.execute(
      "INSERT INTO users (id, username, username_key, email, email_key, roles, disabled, password_hash, "
      "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      Params()
          .text(u.id)
          .text(u.username)
          .text(fold_case(u.username))
          .text_or_null_if_empty(u.email)
          .text_or_null_if_empty(fold_case(u.email))
          .text(join_words(u.roles))
          .boolean(u.disabled)
          .text(u.password_hash)
          .integer(u.created_at)
          .integer(u.updated_at));
}

StoreResult<void> insert_link_on(Connection& c, const UpstreamLinkRecord& l) {
  return c.execute("INSERT INTO upstream_links (upstream, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
                   Params().text(l.upstream).text(l.subject).text(l.user_id).integer(l.created_at));
}

UpstreamLinkRecord read_link(const Row& r) {
  return UpstreamLinkRecord{.upstream = r.text(0), .subject = r.text(1), .user_id = r.text(2),
                            .created_at = r.integer(3)};
}

// column is a constant naming a unique column ("id", "username_key", "email_key").
StoreResult<std::optional<UserRecord>> find_user_on(Connection& c, const char* column, const std::string& value) {
  if (!storable(value)) return std::optional<UserRecord>{};
  auto rows = c.query("SELECT " + kUserColumns + " FROM users WHERE " + column + " = $1", Params().text(value));
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return std::optional<UserRecord>{};
  return std::optional<UserRecord>{read_user(rows->row(0))};
}

StoreResult<std::optional<ClientRecord>> find_client_on(Connection& c, const std::string& id) {
  if (!storable(id)) return std::optional<ClientRecord>{};
  auto rows = c.query("SELECT " + kClientColumns + " FROM oauth_clients WHERE id = $1", Params().text(id));
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return std::optional<ClientRecord>{};
  return std::optional<ClientRecord>{read_client(rows->row(0))};
}

// column is "id" or "digest", both unique.
StoreResult<std::optional<ApiKeyRecord>> find_api_key_on(Connection& c, const char* column, const std::string& value) {
  auto rows = c.query("SELECT " + kApiKeyColumns + " FROM api_keys WHERE " + column + " = $1", Params().text(value));
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return std::optional<ApiKeyRecord>{};
  return std::optional<ApiKeyRecord>{read_api_key(rows->row(0))};
}

StoreResult<void> insert_api_key_on(Connection& c, const ApiKeyRecord& k) {
  return c.execute(
      "INSERT INTO api_keys (id, user_id, name, digest, prefix, scopes, created_at, expires_at, last_used_at, "
      "revoked_at, rate_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9)",
      Params()
          .text(k.id)
          .text(k.user_id)
          .text(k.name)
          .text(k.digest)
          .text(k.prefix)
          .text_or_null(k.scopes ? std::optional(join_words(*k.scopes)) : std::nullopt)
          .integer(k.created_at)
          .integer_or_null(k.expires_at)
          .text_or_null_if_empty(k.rate_limit));
}

StoreResult<void> insert_token(Connection& c, const std::string& table, const TokenRecord& t) {
  return c.execute(
      "INSERT INTO " + table + " (digest, session_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
      Params().text(t.digest).text(t.session_id).text(t.user_id).integer(t.created_at).integer(t.expires_at));
}

StoreResult<void> record_change(Connection& c, const std::string& kind, const std::string& ref, std::int64_t at) {
  if (auto locked = c.lock_feed(); !locked) return locked;
  return c.execute("INSERT INTO changes (kind, ref, at) VALUES ($1, $2, $3)",
                   Params().text(kind).text(ref).integer(at));
}

// Serialises everything that decides one session id's fate: create_session's "not on the
// denylist yet" check and every revocation of that id. Under READ COMMITTED neither would see
// the other's uncommitted row, and a session could open just after its id was denylisted. The
// lock is an advisory one on a hash of the id, held until the transaction ends; a collision
// only makes two unrelated calls wait for each other.
StoreResult<void> lock_session_id(Connection& c, const std::string& session_id) {
  return c.execute("SELECT pg_advisory_xact_lock(hashtext('gatehouse.sid'), hashtext($1))",
                   Params().text(session_id));
}

StoreResult<void> add_revocation_on(Connection& c, const std::string& kind, const std::string& value,
                                    std::int64_t expires_at) {
  if (auto locked = c.lock_feed(); !locked) return locked;
  if (kind == "sid") {
    if (auto locked = lock_session_id(c, value); !locked) return locked;
  }
  return c.execute(
      "INSERT INTO revocations (kind, value, expires_at) VALUES ($1, $2, $3) "
      "ON CONFLICT (kind, value) DO UPDATE SET expires_at = GREATEST(revocations.expires_at, excluded.expires_at)",
      Params().text(kind).text(value).integer(expires_at));
}

StoreResult<void> revoke_session_on(Connection& c, const std::string& session_id, std::int64_t now,
                                    std::int64_t revoked_until) {
  if (auto denied = add_revocation_on(c, "sid", session_id, revoked_until); !denied) return denied;
  return c.execute("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                   Params().integer(now).text(session_id));
}

// One statement, so the sessions it revokes and the ids it denylists are the same set even
// while sessions of the user open and close around it.
StoreResult<int> revoke_user_sessions_on(Connection& c, const std::string& user_id,
                                         const std::string& keep_session_id, std::int64_t now,
                                         std::int64_t revoked_until) {
  if (auto locked = c.lock_feed(); !locked) return tl::unexpected(locked.error());
  auto rows = c.query(
      "WITH revoked AS (UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL "
      "RETURNING id), "
      "denied AS (INSERT INTO revocations (kind, value, expires_at) SELECT 'sid', id, $4 FROM revoked "
      "ON CONFLICT (kind, value) DO UPDATE SET expires_at = GREATEST(revocations.expires_at, excluded.expires_at)) "
      "SELECT count(*) FROM revoked",
      Params().integer(now).text(user_id).text(keep_session_id).integer(revoked_until));
  if (!rows) return tl::unexpected(rows.error());
  return static_cast<int>(rows->row(0).integer(0));
}

StoreResult<LoginFailures> login_failures_on(Connection& c, const std::string& subject) {
  auto rows = c.query("SELECT count, first_at, locked_until FROM login_failures WHERE subject = $1",
                      Params().text(subject));
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return LoginFailures{};
  const Row r = rows->row(0);
  return LoginFailures{static_cast<int>(r.integer(0)), r.integer(1), r.optional_integer(2)};
}

// The background audit writer stores hundreds of events per transaction; 32 rows per INSERT
// (as in SQLite) cut the round trips 32-fold. Identity values follow the VALUES order.
constexpr std::size_t kAuditRowsPerInsert = 32;
constexpr int kAuditColumns = 10;

const std::string& audit_insert_sql(std::size_t rows) {
  static const auto build = [](std::size_t n) {
    std::string sql =
        "INSERT INTO audit_events (id, time, type, outcome, user_id, username, ip, user_agent, request_id, detail) "
        "VALUES ";
    for (std::size_t i = 0; i < n; ++i) {
      sql += i ? ",(" : "(";
      for (int col = 1; col <= kAuditColumns; ++col) {
        sql += "$" + std::to_string(static_cast<int>(i) * kAuditColumns + col);
        sql += col < kAuditColumns ? "," : ")";
      }
    }
    return sql;
  };
  static const std::string one = build(1), chunk = build(kAuditRowsPerInsert);
  return rows == 1 ? one : chunk;
}

// rows is 1 or kAuditRowsPerInsert.
StoreResult<void> insert_audits_on(Connection& c, const AuditRecord* records, std::size_t rows) {
  Params params;
  for (std::size_t i = 0; i < rows; ++i) {
    const AuditRecord& r = records[i];
    params.text(storable_text(r.id)).integer(r.time).text(storable_text(r.type)).text(storable_text(r.outcome));
    params.text(storable_text(r.user_id)).text(storable_text(r.username)).text(storable_text(r.ip));
    params.text(storable_text(r.user_agent)).text(storable_text(r.request_id)).text(storable_text(r.detail_json));
  }
  return c.execute(audit_insert_sql(rows), params);
}

}  // namespace

// The LISTEN side of the change feed: one connection of its own (a pooled one goes back to
// the pool between calls, and a notification only reaches the session that listens).
class Listener {
 public:
  Listener(std::string url, std::string password) : url_(std::move(url)), password_(std::move(password)) {}

  bool wait(std::chrono::milliseconds timeout) {
    std::lock_guard lock(mutex_);
    if (!conn_) {
      auto opened = Connection::open(url_, password_);
      if (!opened || !(*opened)->execute(std::string("LISTEN ") + PgStore::kChangeChannel)) {
        std::this_thread::sleep_for(timeout);  // the database is away; the poll reports why
        return false;
      }
      conn_ = std::move(*opened);
      return true;  // changes made while nobody listened were not announced to us
    }
    pollfd fd{.fd = PQsocket(conn_->raw()), .events = POLLIN, .revents = 0};
    const int ready = poll(&fd, 1, static_cast<int>(timeout.count()));
    if (ready < 0) return false;  // EINTR: the caller comes back
    if (ready > 0 && !PQconsumeInput(conn_->raw())) {
      conn_.reset();  // broken: reconnect on the next call, and sync now in case
      return true;
    }
    bool notified = false;
    while (PGnotify* n = PQnotifies(conn_->raw())) {
      notified = true;
      PQfreemem(n);
    }
    if (!notified && PQstatus(conn_->raw()) != CONNECTION_OK) {
      conn_.reset();
      return true;
    }
    return notified;
  }

 private:
  const std::string url_;
  const std::string password_;
  std::mutex mutex_;
  std::unique_ptr<Connection> conn_;
};

PgStore::PgStore(std::string url, std::size_t pool_size, std::chrono::milliseconds acquire_timeout,
                 std::string password)
    : pool_(std::make_unique<Pool>(url, password, pool_size, acquire_timeout)),
      listener_(std::make_unique<Listener>(std::move(url), std::move(password))) {}

PgStore::~PgStore() = default;

bool PgStore::wait_for_changes(std::chrono::milliseconds timeout) { return listener_->wait(timeout); }

// ---- schema ----
StoreResult<int> PgStore::migrate() {
  return with_connection(*pool_, [](Connection& c) { return postgres::migrate(c.raw()); });
}

StoreResult<int> PgStore::schema_version() {
  return with_connection(*pool_, [](Connection& c) { return postgres::schema_version(c.raw()); });
}

StoreResult<void> PgStore::ping() {
  return with_connection(*pool_, [](Connection& c) { return c.execute("SELECT 1"); });
}

// ---- users ----
StoreResult<void> PgStore::create_user(const UserRecord& u) {
  return with_connection(*pool_, [&](Connection& c) { return insert_user_on(c, u); });
}

StoreResult<std::optional<UserRecord>> PgStore::find_user(const std::string& id) {
  return with_connection(*pool_, [&](Connection& c) { return find_user_on(c, "id", id); });
}

StoreResult<std::optional<UserRecord>> PgStore::find_user_by_username(const std::string& username) {
  return with_connection(*pool_, [&](Connection& c) { return find_user_on(c, "username_key", fold_case(username)); });
}

StoreResult<std::optional<UserRecord>> PgStore::find_user_by_email(const std::string& email) {
  if (email.empty()) return std::optional<UserRecord>{};
  return with_connection(*pool_, [&](Connection& c) { return find_user_on(c, "email_key", fold_case(email)); });
}

StoreResult<std::vector<UserRecord>> PgStore::list_users(const std::string& after_id, int limit) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<UserRecord>> {
    auto rows = c.query("SELECT " + kUserColumns +
                            " FROM users WHERE id COLLATE \"C\" > $1 ORDER BY id COLLATE \"C\" LIMIT $2",
                        Params().text(after_id).integer(limit));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<UserRecord> out;
    for (int i = 0; i < rows->size(); ++i) out.push_back(read_user(rows->row(i)));
    return out;
  });
}

StoreResult<UserRecord> PgStore::update_user(const std::string& id, const UserChanges& ch) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<UserRecord> {
    // The compare-and-set is the UPDATE's condition, which PostgreSQL re-checks on the newest
    // row version after waiting for a concurrent writer of the row.
    const std::string email = ch.email.value_or("");
    auto rows = c.query(
        "UPDATE users SET email = CASE WHEN $1 THEN $2 ELSE email END, "
        "email_key = CASE WHEN $1 THEN $3 ELSE email_key END, roles = COALESCE($4, roles), "
        "disabled = COALESCE($5, disabled), password_hash = COALESCE($6, password_hash), updated_at = $7 "
        "WHERE id = $8 AND ($9 IS NULL OR password_hash = $9) RETURNING " + kUserColumns,
        Params()
            .boolean(ch.email.has_value())
            .text_or_null_if_empty(email)
            .text_or_null_if_empty(fold_case(email))
            .text_or_null(ch.roles ? std::optional(join_words(*ch.roles)) : std::nullopt)
            .boolean_or_null(ch.disabled)
            .text_or_null(ch.password_hash)
            .integer(ch.updated_at)
            .text(id)
            .text_or_null(ch.expected_password_hash));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) {
      auto user = find_user_on(c, "id", id);
      if (!user) return tl::unexpected(user.error());
      if (!*user) return fail(StoreErrc::not_found, "no such user");
      return fail(StoreErrc::precondition_failed, "password hash changed meanwhile");
    }
    UserRecord stored = read_user(rows->row(0));
    if (ch.revoke_sessions_except) {
      auto revoked = revoke_user_sessions_on(c, id, *ch.revoke_sessions_except, ch.updated_at, ch.revoked_until);
      if (!revoked) return tl::unexpected(revoked.error());
    }
    if (ch.revoke_api_keys) {
      // The "user" change below drops every cached key of this user on every node.
      auto keys = c.execute(
          "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND (revoked_at IS NULL OR revoked_at > $1)",
          Params().integer(ch.updated_at).text(id));
      if (!keys) return tl::unexpected(keys.error());
    }
    if (auto noted = record_change(c, "user", id, ch.updated_at); !noted) return tl::unexpected(noted.error());
    return stored;
  });
}

StoreResult<void> PgStore::delete_user(const std::string& id) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    auto deleted = c.execute_count("DELETE FROM users WHERE id = $1", Params().text(id));
    if (!deleted) return tl::unexpected(deleted.error());
    if (*deleted == 0) return fail(StoreErrc::not_found, "no such user");
    // Dated now: the purge keeps changes for a day, long enough for every node to see them.
    return record_change(c, "user", id, static_cast<std::int64_t>(std::time(nullptr)));
  });
}

StoreResult<std::int64_t> PgStore::count_users() {
  return with_connection(*pool_, [](Connection& c) -> StoreResult<std::int64_t> {
    auto rows = c.query("SELECT COUNT(*) FROM users");
    if (!rows) return tl::unexpected(rows.error());
    return rows->row(0).integer(0);
  });
}

// ---- sessions and tokens ----
StoreResult<void> PgStore::create_session(const SessionRecord& session, const std::optional<TokenRecord>& access,
                                          const std::optional<TokenRecord>& refresh,
                                          const std::string& verified_password_hash) {
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    // FOR SHARE: a password change or a disable (an UPDATE of this row) that comes later waits
    // until this session is committed, then revokes it; one that came first is seen here.
    auto user = c.query("SELECT disabled, password_hash FROM users WHERE id = $1 FOR SHARE",
                        Params().text(session.user_id));
    if (!user) return tl::unexpected(user.error());
    if (user->empty() || user->row(0).boolean(0) || user->row(0).text(1) != verified_password_hash)
      return fail(StoreErrc::precondition_failed, "the user changed while logging in");
    // Revoked before it existed (a replayed authorization code raced its first redemption).
    if (auto locked = lock_session_id(c, session.id); !locked) return locked;
    auto denied = c.query("SELECT 1 FROM revocations WHERE kind = 'sid' AND value = $1", Params().text(session.id));
    if (!denied) return tl::unexpected(denied.error());
    if (!denied->empty()) return fail(StoreErrc::precondition_failed, "the session was revoked before it was opened");
    auto inserted = c.execute(
        "INSERT INTO sessions (id, user_id, client_id, created_at, revoked_at, scope) "
        "VALUES ($1, $2, $3, $4, NULL, $5)",
        Params()
            .text(session.id)
            .text(session.user_id)
            .text(session.client_id)
            .integer(session.created_at)
            .text_or_null(session.scope));
    if (!inserted) return inserted;
    if (access) {
      if (auto a = insert_token(c, "access_tokens", *access); !a) return a;
    }
    if (refresh) return insert_token(c, "refresh_tokens", *refresh);
    return {};
  });
}

StoreResult<std::optional<SessionRecord>> PgStore::find_session(const std::string& id) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::optional<SessionRecord>> {
    auto rows = c.query("SELECT id, user_id, client_id, created_at, revoked_at, scope FROM sessions WHERE id = $1",
                        Params().text(id));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<SessionRecord>{};
    const Row r = rows->row(0);
    return std::optional<SessionRecord>{SessionRecord{.id = r.text(0), .user_id = r.text(1), .client_id = r.text(2),
                                                      .created_at = r.integer(3), .revoked_at = r.optional_integer(4),
                                                      .scope = r.optional_text(5)}};
  });
}

StoreResult<std::optional<AccessTokenView>> PgStore::find_access_token(const std::string& digest) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::optional<AccessTokenView>> {
    auto rows = c.query(
        "SELECT t.digest, t.session_id, t.user_id, t.created_at, t.expires_at, s.revoked_at IS NOT NULL, "
        "s.client_id, s.scope "
        "FROM access_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.digest = $1",
        Params().text(digest));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<AccessTokenView>{};
    const Row r = rows->row(0);
    return std::optional<AccessTokenView>{AccessTokenView{.token = read_token(r), .session_revoked = r.boolean(5),
                                                          .client_id = r.text(6), .scope = r.optional_text(7)}};
  });
}

StoreResult<std::optional<RefreshTokenView>> PgStore::find_refresh_token(const std::string& digest) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::optional<RefreshTokenView>> {
    auto rows = c.query(
        "SELECT r.digest, r.session_id, r.user_id, r.created_at, r.expires_at, r.spent_at IS NOT NULL, "
        "s.revoked_at IS NOT NULL OR u.disabled, s.client_id, s.scope "
        "FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id "
        "WHERE r.digest = $1",
        Params().text(digest));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<RefreshTokenView>{};
    const Row r = rows->row(0);
    return std::optional<RefreshTokenView>{RefreshTokenView{.token = read_token(r), .spent = r.boolean(5),
                                                            .session_revoked = r.boolean(6), .client_id = r.text(7),
                                                            .scope = r.optional_text(8)}};
  });
}

StoreResult<RotateResult> PgStore::rotate_refresh_token(const std::string& refresh_digest, std::int64_t now,
                                                        std::optional<TokenRecord> new_access, TokenRecord new_refresh,
                                                        std::int64_t revoked_until) {
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<RotateResult> {
    // Concurrent rotations of one token queue on its row lock. The state is read by the next
    // statement, which starts after the lock is granted and so sees whatever the rotation
    // before this one committed: they behave as if they ran one after another.
    auto locked = c.query("SELECT 1 FROM refresh_tokens WHERE digest = $1 FOR UPDATE", Params().text(refresh_digest));
    if (!locked) return tl::unexpected(locked.error());
    if (locked->empty()) return RotateResult{};
    auto rows = c.query(
        "SELECT r.session_id, r.user_id, r.expires_at, r.spent_at IS NOT NULL, "
        "s.revoked_at IS NOT NULL OR u.disabled, s.client_id, s.scope "
        "FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id "
        "WHERE r.digest = $1",
        Params().text(refresh_digest));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return RotateResult{};
    const Row r = rows->row(0);
    RotateResult result{.outcome = RotateOutcome::invalid, .session_id = r.text(0), .user_id = r.text(1),
                        .client_id = r.text(5), .scope = r.optional_text(6)};
    const std::int64_t expires_at = r.integer(2);
    const bool spent = r.boolean(3);
    const bool revoked = r.boolean(4);
    if (revoked || expires_at <= now) return result;
    if (spent) {
      // RFC 9700 §4.14.2: a spent refresh token presented again means it leaked; the whole
      // family (this session) is revoked, including the newest token.
      if (auto ok = revoke_session_on(c, result.session_id, now, revoked_until); !ok) return tl::unexpected(ok.error());
      result.outcome = RotateOutcome::reuse_detected;
      return result;
    }
    auto spend = c.execute("UPDATE refresh_tokens SET spent_at = $1 WHERE digest = $2 AND spent_at IS NULL",
                           Params().integer(now).text(refresh_digest));
    if (!spend) return tl::unexpected(spend.error());
    new_refresh.session_id = result.session_id;
    new_refresh.user_id = result.user_id;
    if (new_access) {
      new_access->session_id = result.session_id;
      new_access->user_id = result.user_id;
      if (auto a = insert_token(c, "access_tokens", *new_access); !a) return tl::unexpected(a.error());
    }
    if (auto inserted = insert_token(c, "refresh_tokens", new_refresh); !inserted)
      return tl::unexpected(inserted.error());
    result.outcome = RotateOutcome::rotated;
    return result;
  });
}

StoreResult<void> PgStore::revoke_session(const std::string& session_id, std::int64_t now,
                                          std::int64_t revoked_until) {
  return in_feed_transaction(*pool_, [&](Connection& c) { return revoke_session_on(c, session_id, now, revoked_until); });
}

StoreResult<int> PgStore::revoke_user_sessions(const std::string& user_id, const std::string& keep_session_id,
                                               std::int64_t now, std::int64_t revoked_until) {
  return in_feed_transaction(
      *pool_, [&](Connection& c) { return revoke_user_sessions_on(c, user_id, keep_session_id, now, revoked_until); });
}

StoreResult<int> PgStore::purge_expired(std::int64_t now) {
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<int> {
    int removed = 0;
    for (const char* sql : {"DELETE FROM revocations WHERE expires_at <= $1",
                            "DELETE FROM login_failures WHERE (locked_until IS NULL OR locked_until <= $1) "
                            "AND first_at <= $1 - 86400",
                            "DELETE FROM changes WHERE at <= $1 - 86400",
                            "DELETE FROM access_tokens WHERE expires_at <= $1",
                            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
                            // Spent codes stay a day past expiry so a late replay is still caught.
                            "DELETE FROM oauth_codes WHERE expires_at <= $1 - 86400",
                            "DELETE FROM upstream_flows WHERE expires_at <= $1",
                            "DELETE FROM sessions WHERE created_at <= $1 AND NOT EXISTS (SELECT 1 FROM "
                            "refresh_tokens r WHERE r.session_id = sessions.id) AND NOT EXISTS (SELECT 1 FROM "
                            "access_tokens a WHERE a.session_id = sessions.id)"}) {
      auto deleted = c.execute_count(sql, Params().integer(now));
      if (!deleted) return tl::unexpected(deleted.error());
      removed += *deleted;
    }
    return removed;
  });
}

// ---- audit ----
StoreResult<void> PgStore::append_audit(const AuditRecord& r) {
  return with_connection(*pool_, [&](Connection& c) { return insert_audits_on(c, &r, 1); });
}

StoreResult<void> PgStore::append_audits(const std::vector<AuditRecord>& records) {
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    for (std::size_t i = 0; i < records.size();) {
      const std::size_t n = records.size() - i >= kAuditRowsPerInsert ? kAuditRowsPerInsert : 1;
      if (auto ok = insert_audits_on(c, records.data() + i, n); !ok) return ok;
      i += n;
    }
    return {};
  });
}

StoreResult<std::vector<AuditRecord>> PgStore::list_audit(const AuditQuery& q) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<AuditRecord>> {
    auto rows = c.query(
        "SELECT seq, id, time, type, outcome, user_id, username, ip, user_agent, request_id, detail "
        "FROM audit_events WHERE ($1 = '' OR type = $1) AND ($2 = '' OR user_id = $2) AND time >= $3 "
        "AND ($6 = 0 OR time < $6) AND ($4 = 0 OR seq < $4) ORDER BY seq DESC LIMIT $5",
        Params().text(q.type).text(q.user_id).integer(q.since).integer(q.before_seq).integer(q.limit).integer(q.until));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<AuditRecord> out;
    for (int i = 0; i < rows->size(); ++i) {
      const Row r = rows->row(i);
      out.push_back(AuditRecord{.seq = r.integer(0), .id = r.text(1), .time = r.integer(2), .type = r.text(3),
                                .outcome = r.text(4), .user_id = r.text(5), .username = r.text(6), .ip = r.text(7),
                                .user_agent = r.text(8), .request_id = r.text(9), .detail_json = r.text(10)});
    }
    return out;
  });
}

StoreResult<int> PgStore::purge_audit_before(std::int64_t time) {
  return with_connection(*pool_, [&](Connection& c) {
    return c.execute_count("DELETE FROM audit_events WHERE time < $1", Params().integer(time));
  });
}

// ---- signing keys ----
StoreResult<std::vector<SigningKeyRecord>> PgStore::list_signing_keys(std::int64_t now) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<SigningKeyRecord>> {
    auto rows = c.query(
        "SELECT kid, alg, private_pem, created_at, retired_at, expires_at FROM signing_keys "
        "WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at, kid COLLATE \"C\"",
        Params().integer(now));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<SigningKeyRecord> out;
    for (int i = 0; i < rows->size(); ++i) {
      const Row r = rows->row(i);
      out.push_back(SigningKeyRecord{.kid = r.text(0), .alg = r.text(1), .private_pem = r.text(2),
                                     .created_at = r.integer(3), .retired_at = r.optional_integer(4),
                                     .expires_at = r.optional_integer(5)});
    }
    return out;
  });
}

StoreResult<void> PgStore::add_signing_key(const SigningKeyRecord& key, std::int64_t now,
                                           std::int64_t retired_expire_at) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    // Two nodes adding a key at once would each retire only the key they saw, and both new keys
    // would stay current. This lock mode conflicts with itself and with writes, not with reads:
    // key additions (rare) run one at a time, each seeing the key the one before added.
    if (auto locked = c.execute("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"); !locked) return locked;
    auto retired = c.execute(
        "UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE alg = $3 AND retired_at IS NULL",
        Params().integer(now).integer(retired_expire_at).text(key.alg));
    if (!retired) return retired;
    auto added = c.execute(
        "INSERT INTO signing_keys (kid, alg, private_pem, created_at, retired_at, expires_at) "
        "VALUES ($1, $2, $3, $4, NULL, NULL)",
        Params().text(key.kid).text(key.alg).text(key.private_pem).integer(key.created_at));
    if (!added) return added;
    return record_change(c, "signing_key", key.kid, now);  // every node reloads its key ring
  });
}

StoreResult<int> PgStore::purge_signing_keys(std::int64_t now) {
  return with_connection(*pool_, [&](Connection& c) {
    return c.execute_count("DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at <= $1",
                           Params().integer(now));
  });
}

// ---- API keys ----
StoreResult<void> PgStore::create_api_key(const ApiKeyRecord& k) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    if (auto inserted = insert_api_key_on(c, k); !inserted) return inserted;
    return record_change(c, "api_key", k.id, k.created_at);
  });
}

StoreResult<std::optional<ApiKeyRecord>> PgStore::find_api_key(const std::string& id) {
  return with_connection(*pool_, [&](Connection& c) { return find_api_key_on(c, "id", id); });
}

StoreResult<std::optional<ApiKeyRecord>> PgStore::find_api_key_by_digest(const std::string& digest) {
  return with_connection(*pool_, [&](Connection& c) { return find_api_key_on(c, "digest", digest); });
}

StoreResult<std::vector<ApiKeyRecord>> PgStore::list_api_keys(const std::string& user_id) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<ApiKeyRecord>> {
    auto rows = c.query("SELECT " + kApiKeyColumns + " FROM api_keys WHERE user_id = $1 ORDER BY id COLLATE \"C\"",
                        Params().text(user_id));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<ApiKeyRecord> out;
    for (int i = 0; i < rows->size(); ++i) out.push_back(read_api_key(rows->row(i)));
    return out;
  });
}

StoreResult<ApiKeyRecord> PgStore::revoke_api_key(const std::string& id, std::int64_t now) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<ApiKeyRecord> {
    auto revoked = c.execute(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND (revoked_at IS NULL OR revoked_at > $1)",
        Params().integer(now).text(id));
    if (!revoked) return tl::unexpected(revoked.error());
    auto key = find_api_key_on(c, "id", id);
    if (!key) return tl::unexpected(key.error());
    if (!*key) return fail(StoreErrc::not_found, "no such API key");
    if (auto noted = record_change(c, "api_key", id, now); !noted) return tl::unexpected(noted.error());
    return std::move(**key);
  });
}

StoreResult<ApiKeyRecord> PgStore::rotate_api_key(const std::string& id, const ApiKeyRecord& replacement,
                                                  std::int64_t old_revoked_at, std::int64_t now) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<ApiKeyRecord> {
    // Only a key that works and was never revoked or rotated may be rotated. A concurrent
    // rotation waits for this row, then finds the condition false: it gets no row.
    auto rows = c.query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL "
        "AND (expires_at IS NULL OR expires_at > $3) RETURNING " + kApiKeyColumns,
        Params().integer(old_revoked_at).text(id).integer(now));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) {
      auto old = find_api_key_on(c, "id", id);
      if (!old) return tl::unexpected(old.error());
      if (!*old) return fail(StoreErrc::not_found, "no such API key");
      return fail(StoreErrc::precondition_failed, "the API key no longer works");
    }
    ApiKeyRecord old = read_api_key(rows->row(0));
    if (auto inserted = insert_api_key_on(c, replacement); !inserted) return tl::unexpected(inserted.error());
    if (auto noted = record_change(c, "api_key", id, now); !noted) return tl::unexpected(noted.error());
    if (auto noted = record_change(c, "api_key", replacement.id, now); !noted) return tl::unexpected(noted.error());
    return old;
  });
}

StoreResult<void> PgStore::touch_api_keys(const std::vector<std::pair<std::string, std::int64_t>>& used) {
  if (used.empty()) return {};
  // In id order, so two batches that share keys lock them in the same order and never deadlock.
  auto sorted = used;
  std::sort(sorted.begin(), sorted.end());
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    for (const auto& [id, at] : sorted) {
      auto touched = c.execute(
          "UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $1) WHERE id = $2",
          Params().integer(at).text(id));
      if (!touched) return touched;
    }
    return {};
  });
}

// ---- lockout ----
StoreResult<LoginFailures> PgStore::login_failures(const std::string& subject) {
  return with_connection(*pool_, [&](Connection& c) { return login_failures_on(c, storable_text(subject)); });
}

StoreResult<LoginFailures> PgStore::add_login_failure(const std::string& subject, std::int64_t now,
                                                      std::int64_t window, int max_failures, std::int64_t lock_for) {
  const std::string key = storable_text(subject);
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<LoginFailures> {
    // Creates the subject's row if it has none and, either way, locks it and returns what it
    // holds: concurrent failures of one subject queue here and each counts on the last one's
    // result. A new row reads as no failures (count 0) and starts over below.
    auto rows = c.query(
        "INSERT INTO login_failures (subject, count, first_at, locked_until) VALUES ($1, 0, $2, NULL) "
        "ON CONFLICT (subject) DO UPDATE SET count = login_failures.count RETURNING count, first_at, locked_until",
        Params().text(key).integer(now));
    if (!rows) return tl::unexpected(rows.error());
    const Row r = rows->row(0);
    const LoginFailures stored_state{static_cast<int>(r.integer(0)), r.integer(1), r.optional_integer(2)};
    if (stored_state.locked_until && *stored_state.locked_until > now) return stored_state;  // nothing to write
    const LoginFailures f = after_login_failure(stored_state, now, window, max_failures, lock_for);
    auto stored = c.execute(
        "UPDATE login_failures SET count = $2, first_at = $3, locked_until = $4 WHERE subject = $1",
        Params().text(key).integer(f.count).integer(f.first_at).integer_or_null(f.locked_until));
    if (!stored) return tl::unexpected(stored.error());
    return f;
  });
}

StoreResult<void> PgStore::clear_login_failures(const std::string& subject) {
  return with_connection(*pool_, [&](Connection& c) {
    return c.execute("DELETE FROM login_failures WHERE subject = $1", Params().text(storable_text(subject)));
  });
}

// ---- changes ----
// revocations_since and changes_since follow identity sequences: see the note at the top of
// this file on rows that commit out of order.
StoreResult<void> PgStore::add_revocation(const std::string& kind, const std::string& value, std::int64_t expires_at) {
  // A transaction, for the session-id lock a "sid" revocation takes.
  return in_feed_transaction(*pool_, [&](Connection& c) { return add_revocation_on(c, kind, value, expires_at); });
}

StoreResult<std::vector<Revocation>> PgStore::revocations_since(std::int64_t after, std::int64_t now) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<Revocation>> {
    auto rows = c.query(
        "SELECT seq, kind, value, expires_at FROM revocations WHERE seq > $1 AND expires_at > $2 ORDER BY seq",
        Params().integer(after).integer(now));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<Revocation> out;
    for (int i = 0; i < rows->size(); ++i) {
      const Row r = rows->row(i);
      out.push_back(Revocation{.seq = r.integer(0), .kind = r.text(1), .value = r.text(2), .expires_at = r.integer(3)});
    }
    return out;
  });
}

StoreResult<std::vector<Change>> PgStore::changes_since(std::int64_t after) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<Change>> {
    auto rows = c.query("SELECT seq, kind, ref FROM changes WHERE seq > $1 ORDER BY seq", Params().integer(after));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<Change> out;
    for (int i = 0; i < rows->size(); ++i) {
      const Row r = rows->row(i);
      out.push_back(Change{.seq = r.integer(0), .kind = r.text(1), .ref = r.text(2)});
    }
    return out;
  });
}

StoreResult<std::int64_t> PgStore::last_change_seq() {
  return with_connection(*pool_, [](Connection& c) -> StoreResult<std::int64_t> {
    auto rows = c.query("SELECT COALESCE(MAX(seq), 0) FROM changes");
    if (!rows) return tl::unexpected(rows.error());
    return rows->row(0).integer(0);
  });
}

// ---- OAuth clients, codes, grants ----
StoreResult<void> PgStore::create_client(const ClientRecord& k) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    auto inserted = c.execute(
        "INSERT INTO oauth_clients (id, name, type, secret_digest, redirect_uris, grant_types, scopes, trusted, "
        "introspect, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        Params()
            .text(k.id)
            .text(k.name)
            .text(k.type)
            .text_or_null_if_empty(k.secret_digest)
            .text(join_words(k.redirect_uris))
            .text(join_words(k.grant_types))
            .text(join_words(k.scopes))
            .boolean(k.trusted)
            .boolean(k.introspect)
            .integer(k.created_at)
            .integer(k.updated_at));
    if (!inserted) return inserted;
    return record_change(c, "client", k.id, k.created_at);
  });
}

StoreResult<std::optional<ClientRecord>> PgStore::find_client(const std::string& id) {
  return with_connection(*pool_, [&](Connection& c) { return find_client_on(c, id); });
}

StoreResult<std::vector<ClientRecord>> PgStore::list_clients(const std::string& after_id, int limit) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<ClientRecord>> {
    auto rows = c.query("SELECT " + kClientColumns +
                            " FROM oauth_clients WHERE id COLLATE \"C\" > $1 ORDER BY id COLLATE \"C\" LIMIT $2",
                        Params().text(after_id).integer(limit));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<ClientRecord> out;
    for (int i = 0; i < rows->size(); ++i) out.push_back(read_client(rows->row(i)));
    return out;
  });
}

StoreResult<void> PgStore::delete_client(const std::string& id, std::int64_t now, std::int64_t revoked_until) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    auto live = c.query("SELECT id FROM sessions WHERE client_id = $1 AND revoked_at IS NULL", Params().text(id));
    if (!live) return tl::unexpected(live.error());
    for (int i = 0; i < live->size(); ++i)
      if (auto ok = revoke_session_on(c, live->row(i).text(0), now, revoked_until); !ok) return ok;
    // The client's own tokens (client_credentials) carry sid "cc:<client id>".
    if (auto ok = add_revocation_on(c, "sid", "cc:" + id, revoked_until); !ok) return ok;
    auto deleted = c.execute_count("DELETE FROM oauth_clients WHERE id = $1", Params().text(id));
    if (!deleted) return tl::unexpected(deleted.error());
    if (*deleted == 0) return fail(StoreErrc::not_found, "no such client");
    return record_change(c, "client", id, now);
  });
}

StoreResult<ClientRecord> PgStore::set_client_secret(const std::string& id, const std::string& secret_digest,
                                                     std::int64_t now) {
  return in_feed_transaction(*pool_, [&](Connection& c) -> StoreResult<ClientRecord> {
    auto rows = c.query("UPDATE oauth_clients SET secret_digest = $1, updated_at = $2 "
                        "WHERE id = $3 AND type = 'confidential' RETURNING " + kClientColumns,
                        Params().text(secret_digest).integer(now).text(id));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) {
      auto client = find_client_on(c, id);
      if (!client) return tl::unexpected(client.error());
      if (!*client) return fail(StoreErrc::not_found, "no such client");
      return fail(StoreErrc::precondition_failed, "a public client has no secret");
    }
    if (auto noted = record_change(c, "client", id, now); !noted) return tl::unexpected(noted.error());
    return read_client(rows->row(0));
  });
}

StoreResult<void> PgStore::create_auth_code(const AuthCodeRecord& k) {
  return with_connection(*pool_, [&](Connection& c) {
    return c.execute(
        "INSERT INTO oauth_codes (digest, client_id, user_id, redirect_uri, code_challenge, scope, nonce, auth_time, "
        "created_at, expires_at, redeemed_at, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL)",
        Params()
            .text(k.digest)
            .text(k.client_id)
            .text(k.user_id)
            .text(k.redirect_uri)
            .text(k.code_challenge)
            .text(k.scope)
            .text(k.nonce)
            .integer(k.auth_time)
            .integer(k.created_at)
            .integer(k.expires_at));
  });
}

StoreResult<RedeemResult> PgStore::redeem_auth_code(const std::string& digest, std::int64_t now,
                                                    const std::string& session_id, const std::string& client_id) {
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<RedeemResult> {
    // FOR UPDATE: concurrent redemptions queue here, and each sees the code as the one before
    // it left it, so exactly one finds it unspent.
    auto rows = c.query(
        "SELECT digest, client_id, user_id, redirect_uri, code_challenge, scope, nonce, auth_time, created_at, "
        "expires_at, redeemed_at IS NOT NULL, session_id FROM oauth_codes WHERE digest = $1 FOR UPDATE",
        Params().text(digest));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return RedeemResult{};
    const Row r = rows->row(0);
    RedeemResult out;
    out.code = AuthCodeRecord{.digest = r.text(0), .client_id = r.text(1), .user_id = r.text(2),
                              .redirect_uri = r.text(3), .code_challenge = r.text(4), .scope = r.text(5),
                              .nonce = r.text(6), .auth_time = r.integer(7), .created_at = r.integer(8),
                              .expires_at = r.integer(9)};
    if (out.code.client_id != client_id) return RedeemResult{};
    if (r.boolean(10)) {
      out.outcome = RedeemOutcome::replayed;
      out.session_id = r.text(11);
      return out;
    }
    if (out.code.expires_at <= now) return RedeemResult{};
    auto spent = c.execute_count(
        "UPDATE oauth_codes SET redeemed_at = $1, session_id = $2 WHERE digest = $3 AND redeemed_at IS NULL",
        Params().integer(now).text(session_id).text(digest));
    if (!spent) return tl::unexpected(spent.error());
    if (*spent != 1) return fail(StoreErrc::conflict, "the code was redeemed concurrently");
    out.outcome = RedeemOutcome::redeemed;
    out.session_id = session_id;
    return out;
  });
}

StoreResult<std::vector<std::string>> PgStore::find_grant(const std::string& user_id, const std::string& client_id) {
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<std::string>> {
    auto rows = c.query("SELECT scopes FROM oauth_grants WHERE user_id = $1 AND client_id = $2",
                        Params().text(user_id).text(client_id));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::vector<std::string>{};
    return split_words(rows->row(0).text(0));
  });
}

StoreResult<void> PgStore::save_grant(const std::string& user_id, const std::string& client_id,
                                      const std::vector<std::string>& scopes, std::int64_t now) {
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    // As in add_login_failure: create the row if missing, lock it and read it, so two consents
    // given at once both add their scopes.
    auto rows = c.query(
        "INSERT INTO oauth_grants (user_id, client_id, scopes, granted_at) VALUES ($1, $2, '', $3) "
        "ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = oauth_grants.scopes RETURNING scopes",
        Params().text(user_id).text(client_id).integer(now));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<std::string> all = split_words(rows->row(0).text(0));
    for (const auto& scope : scopes)
      if (std::find(all.begin(), all.end(), scope) == all.end()) all.push_back(scope);
    return c.execute("UPDATE oauth_grants SET scopes = $3, granted_at = $4 WHERE user_id = $1 AND client_id = $2",
                     Params().text(user_id).text(client_id).text(join_words(all)).integer(now));
  });
}

// ---- federation ----
StoreResult<void> PgStore::create_upstream_flow(const UpstreamFlowRecord& f) {
  return with_connection(*pool_, [&](Connection& c) {
    return c.execute(
        "INSERT INTO upstream_flows (digest, upstream, return_to, link_user_id, fresh_login, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        Params()
            .text(f.digest)
            .text(f.upstream)
            .text(f.return_to)
            .text_or_null_if_empty(f.link_user_id)
            .boolean(f.fresh_login)
            .integer(f.created_at)
            .integer(f.expires_at));
  });
}

StoreResult<std::optional<UpstreamFlowRecord>> PgStore::take_upstream_flow(const std::string& digest,
                                                                           std::int64_t now) {
  if (!storable(digest)) return std::optional<UpstreamFlowRecord>{};
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::optional<UpstreamFlowRecord>> {
    auto rows = c.query(
        "DELETE FROM upstream_flows WHERE digest = $1 "
        "RETURNING upstream, return_to, link_user_id, fresh_login, created_at, expires_at",
        Params().text(digest));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<UpstreamFlowRecord>{};
    const Row r = rows->row(0);
    UpstreamFlowRecord f{.digest = digest, .upstream = r.text(0), .return_to = r.text(1),
                         .link_user_id = r.optional_text(2).value_or(""), .fresh_login = r.boolean(3),
                         .created_at = r.integer(4), .expires_at = r.integer(5)};
    if (f.expires_at <= now) return std::optional<UpstreamFlowRecord>{};
    return std::optional<UpstreamFlowRecord>(std::move(f));
  });
}

StoreResult<std::optional<UpstreamLinkRecord>> PgStore::find_upstream_link(const std::string& upstream,
                                                                           const std::string& subject) {
  if (!storable(upstream) || !storable(subject)) return std::optional<UpstreamLinkRecord>{};
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::optional<UpstreamLinkRecord>> {
    auto rows = c.query(
        "SELECT upstream, subject, user_id, created_at FROM upstream_links WHERE upstream = $1 AND subject = $2",
        Params().text(upstream).text(subject));
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<UpstreamLinkRecord>{};
    return std::optional<UpstreamLinkRecord>(read_link(rows->row(0)));
  });
}

StoreResult<void> PgStore::create_upstream_link(const UpstreamLinkRecord& link) {
  return with_connection(*pool_, [&](Connection& c) { return insert_link_on(c, link); });
}

StoreResult<int> PgStore::delete_upstream_links(const std::string& user_id, const std::string& upstream) {
  if (!storable(user_id) || !storable(upstream)) return 0;
  return with_connection(*pool_, [&](Connection& c) {
    return c.execute_count("DELETE FROM upstream_links WHERE user_id = $1 AND upstream = $2",
                           Params().text(user_id).text(upstream));
  });
}

StoreResult<void> PgStore::create_linked_user(const UserRecord& user, const UpstreamLinkRecord& link) {
  return in_transaction(*pool_, [&](Connection& c) -> StoreResult<void> {
    if (auto made = insert_user_on(c, user); !made) return made;
    return insert_link_on(c, link);
  });
}

StoreResult<std::vector<UpstreamLinkRecord>> PgStore::list_upstream_links(const std::string& user_id) {
  if (!storable(user_id)) return std::vector<UpstreamLinkRecord>{};
  return with_connection(*pool_, [&](Connection& c) -> StoreResult<std::vector<UpstreamLinkRecord>> {
    auto rows = c.query(
        "SELECT upstream, subject, user_id, created_at FROM upstream_links WHERE user_id = $1 "
        "ORDER BY upstream COLLATE \"C\", subject COLLATE \"C\"",
        Params().text(user_id));
    if (!rows) return tl::unexpected(rows.error());
    std::vector<UpstreamLinkRecord> out;
    for (int i = 0; i < rows->size(); ++i) out.push_back(read_link(rows->row(i)));
    return out;
  });
}

StoreResult<std::unique_ptr<Store>> open(const std::string& url, const StoreOptions& options) {
  if (std::string why; !load_libpq(&why)) return fail(StoreErrc::unavailable, "postgres: " + why);
  // libpq's parse error may quote the part of the URL it rejects, which can be the password.
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &error);
  PQfreemem(error);
  if (!parsed) return fail(StoreErrc::unavailable, "postgres: the storage URL is not a valid libpq connection URI");
  PQconninfoFree(parsed);
  return std::unique_ptr<Store>(
      std::make_unique<PgStore>(url, options.pool_size, PgStore::kDefaultAcquireTimeout, options.password));
}

}  // namespace gatehouse::store::postgres
