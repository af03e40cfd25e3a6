"""Crash safety (issue 10, step 4): `kill -9` at random moments of a write-heavy run.

One data directory (the embedded SQLite store, `<data-dir>/gatehouse.db`, WAL mode) lives
through CYCLES rounds of: start the server, run concurrent writers, SIGKILL the process after
a random delay, inspect the store file, start again, verify. The writers, each on its own
connection (its own requests.Session):

- users:   the admin creates users (`POST /api/users`, some with an e-mail);
- keys:    a plain user creates API keys (`POST /api/keys`, some scoped, some expiring);
- refresh: REFRESH_THREADS threads rotate refresh tokens (`POST /auth/refresh`), each
           round-robin over FAMILIES_PER_THREAD independent login sessions ("families").

Each writer pauses a random 0..PAUSE_MAX s between requests (see PAUSE_MAX for why); every
other kill is aimed at a request (it follows the start of one writer's request by 0..3 ms),
the others come at a purely random moment.

A write is *acknowledged* only when its complete 2xx response was read. A request that could
not even connect (the server was already dead) was *never sent* and certainly not committed.
Any other request without a complete response is *in flight*: it may or may not have been
committed. Any complete non-2xx response is a failure whether or not the kill had happened
(SIGKILL gives the server no chance to answer anything but what it had already committed).

After every kill, before the restart, the store file is opened read-only with Python's
sqlite3 (which replays the WAL the dead process left, as the server will): `PRAGMA
integrity_check` is "ok", `PRAGMA foreign_key_check` has no rows, and every acknowledged user
and key row is in it. After the restart:

- every acknowledged user is listed by `GET /api/users` (all pages) with exactly the fields
  its 201 returned, and this cycle's ones also by `GET /api/users/{id}`; the newest one logs in
  with its password;
- every acknowledged key is listed by `GET /api/keys` with its creation fields, and this
  cycle's (plus a sample of older ones) authenticate as their owner via `X-API-Key`;
- nothing half-written is visible: every listed user / key has every documented field in
  its documented shape; the listings hold exactly the rows the store file held (nothing
  appears or vanishes at restart), and the only rows nobody acknowledged are those of
  in-flight requests, which must then be complete (an in-flight user that exists logs in
  with the password that was sent);
- refresh rotation, see `check_families` for the precise property.

The seed of the kill delays is printed (and shown in every failure message);
GATEHOUSE_CRASH_SEED=<n> replays the same delays (the interleavings differ, of course).
GATEHOUSE_CRASH_CYCLES=<n> changes the number of cycles (default 20).
Runtime: about 25 s on 2 cores (fast argon2id as everywhere in the e2e suite); the -s output
ends with per-cycle counts of acknowledged writes and of what was in flight at each kill.
"""
from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import threading
import time

import requests
import urllib3

import support
from support import (ID_RE, JWT_RE, REFRESH_RE, TIME_RE, assert_error, bearer, free_port, new_password,
                     unique_name)

CYCLES = int(os.environ.get("GATEHOUSE_CRASH_CYCLES", "20"))
REFRESH_THREADS = 1
FAMILIES_PER_THREAD = 3
KILL_DELAY = (0.2, 1.2)
# Each writer pauses a random 0..PAUSE_MAX s between requests. Unpaced, the writers acknowledge
# ~400 writes a cycle, ~12,000 registered secrets in all, which the session-end secret scan
# (every secret against every log and data file of the session) pays for many times over.
PAUSE_MAX = 0.025
AIM_WINDOW = 0.003
OLD_KEYS_SAMPLE = 20
TIMEOUT = 10

USER_FIELDS = {"id", "username", "email", "roles", "disabled", "created_at", "updated_at"}
KEY_CREATED_FIELDS = {"id", "name", "key", "prefix", "scopes", "created_at", "expires_at", "rate_limit"}
KEY_LISTED_FIELDS = {"id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at",
                     "revoked_at", "rate_limit"}
KEY_RE = re.compile(r"^gk_[0-9A-Za-z]{43}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
ERROR_LOG_RE = re.compile(r'"level":"(error|err|critical)"')


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------

class Unexpected(Exception):
    """A complete response other than the documented success."""


def never_sent(e: requests.RequestException) -> bool:
    """True when the request failed to connect (the server was already dead): no byte of it
    reached the server, so it is certainly not committed. Anything else after the connection
    was made (a reset, a response cut short) leaves the request in flight."""
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return isinstance(e, requests.ConnectionError) and isinstance(reason, urllib3.exceptions.NewConnectionError)


class Writer(threading.Thread):
    """Loops `step()` until a request fails at the transport level (the kill). A transport
    failure before the kill, or any complete non-2xx answer, is recorded as `error`.
    `ended_by` is "never sent" when the last request could not connect, otherwise "in flight"."""

    def __init__(self, name: str, base_url: str, killed: threading.Event, rng: random.Random):
        super().__init__(name=name, daemon=True)
        self.rng = rng
        self.base_url = base_url
        self.killed = killed
        self.s = requests.Session()
        self.error: str | None = None
        self.acked = 0
        self.ended_by: str | None = None
        self.request_started = threading.Event()   # the test aims some kills with it

    def post(self, path: str, **kw) -> requests.Response:
        self.request_started.set()
        # requests does not retry (max_retries=0): a request is sent at most once.
        return self.s.post(self.base_url + path, timeout=TIMEOUT, **kw)

    def run(self):
        try:
            while True:
                self.step()
                time.sleep(self.rng.uniform(0, PAUSE_MAX))
        except requests.RequestException as e:
            self.ended_by = "never sent" if never_sent(e) else "in flight"
            if self.ended_by == "never sent":
                self.not_in_flight()
            if not self.killed.is_set():
                self.error = f"{self.name}: {e!r} before the server was killed"
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = f"{self.name}: {type(e).__name__}: {e}"
        finally:
            self.s.close()

    def step(self):
        raise NotImplementedError

    def not_in_flight(self):
        """The last request never reached the server: forget it."""
        raise NotImplementedError


def expect(r: requests.Response, status: int, what: str) -> dict:
    if r.status_code != status:
        raise Unexpected(f"{what}: {r.status_code} {r.text[:300]}")
    try:
        return r.json()
    except ValueError:
        raise Unexpected(f"{what}: {status} with a body that is not JSON: {r.text[:300]!r}")


class UserWriter(Writer):
    def __init__(self, base_url, killed, rng, admin_token: str):
        super().__init__("users", base_url, killed, rng)
        self.admin_token = admin_token
        self.created: list[dict] = []       # acknowledged: the 201 body plus "password"
        self.pending: dict | None = None    # the body of the request in flight, if any

    def step(self):
        username = unique_name("crash")
        body = {"username": username, "password": new_password("crash")}
        if len(self.created) % 2:
            body["email"] = f"{username}@example.test"
        self.pending = body
        user = expect(self.post("/api/users", json=body, headers=bearer(self.admin_token)), 201, "POST /api/users")
        user["password"] = body["password"]
        self.created.append(user)
        self.pending = None
        self.acked += 1

    def not_in_flight(self):
        self.pending = None


class KeyWriter(Writer):
    def __init__(self, base_url, killed, rng, owner_token: str, cycle: int):
        super().__init__("keys", base_url, killed, rng)
        self.owner_token = owner_token
        self.cycle = cycle
        self.created: list[dict] = []       # acknowledged: the 201 body (with the key itself)
        self.pending: str | None = None     # the name of the key in flight, if any

    def step(self):
        n = len(self.created)
        body = {"name": f"crash-c{self.cycle}-k{n}"}
        if n % 2:
            body["scopes"] = ["profile:read", "keys:read"]
        if n % 3 == 1:
            body["expires_in"] = 30 * 86400
        self.pending = body["name"]
        key = expect(self.post("/api/keys", json=body, headers=bearer(self.owner_token)), 201, "POST /api/keys")
        self.created.append(key)
        self.pending = None
        self.acked += 1

    def not_in_flight(self):
        self.pending = None


class Family:
    """One login session of a refresh user: its newest acknowledged tokens, and whether a
    refresh with `refresh` was sent and never answered (`in_flight`)."""

    def __init__(self, user: dict, login_body: dict):
        self.user = user
        self.refresh = login_body["refresh_token"]
        self.access = login_body["access_token"]
        self.in_flight = False
        self.rotations = 0


class RefreshWriter(Writer):
    def __init__(self, name, base_url, killed, rng, families: list[Family]):
        super().__init__(name, base_url, killed, rng)
        self.families = families
        self.i = 0
        self.current: Family | None = None

    def step(self):
        f = self.current = self.families[self.i % len(self.families)]
        self.i += 1
        f.in_flight = True   # set before the request leaves: from now on R may be spent
        body = expect(self.post("/auth/refresh", json={"refresh_token": f.refresh}), 200, "POST /auth/refresh")
        if not (REFRESH_RE.match(body.get("refresh_token", "")) and body.get("access_token")):
            raise Unexpected(f"POST /auth/refresh: 200 without tokens: {sorted(body)}")
        f.refresh, f.access = body["refresh_token"], body["access_token"]
        f.in_flight = False
        f.rotations += 1
        self.acked += 1

    def not_in_flight(self):
        if self.current is not None:
            self.current.in_flight = False


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------

def inspect_store(db, owner_id: str, ctx: str) -> dict:
    """The store file as the killed (or stopped) process left it, opened read-only."""
    assert db.is_file(), f"{ctx} no store file at {db}"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        integrity = [row[0] for row in con.execute("PRAGMA integrity_check")]
        assert integrity == ["ok"], f"{ctx} PRAGMA integrity_check: {integrity[:20]}"
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        assert fk == [], f"{ctx} PRAGMA foreign_key_check: {fk[:20]}"
        users = {row[0] for row in con.execute("SELECT id FROM users")}
        keys = {row[0] for row in con.execute("SELECT id FROM api_keys WHERE user_id = ?", (owner_id,))}
        # Rows the API would not show: a refresh token or session that lost its parent would
        # be caught by foreign_key_check; a half-filled token row by NOT NULL; check the
        # columns that matter for a rotation anyway.
        bad_tokens = con.execute(
            "SELECT COUNT(*) FROM refresh_tokens WHERE digest IS NULL OR digest = '' OR session_id IS NULL "
            "OR expires_at IS NULL").fetchone()[0]
        assert bad_tokens == 0, f"{ctx} {bad_tokens} incomplete refresh_tokens rows"
        wal = db.with_name(db.name + "-wal")
        return {"users": users, "keys": keys, "wal_bytes": wal.stat().st_size if wal.exists() else 0}
    finally:
        con.close()


def check_log(srv, ctx: str) -> None:
    """The run's stderr (JSON log lines and audit lines) has no error-level line: the server
    logs failures (of the store, say) at that level, and none is expected here."""
    bad = [line for line in srv.stderr_text().splitlines() if ERROR_LOG_RE.search(line)]
    assert not bad, f"{ctx} error lines in {srv.stderr_path.name}:\n" + "\n".join(bad[:10])


def check_user_shape(u: dict, ctx: str) -> None:
    assert isinstance(u, dict) and set(u) == USER_FIELDS, f"{ctx} user with fields {sorted(u)}: {u}"
    assert ID_RE.match(u["id"]), f"{ctx} user id {u['id']!r}"
    assert isinstance(u["username"], str) and USERNAME_RE.match(u["username"]), f"{ctx} {u}"
    assert u["email"] is None or (isinstance(u["email"], str) and "@" in u["email"]), f"{ctx} {u}"
    assert isinstance(u["roles"], list) and u["roles"] and set(u["roles"]) <= {"admin", "user"}, f"{ctx} {u}"
    assert isinstance(u["disabled"], bool), f"{ctx} {u}"
    assert TIME_RE.match(u["created_at"]) and TIME_RE.match(u["updated_at"]), f"{ctx} {u}"


def check_listed_key_shape(k: dict, ctx: str) -> None:
    assert isinstance(k, dict) and set(k) == KEY_LISTED_FIELDS, f"{ctx} key with fields {sorted(k)}: {k}"
    assert ID_RE.match(k["id"]), f"{ctx} {k}"
    assert isinstance(k["name"], str) and k["name"], f"{ctx} {k}"
    assert isinstance(k["prefix"], str) and re.match(r"^gk_[0-9A-Za-z]{4}$", k["prefix"]), f"{ctx} {k}"
    assert isinstance(k["scopes"], list) and all(isinstance(s, str) for s in k["scopes"]), f"{ctx} {k}"
    assert TIME_RE.match(k["created_at"]), f"{ctx} {k}"
    assert k["expires_at"] is None or TIME_RE.match(k["expires_at"]), f"{ctx} {k}"
    assert k["last_used_at"] is None or TIME_RE.match(k["last_used_at"]), f"{ctx} {k}"
    assert k["revoked_at"] is None, f"{ctx} nothing revokes keys here: {k}"


def list_all_users(api, ctx: str) -> list[dict]:
    users, params = [], {"limit": 200}
    for _ in range(1000):
        r = api.get("/api/users", params=params, headers=api.auth_headers())
        assert r.status_code == 200, f"{ctx} GET /api/users: {r.status_code} {r.text[:300]}"
        body = r.json()
        assert set(body) == {"users", "next_cursor"}, f"{ctx} {sorted(body)}"
        users.extend(body["users"])
        if not body["next_cursor"]:
            return users
        params["cursor"] = body["next_cursor"]
    raise AssertionError(f"{ctx} user pagination did not end")


def login(api, user: dict, ctx: str) -> dict:
    r = api.login(user["username"], user["password"])
    assert r.status_code == 200, f"{ctx} login {user['username']}: {r.status_code} {r.text[:300]}"
    return r.json()


def check_families(api, families: list[Family], stats: dict, ctx: str) -> None:
    """The refresh property, per family, after a restart.

    A family's `refresh` is the newest refresh token whose rotation was acknowledged (the 200
    carrying it was read completely). `in_flight` says whether a refresh presenting it was
    sent and never answered (a request that could not even connect, the server being dead
    already, does not count: no byte of it reached the server).

    - Not in flight: nobody ever presented `refresh`, and the rotation that produced it was
      committed before its 200 left (else a crash could lose an acknowledged write). So it is
      unspent and unrevoked in the store and MUST refresh (200); its access token, issued by
      the same acknowledged rotation, MUST work too. A 401 here means an acknowledged
      rotation was lost, or a committed one was half-applied.
    - In flight: the server may have committed that rotation before dying (the response was
      lost), so `refresh` may now be spent; presenting it again is then a reuse, which by
      SPEC §4 revokes the family and answers 401 invalid_grant. Or the request never got
      committed, and it refreshes. Both outcomes are correct; anything else is not. A dead
      family is replaced by a fresh login.

    Each writer thread rotates its families round-robin, one request at a time, so at any kill
    at most one family per thread is in flight and the others give the strict check.
    """
    for i, f in enumerate(families):
        if not f.in_flight:
            r = api.get("/users/me", headers=bearer(f.access))
            assert r.status_code == 200 and r.json()["id"] == f.user["id"], (
                f"{ctx} the access token of an acknowledged refresh: {r.status_code} {r.text[:300]}")
        r = api.refresh(f.refresh)
        if r.status_code == 200:
            body = r.json()
            assert REFRESH_RE.match(body["refresh_token"]) and JWT_RE.match(body["access_token"]), f"{ctx} {body}"
            f.refresh, f.access = body["refresh_token"], body["access_token"]
            stats["in_flight_refreshed" if f.in_flight else "strict_refreshed"] += 1
            f.in_flight = False
            continue
        assert f.in_flight, (
            f"{ctx} the newest acknowledged refresh token of a family with no refresh in flight was "
            f"refused after the restart (an acknowledged rotation was lost?): {r.status_code} {r.text[:300]}")
        assert_error(r, 401, "invalid_grant")
        stats["in_flight_reuse"] += 1
        families[i] = Family(f.user, login(api, f.user, ctx))


# ---------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------


def index_listing(items: list, check_shape, store_ids: set, what: str, ctx: str) -> dict:
    """The listed items by id, each whole (check_shape), none twice, and exactly the ids the
    store file held (nothing appears or vanishes at restart)."""
    by_id = {}
    for item in items:
        check_shape(item, ctx)
        assert item["id"] not in by_id, f"{ctx} {what}: {item['id']} listed twice"
        by_id[item["id"]] = item
    assert set(by_id) == store_ids, (
        f"{ctx} the restarted server lists other {what} than the store file held: "
        f"extra {sorted(set(by_id) - store_ids)}, missing {sorted(store_ids - set(by_id))}")
    return by_id

def test_kill_9_during_writes(start_server):
    seed = int(os.environ.get("GATEHOUSE_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    print(f"\ncrash safety: seed {seed}, {CYCLES} cycles (GATEHOUSE_CRASH_SEED={seed} replays the delays)")
    t_start = time.monotonic()
    secrets_before = len(support.SECRETS)

    # A fixed port: the default issuer is http://<listen>, and the access tokens acknowledged
    # before a kill are checked after the restart (a real deployment restarts on its port too).
    srv = start_server(listen=f"127.0.0.1:{free_port()}")
    db = srv.data_dir / "gatehouse.db"
    admin = srv.admin()
    key_owner = admin.create_user(username=unique_name("keyowner"))
    rotors = [admin.create_user(username=unique_name("rotor")) for _ in range(REFRESH_THREADS)]
    setup_user_ids = {u["id"] for u in [key_owner, *rotors]} | {
        u["id"] for u in list_all_users(admin, "[setup]")}
    families = [[Family(u, login(admin, u, "[setup]")) for _ in range(FAMILIES_PER_THREAD)] for u in rotors]

    acked_users: dict[str, dict] = {}           # id -> 201 body + password
    attempted_users: dict[str, dict] = {}       # username -> request body, in flight at a kill
    acked_keys: dict[str, dict] = {}            # id -> 201 body (with the key)
    attempted_key_names: set[str] = set()
    stats = {"strict_refreshed": 0, "in_flight_refreshed": 0, "in_flight_reuse": 0,
             "in_flight_user_present": 0, "in_flight_user_absent": 0,
             "in_flight_key_present": 0, "in_flight_key_absent": 0}
    per_cycle = []

    for cycle in range(1, CYCLES + 1):
        ctx = f"[seed {seed}, cycle {cycle}]"
        # -- write until killed ------------------------------------------------------------
        admin = srv.admin()
        owner_token = login(admin, key_owner, ctx)["access_token"]
        killed = threading.Event()
        users_w = UserWriter(srv.base_url, killed, random.Random(rng.random()), admin.token)
        keys_w = KeyWriter(srv.base_url, killed, random.Random(rng.random()), owner_token, cycle)
        refresh_ws = [RefreshWriter(f"refresh{j}", srv.base_url, killed, random.Random(rng.random()), fams)
                      for j, fams in enumerate(families)]
        writers = [users_w, keys_w, *refresh_ws]
        delay = rng.uniform(*KILL_DELAY)
        for w in writers:
            w.start()
        time.sleep(delay)
        # Every other kill is aimed: it follows the start of one writer's next request by a
        # random 0..AIM_WINDOW s, which lands it somewhere in that request's parsing, hashing,
        # transaction or answer. (An unaimed moment mostly finds the writers between requests,
        # or a password being hashed, and rarely a commit.)
        aimed = rng.choice(writers) if cycle % 2 == 0 else None
        if aimed is not None:
            aimed.request_started.clear()
            aimed.request_started.wait(2)
            time.sleep(rng.uniform(0, AIM_WINDOW))
        assert srv.running(), f"{ctx} the server died before the kill:\n{srv.stderr_tail()}"
        killed.set()
        srv.send_signal(signal.SIGKILL)
        rc = srv.wait(10)   # sets returncode: an expected exit for the fixture and start()
        assert rc == -signal.SIGKILL, f"{ctx} exit status {rc} instead of SIGKILL"
        for w in writers:
            w.join(TIMEOUT + 5)
            assert not w.is_alive(), f"{ctx} writer {w.name} still running after the kill"
        errors = [w.error for w in writers if w.error]
        assert not errors, f"{ctx} writer failures:\n" + "\n".join(errors)

        for u in users_w.created:
            acked_users[u["id"]] = u
        if users_w.pending:
            attempted_users[users_w.pending["username"]] = users_w.pending
        for k in keys_w.created:
            assert set(k) == KEY_CREATED_FIELDS and KEY_RE.match(k["key"]), f"{ctx} {sorted(k)}"
            acked_keys[k["id"]] = k
        if keys_w.pending:
            attempted_key_names.add(keys_w.pending)
        per_cycle.append({"delay": delay, "users": users_w.acked, "keys": keys_w.acked,
                          "refreshes": sum(w.acked for w in refresh_ws),
                          "aimed": aimed.name if aimed else "-",
                          "in_flight": ",".join(w.name for w in writers if w.ended_by == "in flight") or "-"})

        check_log(srv, ctx)

        # -- the store file as the dead process left it ------------------------------------
        store = inspect_store(db, key_owner["id"], ctx)
        missing = set(acked_users) - store["users"]
        assert not missing, f"{ctx} acknowledged users missing from the store file: {sorted(missing)}"
        missing = set(acked_keys) - store["keys"]
        assert not missing, f"{ctx} acknowledged API keys missing from the store file: {sorted(missing)}"
        per_cycle[-1]["wal_bytes"] = store["wal_bytes"]

        # -- restart and verify through the API --------------------------------------------
        srv.start()
        admin = srv.admin()

        listed = list_all_users(admin, ctx)
        by_id = index_listing(listed, check_user_shape, store["users"], "users", ctx)
        for uid, u in acked_users.items():
            want = {k: v for k, v in u.items() if k != "password"}
            assert by_id.get(uid) == want, f"{ctx} acknowledged user {uid}: created as {want}, now {by_id.get(uid)}"
        for u in users_w.created:
            r = admin.get(f"/api/users/{u['id']}", headers=admin.auth_headers())
            assert r.status_code == 200, f"{ctx} GET /api/users/{u['id']}: {r.status_code} {r.text[:300]}"
            assert r.json() == {k: v for k, v in u.items() if k != "password"}, f"{ctx} {r.json()} vs {u}"
        if users_w.created:
            login(admin, users_w.created[-1], ctx)
        by_name = {u["username"]: u for u in listed}
        if users_w.pending:
            got = by_name.get(users_w.pending["username"])
            stats["in_flight_user_present" if got else "in_flight_user_absent"] += 1
        for uid in set(by_id) - set(acked_users) - setup_user_ids:
            u = by_id[uid]
            body = attempted_users.get(u["username"])
            assert body is not None, f"{ctx} a user nobody asked for appeared: {u}"
            # created by a request that was in flight at a kill: it must be whole
            assert u["email"] == body.get("email") and u["roles"] == ["user"], f"{ctx} {u} vs {body}"
            login(admin, {"username": body["username"], "password": body["password"]}, ctx)
            acked_users[uid] = {**u, "password": body["password"]}   # compared from now on

        owner = srv.api()
        owner.token = login(owner, key_owner, ctx)["access_token"]
        r = owner.get("/api/keys", headers=owner.auth_headers())
        assert r.status_code == 200, f"{ctx} GET /api/keys: {r.status_code} {r.text[:300]}"
        keys = r.json()["keys"]
        listed_keys = index_listing(keys, check_listed_key_shape, store["keys"], "keys", ctx)
        for kid, k in acked_keys.items():
            got = listed_keys.get(kid)
            want = {f: k[f] for f in ("id", "name", "prefix", "scopes", "created_at", "expires_at", "rate_limit")}
            assert got is not None and {f: got[f] for f in want} == want, (
                f"{ctx} acknowledged key {kid}: created as {want}, listed as {got}")
        if keys_w.pending:
            present = any(k["name"] == keys_w.pending for k in keys)
            stats["in_flight_key_present" if present else "in_flight_key_absent"] += 1
        for kid in set(listed_keys) - set(acked_keys):
            assert listed_keys[kid]["name"] in attempted_key_names, (
                f"{ctx} a key nobody asked for appeared: {listed_keys[kid]}")
        this_cycle = {k["id"] for k in keys_w.created}
        older = [k for k in acked_keys.values() if k["id"] not in this_cycle]
        sample = keys_w.created + rng.sample(older, min(OLD_KEYS_SAMPLE, len(older)))
        for k in sample:
            r = owner.get("/users/me", headers={"X-API-Key": k["key"]})
            assert r.status_code == 200, (
                f"{ctx} acknowledged key {k['id']} ({k['name']}) no longer authenticates: "
                f"{r.status_code} {r.text[:300]}")
            me = r.json()
            assert me["id"] == key_owner["id"] and me["auth"]["method"] == "api_key" and \
                me["auth"]["key_id"] == k["id"], f"{ctx} {me}"

        for fams in families:
            check_families(admin, fams, stats, ctx)

    # -- a clean stop at the end, and the store once more ----------------------------------
    srv.stop()
    check_log(srv, "[final]")
    store = inspect_store(db, key_owner["id"], "[final, after SIGTERM]")
    assert set(acked_users) <= store["users"] and set(acked_keys) <= store["keys"]

    n = len(per_cycle)
    avg = {k: sum(c[k] for c in per_cycle) / n for k in ("users", "keys", "refreshes", "delay")}
    print(f"crash safety: {n} kills in {time.monotonic() - t_start:.1f}s; acknowledged per cycle on average: "
          f"{avg['users']:.1f} users, {avg['keys']:.1f} keys, {avg['refreshes']:.1f} refreshes "
          f"(mean kill delay {avg['delay']:.2f}s); totals: {len(acked_users)} users, {len(acked_keys)} keys")
    print(f"crash safety: outcomes {stats}")
    files = [p for p in srv.workdir.rglob("*") if p.is_file()]
    print(f"crash safety: {len(support.SECRETS) - secrets_before} secrets registered, "
          f"{sum(p.stat().st_size for p in files)} bytes of logs and data for the secret scan")
    for i, c in enumerate(per_cycle, 1):
        print(f"  cycle {i:2}: delay {c['delay']:.2f}s users {c['users']:4} keys {c['keys']:4} "
              f"refreshes {c['refreshes']:4} wal {c['wal_bytes']:9} aimed at {c['aimed']:8} "
              f"in flight: {c['in_flight']}")
    # Not vacuous: the kills landed in runs that wrote all three kinds (a loaded machine may
    # starve a writer in a short run now and then).
    busy = [c for c in per_cycle if c["users"] and c["keys"] and c["refreshes"]]
    assert len(busy) >= (3 * len(per_cycle)) // 4, per_cycle
