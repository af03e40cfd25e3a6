"""GET /users/me with every credential this build accepts, and every way to get it wrong."""
import base64
import http.client

import requests

from support import (ID_RE, TIME_RE, assert_challenges, assert_error, basic, bearer, new_password,
                     parse_raw_response, random_base62, raw_exchange, unique_name, www_authenticate)

ME_KEYS = {"id", "username", "email", "roles", "created_at", "auth"}
# SPEC §7: the user role is self-service: its own profile and its own API keys.
USER_SCOPES = {"keys:read", "keys:write", "profile:read", "profile:write"}
ADMIN_SCOPES = {"profile:read", "profile:write", "users:read", "users:write", "audit:read"}


def me(server, headers):
    return requests.get(server.url + "/users/me", headers=headers, timeout=10)


def check_me(body, user, method):
    assert set(body) == ME_KEYS, body.keys()
    assert body["id"] == user["id"]
    assert ID_RE.match(body["id"])
    assert body["username"] == user["username"]
    assert body["email"] == user.get("email")
    assert body["roles"] == user["roles"]
    assert TIME_RE.match(body["created_at"]), body["created_at"]
    assert body["created_at"] == user["created_at"]
    assert body["auth"]["method"] == method
    assert isinstance(body["auth"]["scopes"], list)


def test_me_bearer(server, admin, make_user):
    u = make_user()
    tok = admin.login_ok(u["username"], u["password"])["access_token"]
    r = me(server, bearer(tok))
    assert r.status_code == 200, r.text
    body = r.json()
    check_me(body, u, "jwt")  # the default tokens.format
    assert body["email"] is None  # unset email is null
    assert set(body["auth"]["scopes"]) == USER_SCOPES
    assert "password" not in body and "$argon2" not in r.text


def test_me_bearer_admin_scopes(server):
    api = server.api()
    tok = api.login_ok("admin", server.admin_password)["access_token"]
    r = me(server, bearer(tok))
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "admin"
    assert "admin" in body["roles"]
    assert ADMIN_SCOPES <= set(body["auth"]["scopes"]), body["auth"]
    assert body["auth"]["method"] == "jwt"  # the default tokens.format


def test_me_basic(server, make_user):
    name = unique_name("basic")
    u = make_user(username=name, email=f"{name}@example.com")
    r = me(server, basic(u["username"], u["password"]))
    assert r.status_code == 200, r.text
    check_me(r.json(), u, "basic")
    assert set(r.json()["auth"]["scopes"]) == USER_SCOPES
    # twice (the second is served via the success cache) and with the e-mail as user name
    r = me(server, basic(u["username"], u["password"]))
    assert r.status_code == 200
    r = me(server, basic(f"{name}@example.com", u["password"]))
    assert r.status_code == 200, r.text
    assert r.json()["username"] == name
    # requests' own auth= tuple
    r = requests.get(server.url + "/users/me", auth=(u["username"], u["password"]), timeout=10)
    assert r.status_code == 200
    assert r.json()["auth"]["method"] == "basic"


def test_me_basic_username_case_insensitive(server, make_user):
    name = unique_name("BaSiC")
    u = make_user(username=name)
    r = me(server, basic(name.upper(), u["password"]))
    assert r.status_code == 200, r.text
    assert r.json()["username"] == name


def test_me_basic_wrong_password(server, make_user):
    u = make_user()
    # warm any success cache first; failures must not be served from it
    assert me(server, basic(u["username"], u["password"])).status_code == 200
    r = me(server, basic(u["username"], new_password("wrong")))
    assert_error(r, 401, "invalid_credentials")
    assert_challenges(r, token_presented=False)
    r = me(server, basic(unique_name("ghost"), new_password("wrong")))
    assert_error(r, 401, "invalid_credentials")


def test_me_basic_password_with_colon(server, make_user):
    pw = new_password("co:lon")
    u = make_user(password=pw)
    r = me(server, basic(u["username"], pw))
    assert r.status_code == 200, r.text


def test_no_credentials(server):
    r = me(server, {})
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=False)


def test_bad_token(server):
    for tok in ["gat_" + random_base62(43), "grt_" + random_base62(43), "not-a-token-at-all", "gat_",
                "gat_" + random_base62(42), "gat_" + "a" * 5000]:
        r = me(server, {"Authorization": f"Bearer {tok}"})
        assert_error(r, 401, "invalid_token")
        assert_challenges(r, token_presented=True)


def test_refresh_token_is_not_an_access_token(server, make_user):
    u = make_user()
    body = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                         timeout=10).json()
    r = me(server, bearer(body["refresh_token"]))
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=True)


def test_malformed_authorization(server):
    cases = [
        "Foo bar",
        "Bearer",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Digest username=\"x\"",
    ]
    for value in cases:
        r = me(server, {"Authorization": value})
        assert_error(r, 401, "invalid_token")
        assert "WWW-Authenticate" in r.headers, value


def test_bearer_scheme_case_insensitive(server, make_user):
    u = make_user()
    tok = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                        timeout=10).json()["access_token"]
    r = me(server, {"Authorization": f"bearer {tok}"})
    assert r.status_code == 200, r.text  # RFC 7235: auth-scheme is case-insensitive


def test_two_credentials_authorization_and_api_key(server, make_user):
    u = make_user()
    tok = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                        timeout=10).json()["access_token"]
    r = me(server, {**bearer(tok), "X-API-Key": "gk_" + "b" * 43})
    assert_error(r, 400, "invalid_request")
    r = me(server, {**basic(u["username"], u["password"]), "X-API-Key": "gk_" + "c" * 43})
    assert_error(r, 400, "invalid_request")


def test_two_credentials_header_and_query(server, make_user):
    u = make_user()
    tok = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                        timeout=10).json()["access_token"]
    r = requests.get(server.url + "/users/me", params={"api_key": "gk_" + "d" * 43}, headers=bearer(tok),
                     timeout=10)
    assert_error(r, 400, "invalid_request")


def test_two_authorization_headers(server, make_user):
    u = make_user()
    tok = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                        timeout=10).json()["access_token"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", "/users/me")
        conn.putheader("Authorization", f"Bearer {tok}")
        conn.putheader("Authorization", f"Bearer {tok}")
        conn.endheaders()
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 400, data
        import json
        assert json.loads(data)["error"] == "invalid_request"
    finally:
        conn.close()


def test_api_key_alone_401(server):
    r = me(server, {"X-API-Key": "gk_" + "e" * 43})
    assert_error(r, 401, "invalid_token")
    r = requests.get(server.url + "/users/me", params={"api_key": "gk_" + "f" * 43}, timeout=10)
    assert r.status_code == 401, r.text


def test_me_after_token_user_deleted(server, admin, make_user):
    u = make_user()
    tok = admin.login_ok(u["username"], u["password"])["access_token"]
    assert me(server, bearer(tok)).status_code == 200
    assert admin.delete_user(u["id"]).status_code == 204
    r = me(server, bearer(tok))
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=True)


def test_me_is_read_only_methods(server):
    r = requests.post(server.url + "/users/me", json={}, timeout=10)
    assert r.status_code == 405
    assert "GET" in r.headers.get("Allow", "")


def test_raw_challenge_headers(server):
    data = raw_exchange(server.port, b"GET /users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, _ = parse_raw_response(data)
    assert status == 401
    joined = " | ".join(headers.get("www-authenticate", []))
    assert 'Bearer realm="gatehouse"' in joined, joined
    assert 'Basic realm="gatehouse", charset="UTF-8"' in joined, joined


def test_www_authenticate_helper_sees_all_values(server):
    r = me(server, {})
    assert "Bearer" in www_authenticate(r) and "Basic" in www_authenticate(r)
