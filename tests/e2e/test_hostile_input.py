"""Hostile values in every string field (issue 10): invalid UTF-8, NUL and control characters
get a clear 4xx and change nothing (or, where the field takes any text, are kept exactly);
SQL metacharacters round-trip unchanged, on SQLite and on PostgreSQL.

Fields are reached the way clients send them: JSON bodies (bytes written by hand, since a
JSON library will not produce invalid UTF-8), form bodies and query strings (percent-encoded
and raw), path segments and headers (raw sockets: `requests` refuses a NUL in a header).
"""
from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
import requests

import support
from oauth_flow import REDIRECT_URI, create_client, pkce_pair
from support import bearer, new_password, parse_raw_response, raw_exchange, register_secret, unique_name

# A JSON string literal, as bytes, for each hostile value.
JSON_BAD = {
    "invalid_utf8": b'"a\xff\xfeb"',
    "overlong_slash": b'"a\xc0\xafb"',
    "truncated_sequence": b'"a\xe2\x82"',
    "encoded_surrogate": b'"a\xed\xa0\x80b"',
    "lone_surrogate_escape": b'"a\\udc00b"',
    "raw_nul": b'"a\x00b"',
    "raw_control": b'"a\x1bb"',
    "escaped_nul": b'"a\\u0000b"',
    "escaped_control": b'"a\\u001bb"',
}
# Valid JSON whose decoded string holds a NUL or a control character: a field that takes any
# text (a password) may accept these; every other field must refuse them.
JSON_VALID_CONTROL = {"escaped_nul", "escaped_control"}

# Percent-encoded (and raw) values for form bodies, query strings and path segments.
FORM_BAD = {
    "invalid_utf8": "a%FF%FEb",
    "overlong_slash": "a%C0%AFb",
    "encoded_surrogate": "a%ED%A0%80b",
    "nul": "a%00b",
    "control": "a%1Bb",
    "newline": "a%0D%0Ab",
}

PLACEHOLDER = "@@HOSTILE@@"


def json_with(template: dict, literal: bytes) -> bytes:
    return json.dumps(template).encode().replace(json.dumps(PLACEHOLDER).encode(), literal)


def form_with(template: dict, value: str) -> str:
    """A form body / query with every placeholder replaced by an already-encoded value."""
    return "&".join(f"{k}={value if v == PLACEHOLDER else urllib.parse.quote(v, safe='')}"
                    for k, v in template.items())


def assert_clear_refusal(r: requests.Response, what: str) -> None:
    assert 400 <= r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    if "json" in r.headers.get("Content-Type", ""):
        body = r.json()
        assert body.get("error") and body.get("error_description"), f"{what}: {body}"
    else:
        assert r.text, f"{what}: an empty {r.status_code}"


@pytest.fixture(scope="module")
def world(server, admin):
    """What the hostile requests aim at: a user, a key, a confidential client and its token."""
    user = admin.create_user(email=f"{unique_name('w')}@example.com")
    key = admin.post("/api/keys", json={"name": "target"}, headers=admin.auth_headers()).json()
    client = create_client(admin, grant_types=["authorization_code", "refresh_token", "client_credentials"],
                           scopes=["openid", "profile", "orders:read"])
    register_secret(client["client_secret"])
    token = requests.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client["client_id"], client["client_secret"]), timeout=10).json()["access_token"]
    return {"user": user, "key": key, "client": client, "client_token": token}


def snapshot(admin) -> dict:
    """Everything a refused request could have changed, as the API shows it."""
    def get(path):
        r = admin.get(path, params={"limit": 200}, headers=admin.auth_headers())
        assert r.status_code == 200, r.text
        return r.json()
    return {"users": get("/api/users"), "keys": get("/api/keys"), "clients": get("/api/clients")}


def json_cases(world) -> list[tuple[str, str, str, dict]]:
    """(method, path, who, body template) for every string field of every JSON endpoint.
    who: none | admin | user (the world's user, logged in)."""
    uid, kid = world["user"]["id"], world["key"]["id"]
    X = PLACEHOLDER
    return [
        ("POST", "/auth/login", "none", {"username": X, "password": "not-the-password"}),
        ("POST", "/auth/login", "none", {"email": X, "password": "not-the-password"}),
        ("POST", "/auth/login", "none", {"username": world["user"]["username"], "password": X}),
        ("POST", "/auth/refresh", "none", {"refresh_token": X}),
        ("POST", "/users/me/password", "user", {"current_password": X, "new_password": "never-applied-1"}),
        ("POST", "/api/users", "admin", {"username": X, "password": "long-enough-1"}),
        ("POST", "/api/users", "admin", {"username": unique_name("h"), "password": "long-enough-1", "email": X}),
        ("POST", "/api/users", "admin", {"username": unique_name("h"), "password": "long-enough-1", "roles": [X]}),
        ("PATCH", f"/api/users/{uid}", "admin", {"email": X}),
        ("PATCH", f"/api/users/{uid}", "admin", {"roles": [X]}),
        ("POST", "/api/keys", "admin", {"name": X}),
        ("POST", "/api/keys", "admin", {"name": "ok", "scopes": [X]}),
        ("POST", f"/api/keys/{kid}/rotate", "admin", {"grace_seconds": 0, X: 1}),
        ("POST", "/api/clients", "admin", {"name": X, "redirect_uris": [REDIRECT_URI]}),
        ("POST", "/api/clients", "admin", {"name": "ok", "redirect_uris": [X]}),
        ("POST", "/api/clients", "admin", {"name": "ok", "type": X, "redirect_uris": [REDIRECT_URI]}),
        ("POST", "/api/clients", "admin", {"name": "ok", "redirect_uris": [REDIRECT_URI], "grant_types": [X]}),
        ("POST", "/api/clients", "admin", {"name": "ok", "redirect_uris": [REDIRECT_URI], "scopes": [X]}),
        ("POST", "/api/clients", "admin", {"name": "ok", X: "x", "redirect_uris": [REDIRECT_URI]}),
    ]


def test_bad_strings_in_json_fields_are_refused_and_change_nothing(server, admin, world):
    user_api = server.api()
    tokens = user_api.login_ok(world["user"]["username"], world["user"]["password"])
    who = {"none": {}, "admin": admin.auth_headers(), "user": bearer(tokens["access_token"])}
    before = snapshot(admin)
    checked = 0
    for method, path, auth, template in json_cases(world):
        for variant, literal in JSON_BAD.items():
            body = json_with(template, literal)
            r = requests.request(method, server.url + path, data=body, timeout=10,
                                 headers={"Content-Type": "application/json", **who[auth]})
            assert_clear_refusal(r, f"{method} {path} {template} {variant}")
            if variant not in JSON_VALID_CONTROL:
                assert r.status_code == 400 and "JSON" in r.json()["error_description"], (path, variant, r.text)
            checked += 1
    assert checked == len(json_cases(world)) * len(JSON_BAD)
    assert snapshot(admin) == before
    # The user's own session and password survived every attempt.
    assert user_api.me(bearer(tokens["access_token"])).status_code == 200
    user_api.login_ok(world["user"]["username"], world["user"]["password"])


@pytest.mark.parametrize("body", [
    b'{"name":"a","name":"b"}',
    b'{"name":"a","n\\u0061me":"b"}',
    b'{"name":"a","scopes":[],"x":{"k":1,"k":2}}',
    b'{"name":"a","x":' + b'[' * 40 + b']' * 40 + b'}',
])
def test_ambiguous_json_bodies_are_refused(server, admin, body):
    """A repeated key is read as its first value by some parsers and its last by others (a
    WAF in front may check one and we act on the other): refused, like over-deep nesting."""
    before = snapshot(admin)
    for path in ("/api/keys", "/auth/login"):
        r = requests.post(server.url + path, data=body, timeout=10,
                          headers={"Content-Type": "application/json", **admin.auth_headers()})
        assert_clear_refusal(r, f"{path} {body[:40]!r}")
        assert r.status_code == 400
    assert snapshot(admin) == before


def test_passwords_may_hold_any_text_and_are_kept_exactly(server, admin):
    """A password is the one field that takes any text: NUL and control characters included,
    kept byte for byte (argon2id hashes bytes). The same value logs in; a near miss does not."""
    for literal, text in [(b'"pw\\u0000-\\u001b-\\u007f-long"', "pw\x00-\x1b-\x7f-long"),
                          (b'"\\u00e9t\\u00e9-\\ud83d\\ude00-long"', "\u00e9t\u00e9-\U0001F600-long")]:
        register_secret(text)
        username = unique_name("pw")
        body = json_with({"username": username, "password": PLACEHOLDER}, literal)
        r = requests.post(server.url + "/api/users", data=body, timeout=10,
                          headers={"Content-Type": "application/json", **admin.auth_headers()})
        assert r.status_code == 201, r.text
        api = server.api()
        api.login_ok(username, text)
        r = api.login(username, text.replace("\x00", "").replace("\U0001F600", "x"))
        assert r.status_code == 401


def test_bad_strings_in_form_fields_and_queries_are_refused(server, admin, world):
    client = world["client"]
    cid, secret = client["client_id"], client["client_secret"]
    verifier, challenge = pkce_pair()
    X = PLACEHOLDER
    form_cases = [
        ("/oauth/token", None, {"grant_type": X}),
        ("/oauth/token", None, {"grant_type": "client_credentials", "client_id": X, "client_secret": secret}),
        ("/oauth/token", None, {"grant_type": "client_credentials", "client_id": cid, "client_secret": X}),
        ("/oauth/token", "basic", {"grant_type": "client_credentials", "scope": X}),
        ("/oauth/token", "basic", {"grant_type": "authorization_code", "code": X, "redirect_uri": REDIRECT_URI,
                                   "code_verifier": verifier}),
        ("/oauth/token", "basic", {"grant_type": "authorization_code", "code": "gac_x", "redirect_uri": X,
                                   "code_verifier": verifier}),
        ("/oauth/token", "basic", {"grant_type": "authorization_code", "code": "gac_x", "redirect_uri": REDIRECT_URI,
                                   "code_verifier": X}),
        ("/oauth/token", "basic", {"grant_type": "refresh_token", "refresh_token": X}),
        ("/oauth/introspect", "basic", {"token": X}),
        ("/oauth/introspect", "basic", {"token": world["client_token"], "token_type_hint": X}),
        ("/oauth/revoke", "basic", {"token": X}),
        ("/oauth/revoke", "basic", {"token": "x", "token_type_hint": X}),
        ("/oauth/authorize", None, {"username": X, "password": "x", "csrf_token": "x"}),
    ]
    query_cases = [
        ("/oauth/authorize", {"response_type": "code", "client_id": X, "redirect_uri": REDIRECT_URI,
                              "code_challenge": challenge, "code_challenge_method": "S256"}),
        ("/oauth/authorize", {"response_type": "code", "client_id": cid, "redirect_uri": X,
                              "code_challenge": challenge, "code_challenge_method": "S256"}),
        *[("/oauth/authorize", {"response_type": "code", "client_id": cid, "redirect_uri": REDIRECT_URI,
                                "code_challenge": challenge, "code_challenge_method": "S256", "state": "s",
                                "scope": "openid", field: X})
          for field in ("response_type", "code_challenge", "code_challenge_method", "scope", "state", "nonce",
                        "prompt", "max_age")],
        ("/api/audit", {"type": X}),
        ("/api/audit", {"user_id": X}),
        ("/api/audit", {"since": X}),
        ("/api/audit", {"cursor": X}),
        ("/api/audit", {"limit": X}),
        ("/api/users", {"cursor": X}),
        ("/api/users", {"limit": X}),
        ("/api/keys", {"user_id": X}),
        ("/api/clients", {"cursor": X}),
    ]
    def check_form_answer(path, template, r, what):
        # RFC 7662 §2.2 and RFC 7009 §2.2: a token that is no token is inactive, and revoking it
        # succeeds (there is nothing to revoke); both are answers, not refusals. A hint the
        # server does not know is ignored (RFC 7662 §2.1), so the real token stays active.
        if path == "/oauth/introspect" and r.status_code == 200:
            assert r.json()["active"] is (template["token"] == world["client_token"]), what
        elif path == "/oauth/revoke" and r.status_code == 200:
            assert r.content in (b"", b"{}"), what
        else:
            assert_clear_refusal(r, what)

    before = snapshot(admin)
    for path, auth, template in form_cases:
        for variant, value in FORM_BAD.items():
            r = requests.post(server.url + path, data=form_with(template, value), timeout=10,
                              auth=(cid, secret) if auth == "basic" else None,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
            check_form_answer(path, template, r, f"POST {path} {template} {variant}")
        # A raw (unencoded) invalid byte in the body, too.
        raw = form_with(template, "a").encode().replace(b"=a", b"=a\xff\x00", 1)
        r = requests.post(server.url + path, data=raw, timeout=10, auth=(cid, secret) if auth == "basic" else None,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        check_form_answer(path, template, r, f"POST {path} raw bytes")
    # The client's token is still active: a hostile revoke revoked nothing else.
    r = requests.post(server.url + "/oauth/introspect", data={"token": world["client_token"]},
                      auth=(cid, secret), timeout=10)
    assert r.json()["active"] is True
    for path, template in query_cases:
        for variant, value in FORM_BAD.items():
            r = requests.get(server.url + path + "?" + form_with(template, value), timeout=10,
                             headers=admin.auth_headers(), allow_redirects=False)
            if path == "/oauth/authorize" and r.status_code in (302, 303):
                # An error about a field the client sent goes back to the client, as RFC 6749 says.
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
                assert r.headers["Location"].startswith(REDIRECT_URI) and query.get("error"), r.headers["Location"]
                continue
            if path.startswith("/api/") and r.status_code == 200:
                # A filter that matches nothing is an answer too; it must not match everything.
                listed = r.json()
                items = next(v for v in listed.values() if isinstance(v, list))
                assert items == [], (path, template, variant, items[:2])
                continue
            assert_clear_refusal(r, f"GET {path} {template} {variant}")
    assert snapshot(admin) == before


def test_bad_path_segments_are_404_or_400(server, admin, world):
    segments = [*FORM_BAD.values(), "%27%20OR%20%271%27%3D%271", "..%2F..%2Fetc%2Fpasswd", "%2e%2e"]
    before = snapshot(admin)
    for seg in segments:
        for method, path in [("GET", f"/api/users/{seg}"), ("PATCH", f"/api/users/{seg}"),
                             ("DELETE", f"/api/users/{seg}"), ("POST", f"/api/users/{seg}/unlock"),
                             ("DELETE", f"/api/keys/{seg}"), ("POST", f"/api/keys/{seg}/rotate"),
                             ("GET", f"/api/clients/{seg}"), ("DELETE", f"/api/clients/{seg}"),
                             ("GET", f"/auth/upstream/{seg}/start")]:
            r = requests.request(method, server.url + path, json={}, headers=admin.auth_headers(), timeout=10,
                                 allow_redirects=False)
            assert r.status_code in (400, 404), (method, path, r.status_code, r.text[:200])
    assert snapshot(admin) == before


def test_bad_bytes_in_credential_headers_are_401_or_400(server, world):
    """Raw bytes in the headers that carry credentials: never accepted, never a 5xx."""
    key = world["key"]["key"]
    values = [b"\xff\xfe", b"a\x00b", b"\x1b[31m", key.encode() + b"\xff", key.encode() + b"\x00",
              b"\xc0\xaf" * 10, b"' OR '1'='1"]
    for value in values:
        for header in [b"X-API-Key: " + value, b"Authorization: Bearer " + value,
                       b"Authorization: Basic " + base64.b64encode(b"admin\xff:" + value),
                       b"Authorization: Basic " + value]:
            for path in (b"/users/me", b"/auth/check"):
                request = (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n"
                           b"X-Original-URI: /x\r\nX-Original-Method: GET\r\n\r\n")
                status, _, _ = parse_raw_response(raw_exchange(server.port, request, timeout=10))
                # /auth/check denies a path no policy names (403) whatever the credential; so many
                # failed Basic attempts from one address end in the address's lockout (429).
                allowed = {400, 401, 429} | ({403} if path == b"/auth/check" else set())
                assert status in allowed, (header[:40], path, status)
    healthy = requests.get(server.url + "/healthz", timeout=10)
    assert healthy.status_code == 200


# --------------------------------------------------------------------------------------
# SQL metacharacters: kept exactly, in every field that takes free text, on both stores
# --------------------------------------------------------------------------------------

META = [
    "'", "''", '"', "\\", "\\'", "%", "_", "%_%", ";", "--", "/*", "*/", "`", "$1", "$$", "?", ":name", "@p",
    "' OR '1'='1", "' OR 1=1 --", "'; DROP TABLE users; --", "\"); DELETE FROM api_keys; --",
    "a' UNION SELECT password_hash FROM users --", "x\\'; SELECT pg_sleep(5); --", "\u00f6' \u00df\" \U0001F600 %",
    "E'\\x41'", "$tag$ $tag$",
]


@pytest.fixture(params=["sqlite", "postgres"])
def store_server(request, start_server):
    # The test fails many logins on purpose, from one address.
    env = {"GATEHOUSE_LOCKOUT_IP_MAX_FAILURES": "100000"}
    if request.param == "postgres":
        pg = request.getfixturevalue("postgres")
        database = f"meta{support.random_base62(8).lower()}"
        pg.create_database(database)
        env.update(pg.gatehouse_env(database))
    return start_server(env=env)


def test_sql_metacharacters_round_trip_unchanged(store_server):
    srv = store_server
    admin = srv.admin()
    h = admin.auth_headers()
    users_before = admin.get("/api/users", params={"limit": 200}, headers=h).json()["users"]
    for i, text in enumerate(META):
        # Key names and client names: any text, kept exactly.
        r = admin.post("/api/keys", json={"name": text}, headers=h)
        assert r.status_code == 201 and r.json()["name"] == text, (text, r.text)
        r = admin.post("/api/clients", json={"name": text, "redirect_uris": [REDIRECT_URI],
                                             "grant_types": ["authorization_code"]}, headers=h)
        assert r.status_code == 201 and r.json()["name"] == text, (text, r.text)
        register_secret(r.json().get("client_secret"))
        got = admin.get(f"/api/clients/{r.json()['client_id']}", headers=h).json()
        assert got["name"] == text
        # Passwords: exactly this text logs in, and nothing else does.
        username = unique_name("meta")
        password = f"pw-{i}-{text}-{new_password()}"
        register_secret(password)
        created = admin.post("/api/users", json={"username": username, "password": password}, headers=h)
        assert created.status_code == 201, created.text
        api = srv.api()
        api.login_ok(username, password)
        assert api.login(username, password + "'").status_code == 401
        # Where a username or e-mail is looked up, the text is a value, never a pattern or code.
        assert api.login(text, password).status_code == 401
        assert api.login(username + text, password).status_code in (400, 401)
        assert admin.get("/api/users/" + urllib.parse.quote(text, safe=""), headers=h).status_code in (400, 404)
        audit = admin.get("/api/audit", params={"type": text}, headers=h)
        assert audit.status_code == 400 or audit.json()["events"] == [], (text, audit.text[:200])
        audit = admin.get("/api/audit", params={"user_id": text}, headers=h)
        assert audit.status_code == 400 or audit.json()["events"] == [], (text, audit.text[:200])
    listed = {k["name"] for k in admin.get("/api/keys", headers=h).json()["keys"]}
    assert set(META) <= listed
    # E-mail addresses may hold quotes, %, _ and the like in their local part.
    for local in ["o'brien", "a%b_c", "x'or'1'='1", "semi;colon--", "back\\slash", "dollar$1"]:
        email = f"{local}{support.random_base62(4)}@example.com"
        user = admin.create_user(email=email)
        assert admin.get(f"/api/users/{user['id']}", headers=h).json()["email"] == email
        srv.api().login_ok(email, user["password"], field="email")
        if any(c in local for c in "%_'"):
            # LIKE wildcards are not wildcards: a look-alike address logs nobody in.
            lookalike = email.replace("%", "x").replace("_", "y").replace("'", "z")
            assert srv.api().login(lookalike, user["password"], field="email").status_code == 401
    # Usernames allow `_` and `.`; they are not wildcards either.
    user = admin.create_user(username=f"a_b.{support.random_base62(4)}")
    lookalike = user["username"].replace("_", "x").replace(".", "y")
    assert srv.api().login(lookalike, user["password"]).status_code == 401
    # Nothing else changed: every user listed before is still there, unchanged.
    after = {u["id"]: u for u in admin.get("/api/users", params={"limit": 200}, headers=h).json()["users"]}
    for u in users_before:
        assert after[u["id"]] == u
