"""Hostile clients at the HTTP layer (issue 10): request smuggling, body and header bombs,
pipelined garbage, slowloris and 10,000 dropped connections. After each, the server must
still serve, and must not have acted on anything a confused parser could have let through.

test_limits.py covers the single-request limits (413, 431, 408, malformed 400); this module
covers what an attacker does with many requests, many connections or ambiguous framing.
"""
from __future__ import annotations

import errno
import json
import os
import random
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import requests

from support import parse_raw_response, raw_exchange, read_all, unique_name


def healthy(server) -> None:
    r = requests.get(server.url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def open_fds(server) -> int:
    return len(list(Path(f"/proc/{server.proc.pid}/fd").iterdir()))


def rss_kib(server) -> int:
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def wait_for_fds(server, at_most: int, timeout: float = 15.0) -> int:
    """Waits until the server holds at most `at_most` descriptors; returns the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = open_fds(server)
        if n <= at_most or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def split_responses(data: bytes) -> list[tuple[int, bytes]]:
    """Every (status, body) in a byte stream of pipelined responses (all with Content-Length)."""
    out = []
    while data:
        status, headers, rest = parse_raw_response(data)
        length = int(headers.get("content-length", ["0"])[0])
        out.append((status, rest[:length]))
        data = rest[length:]
    return out


def key_names(admin) -> set[str]:
    r = admin.get("/api/keys", headers=admin.auth_headers())
    assert r.status_code == 200, r.text
    return {k["name"] for k in r.json()["keys"]}


def create_key_request(admin, name: str) -> bytes:
    """A complete request that, if it were ever executed, would leave a key named `name`."""
    body = json.dumps({"name": name}).encode()
    return (b"POST /api/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + admin.token.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


# --------------------------------------------------------------------------------------
# Request smuggling: every ambiguous framing is refused (400) and the connection closed, so
# a request hidden behind it is never executed, whichever way a front proxy read the framing.
# --------------------------------------------------------------------------------------

CHUNKED_EMPTY = b"0\r\n\r\n"

SMUGGLING = {
    # name: (header lines, body before the hidden request)
    "cl_and_te": (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", CHUNKED_EMPTY),
    "te_and_cl": (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", CHUNKED_EMPTY),
    "cl_and_te_zero": (b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", CHUNKED_EMPTY),
    "duplicate_cl_equal": (b"Content-Length: 0\r\nContent-Length: 0\r\n", b""),
    "duplicate_cl_differing": (b"Content-Length: 0\r\nContent-Length: 5\r\n", b""),
    "cl_list": (b"Content-Length: 0, 0\r\n", b""),
    "cl_plus_sign": (b"Content-Length: +0\r\n", b""),
    "cl_negative": (b"Content-Length: -1\r\n", b""),
    "cl_hex": (b"Content-Length: 0x0\r\n", b""),
    "cl_overflow": (b"Content-Length: 18446744073709551617\r\n", b""),
    "te_identity": (b"Transfer-Encoding: identity\r\n", b""),
    "te_gzip_chunked": (b"Transfer-Encoding: gzip, chunked\r\n", CHUNKED_EMPTY),
    "te_chunked_chunked": (b"Transfer-Encoding: chunked, chunked\r\n", CHUNKED_EMPTY),
    "te_chunked_identity": (b"Transfer-Encoding: chunked, identity\r\n", CHUNKED_EMPTY),
    "te_xchunked": (b"Transfer-Encoding: xchunked\r\n", CHUNKED_EMPTY),
    "te_twice": (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", CHUNKED_EMPTY),
    "te_space_before_colon": (b"Transfer-Encoding : chunked\r\n", CHUNKED_EMPTY),
    "te_vertical_tab": (b"Transfer-Encoding:\x0bchunked\r\n", CHUNKED_EMPTY),
    "te_empty": (b"Transfer-Encoding: \r\n", b""),
    "chunk_size_overflow": (b"Transfer-Encoding: chunked\r\n", b"10000000000000000\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"),
    "chunk_size_junk": (b"Transfer-Encoding: chunked\r\n", b"0x0\r\n\r\n"),
    "no_host": None,
    "two_hosts": (b"Host: y\r\n", b""),
}


@pytest.mark.parametrize("case", sorted(SMUGGLING))
def test_ambiguous_framing_is_refused_and_nothing_behind_it_runs(server, admin, case):
    hidden = f"smuggled-{case}-{unique_name('k')}"
    if case == "no_host":
        request = b"POST /auth/login HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    else:
        headers, body = SMUGGLING[case]
        request = b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers + b"\r\n" + body
    data = raw_exchange(server.port, request + create_key_request(admin, hidden), timeout=10)
    responses = split_responses(data)
    assert len(responses) == 1, f"{case}: {len(responses)} responses: {data[:400]!r}"
    status, body = responses[0]
    assert status == 400, f"{case}: {status} {body!r}"
    payload = json.loads(body)
    assert payload["error"] == "invalid_request" and payload["error_description"]
    assert b"Connection: close" in data.split(b"\r\n\r\n")[0]
    assert hidden not in key_names(admin)
    healthy(server)


def test_te_on_http10_is_refused(server, admin):
    hidden = unique_name("smuggled-http10-")
    request = (b"POST /auth/login HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_EMPTY
               + create_key_request(admin, hidden))
    status, _, body = parse_raw_response(raw_exchange(server.port, request, timeout=10))
    assert status == 400 and b"Transfer-Encoding" in body
    assert hidden not in key_names(admin)


def test_plain_chunked_and_pipelining_still_work(server, admin):
    """The refusals above are not a refusal of chunked bodies or of pipelining as such."""
    name = unique_name("chunked-ok-")
    body = json.dumps({"name": name}).encode()
    chunked = (b"POST /api/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + admin.token.encode() + b"\r\nTransfer-Encoding: Chunked\r\n\r\n"
               + f"{len(body):x};ext=1\r\n".encode() + body + b"\r\n0\r\n\r\n")
    second = unique_name("pipelined-ok-")
    data = raw_exchange(server.port, chunked + create_key_request(admin, second)
                        + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=10)
    assert [s for s, _ in split_responses(data)] == [201, 201, 200]
    assert {name, second} <= key_names(admin)


# --------------------------------------------------------------------------------------
# Body and header bombs
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("framing", ["content_length", "chunked", "expect_continue"])
def test_one_gigabyte_declared_body_is_refused_before_reading(server, framing):
    head = b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if framing == "content_length":
        head += b"Content-Length: 1073741824\r\n\r\n"
    elif framing == "chunked":
        head += b"Transfer-Encoding: chunked\r\n\r\n40000000\r\n"
    else:
        head += b"Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n"
    rss_before = rss_kib(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        t0 = time.monotonic()
        sock.sendall(head + b"{")  # one byte of the gigabyte; the rest is never sent
        data = read_all(sock, timeout=5, until_close=True)
        elapsed = time.monotonic() - t0
    status, headers, body = parse_raw_response(data)
    assert status == 413, data[:300]
    assert not data.startswith(b"HTTP/1.1 100"), "100 Continue invited the gigabyte"
    assert json.loads(body)["error"] == "payload_too_large"
    assert elapsed < 3, f"the refusal took {elapsed:.1f}s: it waited for the body"
    assert rss_kib(server) - rss_before < 16 * 1024, "memory was reserved for the declared length"
    healthy(server)


def stream_until_closed(port: int, head: bytes, filler: bytes, limit: int) -> tuple[int, bytes]:
    """Sends head, then filler forever, until the server closes (or `limit` bytes went out).
    Returns (bytes sent, what the server answered)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sent += len(head)
        sock.settimeout(5)
        try:
            while sent < limit:
                sent += sock.send(filler)
        except OSError as e:  # EPIPE / ECONNRESET: the server closed while we were still sending
            assert e.errno in (errno.EPIPE, errno.ECONNRESET), e
        try:
            data = read_all(sock, timeout=5, until_close=True)
        except OSError:
            data = b""
    return sent, data


def test_endless_chunked_body_is_cut_off(server):
    head = b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
    sent, data = stream_until_closed(server.port, head, chunk * 64, limit=512 * 1024 * 1024)
    # 64 KiB of body, up to 1 MiB drained after the answer, and the kernel's socket buffers.
    assert sent < 64 * 1024 * 1024, f"the server read {sent} bytes of an endless body"
    if data:  # the 413 may be lost in the reset when the client is still sending
        assert parse_raw_response(data)[0] == 413


@pytest.mark.parametrize("bomb", ["one_endless_line", "endless_small_fields"])
def test_endless_header_is_cut_off(server, bomb):
    if bomb == "one_endless_line":
        head, filler = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bomb: ", b"a" * 65536
    else:
        head, filler = b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-A: b\r\n" * 8192
    sent, data = stream_until_closed(server.port, head, filler, limit=512 * 1024 * 1024)
    assert sent < 64 * 1024 * 1024, f"the server read {sent} bytes of an endless header"
    if data:
        assert parse_raw_response(data)[0] == 431
    healthy(server)


# --------------------------------------------------------------------------------------
# Pipelining and garbage
# --------------------------------------------------------------------------------------

def test_pipelined_requests_then_garbage(server, admin):
    hidden = unique_name("after-garbage-")
    burst = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 50
    garbage = b"\x00\xff GARBAGE \x01\x02\r\n\r\n"
    data = raw_exchange(server.port, burst + garbage + create_key_request(admin, hidden), timeout=10)
    statuses = [s for s, _ in split_responses(data)]
    assert statuses == [200] * 50 + [400], statuses
    assert hidden not in key_names(admin)
    healthy(server)


def test_random_garbage_never_gets_a_5xx(server):
    rng = random.Random(20261129)
    print("seed 20261129")
    prefixes = [b"", b"GET ", b"POST /auth/login HTTP/1.1\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                b"\x16\x03\x01", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]
    answered = 0
    for _ in range(300):
        blob = rng.choice(prefixes) + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        if rng.random() < 0.5:
            blob += b"\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(blob)
            sock.shutdown(socket.SHUT_WR)  # the server sees the end of the request stream
            try:
                data = read_all(sock, timeout=5, until_close=True)
            except ConnectionResetError:
                data = b""
        if data:
            answered += 1
            status = parse_raw_response(data)[0]
            assert 400 <= status < 500 or status == 200, (blob[:60], data[:200])
    assert answered > 100
    healthy(server)


# --------------------------------------------------------------------------------------
# Connection floods
# --------------------------------------------------------------------------------------

def test_slowloris_does_not_starve_others(start_server):
    """1,000 clients that each send a header a few bytes at a time, never finishing it. Others
    are still served at once, and each slow one is cut off at the header timeout (a deadline
    for the whole header, which dripping bytes does not extend)."""
    srv = start_server(env={"GATEHOUSE_SERVER_HEADER_TIMEOUT": "3"})
    baseline = open_fds(srv)
    user = srv.admin().create_user()
    slow = []
    for _ in range(1000):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            for s in slow:
                try:
                    s.send(b"X-Drip: a\r\n")
                except OSError:
                    pass
            stop.wait(0.3)

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    t_start = time.monotonic()
    try:
        latencies = []
        for _ in range(30):
            t0 = time.monotonic()
            healthy(srv)
            latencies.append(time.monotonic() - t0)
        t0 = time.monotonic()
        r = requests.post(srv.url + "/auth/login", json={"username": user["username"], "password": user["password"]},
                          timeout=10)
        login_time = time.monotonic() - t0
        assert r.status_code == 200, r.text
        assert max(latencies) < 1.0, f"healthz under slowloris: max {max(latencies):.2f}s"
        assert login_time < 2.0, f"login under slowloris took {login_time:.2f}s"
        # Every slow client is cut off by the deadline, dripping or not.
        cut_off = 0
        for s in slow:
            s.settimeout(max(0.1, t_start + 10 - time.monotonic()))
            try:
                data = read_all(s, timeout=max(0.1, t_start + 10 - time.monotonic()), until_close=True)
                if not data or data.startswith(b"HTTP/1.1 408"):
                    cut_off += 1
            except OSError:
                cut_off += 1
        assert cut_off == len(slow), f"only {cut_off} of {len(slow)} slow clients were cut off"
    finally:
        stop.set()
        dripper.join(5)
        for s in slow:
            s.close()
    assert wait_for_fds(srv, baseline + 5) <= baseline + 5
    healthy(srv)


def test_silent_connections_are_closed_at_the_header_timeout(start_server):
    """A client that connects and sends nothing holds its slot for the header timeout, not the
    60 s of an idle keep-alive connection (which it has not earned by sending a request)."""
    srv = start_server(env={"GATEHOUSE_SERVER_HEADER_TIMEOUT": "1"})
    baseline = open_fds(srv)
    silent = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(200)]
    try:
        t0 = time.monotonic()
        for s in silent:
            assert read_all(s, timeout=max(0.1, t0 + 5 - time.monotonic()), until_close=True) == b""
        elapsed = time.monotonic() - t0
        assert elapsed < 3, f"silent connections lasted {elapsed:.1f}s with a 1 s header timeout"
    finally:
        for s in silent:
            s.close()
    assert wait_for_fds(srv, baseline + 5) <= baseline + 5
    # A connection that has sent a request keeps the idle keep-alive time.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert parse_raw_response(read_all(sock, timeout=5, until_close=False))[0] == 200
        time.sleep(2.5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert parse_raw_response(read_all(sock, timeout=5, until_close=True))[0] == 200


def test_ten_thousand_connections_opened_and_dropped(start_server):
    srv = start_server()
    healthy(srv)
    baseline, rss_before = open_fds(srv), rss_kib(srv)
    linger_rst = struct.pack("ii", 1, 0)
    full_request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    opened = 0
    for batch in range(20):
        socks = []
        for i in range(500):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(("127.0.0.1", srv.port))
            opened += 1
            mode = (batch * 500 + i) % 5
            if mode == 1:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # half a request
            elif mode == 2:
                s.sendall(full_request)  # a request whose answer nobody reads
            elif mode == 3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_rst)  # reset, not FIN
            elif mode == 4:
                s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # half a body
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_rst)
            socks.append(s)
        for s in socks:
            s.close()
    assert opened == 10_000
    healthy(srv)
    fds = wait_for_fds(srv, baseline + 5)
    assert fds <= baseline + 5, f"{fds} descriptors open after the flood, {baseline} before"
    rss_growth = rss_kib(srv) - rss_before
    print(f"10,000 connections: fds {baseline} -> {fds}, RSS +{rss_growth} KiB")
    if "ASAN_OPTIONS" not in os.environ:  # under make test-asan, freed memory sits in ASan's quarantine
        assert rss_growth < 64 * 1024, f"RSS grew by {rss_growth} KiB"
    admin = srv.admin()
    assert admin.get("/users/me", headers=admin.auth_headers()).status_code == 200
