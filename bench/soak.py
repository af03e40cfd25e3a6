#!/usr/bin/python3
"""bench/soak.py: the load driver and the report of bench/soak.sh (stdlib only).

  soak.py run BASE_URL SERVER_PID SECONDS RATE CSV SUMMARY_JSON
      Sets up users, sessions and API keys on the server at BASE_URL (admin password in
      $BENCH_PASSWORD), then sends SECONDS of mixed traffic at RATE requests/s in total (open
      loop: requests are scheduled at fixed times whatever the answers take), samples SERVER_PID's
      VmRSS, open fds (all, and those under $SOAK_STORE_DIR, the store's files) and threads
      every $SOAK_SAMPLE_SECONDS (default 10) into CSV with the running counts by status class,
      and writes the counts and samples to SUMMARY_JSON. Stops by itself: at most SECONDS + 15 s
      of load after the setup.
  soak.py report SUMMARY_JSON SERVER_EXIT ERROR_LINES
      Prints the report; exits 1 when a criterion fails, else 0.

The mix ($SOAK_MIX, weights, default below) is dealt by smooth weighted round-robin, so every
second carries the same proportions:
  login      POST /auth/login (argon2id: keep it a few per second; 2% of 200/s = 4/s)
  refresh    POST /auth/refresh, rotating: each session's chain is used by one request at a time
  check_jwt  GET /auth/check, Authorization: Bearer <a recent access token>
  check_key  GET /auth/check, X-API-Key (one long-lived key per user)
  key_create POST /api/keys (a short-lived "churn" key, as its owner)
  key_revoke DELETE /api/keys/{id} (the oldest churn key, as its owner)
Every request in the mix is valid, so anything but its 2xx answer counts against the run.
Other knobs: SOAK_USERS (8), SOAK_SESSIONS (32 live refresh chains), SOAK_WORKERS (16 threads,
each with its own keep-alive connection), SOAK_RECONNECT (a worker opens a new connection
after this many requests, default 200, so accept/close paths are exercised as well).
"""
import collections
import http.client
import json
import os
import queue
import random
import sys
import threading
import time
import urllib.parse

DEFAULT_MIX = "login=2,refresh=10,check_jwt=40,check_key=40,key_create=4,key_revoke=4"
OPS = ("login", "refresh", "check_jwt", "check_key", "key_create", "key_revoke")
CLASSES = ("2xx", "3xx", "4xx", "5xx", "err")
GRACE_SECONDS = 15  # after SECONDS, requests still queued or in flight get this long
GROWTH_LIMIT = 0.05
# The SQLite store's pool: kMaxConnections = 16 (src/store/sqlite/sqlite_store.cc), opened on
# demand and kept; each holds the db and its -wal, and all share one -shm.
STORE_FD_LIMIT = int(os.environ.get("SOAK_STORE_FD_LIMIT", 2 * 16 + 1))


def env_int(name, default):
    v = int(os.environ.get(name, default))
    if v <= 0:
        sys.exit(f"soak.py: {name} must be > 0")
    return v


def parse_mix(text):
    mix = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in OPS:
            sys.exit(f"soak.py: SOAK_MIX: unknown request type {name!r} (known: {', '.join(OPS)})")
        mix[name] = float(weight)
        if mix[name] < 0:
            sys.exit(f"soak.py: SOAK_MIX: negative weight for {name}")
    if not sum(mix.values()):
        sys.exit("soak.py: SOAK_MIX has no positive weight")
    return {op: mix.get(op, 0.0) for op in OPS}


def proc_sample(pid, store_prefix):
    """One sample of pid, from 60 reads 100 ms apart (6 s of the 10 s between samples): (VmRSS
    KiB, open fds, open fds on the store's files, threads).
    - RSS is the least of the reads: a login holds argon2id's memory (m = 19 MiB) on its hashing
      thread for 30-60 ms and frees it, so a single read can land 19 or 38 MiB high; a leak is
      in every read. On a busy machine a hash takes several times longer and logins overlap,
      so a second of reads was not always enough to find a moment between two of them.
    - The fd counts are the medians of the reads: a worker's connection in mid-reconnect is one
      fd more or less for a moment; a leaked fd is in all of them.
    - Store fds: those whose target lies under store_prefix (the data dir): the SQLite pool
      opens connections on demand (db and -wal each, one shared -shm), up to kMaxConnections."""
    rss, fds, store = [], [], []
    threads = None
    for i in range(60):
        if i:
            time.sleep(0.1)
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]))
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        names = os.listdir(f"/proc/{pid}/fd")
        n_store = 0
        if store_prefix:
            for n in names:
                try:
                    n_store += os.readlink(f"/proc/{pid}/fd/{n}").startswith(store_prefix)
                except OSError:
                    pass  # closed since listdir
        fds.append(len(names))
        store.append(n_store)
    return min(rss), sorted(fds)[len(fds) // 2], sorted(store)[len(store) // 2], threads


class Client:
    """One keep-alive HTTP/1.1 connection to the server (one per worker thread)."""

    def __init__(self, base, reconnect_every=0):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.reconnect_every = reconnect_every
        self.conn, self.used = None, 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn, self.used = None, 0

    def warm(self):
        """Opens the connection with one GET /healthz (not counted), so the first sample
        already sees every worker's connection."""
        self.request("GET", "/healthz")
        self.used = 0

    def request(self, method, path, body=None, headers=None):
        """(status, body bytes); status None on a socket error or timeout."""
        if self.conn is not None and self.reconnect_every and self.used >= self.reconnect_every:
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = {"User-Agent": "gatehouse-soak"}
        if headers:
            h.update(headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
            payload = r.read()
            self.used += 1
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status, payload
        except (OSError, http.client.HTTPException):
            self.close()
            return None, b""


def must(status, payload, want, what):
    if status != want:
        sys.exit(f"soak.py: setup: {what} gave {status} {payload[:300]!r}")
    return json.loads(payload) if payload else None


class State:
    """What the traffic works on: users, refresh chains, access tokens, API keys."""

    def __init__(self, sessions_target):
        self.lock = threading.Lock()
        self.users = []                      # (username, password)
        self.user_token = {}                 # username -> a recent access token of that user
        self.idle = collections.deque()      # sessions not being refreshed: [username, refresh]
        self.sessions_target = sessions_target
        self.tokens = []                     # ring of recent access tokens (for check_jwt)
        self.token_slot = 0
        self.steady_keys = []                # one long-lived API key per user
        self.churn = collections.deque()     # (key id, owner) of churn keys, oldest first
        self.next_user = 0
        self.keys_made = 0

    def got_tokens(self, username, access):
        with self.lock:
            self.user_token[username] = access
            if len(self.tokens) < self.sessions_target:
                self.tokens.append(access)
            else:
                self.tokens[self.token_slot] = access
                self.token_slot = (self.token_slot + 1) % self.sessions_target

    def add_session(self, username, refresh):
        with self.lock:
            self.idle.append([username, refresh])
            while len(self.idle) > self.sessions_target:
                self.idle.popleft()  # the least recently refreshed chain is abandoned (it expires)

    def pick_user(self):
        with self.lock:
            u = self.users[self.next_user % len(self.users)]
            self.next_user += 1
            return u


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {op: dict.fromkeys(CLASSES, 0) for op in OPS}
        self.latency = {op: [] for op in OPS}
        self.lateness = []
        self.skipped = collections.Counter()  # scheduled but nothing to act on (see the report)
        self.bad_body = collections.Counter()
        self.examples = {}                    # first unexpected answer of each (op, class)
        self.done = 0

    def record(self, op, status, want, seconds, late, payload):
        cls = "err" if status is None else f"{status // 100}xx"
        if status is not None and status != want and cls == "2xx":
            cls = "err"  # an unexpected 2xx (say 200 for 201) is a contract break, not a success
        with self.lock:
            self.counts[op][cls] += 1
            self.latency[op].append(seconds)
            self.lateness.append(late)
            self.done += 1
            if status != want:
                # An error body names what is wrong; a 2xx body may hold a token or key: not shown.
                two_xx = status is not None and 200 <= status < 300
                shown = "(a 2xx body, not shown)" if two_xx else payload[:200].decode(errors="replace")
                self.examples.setdefault(f"{op} {status}", shown)
        return status == want

    def skip(self, op):
        with self.lock:
            self.skipped[op] += 1

    def bad(self, op):
        with self.lock:
            self.bad_body[op] += 1

    def totals(self):
        with self.lock:
            t = dict.fromkeys(CLASSES, 0)
            for c in self.counts.values():
                for k, v in c.items():
                    t[k] += v
            return t, self.done


def setup(base, state, n_users, n_sessions):
    c = Client(base)
    admin_pw = os.environ["BENCH_PASSWORD"]
    st, p = c.request("POST", "/auth/login", {"username": "admin", "password": admin_pw})
    admin = must(st, p, 200, "admin login")["access_token"]
    auth = {"Authorization": "Bearer " + admin}
    for i in range(n_users):
        name, pw = f"soak{i}", os.urandom(12).hex()
        st, p = c.request("POST", "/api/users", {"username": name, "password": pw, "roles": ["user", "support"]}, auth)
        must(st, p, 201, f"creating user {name}")
        state.users.append((name, pw))
    for i in range(n_sessions):
        name, pw = state.users[i % n_users]
        st, p = c.request("POST", "/auth/login", {"username": name, "password": pw})
        j = must(st, p, 200, f"login of {name}")
        state.got_tokens(name, j["access_token"])
        state.add_session(name, j["refresh_token"])
    for name, _ in state.users:
        st, p = c.request("POST", "/api/keys", {"name": "soak-steady", "scopes": ["orders:read"]},
                          {"Authorization": "Bearer " + state.user_token[name]})
        state.steady_keys.append(must(st, p, 201, f"API key of {name}")["key"])
    for i in range(16):  # a stock of churn keys, so a revoke always finds one
        name = state.users[i % n_users][0]
        st, p = c.request("POST", "/api/keys", {"name": "soak-churn", "expires_in": 3600},
                          {"Authorization": "Bearer " + state.user_token[name]})
        state.churn.append((must(st, p, 201, "churn key")["id"], name))
    for hdr in ({"Authorization": "Bearer " + state.tokens[0]}, {"X-API-Key": state.steady_keys[0]}):
        hdr.update({"X-Original-Method": "GET", "X-Original-URI": "/api/orders/1"})
        st, p = c.request("GET", "/auth/check", None, hdr)
        must(st, p, 200, "GET /auth/check with " + next(iter(hdr)))
    c.close()


def do_op(op, client, state, stats, rng, late):
    """Runs one request of type op; records it (unless there was nothing to act on)."""
    t0 = time.monotonic()

    def rec(status, want, payload):
        return stats.record(op, status, want, time.monotonic() - t0, late, payload)

    if op == "login":
        name, pw = state.pick_user()
        st, p = client.request("POST", "/auth/login", {"username": name, "password": pw})
        if rec(st, 200, p):
            try:
                j = json.loads(p)
                state.got_tokens(name, j["access_token"])
                state.add_session(name, j["refresh_token"])
            except (ValueError, KeyError):
                stats.bad(op)
    elif op == "refresh":
        with state.lock:
            sess = state.idle.popleft() if state.idle else None
        if sess is None:
            stats.skip(op)
            return
        st, p = client.request("POST", "/auth/refresh", {"refresh_token": sess[1]})
        if rec(st, 200, p):
            try:
                j = json.loads(p)
                sess[1] = j["refresh_token"]
                state.got_tokens(sess[0], j["access_token"])
                with state.lock:
                    state.idle.append(sess)
            except (ValueError, KeyError):
                stats.bad(op)
        # on failure the chain is dropped (its token may be spent); logins bring new ones
    elif op in ("check_jwt", "check_key"):
        with state.lock:
            if op == "check_jwt":
                hdr = {"Authorization": "Bearer " + rng.choice(state.tokens)}
            else:
                hdr = {"X-API-Key": rng.choice(state.steady_keys)}
        hdr.update({"X-Original-Method": "GET", "X-Original-URI": f"/api/orders/{rng.randrange(1, 100000)}"})
        st, p = client.request("GET", "/auth/check", None, hdr)
        rec(st, 200, p)
    elif op == "key_create":
        with state.lock:
            name = state.users[rng.randrange(len(state.users))][0]
            token = state.user_token[name]
            state.keys_made += 1
        st, p = client.request("POST", "/api/keys", {"name": "soak-churn", "expires_in": 3600},
                               {"Authorization": "Bearer " + token})
        if rec(st, 201, p):
            try:
                kid = json.loads(p)["id"]
                with state.lock:
                    state.churn.append((kid, name))
            except (ValueError, KeyError):
                stats.bad(op)
    elif op == "key_revoke":
        with state.lock:
            item = state.churn.popleft() if state.churn else None
            token = state.user_token[item[1]] if item else None
        if item is None:
            stats.skip(op)
            return
        st, p = client.request("DELETE", f"/api/keys/{urllib.parse.quote(str(item[0]), safe='')}", None,
                               {"Authorization": "Bearer " + token})
        rec(st, 204, p)


def run(base, pid, seconds, rate, csv_path, summary_path):
    mix = parse_mix(os.environ.get("SOAK_MIX", DEFAULT_MIX))
    n_users = env_int("SOAK_USERS", 8)
    n_sessions = env_int("SOAK_SESSIONS", 32)
    n_workers = env_int("SOAK_WORKERS", 16)
    reconnect = int(os.environ.get("SOAK_RECONNECT", 200))
    sample_every = env_int("SOAK_SAMPLE_SECONDS", 10)
    store_dir = os.environ.get("SOAK_STORE_DIR", "")
    store_prefix = os.path.realpath(store_dir) + "/" if store_dir else ""
    state, stats = State(n_sessions), Stats()

    t_setup = time.monotonic()
    setup(base, state, n_users, n_sessions)
    setup_s = time.monotonic() - t_setup

    work = queue.Queue()
    stop_at = [None]
    scheduled = collections.Counter()

    ready = threading.Barrier(n_workers + 1)
    sample_done = threading.Event()

    def worker(seed):
        rng = random.Random(seed)
        client = Client(base, reconnect)
        client.warm()
        ready.wait()
        while True:
            item = work.get()
            if item is None:
                break
            due, op = item
            now = time.monotonic()
            if now > stop_at[0]:
                continue  # past the grace period: drain without sending (reported as not sent)
            do_op(op, client, state, stats, rng, now - due)
        # Connections stay open until the last sample, which then counts the same fds as the others.
        sample_done.wait(timeout=max(1.0, stop_at[0] + 10 - time.monotonic()))
        client.close()

    total_w = sum(mix.values())
    current = dict.fromkeys(OPS, 0.0)

    def next_op():  # smooth weighted round-robin (as nginx's upstream balancer)
        for op in OPS:
            current[op] += mix[op]
        best = max(OPS, key=lambda o: current[o])
        current[best] -= total_w
        return best

    samples = []

    def sampler():
        with open(csv_path, "w") as f:
            f.write("t_s,rss_kib,fds,fds_store,threads,requests_done,interval_rps,"
                    "status_2xx,status_3xx,status_4xx,status_5xx,socket_errors\n")
            f.flush()
            k, last_done, last_t = 0, 0, t0
            while True:
                target = t0 + k * sample_every
                if target > end + 1e-6:
                    target = end  # the last sample lands on the end of the run
                time.sleep(max(0.0, target - time.monotonic()))
                try:
                    rss, fds, fds_store, threads = proc_sample(pid, store_prefix)
                except (OSError, ValueError):
                    rss = fds = fds_store = threads = None
                now = time.monotonic()  # after the sample's 6 s of reads, with the counts
                tot, done = stats.totals()
                rps = (done - last_done) / (now - last_t) if now > last_t else 0.0
                last_done, last_t = done, now
                t_s = round(target - t0)
                other = None if fds is None else fds - fds_store
                samples.append({"t": t_s, "rss": rss, "fds": fds, "fds_store": fds_store, "fds_other": other,
                                "threads": threads, "done": done})
                cells = ("" if v is None else v for v in (rss, fds, fds_store, threads))
                f.write(f"{t_s},{','.join(map(str, cells))},{done},{rps:.1f},"
                        f"{','.join(str(tot[c]) for c in CLASSES)}\n")
                f.flush()
                if rss is None or target >= end:
                    break
                k += 1
        sample_done.set()

    stop_at[0] = time.monotonic() + 3600  # set for real once t0 is known
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n_workers)]
    for t in threads:
        t.start()
    ready.wait(timeout=60)
    t0 = time.monotonic()
    end = t0 + seconds
    stop_at[0] = end + GRACE_SECONDS
    st = threading.Thread(target=sampler, daemon=True)
    st.start()

    # The schedule: request i is due at t0 + i / rate; the loop wakes every ~5 ms and hands out
    # what has come due. A worker that falls behind shows up as lateness, not as a lower rate.
    i = 0
    interval = 1.0 / rate
    n_total = int(round(seconds * rate))
    while i < n_total:
        now = time.monotonic()
        if now >= end + GRACE_SECONDS:
            break
        while i < n_total and t0 + i * interval <= now:
            op = next_op()
            scheduled[op] += 1
            work.put((t0 + i * interval, op))
            i += 1
        time.sleep(min(0.005, max(0.0, t0 + i * interval - time.monotonic())))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join(timeout=max(1.0, stop_at[0] + 30 - time.monotonic()))
    sample_done.wait(timeout=max(1.0, end + 5 - time.monotonic()))
    elapsed = time.monotonic() - t0
    stuck = sum(1 for t in threads if t.is_alive())

    with stats.lock:
        summary = {
            "base": base, "pid": pid, "seconds": seconds, "rate": rate, "mix": mix,
            "users": n_users, "sessions": n_sessions, "workers": n_workers, "reconnect": reconnect,
            "sample_every": sample_every, "store_fd_limit": STORE_FD_LIMIT, "setup_s": setup_s, "elapsed_s": elapsed,
            "scheduled": dict(scheduled), "expected": n_total, "counts": stats.counts, "skipped": dict(stats.skipped),
            "bad_body": dict(stats.bad_body), "examples": stats.examples,
            "latency": {op: summarize(v) for op, v in stats.latency.items()},
            "lateness": summarize(stats.lateness), "samples": samples, "csv": csv_path,
            "stuck_workers": stuck, "churn_keys_left": len(state.churn),
            "loadavg": open("/proc/loadavg").read().split()[:3],
        }
    with open(summary_path, "w") as f:
        json.dump(summary, f)


def summarize(values):
    if not values:
        return {"n": 0}
    v = sorted(values)

    def pct(p):
        return v[min(len(v) - 1, int(p / 100.0 * len(v)))]
    return {"n": len(v), "p50_ms": pct(50) * 1e3, "p99_ms": pct(99) * 1e3, "max_ms": v[-1] * 1e3}


def growth(samples, key, seconds):
    """(start of the last half, its t, max over the last half, growth as a fraction)."""
    half = seconds / 2.0
    last = [s for s in samples if s["t"] >= half and s[key] is not None]
    if not last:
        return None
    v0 = last[0][key]
    vmax = max(s[key] for s in last)
    return v0, last[0]["t"], vmax, (vmax - v0) / v0 if v0 else float("inf")


def report(summary_path, server_exit, error_lines):
    s = json.load(open(summary_path))
    out = []
    mix = s["mix"]
    tw = sum(mix.values())
    seconds, rate = s["seconds"], s["rate"]
    mix_text = ", ".join(f"{op} {100 * w / tw:g}% ({rate * w / tw:g}/s)" for op, w in mix.items() if w)
    out.append(f"Gatehouse soak: {seconds} s at {rate:g} req/s on {s['base']} (server pid {s['pid']}), "
               f"{s['workers']} workers, {s['users']} users, {s['sessions']} refresh chains, "
               f"a new connection every {s['reconnect']} requests per worker")
    out.append(f"mix: {mix_text}")
    out.append("")
    head = ("request", "sent", "2xx", "3xx", "4xx", "5xx", "err", "p50 ms", "p99 ms", "max ms")
    rows = []
    tot = dict.fromkeys(CLASSES, 0)
    for op in OPS:
        if not mix[op] and not sum(s["counts"][op].values()):
            continue
        c = s["counts"][op]
        lat = s["latency"][op]
        for k in CLASSES:
            tot[k] += c[k]
        rows.append((op, sum(c.values()), *(c[k] for k in CLASSES),
                     *(f"{lat[k]:.1f}" if lat.get("n") else "-" for k in ("p50_ms", "p99_ms", "max_ms"))))
    lat = s["lateness"]
    rows.append(("total", sum(tot.values()), *(tot[k] for k in CLASSES), "", "", ""))
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        out.append("  " + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    sent = sum(tot.values())
    scheduled = sum(s["scheduled"].values())
    not_sent = scheduled - sent - sum(s["skipped"].values())
    out.append(f"achieved: {sent / seconds:.1f} req/s over {seconds} s (target {rate:g}); scheduled {scheduled}, "
               f"sent {sent}, not sent {not_sent}, skipped (nothing to act on) {s['skipped'] or 0}; "
               f"send lateness p50 {lat.get('p50_ms', 0):.1f} ms, p99 {lat.get('p99_ms', 0):.1f} ms, "
               f"max {lat.get('max_ms', 0):.1f} ms; setup {s['setup_s']:.1f} s; load average at the end {' '.join(s['loadavg'])}")
    if s["examples"]:
        out.append("unexpected answers (first of each kind): " +
                   "; ".join(f"{k}: {v!r}" for k, v in sorted(s["examples"].items())))
    out.append("")

    samples = [x for x in s["samples"] if x["rss"] is not None]
    checks = []
    def figure(key, label, unit="", gate=True, note=""):
        vals = [x[key] for x in samples if x.get(key) is not None]
        if not vals:
            out.append(f"{label}: no samples")
            checks.append((f"{label} sampled", False))
            return
        g = growth(samples, key, seconds)
        out.append(f"{label}: start {vals[0]}{unit}, min {min(vals)}, max {max(vals)}, end {vals[-1]}; "
                   f"last half (t >= {g[1]} s): {g[0]} at its start, max {g[2]}, growth {100 * g[3]:+.2f}%"
                   + (f" (limit {100 * GROWTH_LIMIT:g}%)" if gate else "") + note)
        if gate:
            checks.append((f"{label} growth over the last half {100 * g[3]:+.2f}% < {100 * GROWTH_LIMIT:g}%",
                           g[3] < GROWTH_LIMIT))

    figure("rss", "RSS", " KiB")
    figure("fds", "open fds, all", gate=False,
           note=" (not gated: includes the store's pool, which opens SQLite connections on demand)")
    figure("fds_other", "open fds outside the store")
    store = [x["fds_store"] for x in samples if x.get("fds_store") is not None]
    if store:
        limit = s["store_fd_limit"]
        out.append(f"open fds on the store's files: start {store[0]}, max {max(store)}, end {store[-1]} "
                   f"(bounded by the pool: at most {limit}, 16 connections x db + -wal, and one -shm)")
        checks.append((f"store fds at most {max(store)} <= {limit} (the pool's bound)", max(store) <= limit))
    th = [x["threads"] for x in samples if x["threads"] is not None]
    if th:
        out.append(f"threads: start {th[0]}, min {min(th)}, max {max(th)}, end {th[-1]}")
    out.append(f"samples: {len(samples)} (every {s['sample_every']} s); CSV: {s['csv']}")
    out.append("")

    # The curve: one line a minute (one a sample when the run is under 5 minutes).
    step = 60 if seconds >= 300 else s["sample_every"]
    if samples:
        lo = min(x["rss"] for x in samples)
        hi = max(x["rss"] for x in samples)
        out.append(f"RSS curve (bar: {lo / 1024:.1f} .. {hi / 1024:.1f} MiB):")
        shown = set()
        for x in samples:
            mark = x["t"] // step
            if mark in shown and x is not samples[-1]:
                continue
            shown.add(mark)
            bar = "#" * (1 + round(39 * (x["rss"] - lo) / (hi - lo))) if hi > lo else "#"
            out.append(f"  {x['t'] // 60:3d}:{x['t'] % 60:02d}  {x['rss'] / 1024:7.1f} MiB  fds {x['fds']:4d} "
                       f"(store {x.get('fds_store', '?'):>2})  {bar}")
        out.append("")

    checks.insert(0, (f"5xx answers: {tot['5xx']} (must be 0)", tot["5xx"] == 0))
    checks.insert(1, (f"socket errors, timeouts and unexpected 2xx: {tot['err']} (must be 0)", tot["err"] == 0))
    checks.insert(2, (f"4xx answers: {tot['4xx']} (must be 0: every request in the mix is valid)", tot["4xx"] == 0))
    expected = s["expected"]
    checks.append((f"load delivered: {sent} of the {expected} requests of {seconds} s at {rate:g}/s sent (must be >= 99%)",
                   expected > 0 and sent + sum(s["skipped"].values()) >= 0.99 * expected))
    bad = sum(s["bad_body"].values())
    checks.append((f"2xx answers whose body lacked a field: {bad} (must be 0)", bad == 0))
    checks.append((f"load driver finished cleanly (stuck workers: {s['stuck_workers']})", s["stuck_workers"] == 0))
    checks.append((f"server exit status after SIGTERM: {server_exit} (must be 0)", server_exit == 0))
    out.append(f"server log lines at level error/critical: {error_lines}")
    out.append("criteria:")
    ok = True
    for text, passed in checks:
        out.append(f"  [{'PASS' if passed else 'FAIL'}] {text}")
        ok = ok and passed
    out.append(f"soak: {'PASS' if ok else 'FAIL'}")
    print("\n".join(out))
    return 0 if ok else 1


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "run" and len(args) == 6:
        run(args[0], int(args[1]), int(args[2]), float(args[3]), args[4], args[5])
    elif cmd == "report" and len(args) == 3:
        sys.exit(report(args[0], int(args[1]), int(args[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
