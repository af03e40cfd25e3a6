"""Health, readiness, request ids, common headers, routing errors."""
import re

import requests

from support import assert_error

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def test_healthz(server):
    r = requests.get(server.url + "/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert r.headers.get("X-Content-Type-Options") == "nosniff"


def test_readyz(server):
    r = requests.get(server.url + "/readyz", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


def test_request_id_generated(server):
    r1 = requests.get(server.url + "/healthz", timeout=10)
    r2 = requests.get(server.url + "/healthz", timeout=10)
    for r in (r1, r2):
        rid = r.headers.get("X-Request-Id")
        assert rid and REQUEST_ID_RE.match(rid), rid
    assert r1.headers["X-Request-Id"] != r2.headers["X-Request-Id"]


def test_request_id_echoed(server):
    rid = "client-req_1.2:abc"
    r = requests.get(server.url + "/healthz", headers={"X-Request-Id": rid}, timeout=10)
    assert r.headers.get("X-Request-Id") == rid
    # also on errors
    r = requests.get(server.url + "/no/such/path", headers={"X-Request-Id": rid}, timeout=10)
    assert r.status_code == 404
    assert r.headers.get("X-Request-Id") == rid


def test_request_id_max_length_echoed(server):
    rid = "a" * 128
    r = requests.get(server.url + "/healthz", headers={"X-Request-Id": rid}, timeout=10)
    assert r.headers.get("X-Request-Id") == rid


def test_insane_request_id_replaced(server):
    for bad in ["has space", "a" * 129, "semi;colon", "quote\"x", "<script>"]:
        r = requests.get(server.url + "/healthz", headers={"X-Request-Id": bad}, timeout=10)
        assert r.status_code == 200
        rid = r.headers.get("X-Request-Id")
        assert rid and rid != bad and REQUEST_ID_RE.match(rid), (bad, rid)


def test_unknown_path_404(server):
    for path in ["/nope", "/api/nope", "/users", "/auth"]:
        r = requests.get(server.url + path, timeout=10)
        assert_error(r, 404, "not_found")
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert r.headers.get("X-Request-Id")


def test_wrong_method_405(server):
    r = requests.get(server.url + "/auth/login", timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", ""), r.headers
    r = requests.delete(server.url + "/healthz", timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", ""), r.headers
    r = requests.put(server.url + "/users/me", timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", ""), r.headers


def test_register_is_off(server):
    r = requests.post(server.url + "/auth/register", json={"username": "someone", "password": "whatever-pass-1"},
                      timeout=10)
    assert_error(r, 404, "not_found")


def test_keep_alive_serves_many_requests(server):
    with requests.Session() as s:
        for _ in range(20):
            r = s.get(server.url + "/healthz", timeout=10)
            assert r.status_code == 200


def test_healthz_stays_fast_during_login_storm(start_server):
    import threading
    import time
    heavy = {"GATEHOUSE_ACCOUNTS_ARGON2_MEMORY_KIB": "32768", "GATEHOUSE_ACCOUNTS_ARGON2_ITERATIONS": "3"}
    srv = start_server(env=heavy)
    stop = threading.Event()

    def storm(i):
        with requests.Session() as s:
            while not stop.is_set():
                s.post(srv.url + "/auth/login", json={"username": f"storm{i}", "password": "storm-password-1"},
                       timeout=60)

    threads = [threading.Thread(target=storm, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        worst = 0.0
        for _ in range(10):
            t0 = time.perf_counter()
            r = requests.get(srv.url + "/healthz", timeout=10)
            worst = max(worst, time.perf_counter() - t0)
            assert r.status_code == 200
            time.sleep(0.05)
        assert worst < 1.0, f"/healthz took {worst:.2f}s during a login storm"
    finally:
        stop.set()
        for t in threads:
            t.join(60)
