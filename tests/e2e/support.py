"""Shared helpers for the Gatehouse end-to-end tests.

Everything here talks to the real binary over real sockets: the server is started as a
child process, its stdout announces the port, its stderr (logs and audit lines) goes to a
file that the final no-secrets check greps.

Secret registry: every password and token that crosses the wire in these tests is
recorded automatically (requests' HTTPAdapter.send is wrapped below), plus whatever the
tests register by hand (CLI stdin passwords, env-supplied admin passwords). At the end of
the session no server log, CLI output or data file may contain any of them.
"""
from __future__ import annotations

import base64
import urllib.parse
import itertools
import json
import os
import re
import secrets as _secrets
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests
import requests.adapters

# make test sets GATEHOUSE_BIN; by default, the binary of the checkout these tests live in.
BIN = os.environ.get("GATEHOUSE_BIN", str(Path(__file__).resolve().parents[2] / "build" / "gatehouse"))

# Access tokens are RFC 9068 JWTs by default (tokens.format = "jwt"), opaque gat_... otherwise.
JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
OPAQUE_ACCESS_RE = re.compile(r"^gat_[A-Za-z0-9]{43}$")
ACCESS_RE = re.compile(JWT_RE.pattern + "|" + OPAQUE_ACCESS_RE.pattern)
REFRESH_RE = re.compile(r"^grt_[A-Za-z0-9]{43}$")
ID_RE = re.compile(r"^[0-9A-Za-z]{26}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
LISTEN_RE = re.compile(r"^gatehouse listening on (https?)://127\.0\.0\.1:(\d+)$")

FAST_HASH_ENV = {
    "GATEHOUSE_ACCOUNTS_ARGON2_MEMORY_KIB": "1024",
    "GATEHOUSE_ACCOUNTS_ARGON2_ITERATIONS": "1",
}
# Every test server gets a rate limit no test reaches by accident (the default 1000/hour per
# principal would trip modules that make thousands of calls as one admin); test_ratelimit.py
# sets its own, and passes None to get the built-in default.
TEST_SERVER_ENV = {"GATEHOUSE_RATELIMIT_DEFAULT": "10000000/hour"}

# --------------------------------------------------------------------------------------
# Secret registry
# --------------------------------------------------------------------------------------

MIN_SECRET_LEN = 8
_secret_lock = threading.Lock()
SECRETS: set[str] = set()
# Files the final check greps: server stdout/stderr, CLI output.
LOG_FILES: list[Path] = []
# Data directories (SQLite files) of every server / CLI run: tokens and passwords must not be
# stored in the clear (SPEC §9: argon2id for passwords, SHA-256 for tokens).
DATA_DIRS: list[Path] = []
# Every process this test session started (so teardown can kill stragglers, and only them).
PROCESSES: list[subprocess.Popen] = []


def register_secret(value) -> None:
    if isinstance(value, str) and len(value) >= MIN_SECRET_LEN:
        with _secret_lock:
            SECRETS.add(value)


_SECRET_FIELDS = {"password", "current_password", "new_password", "refresh_token", "token",
                  "access_token", "key", "client_secret", "api_key", "id_token", "code", "code_verifier",
                  "csrf_token"}


def _walk_json(obj) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _SECRET_FIELDS and isinstance(v, str):
                register_secret(v)
            else:
                _walk_json(v)
    elif isinstance(obj, list):
        for v in obj:
            _walk_json(v)


def _register_from_request(request) -> None:
    try:
        auth = request.headers.get("Authorization")
        if auth:
            scheme, _, value = auth.partition(" ")
            register_secret(value.strip())
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(value.strip(), validate=False).decode("utf-8", "replace")
                    register_secret(decoded.partition(":")[2])
                except Exception:
                    pass
        key = request.headers.get("X-API-Key")
        if key:
            register_secret(key)
        body = request.body
        if body:
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            if isinstance(body, str) and len(body) < 200_000:
                try:
                    _walk_json(json.loads(body))
                except ValueError:
                    # A form body (OAuth endpoints, the HTML login form).
                    for k, values in urllib.parse.parse_qs(body).items():
                        if k in _SECRET_FIELDS:
                            for v in values:
                                register_secret(v)
        m = re.search(r"[?&]api_key=([^&]+)", request.url or "")
        if m:
            register_secret(requests.utils.unquote(m.group(1)))
    except Exception:
        pass


def _register_from_response(response) -> None:
    try:
        for cookie in response.cookies:
            register_secret(cookie.value)
        location = response.headers.get("Location", "")
        for k, values in urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).items():
            if k == "code":
                for v in values:
                    register_secret(v)
        if "json" in response.headers.get("Content-Type", ""):
            _walk_json(json.loads(response.content))
    except Exception:
        pass


_orig_send = requests.adapters.HTTPAdapter.send


def _recording_send(self, request, *args, **kwargs):
    _register_from_request(request)
    response = _orig_send(self, request, *args, **kwargs)
    _register_from_response(response)
    return response


if not getattr(requests.adapters.HTTPAdapter.send, "_gatehouse_recording", False):
    _recording_send._gatehouse_recording = True
    requests.adapters.HTTPAdapter.send = _recording_send


def new_password(prefix: str = "pw") -> str:
    """A distinctive password that cannot appear in a log by accident."""
    pw = f"{prefix}-{_secrets.token_hex(10)}"
    register_secret(pw)
    return pw


_counter = itertools.count(1)


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}x{_secrets.token_hex(3)}"


def find_secrets_in(text: str) -> list[str]:
    with _secret_lock:
        current = list(SECRETS)
    return [s for s in current if s in text]


def scan_for_secrets(paths) -> list[str]:
    """Returns 'file: secret-prefix…' lines for every registered secret found in the files."""
    with _secret_lock:
        current = [s.encode() for s in SECRETS]
    problems = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        data = path.read_bytes()
        for s in current:
            if s in data:
                problems.append(f"{path}: contains secret {s[:6].decode()}… ({len(s)} chars)")
    return problems


# --------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------

def base_env(overrides: dict | None = None) -> dict:
    """The inherited environment without any GATEHOUSE_* variable, plus overrides.

    An override whose value is None removes the variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    for k, v in (overrides or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def require_binary() -> None:
    import pytest
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        pytest.fail(f"gatehouse binary not found at {BIN} (set GATEHOUSE_BIN)", pytrace=False)


class Server:
    """One `gatehouse serve` child process on 127.0.0.1:<ephemeral port>."""

    def __init__(self, workdir: Path, env: dict | None = None, args=(), fast_hash: bool = True,
                 admin_password: str | None = "generate", data_dir: Path | None = None,
                 name: str = "server", ca_file: Path | None = None, listen: str = "127.0.0.1:0"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        overrides = dict(FAST_HASH_ENV) if fast_hash else {}
        overrides.update(TEST_SERVER_ENV)
        if admin_password == "generate":
            admin_password = new_password("admin")
        self.admin_password = admin_password
        if admin_password is not None:
            register_secret(admin_password)
            overrides["GATEHOUSE_ADMIN_PASSWORD"] = admin_password
        overrides.update(env or {})
        self.env = base_env(overrides)
        self.args = list(args)
        self.name = name
        self.listen = listen
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.scheme = "http"
        # HTTPS servers: the certificate clients trust (default: --tls-self-signed's).
        self.ca_file = Path(ca_file) if ca_file else self.data_dir / "tls" / "self-signed.crt"
        self.returncode: int | None = None
        self._runs = 0
        if self.data_dir not in DATA_DIRS:
            DATA_DIRS.append(self.data_dir)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> "Server":
        require_binary()
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._runs += 1
        self.stdout_path = self.workdir / f"{self.name}.{self._runs}.stdout"
        self.stderr_path = self.workdir / f"{self.name}.{self._runs}.stderr"
        LOG_FILES.extend([self.stdout_path, self.stderr_path])
        cmd = [BIN, "serve", "--listen", self.listen, "--data-dir", str(self.data_dir), *self.args]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=self.env, cwd=self.workdir)
        PROCESSES.append(self.proc)
        self.returncode = None
        deadline = time.monotonic() + timeout
        while True:
            text = self.stdout_path.read_text(errors="replace")
            if "\n" in text:
                first = text.splitlines()[0]
                m = LISTEN_RE.match(first)
                if not m:
                    self.kill()
                    raise AssertionError(f"unexpected first stdout line: {first!r}\nstderr:\n{self.stderr_tail()}")
                self.scheme, self.port = m.group(1), int(m.group(2))
                assert self.port > 0
                self._wait_for_steady_keys(deadline)
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"gatehouse exited with {self.proc.returncode} before listening\n"
                                     f"stdout: {text!r}\nstderr:\n{self.stderr_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"gatehouse did not print its listening line within {timeout}s\n"
                                     f"stderr:\n{self.stderr_tail()}")
            time.sleep(0.02)

    def _wait_for_steady_keys(self, deadline: float) -> None:
        """The RS256 key (ID tokens) is generated just after the listening line on a first start,
        so that RSA key generation does not delay it. Tests start from that steady state."""
        import requests  # noqa: PLC0415 - support.py imports requests lazily elsewhere too
        while time.monotonic() < deadline:
            try:
                keys = requests.get(self.base_url + "/.well-known/jwks.json", timeout=5,
                                    verify=self.verify).json()["keys"]
                if any(k.get("alg") == "RS256" for k in keys):
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"gatehouse exited with {self.proc.returncode}\nstderr:\n{self.stderr_tail()}")
            time.sleep(0.02)
        raise AssertionError(f"no RS256 key in the JWKS in time\nstderr:\n{self.stderr_tail()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited_unexpectedly(self) -> str | None:
        """A message if the process ended without this test stopping or waiting for it."""
        if self.proc is None or self.proc.poll() is None or self.returncode is not None:
            return None
        return (f"gatehouse ({self.name}, port {self.port}) exited on its own with rc={self.proc.returncode} "
                f"while tests were using it (a crash, or a signal from outside this test session)\n"
                f"stderr tail:\n{self.stderr_tail(10)}")

    def send_signal(self, sig=signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"gatehouse did not exit within {timeout}s of the signal (killed)")
        return self.returncode

    def stop(self, timeout: float = 15.0, sig=signal.SIGTERM) -> int:
        """SIGTERM, wait, and assert a clean exit (0)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        assert rc == 0, f"gatehouse exited with {rc} after SIGTERM\nstderr:\n{self.stderr_tail()}"
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.poll() is not None:
            self.returncode = self.proc.returncode

    def restart(self, timeout: float = 30.0) -> "Server":
        self.stop()
        return self.start(timeout)

    # -- access ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def verify(self):
        """What `requests` needs as verify= for this server."""
        return str(self.ca_file) if self.scheme == "https" else True

    @property
    def url(self) -> str:
        return self.base_url

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stderr_tail(self, n: int = 40) -> str:
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def stderr_json_lines(self) -> list:
        out = []
        for line in self.stderr_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def api(self) -> "Api":
        api = Api(self.base_url)
        api.s.verify = self.verify
        return api

    def admin(self) -> "Api":
        api = self.api()
        api.login_admin(self.admin_password)
        return api


# --------------------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------------------

def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def basic(username: str, password: str) -> dict:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    register_secret(password)
    register_secret(raw)
    return {"Authorization": f"Basic {raw}"}


def assert_error(resp, status: int, code: str) -> dict:
    """Asserts a documented error response: status, JSON {"error", "error_description"}."""
    assert resp.status_code == status, (
        f"expected {status} {code}, got {resp.status_code}: {resp.text[:500]}")
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {resp.text[:500]!r}")
    assert isinstance(body, dict), body
    assert body.get("error") == code, f"expected error={code!r}, got {body}"
    desc = body.get("error_description")
    assert isinstance(desc, str) and desc.strip(), f"missing error_description: {body}"
    return body


def www_authenticate(resp) -> str:
    """All WWW-Authenticate header values joined (requests folds repeats with ', ')."""
    values = resp.raw.headers.getlist("WWW-Authenticate") if resp.raw is not None else []
    if not values and "WWW-Authenticate" in resp.headers:
        values = [resp.headers["WWW-Authenticate"]]
    return " | ".join(values)


def assert_challenges(resp, token_presented: bool) -> None:
    """401 challenges per docs/api.md: Bearer (with error="invalid_token" iff a token was
    presented) and Basic."""
    header = www_authenticate(resp)
    assert 'Bearer realm="gatehouse"' in header, f"WWW-Authenticate: {header!r}"
    assert 'Basic realm="gatehouse", charset="UTF-8"' in header, f"WWW-Authenticate: {header!r}"
    if token_presented:
        assert 'Bearer realm="gatehouse", error="invalid_token"' in header, f"WWW-Authenticate: {header!r}"
    else:
        assert "error=" not in header, f"no credential was sent, but: {header!r}"


class Api:
    """A thin client for the documented endpoints. Every call returns the raw response."""

    def __init__(self, base_url: str, session: requests.Session | None = None):
        self.base_url = base_url
        self.s = session or requests.Session()
        self.token: str | None = None
        self.refresh_token: str | None = None

    def req(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        # Per request: REQUESTS_CA_BUNDLE in the environment would override Session.verify.
        kw.setdefault("verify", self.s.verify)
        return self.s.request(method, self.base_url + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    def patch(self, path, **kw):
        return self.req("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    # -- auth ------------------------------------------------------------------------------
    def login(self, username: str, password: str, field: str = "username") -> requests.Response:
        return self.post("/auth/login", json={field: username, "password": password})

    def login_ok(self, username: str, password: str, field: str = "username") -> dict:
        r = self.login(username, password, field)
        assert r.status_code == 200, f"login {username} failed: {r.status_code} {r.text}"
        return r.json()

    def login_admin(self, password: str) -> None:
        body = self.login_ok("admin", password)
        self.token = body["access_token"]
        self.refresh_token = body["refresh_token"]

    def auth_headers(self) -> dict:
        assert self.token, "not logged in"
        return bearer(self.token)

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.post("/auth/refresh", json={"refresh_token": refresh_token})

    def me(self, headers: dict) -> requests.Response:
        return self.get("/users/me", headers=headers)

    # -- admin -----------------------------------------------------------------------------
    def create_user(self, username: str | None = None, password: str | None = None,
                    email: str | None = None, roles: list | None = None) -> dict:
        username = username or unique_name()
        password = password or new_password()
        body = {"username": username, "password": password}
        if email is not None:
            body["email"] = email
        if roles is not None:
            body["roles"] = roles
        r = self.post("/api/users", json=body, headers=self.auth_headers())
        assert r.status_code == 201, f"create user {username}: {r.status_code} {r.text}"
        user = r.json()
        user["password"] = password
        return user

    def patch_user(self, user_id: str, body: dict) -> requests.Response:
        return self.patch(f"/api/users/{user_id}", json=body, headers=self.auth_headers())

    def delete_user(self, user_id: str) -> requests.Response:
        return self.delete(f"/api/users/{user_id}", headers=self.auth_headers())

    def audit(self, **params) -> list:
        """All audit events (following next_cursor)."""
        events = []
        params = {k: v for k, v in params.items() if v is not None}
        params.setdefault("limit", 100)
        for _ in range(1000):
            r = self.get("/api/audit", params=params, headers=self.auth_headers())
            assert r.status_code == 200, f"GET /api/audit: {r.status_code} {r.text}"
            body = r.json()
            events.extend(body["events"])
            if not body.get("next_cursor"):
                return events
            params["cursor"] = body["next_cursor"]
        raise AssertionError("audit pagination did not terminate")


def race_posts(targets: list[tuple[str, dict]]) -> list:
    """POSTs each (url, json body) from its own thread and connection, all released at once (the
    connections are opened first, so the requests really race). Returns the responses in order;
    fails if any request raised."""
    n = len(targets)
    barrier = threading.Barrier(n)
    sessions = [requests.Session() for _ in range(n)]
    for (url, _), sess in zip(targets, sessions):
        base = url.split("/", 3)
        assert sess.get("/".join(base[:3]) + "/healthz", timeout=10).status_code == 200
    results: list = [None] * n

    def worker(i):
        barrier.wait()
        try:
            results[i] = sessions[i].post(targets[i][0], json=targets[i][1], timeout=30)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for sess in sessions:
        sess.close()
    errors = [r for r in results if not isinstance(r, requests.Response)]
    assert not errors, errors
    return results


def session_of(api: Api, username: str, password: str) -> dict:
    """Logs in and returns {"access": A, "refresh": R}."""
    body = api.login_ok(username, password)
    return {"access": body["access_token"], "refresh": body["refresh_token"]}


# --------------------------------------------------------------------------------------
# Raw sockets
# --------------------------------------------------------------------------------------

def free_port() -> int:
    """A loopback port nothing listens on right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_exchange(port: int, data: bytes, timeout: float = 5.0, read_until_close: bool = True) -> bytes:
    """Sends bytes, returns everything received until the peer closes (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock, timeout, read_until_close)


def read_all(sock: socket.socket, timeout: float, until_close: bool = True) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            if not until_close and chunks:
                data = b"".join(chunks)
                if response_complete(data):
                    break
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        if not until_close and response_complete(b"".join(chunks)):
            break
    return b"".join(chunks)


def response_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return m is not None and len(body) >= int(m.group(1))


def parse_raw_response(data: bytes):
    """-> (status:int, headers: dict[lower]->list, body: bytes)"""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete HTTP response head in {data[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    m = re.match(r"^HTTP/1\.[01] (\d{3})", status_line)
    assert m, f"bad status line {status_line!r}"
    headers: dict = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(m.group(1)), headers, body


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

class Cli:
    """Runs `gatehouse <args> --data-dir DIR` with stdin, recording output for the secret scan."""

    def __init__(self, workdir: Path, data_dir: Path, env: dict | None = None):
        self.workdir = Path(workdir)
        self.data_dir = Path(data_dir)
        self.env = base_env({**FAST_HASH_ENV, **(env or {})})
        self._n = 0
        if self.data_dir not in DATA_DIRS:
            DATA_DIRS.append(self.data_dir)

    def run(self, *args, stdin: str | None = None, data_dir: bool = True, timeout: float = 60,
            secret_stdout: bool = False):
        """secret_stdout: the command prints a secret on stdout by design (`key create`); it is
        left out of the recorded output, which the secret scan reads."""
        require_binary()
        self._n += 1
        cmd = [BIN, *args]
        if data_dir:
            cmd += ["--data-dir", str(self.data_dir)]
        proc = subprocess.run(cmd, input=(stdin if stdin is not None else "").encode(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                              cwd=self.workdir, timeout=timeout)
        out = self.workdir / f"cli.{self._n}.out"
        shown_stdout = b"<withheld: a secret by design>" if secret_stdout else proc.stdout
        out.write_bytes(b"$ " + " ".join(cmd).encode() + b"\n--- stdout\n" + shown_stdout +
                        b"\n--- stderr\n" + proc.stderr)
        LOG_FILES.append(out)
        proc.stdout_text = proc.stdout.decode(errors="replace")
        proc.stderr_text = proc.stderr.decode(errors="replace")
        return proc


def kill_leftovers() -> None:
    for proc in PROCESSES:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def random_base62(n: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(_secrets.choice(alphabet) for _ in range(n))


# --------------------------------------------------------------------------------------
# JWT helpers (test_jwt_*.py): unpadded base64url, compact JWS assembly, the JWKS
# --------------------------------------------------------------------------------------

def b64url(data) -> str:
    """Unpadded base64url of bytes (str is UTF-8 encoded first)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_header(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[0]))


def jwt_claims(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[1]))


def compact_jws(header, payload, signature: bytes = b"") -> str:
    """header/payload: a dict (compact JSON) or the exact JSON text (str/bytes) to encode."""
    def text(part):
        if isinstance(part, dict):
            return json.dumps(part, separators=(",", ":"))
        return part
    return f"{b64url(text(header))}.{b64url(text(payload))}.{b64url(signature)}"


def hs256_sign(secret, signing_input: str) -> bytes:
    import hashlib
    import hmac
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()


def jwks_of(server) -> dict:
    r = requests.get(server.url + "/.well-known/jwks.json", timeout=10)
    assert r.status_code == 200, f"GET /.well-known/jwks.json: {r.status_code} {r.text[:300]}"
    return r.json()


def jwks_kids(server) -> set:
    return {k["kid"] for k in jwks_of(server)["keys"]}


def serve_module(srv):
    """Runs `srv` for a module-scoped fixture (`yield from serve_module(...)`): starts it, and
    afterwards stops it and fails the module if it exited on its own (a crash, or a signal)."""
    import pytest  # noqa: PLC0415 - support.py is also imported outside pytest
    srv.start()
    yield srv
    problem = srv.exited_unexpectedly()
    if srv.running():
        srv.stop()
    if problem:
        pytest.fail(problem, pytrace=False)
