"""The OAuth 2.1 / OpenID Connect provider end to end (SPEC §8), driven with `requests` and
PyJWT: discovery, client management, client credentials, the authorization code flow through
the HTML login and consent forms, ID tokens, userinfo, refresh, introspection, revocation,
and the negative cases (wrong secret, code replay, PKCE, redirect URI tricks, CSRF, deny)."""
from __future__ import annotations

import json
import time
import urllib.parse

import jwt
import pytest
import requests

from oauth_flow import (REDIRECT_URI, Browser, Forms, callback_params, code_flow, create_client, exchange, pkce_pair,
                        token_request)
from support import assert_error, bearer, parse_raw_response, read_all, register_secret


@pytest.fixture(scope="module")
def user(admin):
    return admin.create_user(email="oauth-user@example.com")


@pytest.fixture(scope="module")
def client(admin):
    c = create_client(admin)
    register_secret(c["client_secret"])
    return c


@pytest.fixture(scope="module")
def service(admin):
    return create_client(admin, name="svc", grant_types=["client_credentials"], redirect_uris=[],
                         scopes=["orders:read", "orders:write"])


@pytest.fixture(scope="module")
def resource_server(admin):
    return create_client(admin, name="rs", grant_types=["client_credentials"], redirect_uris=[], scopes=["x"],
                         introspect=True)


def jwks(server):
    return jwt.PyJWKSet.from_dict(requests.get(server.url + "/.well-known/jwks.json", timeout=10).json())


def verify_id_token(server, token: str, client_id: str) -> dict:
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    key = next(k for k in jwks(server).keys if k.key_id == header["kid"])
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=client_id, issuer=server.url)


def introspect(server, caller: dict, token: str) -> dict:
    r = token_request(server, caller, {"token": token}, path="/oauth/introspect")
    assert r.status_code == 200, r.text
    return r.json()


# --- discovery ---------------------------------------------------------------------------

def test_discovery_at_both_well_known_paths(server):
    docs = [requests.get(server.url + p, timeout=10).json()
            for p in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")]
    assert docs[0] == docs[1]
    d = docs[0]
    assert d["issuer"] == server.url
    for endpoint in ("authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint",
                     "userinfo_endpoint", "jwks_uri"):
        assert d[endpoint].startswith(server.url + "/"), endpoint
    assert d["response_types_supported"] == ["code"]
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert set(d["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert set(d["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert "RS256" in d["id_token_signing_alg_values_supported"]
    assert d["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "profile", "email", "offline_access"} <= set(d["scopes_supported"])


# --- clients -----------------------------------------------------------------------------

def test_client_secret_is_shown_once_and_clients_are_listed_paginated(server, admin):
    c = create_client(admin, name="listed")
    assert c["client_id"].startswith("gcl_") and c["client_secret"].startswith("gcs_")
    assert len(c["client_secret"]) == 4 + 43
    got = admin.get("/api/clients/" + c["client_id"], headers=admin.auth_headers())
    assert got.status_code == 200 and "client_secret" not in got.json()
    assert got.json()["redirect_uris"] == [REDIRECT_URI]
    public = create_client(admin, name="spa", type="public")
    assert "client_secret" not in public and public["token_endpoint_auth_method"] == "none"
    seen, cursor = [], None
    while True:
        r = admin.get("/api/clients", params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                      headers=admin.auth_headers())
        assert r.status_code == 200
        seen += [x["client_id"] for x in r.json()["clients"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert c["client_id"] in seen and public["client_id"] in seen and len(seen) == len(set(seen))


@pytest.mark.parametrize("body, words", [
    ({"redirect_uris": ["http://app.example/cb"]}, "loopback"),
    ({"redirect_uris": ["https://app.example/cb#frag"]}, "fragment"),
    ({"redirect_uris": ["https://user:pw@app.example/cb"]}, "user name"),
    ({"redirect_uris": ["/relative"]}, "absolute"),
    ({"redirect_uris": []}, "redirect URI"),
    ({"grant_types": ["implicit"]}, "Unknown grant type"),
    ({"grant_types": ["password"]}, "Unknown grant type"),
    ({"type": "public", "grant_types": ["client_credentials"], "redirect_uris": []}, "public client"),
    ({"scopes": ["bad\"scope"]}, "scope"),
    ({"type": "other"}, "type"),
])
def test_bad_client_registrations_are_400(admin, body, words):
    full = {"name": "bad", "redirect_uris": [REDIRECT_URI]}
    full.update(body)
    r = admin.post("/api/clients", json=full, headers=admin.auth_headers())
    err = assert_error(r, 400, "invalid_request")
    assert words in err["error_description"], err


def test_client_api_is_for_admins_only(server, admin, user):
    api = server.api()
    api.token = api.login_ok(user["username"], user["password"])["access_token"]
    assert_error(api.get("/api/clients", headers=api.auth_headers()), 403, "forbidden")
    assert_error(api.post("/api/clients", json={"name": "x"}, headers=api.auth_headers()), 403, "forbidden")


def test_deleting_a_client_revokes_its_tokens(server, admin, user):
    c = create_client(admin, name="doomed")
    params, verifier = code_flow(server, Browser(server), c, user, scope="openid offline_access")
    tokens = exchange(server, c, params["code"], verifier).json()
    assert admin.delete("/api/clients/" + c["client_id"], headers=admin.auth_headers()).status_code == 204
    assert admin.delete("/api/clients/" + c["client_id"], headers=admin.auth_headers()).status_code == 404
    r = requests.get(server.url + "/oauth/userinfo", headers=bearer(tokens["access_token"]), timeout=10)
    assert r.status_code == 401
    assert_error(token_request(server, c, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}),
                 401, "invalid_client")


def test_secret_rotation_replaces_the_secret(server, admin, service):
    c = create_client(admin, name="rotating", grant_types=["client_credentials"], redirect_uris=[], scopes=["a"])
    r = admin.post(f"/api/clients/{c['client_id']}/secret", headers=admin.auth_headers())
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    fresh = dict(c, client_secret=r.json()["client_secret"])
    assert fresh["client_secret"] != c["client_secret"]
    assert_error(token_request(server, c, {"grant_type": "client_credentials"}), 401, "invalid_client")
    assert token_request(server, fresh, {"grant_type": "client_credentials"}).status_code == 200


# --- client credentials ------------------------------------------------------------------

@pytest.mark.parametrize("auth", ["basic", "post"])
def test_client_credentials_with_both_client_auth_methods(server, service, auth):
    r = token_request(server, service, {"grant_type": "client_credentials", "scope": "orders:read"}, auth=auth)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "orders:read" and "refresh_token" not in body
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    key = next(k for k in jwks(server).keys if k.key_id == header["kid"])
    claims = jwt.decode(body["access_token"], key.key, algorithms=[header["alg"]], audience=server.url,
                        issuer=server.url)
    assert claims["sub"] == service["client_id"] and claims["client_id"] == service["client_id"]
    assert claims["scope"] == "orders:read" and "username" not in claims


def test_client_credentials_default_scope_is_the_clients(server, service):
    body = token_request(server, service, {"grant_type": "client_credentials"}).json()
    assert body["scope"] == "orders:read orders:write"


def read_http_response(sock) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length body from a raw socket: (status, body)."""
    status, headers, body = parse_raw_response(read_all(sock, timeout=10, until_close=False))
    assert len(body) == int(headers["content-length"][0]), "not exactly one whole response"
    return status, body


def es256_signatures(server) -> dict:
    text = requests.get(server.url + "/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith("gatehouse_es256_signatures_total{"):
            labels, _, number = line.rpartition(" ")
            out[labels.split('"')[1]] = float(number)
    return out


def tokens_arriving_together(srv, client, connections=32, rounds=15) -> list[str]:
    """`connections` raw connections each send a client_credentials request at the same moment,
    `rounds` times; the access tokens, all from 200s."""
    import base64
    import socket

    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    body = b"grant_type=client_credentials&scope=orders%3Aread"
    request = (f"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\n"
               f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(connections)]
    tokens = []
    try:
        for _ in range(rounds):
            for sock in socks:
                sock.sendall(request)
            for sock in socks:
                status, payload = read_http_response(sock)
                assert status == 200, payload[:200]
                tokens.append(json.loads(payload)["access_token"])
    finally:
        for sock in socks:
            sock.close()
    assert len(tokens) == connections * rounds
    return tokens


def check_es256_tokens(srv, client, tokens):
    """Each token verifies under the published key with its own claims; no two share a jti
    or a nonce (r, the first half of the raw signature)."""
    import base64

    keys = {k.key_id: k for k in jwks(srv).keys}
    jtis, r_values = set(), set()
    for token in tokens:
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "ES256"
        claims = jwt.decode(token, keys[header["kid"]].key, algorithms=["ES256"], audience=srv.url, issuer=srv.url)
        assert claims["sub"] == client["client_id"] and claims["scope"] == "orders:read"
        jtis.add(claims["jti"])
        signature = base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")
        assert len(signature) == 64
        r_values.add(signature[:32])
    assert len(jtis) == len(tokens)
    assert len(r_values) == len(tokens), "two signatures share a nonce"


def test_client_credentials_arriving_together_are_signed_in_batches(server, service):
    """Requests that arrive together have their ES256 signatures made in one batch, sharing
    two modular inversions (tokens/es256_batch.h): every token still verifies with its own
    claims and nonce, each one is audited, and the batch path is really taken."""
    before = es256_signatures(server)
    audited_before = len(server.admin().audit(type="oauth.token"))
    tokens = tokens_arriving_together(server, service)
    check_es256_tokens(server, service, tokens)
    after = es256_signatures(server)
    shared = after.get("shared", 0) - before.get("shared", 0)
    single = after.get("single", 0) - before.get("single", 0)
    assert shared + single >= len(tokens)
    assert shared > 0, f"no batch was signed with shared inversions (single: {single})"
    assert len(server.admin().audit(type="oauth.token")) - audited_before == len(tokens)


def test_es256_batching_can_be_turned_off(start_server):
    """tokens.es256_batch = false: every signature is OpenSSL's ECDSA_do_sign, one by one."""
    srv = start_server(env={"GATEHOUSE_TOKENS_ES256_BATCH": "false"})
    client = create_client(srv.admin(), name="svc-off", grant_types=["client_credentials"], redirect_uris=[],
                           scopes=["orders:read"])
    before = es256_signatures(srv)
    tokens = tokens_arriving_together(srv, client, connections=16, rounds=5)
    check_es256_tokens(srv, client, tokens)
    after = es256_signatures(srv)
    assert after.get("shared", 0) == before.get("shared", 0)
    assert after.get("single", 0) - before.get("single", 0) >= len(tokens)


def test_client_credentials_errors(server, service, client):
    wrong = dict(service, client_secret="gcs_" + "x" * 43)
    r = token_request(server, wrong, {"grant_type": "client_credentials"})
    assert_error(r, 401, "invalid_client")
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    r = token_request(server, wrong, {"grant_type": "client_credentials"}, auth="post")
    assert_error(r, 401, "invalid_client")
    assert "WWW-Authenticate" not in r.headers
    assert_error(token_request(server, dict(service, client_id="gcl_nope"), {"grant_type": "client_credentials"}),
                 401, "invalid_client")
    assert_error(token_request(server, service, {"grant_type": "client_credentials", "scope": "admin"}),
                 400, "invalid_scope")
    assert_error(token_request(server, service, {"grant_type": "client_credentials", "scope": "openid"}),
                 400, "invalid_scope")
    assert_error(token_request(server, client, {"grant_type": "client_credentials"}), 400, "unauthorized_client")
    assert_error(token_request(server, service, {"grant_type": "password"}), 400, "unsupported_grant_type")
    assert_error(token_request(server, service, {}), 400, "invalid_request")
    r = requests.post(server.url + "/oauth/token", json={"grant_type": "client_credentials"}, timeout=10,
                      auth=(service["client_id"], service["client_secret"]))
    assert_error(r, 400, "invalid_request")
    r = requests.post(server.url + "/oauth/token", timeout=10, auth=(service["client_id"], service["client_secret"]),
                      data="grant_type=client_credentials&grant_type=client_credentials",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "invalid_request")


def test_client_token_has_no_permission_on_the_management_api(server, service):
    token = token_request(server, service, {"grant_type": "client_credentials"}).json()["access_token"]
    r = requests.get(server.url + "/api/users", headers=bearer(token), timeout=10)
    assert r.status_code == 403


# --- authorization code flow -------------------------------------------------------------

def test_login_and_consent_pages_follow_the_form_contract(server, client):
    browser = Browser(server)
    _, challenge = pkce_pair()
    page = browser.authorize(client["client_id"], challenge)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    form = Forms(page.text).forms[0]
    assert form["method"] == "post"
    assert form["inputs"]["username"]["type"] == "text" and form["inputs"]["password"]["type"] == "password"
    assert form["inputs"]["csrf_token"]["type"] == "hidden" and form["inputs"]["csrf_token"]["value"]
    csrf_cookie = next(c for c in browser.http.cookies if c.name == "gatehouse_csrf")
    assert csrf_cookie.has_nonstandard_attr("HttpOnly")


def test_code_flow_issues_tokens_and_an_id_token(server, client, user):
    browser = Browser(server)
    verifier, challenge = pkce_pair()
    page = browser.authorize(client["client_id"], challenge, scope="openid profile email", state="s-42",
                             nonce="nonce-42")
    consent = browser.login(page, user["username"], user["password"])
    assert consent.status_code == 200, consent.text
    session = next(c for c in browser.http.cookies if c.name == "gatehouse_session")
    assert session.has_nonstandard_attr("HttpOnly")
    form = Forms(consent.text).forms[0]
    assert ("decision", "allow") in form["buttons"] and ("decision", "deny") in form["buttons"]
    for scope in ("openid", "profile", "email"):
        assert scope in consent.text
    params = callback_params(browser.consent(consent))
    assert params["state"] == "s-42" and params["iss"] == server.url
    r = exchange(server, client, params["code"], verifier)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["scope"] == "email openid profile" and "refresh_token" not in body  # no offline_access
    claims = verify_id_token(server, body["id_token"], client["client_id"])
    assert claims["sub"] == user["id"] and claims["nonce"] == "nonce-42"
    assert claims["preferred_username"] == user["username"] and claims["email"] == "oauth-user@example.com"
    assert abs(claims["auth_time"] - claims["iat"]) < 60
    import base64, hashlib
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    info = requests.get(server.url + "/oauth/userinfo", headers=bearer(body["access_token"]), timeout=10)
    assert info.status_code == 200
    assert info.json() == {"sub": user["id"], "preferred_username": user["username"],
                           "email": "oauth-user@example.com"}
    me = requests.get(server.url + "/users/me", headers=bearer(body["access_token"]), timeout=10)
    assert me.status_code == 403  # openid/profile/email are not permissions on Gatehouse's API


def test_second_authorization_skips_login_and_remembered_consent(server, admin, client):
    user = admin.create_user()  # nothing granted yet
    browser = Browser(server)
    code_flow(server, browser, client, user, scope="openid")
    _, challenge = pkce_pair()
    r = browser.authorize(client["client_id"], challenge, scope="openid")
    assert r.status_code == 302 and "code" in callback_params(r)
    r = browser.authorize(client["client_id"], challenge, scope="openid email profile")
    assert r.status_code == 200 and "decision" in r.text  # a new scope: asked again


def test_trusted_clients_skip_consent(server, admin, user):
    trusted = create_client(admin, name="first-party app", trusted=True)
    browser = Browser(server)
    verifier, challenge = pkce_pair()
    page = browser.authorize(trusted["client_id"], challenge, scope="openid")
    r = browser.login(page, user["username"], user["password"])
    assert r.status_code == 303
    assert exchange(server, trusted, callback_params(r)["code"], verifier).status_code == 200


def test_refresh_with_offline_access_rotates_and_detects_reuse(server, client, user):
    params, verifier = code_flow(server, Browser(server), client, user, scope="openid offline_access profile:read")
    body = exchange(server, client, params["code"], verifier).json()
    first = body["refresh_token"]
    me = requests.get(server.url + "/users/me", headers=bearer(body["access_token"]), timeout=10)
    assert me.status_code == 200 and me.json()["auth"]["method"] == "oauth"
    assert me.json()["auth"]["client_id"] == client["client_id"]
    r = token_request(server, client, {"grant_type": "refresh_token", "refresh_token": first, "scope": "openid"})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["scope"] == "openid" and second["refresh_token"] != first
    claims = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "openid"
    assert_error(token_request(server, client, {"grant_type": "refresh_token", "refresh_token": second["refresh_token"],
                                                "scope": "email"}), 400, "invalid_scope")
    assert_error(token_request(server, client, {"grant_type": "refresh_token", "refresh_token": first}),
                 400, "invalid_grant")
    # Reuse revoked the whole family, the newest token too.
    assert_error(token_request(server, client, {"grant_type": "refresh_token",
                                                "refresh_token": second["refresh_token"]}), 400, "invalid_grant")


def test_another_clients_refresh_token_is_refused_and_not_spent(server, admin, client, user):
    other = create_client(admin, name="other")
    params, verifier = code_flow(server, Browser(server), client, user, scope="openid offline_access")
    refresh = exchange(server, client, params["code"], verifier).json()["refresh_token"]
    assert_error(token_request(server, other, {"grant_type": "refresh_token", "refresh_token": refresh}),
                 400, "invalid_grant")
    assert token_request(server, client, {"grant_type": "refresh_token", "refresh_token": refresh}).status_code == 200


def test_public_client_with_pkce_and_no_secret(server, admin, user):
    spa = create_client(admin, name="spa", type="public")
    params, verifier = code_flow(server, Browser(server), spa, user, scope="openid")
    r = exchange(server, spa, params["code"], verifier, auth="post")
    assert r.status_code == 200, r.text
    bad = dict(spa, client_secret="gcs_" + "y" * 43)
    assert_error(token_request(server, bad, {"grant_type": "client_credentials"}, auth="post"), 401, "invalid_client")


# --- negative cases ----------------------------------------------------------------------

def test_code_replay_is_refused_and_revokes_the_first_tokens(server, client, user, resource_server):
    params, verifier = code_flow(server, Browser(server), client, user, scope="openid offline_access")
    first = exchange(server, client, params["code"], verifier)
    assert first.status_code == 200
    tokens = first.json()
    assert introspect(server, resource_server, tokens["access_token"])["active"] is True
    replay = exchange(server, client, params["code"], verifier)
    assert_error(replay, 400, "invalid_grant")
    assert introspect(server, resource_server, tokens["access_token"]) == {"active": False}
    assert introspect(server, resource_server, tokens["refresh_token"]) == {"active": False}
    r = requests.get(server.url + "/oauth/userinfo", headers=bearer(tokens["access_token"]), timeout=10)
    assert r.status_code == 401


def test_wrong_or_missing_pkce_verifier_and_wrong_redirect_uri(server, client, user):
    params, verifier = code_flow(server, Browser(server), client, user)
    assert_error(exchange(server, client, params["code"], pkce_pair()[0]), 400, "invalid_grant")
    params, verifier = code_flow(server, Browser(server), client, user)
    r = token_request(server, client, {"grant_type": "authorization_code", "code": params["code"],
                                       "redirect_uri": REDIRECT_URI})
    assert_error(r, 400, "invalid_request")
    params, verifier = code_flow(server, Browser(server), client, user)
    assert_error(exchange(server, client, params["code"], verifier, redirect_uri=REDIRECT_URI + "x"),
                 400, "invalid_grant")
    params, verifier = code_flow(server, Browser(server), client, user)
    assert_error(exchange(server, dict(client, client_secret="gcs_" + "z" * 43), params["code"], verifier),
                 401, "invalid_client")


def test_plain_pkce_and_missing_pkce_redirect_with_errors(server, client):
    browser = Browser(server)
    r = browser.authorize(client["client_id"], "a" * 43, extra={"code_challenge_method": "plain"})
    p = callback_params(r)
    assert p["error"] == "invalid_request" and "S256" in p["error_description"]
    assert p["state"] == "st-1" and p["iss"] == server.url
    r = browser.authorize(client["client_id"], None, extra={"code_challenge_method": None})
    assert callback_params(r)["error"] == "invalid_request"
    r = browser.authorize(client["client_id"], pkce_pair()[1], extra={"response_type": "token"})
    assert callback_params(r)["error"] == "unsupported_response_type"


def test_scope_not_allowed_redirects_invalid_scope(server, client):
    r = Browser(server).authorize(client["client_id"], pkce_pair()[1], scope="openid users:write")
    assert callback_params(r)["error"] == "invalid_scope"


@pytest.mark.parametrize("redirect_uri", [
    "http://evil.example/callback",
    "http://127.0.0.1:9@evil.example/callback",      # userinfo part
    "http://127.0.0.1:10/callback",                  # another port
    "http://127.0.0.1:9/callback/../x",              # path suffix
    "http://127.0.0.1:9/callback/extra",
    "http://127.0.0.1:9/callback#fragment",
    "http://127.0.0.1:9/callback?extra=1",
    "HTTP://127.0.0.1:9/callback",
])
def test_redirect_uri_mismatch_gets_a_page_never_a_redirect(server, client, redirect_uri):
    r = Browser(server).authorize(client["client_id"], pkce_pair()[1], redirect_uri=redirect_uri)
    assert r.status_code == 400 and "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html")
    assert "not registered" in r.text


def test_unknown_client_gets_a_page(server):
    r = Browser(server).authorize("gcl_" + "0" * 22, pkce_pair()[1])
    assert r.status_code == 400 and "Location" not in r.headers and "Unknown client" in r.text


def test_csrf_token_missing_or_wrong_on_login_and_consent_is_400(server, admin, client):
    user = admin.create_user()
    browser = Browser(server)
    page = browser.authorize(client["client_id"], pkce_pair()[1])
    r = browser.submit(page, {"username": user["username"], "password": user["password"]}, drop=("csrf_token",))
    assert r.status_code == 400 and "CSRF" in r.text
    r = browser.submit(page, {"username": user["username"], "password": user["password"], "csrf_token": "x" * 32})
    assert r.status_code == 400 and "CSRF" in r.text
    consent = browser.login(page, user["username"], user["password"])
    assert consent.status_code == 200
    r = browser.submit(consent, {}, button=("decision", "allow"), drop=("csrf_token",))
    assert r.status_code == 400 and "CSRF" in r.text
    # A form posted from another site carries no CSRF cookie.
    stranger = requests.post(server.url + "/oauth/authorize", timeout=10, allow_redirects=False,
                             data={"csrf_token": "y" * 32, "decision": "allow", "authorize_query": "x=1"})
    assert stranger.status_code == 400


def test_wrong_password_on_the_login_page_and_deny_at_consent(server, admin, client):
    user = admin.create_user()
    browser = Browser(server)
    page = browser.authorize(client["client_id"], pkce_pair()[1], scope="openid email")
    r = browser.login(page, user["username"], "wrong-password")
    assert r.status_code == 401 and "incorrect" in r.text and not r.headers.get("Location")
    consent = browser.login(r, user["username"], user["password"])
    assert consent.status_code == 200
    p = callback_params(browser.consent(consent, "deny"))
    assert p["error"] == "access_denied" and p["state"] == "st-1"
    events = admin.get("/api/audit", params={"limit": 100}, headers=admin.auth_headers()).json()["events"]
    assert any(e["type"] == "consent.denied" and e["user_id"] == user["id"] for e in events)
    assert any(e["type"] == "login.failure" and e["username"] == user["username"] for e in events)


# --- introspection and revocation --------------------------------------------------------

def test_introspection_rules(server, client, service, resource_server, user):
    own = token_request(server, service, {"grant_type": "client_credentials"}).json()["access_token"]
    mine = introspect(server, service, own)
    assert mine["active"] is True and mine["client_id"] == service["client_id"] and mine["token_type"] == "Bearer"
    assert mine["iss"] == server.url and mine["sub"] == service["client_id"] and mine["exp"] > mine["iat"]
    # Another client's token: inactive unless the caller is a resource server.
    assert introspect(server, client, own) == {"active": False}
    assert introspect(server, resource_server, own)["active"] is True
    for junk in ("x", "gat_" + "a" * 43, "grt_" + "a" * 43, "a.b.c"):
        assert introspect(server, resource_server, junk) == {"active": False}
    assert_error(token_request(server, resource_server, {}, path="/oauth/introspect"), 400, "invalid_request")
    assert_error(token_request(server, dict(service, client_secret="gcs_" + "q" * 43), {"token": own},
                               path="/oauth/introspect"), 401, "invalid_client")
    params, verifier = code_flow(server, Browser(server), client, user, scope="openid offline_access")
    tokens = exchange(server, client, params["code"], verifier).json()
    info = introspect(server, resource_server, tokens["refresh_token"])
    assert info["active"] is True and info["token_type"] == "refresh_token" and info["username"] == user["username"]


def test_revocation(server, client, service, resource_server, user):
    params, verifier = code_flow(server, Browser(server), client, user, scope="openid offline_access")
    tokens = exchange(server, client, params["code"], verifier).json()
    # Another client cannot revoke it (and learns nothing: 200 all the same).
    r = token_request(server, service, {"token": tokens["refresh_token"]}, path="/oauth/revoke")
    assert r.status_code == 200
    assert introspect(server, resource_server, tokens["refresh_token"])["active"] is True
    r = token_request(server, client, {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                      path="/oauth/revoke")
    assert r.status_code == 200
    assert introspect(server, resource_server, tokens["refresh_token"]) == {"active": False}
    assert_error(token_request(server, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}),
                 400, "invalid_grant")
    own = token_request(server, service, {"grant_type": "client_credentials"}).json()["access_token"]
    assert token_request(server, service, {"token": own}, path="/oauth/revoke").status_code == 200
    assert introspect(server, resource_server, own) == {"active": False}
    assert token_request(server, service, {"token": "unknown-token"}, path="/oauth/revoke").status_code == 200


def test_userinfo_needs_openid(server, client, service, user):
    params, verifier = code_flow(server, Browser(server), client, user, scope="profile")
    token = exchange(server, client, params["code"], verifier).json()["access_token"]
    r = requests.get(server.url + "/oauth/userinfo", headers=bearer(token), timeout=10)
    assert r.status_code == 403 and "insufficient_scope" in r.headers["WWW-Authenticate"]
    own = token_request(server, service, {"grant_type": "client_credentials"}).json()["access_token"]
    assert requests.post(server.url + "/oauth/userinfo", headers=bearer(own), timeout=10).status_code == 403
    r = requests.get(server.url + "/oauth/userinfo", timeout=10)
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]


def test_audit_records_the_oauth_events(server, admin, client, user):
    code_flow(server, Browser(server), client, user, scope="openid")
    types = set()
    for t in ("oauth.authorized", "oauth.token", "client.created", "consent.given"):
        r = admin.get("/api/audit", params={"type": t, "limit": 5}, headers=admin.auth_headers())
        assert r.status_code == 200
        if r.json()["events"]:
            types.add(t)
    assert {"oauth.authorized", "oauth.token", "client.created", "consent.given"} <= types


# --- CLI ---------------------------------------------------------------------------------

def test_cli_adds_lists_and_deletes_clients_while_the_server_runs(server, cli_factory):
    import time
    cli = cli_factory(server.data_dir)
    p = cli.run("client", "add", "--name", "cli svc", "--grant", "client_credentials", "--scope", "jobs:run",
                secret_stdout=True)
    assert p.returncode == 0, p.stderr_text
    client_id, secret = p.stdout_text.split()
    register_secret(secret)
    assert client_id.startswith("gcl_") and secret.startswith("gcs_") and secret not in p.stderr_text
    svc = {"client_id": client_id, "client_secret": secret}
    r = token_request(server, svc, {"grant_type": "client_credentials"})
    assert r.status_code == 200 and r.json()["scope"] == "jobs:run"
    listed = cli.run("client", "list")
    assert listed.returncode == 0 and client_id in listed.stdout_text and "gcs_" not in listed.stdout_text
    bad = cli.run("client", "add", "--name", "bad", "--redirect-uri", "http://evil.example/cb", secret_stdout=True)
    assert bad.returncode == 1 and "loopback" in bad.stderr_text
    public = cli.run("client", "add", "--name", "cli spa", "--type", "public", "--redirect-uri", REDIRECT_URI,
                     secret_stdout=True)
    assert public.returncode == 0 and len(public.stdout_text.split()) == 1
    assert cli.run("client", "delete", client_id).returncode == 0
    deadline = time.monotonic() + 2
    while token_request(server, svc, {"grant_type": "client_credentials"}).status_code != 401:
        assert time.monotonic() < deadline, "the server still accepts a client the CLI deleted"
        time.sleep(0.05)
    assert cli.run("client", "delete", client_id).returncode == 1


# --- fixes from the security review -------------------------------------------------------

def test_an_oauth_refresh_token_is_refused_at_the_first_party_refresh(server, client, user):
    params, verifier = code_flow(server, Browser(server), client, user, scope="openid offline_access")
    refresh = exchange(server, client, params["code"], verifier).json()["refresh_token"]
    r = requests.post(server.url + "/auth/refresh", json={"refresh_token": refresh}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_grant"
    # Not spent by that attempt: its client can still use it.
    assert token_request(server, client, {"grant_type": "refresh_token", "refresh_token": refresh}).status_code == 200


def test_deleting_a_client_ends_its_own_client_credentials_tokens(server, admin, resource_server):
    c = create_client(admin, name="short-lived svc", grant_types=["client_credentials"], redirect_uris=[], scopes=["a"])
    token = token_request(server, c, {"grant_type": "client_credentials"}).json()["access_token"]
    assert introspect(server, resource_server, token)["active"] is True
    assert admin.delete("/api/clients/" + c["client_id"], headers=admin.auth_headers()).status_code == 204
    assert introspect(server, resource_server, token) == {"active": False}


def test_prompt_consent_asks_again(server, admin, client):
    user = admin.create_user()
    browser = Browser(server)
    code_flow(server, browser, client, user, scope="openid")
    r = browser.authorize(client["client_id"], pkce_pair()[1], scope="openid", extra={"prompt": "consent"})
    assert r.status_code == 200 and 'value="allow"' in r.text


def test_max_age_repeats_a_login_that_is_too_old(server, admin, client):
    """OpenID Connect max_age: a session older than max_age seconds logs in again (max_age=0
    always, as prompt=login); a younger one goes straight back with a code, whose ID token's
    auth_time shows the login's age. A max_age that is not a number is refused."""
    user = admin.create_user()
    browser = Browser(server)
    code_flow(server, browser, client, user, scope="openid")
    verifier, challenge = pkce_pair()
    r = browser.authorize(client["client_id"], challenge, scope="openid", extra={"max_age": "3600"})
    params = callback_params(r)
    id_token = exchange(server, client, params["code"], verifier).json()["id_token"]
    claims = jwt.decode(id_token, options={"verify_signature": False})
    assert 0 <= claims["iat"] - claims["auth_time"] < 60
    time.sleep(2.1)  # auth_time has whole seconds: more than 1 s old for certain
    for max_age in ("0", "1"):
        r = browser.authorize(client["client_id"], pkce_pair()[1], scope="openid", extra={"max_age": max_age})
        assert r.status_code == 200 and "password" in Forms(r.text).forms[0]["inputs"], (max_age, r.status_code)
    r = browser.authorize(client["client_id"], pkce_pair()[1], scope="openid", extra={"max_age": "-1"})
    assert callback_params(r)["error"] == "invalid_request"


def test_an_oauth_token_cannot_mint_api_keys(server, admin):
    keys_client = create_client(admin, name="key minter", scopes=["openid", "keys:write", "keys:read"])
    user = admin.create_user()
    params, verifier = code_flow(server, Browser(server), keys_client, user, scope="keys:write keys:read")
    token = exchange(server, keys_client, params["code"], verifier).json()["access_token"]
    assert requests.get(server.url + "/api/keys", headers=bearer(token), timeout=10).status_code == 200
    r = requests.post(server.url + "/api/keys", json={"name": "x"}, headers=bearer(token), timeout=10)
    assert_error(r, 403, "forbidden")


def test_a_duplicated_csrf_cookie_is_refused(server, admin, client):
    user = admin.create_user()
    browser = Browser(server)
    page = browser.authorize(client["client_id"], pkce_pair()[1])
    token = Forms(page.text).forms[0]["inputs"]["csrf_token"]["value"]
    data = {name: spec["value"] for name, spec in Forms(page.text).forms[0]["inputs"].items() if spec["type"] == "hidden"}
    data.update(username=user["username"], password=user["password"])
    r = requests.post(server.url + "/oauth/authorize", data=data, allow_redirects=False, timeout=10,
                      headers={"Cookie": f"gatehouse_csrf={token}; gatehouse_csrf={'a' * 32}"})
    assert r.status_code == 400 and "CSRF" in r.text


def test_redirect_uri_may_be_omitted_only_if_the_authorization_request_omitted_it(server, client, user):
    params, verifier = code_flow(server, Browser(server), client, user)
    r = token_request(server, client, {"grant_type": "authorization_code", "code": params["code"],
                                       "code_verifier": verifier})
    assert_error(r, 400, "invalid_grant")
    browser = Browser(server)
    code_flow(server, browser, client, user)  # logged in, consented
    verifier, challenge = pkce_pair()
    r = browser.authorize(client["client_id"], challenge, redirect_uri=None)
    p = callback_params(r)
    r = token_request(server, client, {"grant_type": "authorization_code", "code": p["code"], "code_verifier": verifier})
    assert r.status_code == 200, r.text
