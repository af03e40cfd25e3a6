"""Request size limits, malformed HTTP, slow clients. After each the server must still serve."""
import json
import socket
import time

import requests

from support import assert_error, parse_raw_response, raw_exchange, read_all


def healthy(server):
    r = requests.get(server.url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def raw_error(data):
    status, headers, body = parse_raw_response(data)
    payload = json.loads(body.decode())
    return status, headers, payload


def test_body_too_large_413(server):
    body = b'{"username": "admin", "password": "' + b"x" * (100 * 1024) + b'"}'
    r = requests.post(server.url + "/auth/login", data=body, headers={"Content-Type": "application/json"},
                      timeout=30)
    err = assert_error(r, 413, "payload_too_large")
    assert err["error_description"]
    healthy(server)


def test_body_too_large_raw_declared_length(server):
    # Content-Length alone exceeds the limit: refused without waiting for the body
    head = (b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n")
    data = raw_exchange(server.port, head + b"{" * 1000, timeout=10)
    status, headers, payload = raw_error(data)
    assert status == 413
    assert payload["error"] == "payload_too_large" and payload["error_description"]
    healthy(server)


def test_body_below_limit_is_processed(server):
    # 60 KiB: under the 64 KiB limit, so it is parsed (and is just a failed login)
    body = json.dumps({"username": "nobody-here", "password": "p" * (60 * 1024)}).encode()
    assert len(body) < 64 * 1024
    r = requests.post(server.url + "/auth/login", data=body, headers={"Content-Type": "application/json"},
                      timeout=30)
    assert r.status_code != 413
    assert_error(r, 401, "invalid_credentials")


def test_chunked_body_too_large_413(server):
    def chunks():
        for _ in range(100):
            yield b"a" * 1024
    r = requests.post(server.url + "/auth/login", data=chunks(), headers={"Content-Type": "application/json"},
                      timeout=30)
    assert_error(r, 413, "payload_too_large")
    healthy(server)


def test_chunked_trailer_fields_are_not_headers(server, admin):
    # A credential in a chunked body's trailer must not count as one: proxies filter headers.
    body = b'{"name":"trailer"}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n"

    def create_key(in_header: str, in_trailer: str):
        head = (f"POST /api/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\n{in_header}\r\n").encode()
        status, _, _ = parse_raw_response(raw_exchange(server.port, head + chunked + in_trailer.encode() + b"\r\n",
                                                       timeout=10))
        return status

    auth = f"Authorization: Bearer {admin.token}\r\n"
    assert create_key(in_header="", in_trailer=auth) == 401
    assert create_key(in_header=auth, in_trailer="") == 201  # the same request, credential in the header
    healthy(server)


def test_header_too_large_431(server):
    r = requests.get(server.url + "/healthz", headers={"X-Big": "a" * (32 * 1024)}, timeout=30)
    err = assert_error(r, 431, "request_header_fields_too_large")
    assert err["error_description"]
    healthy(server)


def test_many_headers_too_large_431(server):
    headers = {f"X-H{i}": "v" * 100 for i in range(300)}  # ~32 KiB in total
    r = requests.get(server.url + "/healthz", headers=headers, timeout=30)
    assert_error(r, 431, "request_header_fields_too_large")
    healthy(server)


def test_malformed_http_400(server):
    for garbage in [
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header line without colon\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",  # a TLS ClientHello
    ]:
        data = raw_exchange(server.port, garbage, timeout=10)
        status, headers, payload = raw_error(data)
        assert status == 400, (garbage[:40], data[:200])
        assert payload["error"] == "invalid_request", payload
        assert payload["error_description"]
        healthy(server)


def test_connection_closed_after_malformed_request(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = read_all(sock, timeout=5, until_close=True)  # returns only once the server closes
        status, _, _ = parse_raw_response(data)
        assert status == 400
        # the server closed: a further send/recv finds no answer
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            more = sock.recv(1024)
        except OSError:
            more = b""
        assert more == b""


def test_unknown_path_and_method(server):
    r = requests.get(server.url + "/definitely/not/here", timeout=10)
    assert_error(r, 404, "not_found")
    r = requests.patch(server.url + "/auth/login", json={}, timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", "")
    healthy(server)


def test_configured_body_limit(start_server):
    srv = start_server(env={"GATEHOUSE_SERVER_MAX_BODY_BYTES": "2048"})
    body = json.dumps({"username": "nobody-here", "password": "q" * 3000}).encode()
    r = requests.post(srv.url + "/auth/login", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(r, 413, "payload_too_large")
    body = json.dumps({"username": "nobody-here", "password": "q" * 1500}).encode()
    r = requests.post(srv.url + "/auth/login", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(r, 401, "invalid_credentials")
    healthy(srv)


def test_header_timeout_408(start_server):
    srv = start_server(env={"GATEHOUSE_SERVER_HEADER_TIMEOUT": "1"})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes the head
        t0 = time.monotonic()
        data = read_all(sock, timeout=8, until_close=True)
        elapsed = time.monotonic() - t0
    status, _, body = parse_raw_response(data)
    assert status == 408, data[:200]
    assert json.loads(body)["error"] == "request_timeout"
    assert elapsed < 5, f"408 after {elapsed:.1f}s with a 1 s header timeout"
    healthy(srv)


def test_slow_client_does_not_block_others(start_server):
    srv = start_server(env={"GATEHOUSE_SERVER_HEADER_TIMEOUT": "5"})
    socks = []
    try:
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # stalls
            socks.append(s)
        t0 = time.monotonic()
        healthy(srv)
        assert time.monotonic() - t0 < 2
    finally:
        for s in socks:
            s.close()
