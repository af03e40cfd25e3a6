"""SIGTERM / SIGINT: stop accepting, finish in-flight requests, exit 0 promptly."""
import json
import signal
import socket
import threading
import time

import pytest
import requests

from support import parse_raw_response, read_all, register_secret


def connect_refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_idle_server_exits_0(start_server, sig):
    srv = start_server()
    assert requests.get(srv.url + "/healthz", timeout=10).status_code == 200
    t0 = time.monotonic()
    srv.send_signal(sig)
    assert srv.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 3
    assert connect_refused(srv.port)


def test_idle_keep_alive_connection_does_not_delay_exit(start_server):
    srv = start_server()
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(srv.url + "/healthz", timeout=10).status_code == 200
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 3, "an idle keep-alive connection held up shutdown"


def test_in_flight_request_completes(start_server):
    """Head and half a body are sent, then SIGTERM, then the rest: the request is answered
    (with Connection: close), new connections are refused meanwhile, and the exit is 0."""
    srv = start_server()
    register_secret("in-flight-pw-1")
    body = json.dumps({"username": "nobody-at-all", "password": "in-flight-pw-1"}).encode()
    head = (f"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert srv.running(), "exited with a request still in flight"
        assert connect_refused(srv.port), "still accepting new connections after SIGTERM"
        sock.sendall(body[10:])
        data = read_all(sock, timeout=10, until_close=True)
    status, headers, payload = parse_raw_response(data)
    assert status == 401, data[:300]
    assert json.loads(payload)["error"] == "invalid_credentials"
    assert [v.lower() for v in headers.get("connection", [])] == ["close"], headers
    assert srv.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5


def test_in_flight_slow_login_completes(start_server):
    """A login whose argon2id verify takes a while is running when SIGTERM arrives."""
    heavy = {"GATEHOUSE_ACCOUNTS_ARGON2_MEMORY_KIB": "65536", "GATEHOUSE_ACCOUNTS_ARGON2_ITERATIONS": "12"}
    srv = start_server(env=heavy)
    t0 = time.monotonic()
    r = requests.post(srv.url + "/auth/login", json={"username": "admin", "password": srv.admin_password},
                      timeout=60)
    duration = time.monotonic() - t0
    assert r.status_code == 200
    if duration < 0.4:
        pytest.skip(f"argon2id too fast here ({duration:.2f}s) to catch a request in flight")

    result = {}

    def do_login():
        try:
            result["r"] = requests.post(srv.url + "/auth/login",
                                        json={"username": "admin", "password": srv.admin_password}, timeout=60)
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    th = threading.Thread(target=do_login)
    th.start()
    time.sleep(duration * 0.4)
    t1 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    th.join(30)
    assert "e" not in result, f"in-flight login failed during shutdown: {result.get('e')!r}"
    assert result["r"].status_code == 200, result["r"].text
    assert srv.wait(timeout=15) == 0
    assert time.monotonic() - t1 < duration + 5


def test_stalled_client_bounded_by_shutdown_timeout(start_server):
    srv = start_server(env={"GATEHOUSE_SERVER_SHUTDOWN_TIMEOUT": "2", "GATEHOUSE_SERVER_HEADER_TIMEOUT": "30"})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # never finishes
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5


def test_restart_keeps_users_and_tokens(start_server):
    # The issuer is part of every JWT: pin it, since each start gets a new free port.
    srv = start_server(env={"GATEHOUSE_SERVER_ISSUER": "http://gatehouse.test"})
    admin = srv.admin()
    u = admin.create_user()
    r = requests.post(srv.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                      timeout=10)
    tokens = r.json()
    srv.restart()
    me = requests.get(srv.url + "/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                      timeout=10)
    assert me.status_code == 200, me.text
    r = requests.post(srv.url + "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(srv.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                      timeout=10)
    assert r.status_code == 200
