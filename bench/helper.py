#!/usr/bin/python3
"""bench/helper.py: the small jobs of bench/run.sh that are awkward in bash (stdlib only).

  helper.py freeport                           print a free TCP port on 127.0.0.1
  helper.py startup BIN WORKDIR RUNS           time exec -> listening line, idle RSS 1 s later
  helper.py login BASE_URL                     POST /auth/login ($BENCH_USERNAME/$BENCH_PASSWORD),
                                               print the access token
  helper.py apikey BASE_URL                    POST /api/keys as $BENCH_TOKEN's user, print the key
  helper.py get URL [bearer|apikey]            GET URL (with Bearer $BENCH_TOKEN or X-API-Key
                                               $BENCH_KEY), print "STATUS BODY"
  helper.py probe URL RATE SECONDS             paced GETs on one keep-alive connection (a health
                                               checker, not a load generator); prints PROBE stats
  helper.py wait-port PORT [TIMEOUT]           wait until 127.0.0.1:PORT accepts a connection
  helper.py cpubusy [SECONDS]                  percent of all CPUs busy over SECONDS (default 1)
  helper.py rss PID                            print VmRSS of PID in KiB
  helper.py report RESULTS [MARKDOWN_OUT]      print the summary table (and write it as markdown)
  helper.py oauth-report RESULTS [MD_OUT]      the same for bench/oauth.sh
  helper.py gateway-report RESULTS [MD_OUT]    the same for bench/gateway.sh
"""
import json
import math
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

LISTEN_PREFIX = b"gatehouse listening on "


def freeport():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB (KiB)
    raise RuntimeError(f"{field} not found for pid {pid}")


def read_line(stream, deadline):
    """Read one line from a pipe without blocking past deadline. Returns bytes or None."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    fd = stream.fileno()
    try:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            buf += chunk
        return buf.split(b"\n", 1)[0]
    finally:
        sel.close()


def one_start(binary, data_dir, log_path, env):
    """Start `binary serve` once: (ms to listening line, RSS KiB 1 s later, exit code after SIGTERM)."""
    args = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir]
    with open(log_path, "ab") as log:
        t0 = time.monotonic_ns()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env, stdin=subprocess.DEVNULL)
        try:
            line = read_line(proc.stdout, time.monotonic() + 30)
            t1 = time.monotonic_ns()
            if line is None or not line.startswith(LISTEN_PREFIX):
                raise RuntimeError(f"no listening line from {binary} (got {line!r}); see {log_path}")
            time.sleep(1.0)
            rss = proc_status(proc.pid, "VmRSS")
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=15)
            return (t1 - t0) / 1e6, rss, rc
        finally:
            if proc.poll() is None:  # only the process this function started, by its handle
                proc.kill()
                proc.wait()
            proc.stdout.close()


def startup(binary, workdir, runs):
    env = dict(os.environ)
    env["GATEHOUSE_ADMIN_PASSWORD"] = env.get("BENCH_PASSWORD", "startup-bench-password")
    data_dir = os.path.join(workdir, "data")
    os.makedirs(data_dir, exist_ok=True)
    log_path = os.path.join(workdir, "server.stderr")
    first_ms, first_rss, rc = one_start(binary, data_dir, log_path, env)
    codes = [rc]
    times, rsses = [], []
    for _ in range(runs):
        ms, rss, rc = one_start(binary, data_dir, log_path, env)
        times.append(ms)
        rsses.append(rss)
        codes.append(rc)
    out = {
        "startup_first_ms": f"{first_ms:.1f}",
        "startup_first_rss_kib": first_rss,
        "startup_runs": runs,
        "startup_median_ms": f"{statistics.median(times):.1f}",
        "startup_min_ms": f"{min(times):.1f}",
        "startup_max_ms": f"{max(times):.1f}",
        "idle_rss_median_kib": int(statistics.median(rsses)),
        "idle_rss_max_kib": max(rsses),
        "startup_nonzero_exits": sum(1 for c in codes if c != 0),
    }
    for k, v in out.items():
        print(f"{k}={v}")


def login(base):
    body = json.dumps({"username": os.environ.get("BENCH_USERNAME", "admin"),
                       "password": os.environ["BENCH_PASSWORD"]}).encode()
    req = urllib.request.Request(base.rstrip("/") + "/auth/login", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            print(json.load(r)["access_token"])
    except urllib.error.HTTPError as e:
        sys.exit(f"login failed: HTTP {e.code} {e.read()[:300]!r}")


def cpubusy(seconds=1.0):
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]  # idle + iowait
        return sum(v), idle
    t0, i0 = sample()
    time.sleep(float(seconds))
    t1, i1 = sample()
    print(f"{100.0 * (1 - (i1 - i0) / max(1, t1 - t0)):.0f}")


def apikey(base):
    """Creates an API key for the user behind BENCH_TOKEN and prints it."""
    body = json.dumps({"name": "bench"}).encode()
    req = urllib.request.Request(base.rstrip("/") + "/api/keys", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + os.environ["BENCH_TOKEN"]})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            print(json.load(r)["key"])
    except urllib.error.HTTPError as e:
        sys.exit(f"creating an API key failed: HTTP {e.code} {e.read()[:300]!r}")


def get(url, auth=None):
    headers = {}
    if auth == "bearer":
        headers = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}
    elif auth == "apikey":
        headers = {"X-API-Key": os.environ["BENCH_KEY"]}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    print(status, body[:200].decode(errors="replace").replace("\n", " "))


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"nothing accepts connections on 127.0.0.1:{port}")


def probe(url, rate, seconds):
    """GET url at a fixed rate on one keep-alive connection for `seconds`.

    Prints one line: PROBE requests=N p50_us p90_us p99_us max_us non2xx errors late_p99_us
    where the latencies run from the moment the request was written to the end of the response,
    and late_p99_us is how late (p99) the sends themselves were against the schedule, i.e. how
    starved of CPU this prober was (wrk2-style corrected latency is roughly the two added)."""
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname, parsed.port or 80
    request = (f"GET {parsed.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "User-Agent: gatehouse-bench-probe\r\n\r\n").encode()
    interval = 1.0 / float(rate)
    lat, late = [], []
    non2xx = errors = 0
    sock, buf = None, b""

    def connect():
        s = socket.create_connection((host, port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def read_response(s, buf):
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        return status, rest[length:]

    start = time.perf_counter()
    n = 0
    while True:
        due = start + n * interval
        if due - start >= float(seconds):
            break
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        try:
            if sock is None:
                sock, buf = connect(), b""
            t0 = time.perf_counter()
            sock.sendall(request)
            status, buf = read_response(sock, buf)
            t1 = time.perf_counter()
            lat.append(t1 - t0)
            late.append(max(0.0, t0 - due))
            if status >= 400:
                non2xx += 1
        except (OSError, ValueError, IndexError):
            errors += 1
            if sock is not None:
                sock.close()
            sock = None
        n += 1
    if sock is not None:
        sock.close()

    def pct(xs, q):
        if not xs:
            return 0
        xs = sorted(xs)
        return int(xs[max(0, min(len(xs), math.ceil(q / 100.0 * len(xs))) - 1)] * 1e6)  # nearest rank

    print(f"PROBE requests={len(lat)} p50_us={pct(lat, 50)} p90_us={pct(lat, 90)} p99_us={pct(lat, 99)} "
          f"max_us={pct(lat, 100)} non2xx={non2xx} errors={errors} late_p99_us={pct(late, 99)}")


# ---------------------------------------------------------------------------------------------
# Summary table

def load(path):
    r = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                r[k] = v
    return r


def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None


def fmt(x, nd=1):
    return "n/a" if x is None else f"{x:,.{nd}f}"


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def report(path, md_out=None):
    r = load(path)
    rows = []  # (figure, measured, baseline, ratio, target, verdict, errors)

    H, L = num(r, "argon2_vps"), num(r, "login_rps")
    ratio = L / H if (H and L is not None) else None
    rows.append(("Logins/s vs argon2id verifies/s (2 threads)",
                 f"{fmt(L)} logins/s", f"{fmt(H)} verifies/s (after: {fmt(num(r, 'argon2_vps_after'))})",
                 fmt(ratio, 2), ">= 0.80", verdict(None if ratio is None else ratio >= 0.8),
                 f"non-2xx {r.get('login_non2xx', '?')}, socket {r.get('login_sockerr', '?')}"))

    def hz_row(label, storm, idle, storm_login, extra=""):
        p99, p99_idle = num(r, storm + "_p99_us"), num(r, idle + "_p99_us")
        return (label,
                f"p99 {fmt(None if p99 is None else p99 / 1000, 2)} ms",
                f"p99 {fmt(None if p99_idle is None else p99_idle / 1000, 2)} ms idle",
                fmt(p99 / p99_idle, 1) if (p99 is not None and p99_idle) else "n/a",
                "< 5 ms", verdict(None if p99 is None else p99 < 5000),
                f"non-2xx {r.get(storm + '_non2xx', '?')}, socket {r.get(storm + '_sockerr', '?')}{extra}; "
                f"storm {fmt(num(r, storm_login + '_rps'))} logins/s, non-2xx {r.get(storm_login + '_non2xx', '?')}")

    late = num(r, "healthz_storm_late_p99_us")
    rows.append(hz_row(f"/healthz during login storm, paced probe ({r.get('probe_rate', '?')}/s, 1 conn)",
                       "healthz_storm", "healthz_idle", "storm2_login",
                       f"; prober's own send lateness p99 {fmt(None if late is None else late / 1000, 2)} ms"))
    rows.append(hz_row("/healthz during login storm, wrk -t1 -c4 (closed loop)",
                       "healthz_wrk_storm", "healthz_wrk_idle", "storm3_login"))

    R, N = num(r, "me_rps"), num(r, "nginx_rps")
    rows.append(("GET /users/me (ES256 JWT bearer) vs nginx static 200",
                 f"{fmt(R, 0)} req/s (p99 {fmt(None if num(r, 'me_p99_us') is None else num(r, 'me_p99_us') / 1000, 2)} ms)",
                 f"{fmt(N, 0)} req/s (p99 {fmt(None if num(r, 'nginx_p99_us') is None else num(r, 'nginx_p99_us') / 1000, 2)} ms; "
                 f"after: {fmt(num(r, 'nginx_after_rps'), 0)} req/s)",
                 fmt(R / N, 2) if (R is not None and N) else "n/a", "none given", "n/a",
                 f"non-2xx {r.get('me_non2xx', '?')}, socket {r.get('me_sockerr', '?')}; "
                 f"nginx non-2xx {r.get('nginx_non2xx', '?')}"))

    K = num(r, "me_key_rps")
    if K is not None:
        rows.append(("GET /users/me (X-API-Key) vs nginx static 200",
                     f"{fmt(K, 0)} req/s (p99 {fmt(None if num(r, 'me_key_p99_us') is None else num(r, 'me_key_p99_us') / 1000, 2)} ms)",
                     f"{fmt(N, 0)} req/s nginx; {fmt(R, 0)} req/s with the ES256 JWT",
                     (fmt(K / N, 2) if N else "n/a") + (f" (x{K / R:.2f} the JWT)" if R else ""), "none given", "n/a",
                     f"non-2xx {r.get('me_key_non2xx', '?')}, socket {r.get('me_key_sockerr', '?')}"))

    rl_rounds = range(1, int(num(r, "rl_rounds") or 3) + 1)
    ons = [num(r, f"rl_on_{i}_rps") for i in rl_rounds]
    offs = [num(r, f"rl_off_{i}_rps") for i in rl_rounds]
    if ons and None not in ons + offs:
        costs = sorted(1 - a / b for a, b in zip(ons, offs))
        mid = len(costs) // 2
        cost = costs[mid] if len(costs) % 2 else (costs[mid - 1] + costs[mid]) / 2
        total = 1 - sum(ons) / sum(offs)
        pairs = ", ".join(f"{100 * (1 - a / b):+.1f}%" for a, b in zip(ons, offs))
        rows.append((f"Cost of rate limiting: /users/me (X-API-Key) limits on vs off, {len(ons)} ABBA pairs",
                     f"{fmt(sum(ons) / len(ons), 0)} req/s on (mean of {', '.join(fmt(x, 0) for x in ons)})",
                     f"{fmt(sum(offs) / len(offs), 0)} req/s off (mean of {', '.join(fmt(x, 0) for x in offs)}; two fresh servers, one store)",
                     f"{100 * cost:+.1f}% median pair cost ({100 * total:+.1f}% of the sums; per pair: {pairs})",
                     "<= 5%", verdict(cost <= 0.05),
                     "non-2xx " + "/".join(str(r.get(f"rl_{k}_{i}_non2xx", "?")) for i in rl_rounds for k in ("on", "off"))))

    T, P = num(r, "me_key_tls_rps"), num(r, "me_key_rps")
    if T is not None:
        rows.append(("HTTPS keep-alive vs plain: /users/me (X-API-Key)",
                     f"{fmt(T, 0)} req/s over TLS (p99 {fmt(None if num(r, 'me_key_tls_p99_us') is None else num(r, 'me_key_tls_p99_us') / 1000, 2)} ms)",
                     f"{fmt(P, 0)} req/s plain", fmt(T / P, 2) if P else "n/a", "none given", "n/a",
                     f"non-2xx {r.get('me_key_tls_non2xx', '?')}, socket {r.get('me_key_tls_sockerr', '?')}"))
    H2, C = num(r, "handshake_tls_rps"), num(r, "connect_plain_rps")
    if H2 is not None:
        rows.append(("New TLS connections (handshake + 1 request) per second",
                     f"{fmt(H2, 0)} handshakes/s",
                     f"{fmt(C, 0)} new plain connections/s; openssl ECDSA P-256 signs/s (1 core): {fmt(num(r, 'ecdsa_sign_ps'), 0)}",
                     fmt(H2 / C, 2) if C else "n/a", "none given", "n/a",
                     f"non-2xx {r.get('handshake_tls_non2xx', '?')}, socket {r.get('handshake_tls_sockerr', '?')}"))

    med, first = num(r, "startup_median_ms"), num(r, "startup_first_ms")
    rows.append((f"exec -> listening line (median of {r.get('startup_runs', '?')} restarts)",
                 f"{fmt(med)} ms (min {r.get('startup_min_ms', '?')}, max {r.get('startup_max_ms', '?')})",
                 f"first start on empty store: {fmt(first)} ms", "n/a", "<= 100 ms",
                 verdict(None if med is None else med <= 100),
                 f"non-zero exits after SIGTERM: {r.get('startup_nonzero_exits', '?')}"))

    rss = num(r, "idle_rss_median_kib")
    rows.append(("Idle RSS 1 s after start (median)",
                 f"{fmt(None if rss is None else rss / 1024)} MiB",
                 f"first start {fmt(None if num(r, 'startup_first_rss_kib') is None else num(r, 'startup_first_rss_kib') / 1024)} MiB; "
                 f"after the load runs {fmt(None if num(r, 'rss_after_load_kib') is None else num(r, 'rss_after_load_kib') / 1024)} MiB",
                 "n/a", "<= 20 MiB", verdict(None if rss is None else rss <= 20 * 1024), ""))

    head = ("Figure", "Measured", "Baseline (same run)", "Ratio", "Target", "Result", "Errors / notes")
    meta = (f"Gatehouse benchmark, {r.get('date', '?')} - {r.get('nproc', '?')} CPUs ({r.get('cpu_model', '?')}), "
            f"kernel {r.get('kernel', '?')}; tree at run time {r.get('source', '?')}, {r.get('binary', '?')}; server threads: network "
            f"{r.get('server_threads', 'default')}, blocking {r.get('blocking_threads', 'default')}, "
            f"hashing {r.get('hashing_threads', 'default')}")

    # plain text
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    print(meta)
    for row in [head, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    drift = []
    for label, before, after in (("argon2id verifies/s", "argon2_vps", "argon2_vps_after"),
                                 ("nginx req/s", "nginx_rps", "nginx_after_rps")):
        b, a = num(r, before), num(r, after)
        if b and a is not None and abs(a - b) / b > 0.10:
            drift.append(f"{label} {fmt(b)} -> {fmt(a)} ({100 * (a - b) / b:+.0f}%)")
    extra = [("WARNING: a baseline drifted by more than 10% within the run (" + "; ".join(drift) +
              "): the machine was busy with something else; rerun before trusting the ratio") if drift else None,
             f"server exit code after SIGTERM: {r.get('server_exit', '?')}",
             f"server stderr lines at level error/critical: {r.get('server_error_lines', '?')}, "
             f"at level warning: {r.get('server_warn_lines', '?')}",
             f"CPU busy before the run (other processes, 2 s sample): {r.get('cpu_busy_before', '?')}%; "
             f"load average at start / end: {r.get('loadavg_start', '?')} / {r.get('loadavg_end', '?')} "
             "(the end figure includes this run's own load)",
             f"raw output kept in: {r.get('workdir', '?')}" if r.get("kept") == "1" else None]
    for e in filter(None, extra):
        print(e)

    runs = [("login", "login storm (wrk -t2 -c16, POST /auth/login)"),
            ("healthz_idle", "/healthz idle, paced probe"),
            ("healthz_wrk_idle", "/healthz idle (wrk -t1 -c4)"),
            ("storm2_login", "second login storm (wrk -t2 -c16)"),
            ("healthz_storm", "/healthz paced probe during the second storm"),
            ("storm3_login", "third login storm (wrk -t2 -c16)"),
            ("healthz_wrk_storm", "/healthz during the third storm (wrk -t1 -c4)"),
            ("me", "GET /users/me, ES256 JWT (wrk -t2 -c64)"),
            ("me_key", "GET /users/me, X-API-Key (wrk -t2 -c64)"),
            *[(f"rl_{k}_{i}", f"GET /users/me, X-API-Key, rate limits {k}, round {i}")
              for i in range(1, int(num(r, "rl_rounds") or 3) + 1) for k in ("off", "on")],
            ("me_key_tls", "GET /users/me, X-API-Key, HTTPS keep-alive"),
            ("handshake_tls", "HTTPS, Connection: close (new TLS handshake each)"),
            ("connect_plain", "plain, Connection: close (new TCP connection each)"),
            ("nginx", "nginx static 200 (wrk -t2 -c64)"),
            ("nginx_after", "nginx again, after /users/me")]
    dhead = ("wrk run", "req/s", "requests", "p50 ms", "p99 ms", "max ms", "status >= 400", "socket errors")

    def ms(k):
        v = num(r, k)
        return fmt(None if v is None else v / 1000, 2)

    drows = [(label, fmt(num(r, p + "_rps")), r.get(p + "_requests", "?"), ms(p + "_p50_us"), ms(p + "_p99_us"),
              ms(p + "_max_us"), r.get(p + "_non2xx", "?"), r.get(p + "_sockerr", "?"))
             for p, label in runs if p + "_requests" in r]
    print()
    dwidths = [max(len(str(x[i])) for x in drows + [dhead]) for i in range(len(dhead))]
    for row in [dhead, tuple("-" * w for w in dwidths)] + drows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, dwidths)).rstrip())

    if md_out:
        with open(md_out, "w") as f:
            f.write(f"{meta}\n\n")
            f.write("| " + " | ".join(head) + " |\n")
            f.write("|" + "|".join("---" for _ in head) + "|\n")
            for row in rows:
                f.write("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |\n")
            f.write("\n" + "\n".join(f"- {e}" for e in filter(None, extra[:4])) + "\n")
            f.write("\n| " + " | ".join(dhead) + " |\n")
            f.write("|" + "|".join("---" for _ in dhead) + "|\n")
            for row in drows:
                f.write("| " + " | ".join(str(c) for c in row) + " |\n")


def wrk_errors(r, *names):
    """The error counts of the named wrk runs, for a table's Errors column."""
    return "; ".join(f"{n}: non-2xx {r.get(n + '_non2xx', '?')}, socket {r.get(n + '_sockerr', '?')}" for n in names)


def oauth_report(path, md_out=None):
    """The table of bench/oauth.sh: Gatehouse's OAuth figures over oidc-provider's and nginx's."""
    r = load(path)
    rows = []

    def errors(*names):
        return wrk_errors(r, *names)

    def row(label, ours, base, base_label, target, ok_if, names):
        a, b = num(r, ours), num(r, base)
        ratio = a / b if (a is not None and b) else None
        rows.append((label, f"{fmt(a, 0)} /s", f"{fmt(b, 0)} /s {base_label}", fmt(ratio, 2) + "x", target,
                     verdict(None if ratio is None else ok_if(ratio)), errors(*names)))

    def abba_row(label, ours, base, base_label, target, ok_if, names):
        """Two runs each in ABBA order: the ratio of the sums."""
        a1, a2, b1, b2 = (num(r, k) for k in ours + base)
        if None in (a1, a2, b1, b2) or not (b1 + b2):
            rows.append((label, "?", "?", "?", target, verdict(None), errors(*names)))
            return None
        ratio = (a1 + a2) / (b1 + b2)
        rows.append((label, f"{fmt((a1 + a2) / 2, 0)} /s (runs {fmt(a1, 0)}, {fmt(a2, 0)})",
                     f"{fmt((b1 + b2) / 2, 0)} /s {base_label} (runs {fmt(b1, 0)}, {fmt(b2, 0)})",
                     fmt(ratio, 2) + "x", target, verdict(ok_if(ratio)), errors(*names)))
        return (a1 + a2) / 2

    gh_cc = abba_row("client_credentials tokens/s (ES256 JWT; 2 ABBA pairs)", ("gh_cc_rps", "gh_cc_2_rps"),
                     ("peer_cc_jwt_rps", "peer_cc_jwt_2_rps"), "oidc-provider (ES256 JWT)", ">= 8x",
                     lambda x: x >= 8, ("gh_cc", "gh_cc_2", "peer_cc_jwt", "peer_cc_jwt_2"))
    opaque = num(r, "peer_cc_opaque_rps")
    ratio = gh_cc / opaque if (gh_cc is not None and opaque) else None
    rows.append(("client_credentials tokens/s vs oidc-provider opaque", f"{fmt(gh_cc, 0)} /s",
                 f"{fmt(opaque, 0)} /s oidc-provider (opaque)", fmt(ratio, 2) + "x", "none given",
                 verdict(None if ratio is None else True), errors("peer_cc_opaque")))
    row("introspection requests/s", "gh_introspect_rps", "peer_introspect_rps", "oidc-provider (opaque token)",
        ">= 10x", lambda x: x >= 10, ("gh_introspect", "peer_introspect"))
    abba_row("GET /.well-known/jwks.json requests/s (2 ABBA pairs)", ("gh_jwks_rps", "gh_jwks_2_rps"),
             ("nginx_rps", "nginx_after_rps"), "nginx static 200", ">= 0.7x", lambda x: x >= 0.7,
             ("gh_jwks", "gh_jwks_2", "nginx", "nginx_after"))
    r["gh_cc_rss_max_kib"] = str(max(num(r, "gh_cc_rss_max_kib") or 0, num(r, "gh_cc_2_rss_max_kib") or 0))
    r["peer_cc_jwt_rss_max_kib"] = str(max(num(r, "peer_cc_jwt_rss_max_kib") or 0,
                                           num(r, "peer_cc_jwt_2_rss_max_kib") or 0))
    for label, ours, base, target in (("RSS idle (KiB)", "gatehouse_rss_idle_kib", "peer_rss_idle_kib", "<= 0.2x"),
                                      ("RSS under the token load, max (KiB)", "gh_cc_rss_max_kib",
                                       "peer_cc_jwt_rss_max_kib", "<= 0.2x")):
        a, b = num(r, ours), num(r, base)
        ratio = a / b if (a is not None and b) else None
        rows.append((label, f"{fmt(a, 0)} KiB", f"{fmt(b, 0)} KiB oidc-provider", fmt(ratio, 3) + "x", target,
                     verdict(None if ratio is None else ratio <= 0.2), ""))
    n, n2 = num(r, "nginx_rps"), num(r, "nginx_after_rps")
    drift = f"nginx before/after: {fmt(n, 0)} / {fmt(n2, 0)} req/s" if n and n2 else ""
    emit_table(f"Gatehouse OAuth benchmark, {r.get('date', '?')} - {r.get('nproc', '?')} CPUs; tree {r.get('source', '?')}; "
               f"peer {r.get('peer', '?')}; load {r.get('loadavg_start', '?')} -> {r.get('loadavg_end', '?')}; {drift}",
               rows, md_out)


def emit_table(title, rows, md_out=None):
    """Prints the title and a markdown table of (figure, ours, baseline, ratio, target, result,
    errors) rows, and writes the same to md_out when given."""
    head = ("Figure", "Gatehouse", "Baseline (same run)", "Ratio", "Target", "Result", "Errors")
    lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row_) + " |" for row_ in rows]
    text = "\n".join(lines)
    print(text)
    if md_out:
        with open(md_out, "w") as f:
            f.write(text + "\n")


def gateway_report(path, md_out=None):
    """The tables of bench/gateway.sh: /auth/check over nginx's static 200, and through nginx."""
    r = load(path)
    rows = []

    def errors(*names):
        return wrk_errors(r, *names)

    n1, n2 = num(r, "nginx_rps"), num(r, "nginx_after_rps")
    nginx = (n1 + n2) / 2 if n1 and n2 else None
    nginx_text = f"{fmt(nginx, 0)} /s nginx static 200 (runs {fmt(n1, 0)}, {fmt(n2, 0)})"
    # JWT and API key ran in ABBA order between the two nginx runs: the ratio of the sums.
    for label, key in (("/auth/check, ES256 JWT (verified-token cache warm; ABBA pair)", "jwt"),
                       ("/auth/check, API key (ABBA pair)", "api_key")):
        v1, v2 = num(r, key + "_rps"), num(r, key + "_2_rps")
        ratio = (v1 + v2) / (n1 + n2) if None not in (v1, v2) and n1 and n2 else None
        rows.append((label, f"{fmt(None if v1 is None or v2 is None else (v1 + v2) / 2, 0)} /s (runs {fmt(v1, 0)}, {fmt(v2, 0)})",
                     nginx_text, fmt(ratio, 3) + "x", ">= 0.5x", verdict(None if ratio is None else ratio >= 0.5),
                     errors(key, key + "_2")))
    for label, key in (("/auth/check, Basic, verification cache on (60 s)", "basic"),
                       ("/auth/check, Basic, cache off (argon2id every request)", "basic_nocache")):
        v = num(r, key + "_rps")
        ratio = v / nginx if (v is not None and nginx) else None
        rows.append((label, f"{fmt(v, 0)} /s", nginx_text, fmt(ratio, 3) + "x", "none given",
                     verdict(None if ratio is None else True), errors(key)))
    for conns, suffix in ((64, ""), (8, "_c8")):
        base = num(r, ("nginx" if conns == 64 else "nginx_c8") + "_p99_us")
        for label, key in (("JWT", "jwt"), ("API key", "api_key")):
            v = num(r, key + suffix + "_p99_us")
            ratio = v / base if (v is not None and base) else None
            rows.append((f"p99 latency at {conns} connections, {label}", f"{fmt(v, 0)} us", f"{fmt(base, 0)} us nginx static 200",
                         fmt(ratio, 2) + "x", "<= 2x", verdict(None if ratio is None else ratio <= 2),
                         errors(key + suffix)))
    a1, a2, p1, p2 = (num(r, k + "_rps") for k in ("front_auth", "front_auth_2", "front_plain", "front_plain_2"))
    if None not in (a1, a2, p1, p2):
        ratio = (a1 + a2) / (p1 + p2)
        rows.append(("through nginx: auth_request -> gatehouse -> upstream (API key; 2 ABBA pairs)",
                     f"{fmt((a1 + a2) / 2, 0)} /s (runs {fmt(a1, 0)}, {fmt(a2, 0)})",
                     f"{fmt((p1 + p2) / 2, 0)} /s the same nginx proxying without auth (runs {fmt(p1, 0)}, {fmt(p2, 0)})",
                     fmt(ratio, 3) + "x", ">= 0.4x", verdict(ratio >= 0.4),
                     errors("front_auth", "front_auth_2", "front_plain", "front_plain_2")))
    verify = num(r, "verify_es256_per_s")
    rows.append(("uncached ES256 JWT verification, in process (verify_jws/ES256, one thread)", f"{fmt(verify, 0)} /s",
                 "-", "-", "reported beside", verdict(None if verify is None else True), ""))
    emit_table(f"Gatehouse gateway benchmark, {r.get('date', '?')} - {r.get('nproc', '?')} CPUs; tree {r.get('source', '?')}; "
               f"load {r.get('loadavg_start', '?')} -> {r.get('loadavg_end', '?')}", rows, md_out)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "freeport":
        freeport()
    elif cmd == "startup":
        startup(args[0], args[1], int(args[2]))
    elif cmd == "login":
        login(args[0])
    elif cmd == "apikey":
        apikey(*args)
    elif cmd == "get":
        get(*args)
    elif cmd == "probe":
        probe(*args)
    elif cmd == "wait-port":
        wait_port(*args)
    elif cmd == "cpubusy":
        cpubusy(*args)
    elif cmd == "rss":
        print(proc_status(int(args[0]), "VmRSS"))
    elif cmd == "gateway-report":
        gateway_report(args[0], args[1] if len(args) > 1 else None)
    elif cmd == "oauth-report":
        oauth_report(args[0], args[1] if len(args) > 1 else None)
    elif cmd == "report":
        report(args[0], args[1] if len(args) > 1 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
