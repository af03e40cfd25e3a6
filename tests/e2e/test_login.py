"""POST /auth/login."""
import statistics
import time

import pytest
import requests

from support import ACCESS_RE, REFRESH_RE, assert_error, bearer, new_password, unique_name

LOGIN_KEYS = {"token", "access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}


def check_login_body(r, expires_in=3600, refresh_expires_in=2592000):
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    body = r.json()
    assert set(body) == LOGIN_KEYS, body.keys()
    assert body["token"] == body["access_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == expires_in and type(body["expires_in"]) is int
    assert body["refresh_expires_in"] == refresh_expires_in and type(body["refresh_expires_in"]) is int
    assert ACCESS_RE.match(body["access_token"]), body["access_token"][:8]
    assert REFRESH_RE.match(body["refresh_token"]), body["refresh_token"][:8]
    return body


def test_login_success_shape(server, make_user):
    u = make_user()
    r = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                      timeout=10)
    body = check_login_body(r)
    me = requests.get(server.url + "/users/me", headers=bearer(body["token"]), timeout=10)
    assert me.status_code == 200
    assert me.json()["username"] == u["username"]


def test_each_login_issues_new_tokens(server, make_user):
    u = make_user()
    a = check_login_body(requests.post(server.url + "/auth/login",
                                       json={"username": u["username"], "password": u["password"]}, timeout=10))
    b = check_login_body(requests.post(server.url + "/auth/login",
                                       json={"username": u["username"], "password": u["password"]}, timeout=10))
    assert a["access_token"] != b["access_token"]
    assert a["refresh_token"] != b["refresh_token"]


def test_wrong_password_and_unknown_user_identical(server, make_user):
    u = make_user()
    wrong = requests.post(server.url + "/auth/login",
                          json={"username": u["username"], "password": new_password("wrong")}, timeout=10)
    unknown = requests.post(server.url + "/auth/login",
                            json={"username": unique_name("ghost"), "password": new_password("wrong")}, timeout=10)
    b1 = assert_error(wrong, 401, "invalid_credentials")
    b2 = assert_error(unknown, 401, "invalid_credentials")
    assert b1 == b2
    assert wrong.content == unknown.content
    for r in (wrong, unknown):
        assert "token" not in r.json() and "access_token" not in r.json()


def test_disabled_user_gets_same_401(server, admin, make_user):
    u = make_user()
    r = admin.patch_user(u["id"], {"disabled": True})
    assert r.status_code == 200, r.text
    disabled = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                             timeout=10)
    unknown = requests.post(server.url + "/auth/login",
                            json={"username": unique_name("ghost"), "password": new_password()}, timeout=10)
    assert_error(disabled, 401, "invalid_credentials")
    assert disabled.content == unknown.content


def test_login_by_email_field(server, make_user):
    name = unique_name("mail")
    u = make_user(username=name, email=f"{name}@example.com")
    r = requests.post(server.url + "/auth/login", json={"email": f"{name}@example.com", "password": u["password"]},
                      timeout=10)
    body = check_login_body(r)
    me = requests.get(server.url + "/users/me", headers=bearer(body["access_token"]), timeout=10)
    assert me.json()["username"] == name
    assert me.json()["email"] == f"{name}@example.com"


def test_login_username_field_falls_back_to_email(server, make_user):
    name = unique_name("fb")
    u = make_user(username=name, email=f"{name}@example.org")
    r = requests.post(server.url + "/auth/login",
                      json={"username": f"{name}@example.org", "password": u["password"]}, timeout=10)
    check_login_body(r)


def test_login_email_wrong_password(server, make_user):
    name = unique_name("mailw")
    make_user(username=name, email=f"{name}@example.com")
    r = requests.post(server.url + "/auth/login",
                      json={"email": f"{name}@example.com", "password": new_password("wrong")}, timeout=10)
    assert_error(r, 401, "invalid_credentials")


def test_username_case_insensitive(server, make_user):
    name = unique_name("MiXeD")
    u = make_user(username=name)
    for variant in (name.upper(), name.lower(), name):
        r = requests.post(server.url + "/auth/login", json={"username": variant, "password": u["password"]},
                          timeout=10)
        check_login_body(r)


def test_password_is_case_sensitive(server, make_user):
    u = make_user(password=new_password("CaseSens"))
    r = requests.post(server.url + "/auth/login",
                      json={"username": u["username"], "password": u["password"].swapcase()}, timeout=10)
    assert_error(r, 401, "invalid_credentials")


@pytest.mark.parametrize("raw", [
    b'{"username": "a", "password": ',     # truncated
    b"{username: a}",                       # not JSON
    b"",                                    # empty body
    b"\xff\xfe\x00garbage",                 # not UTF-8
])
def test_malformed_json_400(server, raw):
    r = requests.post(server.url + "/auth/login", data=raw, headers={"Content-Type": "application/json"},
                      timeout=10)
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize("raw", [b"[]", b'["admin", "pw"]', b'"string"', b"123", b"null", b"true"])
def test_non_object_json_400(server, raw):
    r = requests.post(server.url + "/auth/login", data=raw, headers={"Content-Type": "application/json"},
                      timeout=10)
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize("body,field", [
    ({"username": "admin", "password": 123}, "password"),
    ({"username": "admin", "password": None}, "password"),
    ({"username": "admin", "password": ["x"]}, "password"),
    ({"username": 5, "password": "whatever-123"}, "username"),
    ({"username": {"a": 1}, "password": "whatever-123"}, "username"),
    ({"email": 7, "password": "whatever-123"}, "email"),
])
def test_wrong_types_400(server, body, field):
    r = requests.post(server.url + "/auth/login", json=body, timeout=10)
    err = assert_error(r, 400, "invalid_request")
    assert field in err["error_description"], err


@pytest.mark.parametrize("body,field", [
    ({"username": "admin"}, "password"),
    ({"password": "whatever-123"}, "username"),
    ({}, "username"),
])
def test_missing_fields_400(server, body, field):
    r = requests.post(server.url + "/auth/login", json=body, timeout=10)
    err = assert_error(r, 400, "invalid_request")
    assert field in err["error_description"], err


def test_unknown_field_400(server):
    r = requests.post(server.url + "/auth/login",
                      json={"username": "admin", "password": "whatever-123", "remember_me": True}, timeout=10)
    err = assert_error(r, 400, "invalid_request")
    assert "remember_me" in err["error_description"], err


def test_no_error_leaks_internals(server):
    r = requests.post(server.url + "/auth/login", data=b'{"username": "x\'; DROP TABLE users;--", "password": 1}',
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400
    text = r.text.lower()
    for word in ("sqlite", "select ", "exception", "stack", "boost::"):
        assert word not in text, r.text


def test_login_with_default_argon2_params(start_server):
    """Default argon2id cost (no speed-up env): login works, and unknown users take about as
    long as wrong passwords (a dummy verify runs)."""
    srv = start_server(fast_hash=False)
    api = srv.api()
    r = api.login("admin", srv.admin_password)
    body = check_login_body(r)
    api.token = body["access_token"]
    u = api.create_user()
    ok = requests.post(srv.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                       timeout=30)
    check_login_body(ok)

    def timed(body):
        t0 = time.perf_counter()
        r = requests.post(srv.url + "/auth/login", json=body, timeout=30)
        dt = time.perf_counter() - t0
        assert_error(r, 401, "invalid_credentials")
        return dt

    wrong, unknown = [], []
    for _ in range(3):  # below any lockout threshold
        wrong.append(timed({"username": u["username"], "password": new_password("wrong")}))
        unknown.append(timed({"username": unique_name("ghost"), "password": new_password("wrong")}))
    w, n = statistics.median(wrong), statistics.median(unknown)
    # A real verify with m=19 MiB, t=2 takes tens of milliseconds; skipping it for unknown
    # users would make them several times faster.
    assert n >= 0.5 * w, f"unknown user {n * 1000:.1f} ms vs wrong password {w * 1000:.1f} ms"
