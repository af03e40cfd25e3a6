"""Signing-key rotation (SPEC §5): POST /api/signing-keys/rotate, `gatehouse signing-key
rotate|list`, retired keys verifying until their tokens expired, keys and revocations
surviving a restart.
"""
from __future__ import annotations

import re
import time

import pytest
import requests

try:
    import cryptography  # noqa: F401  (PyJWT needs it for RS256/ES256/EdDSA)
    import jwt
except ImportError as e:  # pragma: no cover - reported, not hidden
    pytest.fail(f"python3-jwt and python3-cryptography are required for the JWT tests: {e}", pytrace=False)

from support import (TIME_RE, assert_error, bearer, jwks_kids, jwks_of, jwt_header)


def login(srv, user) -> dict:
    r = requests.post(srv.url + "/auth/login", json={"username": user["username"], "password": user["password"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def me_status(srv, token) -> int:
    return requests.get(srv.url + "/users/me", headers=bearer(token), timeout=10).status_code


def pyjwt_verify(srv, token, issuer):
    """Verifies with PyJWT against the JWKS as published right now."""
    header = jwt_header(token)
    keys = [k for k in jwks_of(srv)["keys"] if k["kid"] == header["kid"]]
    assert keys, f"kid {header['kid']} is not in the JWKS"
    key = jwt.PyJWK(keys[0])
    return jwt.decode(token, key.key, algorithms=[header["alg"]], audience=issuer, issuer=issuer)


def rotate(api, body=None):
    kw = {"headers": api.auth_headers()}
    if body is not None:
        kw["json"] = body
    return api.post("/api/signing-keys/rotate", **kw)


def test_rotation_keeps_old_tokens_valid(start_server):
    issuer = "http://gatehouse-rotation.test"
    srv = start_server(env={"GATEHOUSE_SERVER_ISSUER": issuer})
    admin = srv.admin()
    user = admin.create_user()
    before = login(srv, user)
    old_kid = jwt_header(before["access_token"])["kid"]
    assert old_kid in jwks_kids(srv)

    r = rotate(admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"kid", "alg", "created_at"}, body
    assert body["alg"] == "ES256" and TIME_RE.match(body["created_at"]), body
    new_kid = body["kid"]
    assert new_kid != old_kid

    # both keys are published at once, the old token still verifies (server and PyJWT)
    kids = jwks_kids(srv)
    assert {old_kid, new_kid} <= kids, kids
    assert me_status(srv, before["access_token"]) == 200
    pyjwt_verify(srv, before["access_token"], issuer)

    # new tokens, from login and from refresh, carry the new kid
    after = login(srv, user)
    assert jwt_header(after["access_token"])["kid"] == new_kid
    r = requests.post(srv.url + "/auth/refresh", json={"refresh_token": before["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert jwt_header(r.json()["access_token"])["kid"] == new_kid
    for token in (after["access_token"], r.json()["access_token"]):
        assert me_status(srv, token) == 200
        pyjwt_verify(srv, token, issuer)
    assert me_status(srv, before["access_token"]) == 200

    # the rotation is audited
    events = admin.audit(type="signing_key.rotated")
    assert any(e["detail"].get("kid") == new_kid for e in events), events


def test_rotate_other_algorithms_and_bad_requests(start_server):
    srv = start_server(env={"GATEHOUSE_SERVER_ISSUER": "http://gatehouse-rotation-algs.test"})
    admin = srv.admin()
    current = jwt_header(admin.token)["kid"]

    r = rotate(admin, {"alg": "EdDSA"})
    assert r.status_code == 201, r.text
    assert r.json()["alg"] == "EdDSA"
    r = rotate(admin, {"alg": "RS256"})
    assert r.status_code == 201, r.text
    assert r.json()["alg"] == "RS256"
    algs = {k["kid"]: k["alg"] for k in jwks_of(srv)["keys"]}
    assert sorted(algs.values()) == ["ES256", "EdDSA", "RS256", "RS256"], algs
    # access tokens stay on tokens.signing_alg (ES256) and its current key
    fresh = srv.api().login_ok("admin", srv.admin_password)["access_token"]
    assert jwt_header(fresh)["alg"] == "ES256" and jwt_header(fresh)["kid"] == current

    for bad in ({"alg": "HS256"}, {"alg": "none"}, {"alg": "es256"}, {"alg": 1}, {"alg": None}, {"kid": "x"}, []):
        r = admin.post("/api/signing-keys/rotate", json=bad, headers=admin.auth_headers())
        assert_error(r, 400, "invalid_request")
    assert sorted(a for a in {k["kid"]: k["alg"] for k in jwks_of(srv)["keys"]}.values()) == \
        ["ES256", "EdDSA", "RS256", "RS256"]

    # only admins, only authenticated
    user = admin.create_user()
    token = login(srv, user)["access_token"]
    r = requests.post(srv.url + "/api/signing-keys/rotate", headers=bearer(token), timeout=10)
    assert_error(r, 403, "forbidden")
    r = requests.post(srv.url + "/api/signing-keys/rotate", timeout=10)
    assert_error(r, 401, "invalid_token")
    r = requests.get(srv.url + "/api/signing-keys/rotate", headers=admin.auth_headers(), timeout=10)
    assert r.status_code == 405, r.text


def test_retired_key_leaves_the_jwks(start_server):
    """ACCESS_TTL=1 + LEEWAY=1: the retired key verifies for ttl + leeway + 5 s (servers that have
    not reloaded yet may still sign with it for up to 5 s), then leaves the JWKS at the next reload
    (every 5 s): never before 7 s, gone within ~13 s of the rotation."""
    issuer = "http://gatehouse-retire.test"
    srv = start_server(env={"GATEHOUSE_TOKENS_ACCESS_TTL": "1", "GATEHOUSE_TOKENS_LEEWAY": "1",
                            "GATEHOUSE_SERVER_ISSUER": issuer})
    admin = srv.admin()
    old_kid = jwt_header(admin.token)["kid"]
    rs_kids = {k["kid"] for k in jwks_of(srv)["keys"] if k["alg"] == "RS256"}
    r = rotate(admin)
    assert r.status_code == 201, r.text
    t0 = time.monotonic()
    new_kid = r.json()["kid"]
    assert old_kid in jwks_kids(srv)

    gone_after = None
    while time.monotonic() - t0 < 16:
        kids = jwks_kids(srv)
        assert new_kid in kids and rs_kids <= kids, kids
        if old_kid not in kids:
            gone_after = time.monotonic() - t0
            break
        time.sleep(0.25)
    assert gone_after is not None, f"retired kid {old_kid} still in the JWKS 16 s after rotation"
    assert gone_after >= 6.0, f"retired kid left the JWKS after {gone_after:.1f} s, while its tokens may live"
    assert gone_after <= 13.5, f"retired kid left the JWKS only after {gone_after:.1f} s (expected ≤ ~12 s)"
    # gone for good, and the new key signs and verifies
    time.sleep(0.3)
    assert old_kid not in jwks_kids(srv)
    body = srv.api().login_ok("admin", srv.admin_password)
    assert jwt_header(body["access_token"])["kid"] == new_kid
    assert me_status(srv, body["access_token"]) == 200
    pyjwt_verify(srv, body["access_token"], issuer)


def test_restart_keeps_keys_and_revocations(start_server):
    issuer = "http://gatehouse-restart.test"
    srv = start_server(env={"GATEHOUSE_SERVER_ISSUER": issuer})
    admin = srv.admin()
    user = admin.create_user()
    kept = login(srv, user)
    revoked = login(srv, user)
    r = requests.post(srv.url + "/auth/logout", headers=bearer(revoked["access_token"]), timeout=10)
    assert r.status_code == 204, r.text
    assert me_status(srv, revoked["access_token"]) == 401
    # a retired key must survive the restart too
    old_kid = jwt_header(kept["access_token"])["kid"]
    r = rotate(admin)
    assert r.status_code == 201, r.text
    new_kid = r.json()["kid"]
    rotated = login(srv, user)
    kids_before = jwks_kids(srv)
    assert {old_kid, new_kid} <= kids_before

    srv.restart()

    assert jwks_kids(srv) == kids_before
    assert me_status(srv, kept["access_token"]) == 200, "a token signed by a retired key, after restart"
    assert me_status(srv, rotated["access_token"]) == 200, "a token signed by the current key, after restart"
    r = requests.get(srv.url + "/users/me", headers=bearer(revoked["access_token"]), timeout=10)
    assert_error(r, 401, "invalid_token")
    after = login(srv, user)
    assert jwt_header(after["access_token"])["kid"] == new_kid, "a restart must not make a new key current"
    pyjwt_verify(srv, kept["access_token"], issuer)
    pyjwt_verify(srv, after["access_token"], issuer)


def test_cli_rotation_is_picked_up(start_server, cli_factory):
    issuer = "http://gatehouse-cli-rotate.test"
    env = {"GATEHOUSE_SERVER_ISSUER": issuer}
    srv = start_server(env=env)
    admin = srv.admin()
    user = admin.create_user()
    before = login(srv, user)
    old_kid = jwt_header(before["access_token"])["kid"]
    cli = cli_factory(srv.data_dir, env=env)

    p = cli.run("signing-key", "rotate")
    assert p.returncode == 0, p.stderr_text
    m = re.search(r"key ([A-Za-z0-9_-]{20,})", p.stdout_text)
    assert m, p.stdout_text
    new_kid = m.group(1)
    assert new_kid != old_kid
    t0 = time.monotonic()

    seen_after = None
    while time.monotonic() - t0 < 10:
        token = login(srv, user)["access_token"]
        if jwt_header(token)["kid"] == new_kid:
            seen_after = time.monotonic() - t0
            break
        assert jwt_header(token)["kid"] == old_kid
        time.sleep(0.25)
    assert seen_after is not None, "the server never signed with the key the CLI made current"
    assert seen_after <= 6.5, f"the CLI's new key was used only after {seen_after:.1f} s"
    assert {old_kid, new_kid} <= jwks_kids(srv)
    assert me_status(srv, token) == 200
    assert me_status(srv, before["access_token"]) == 200
    pyjwt_verify(srv, token, issuer)

    listing = cli.run("signing-key", "list")
    assert listing.returncode == 0, listing.stderr_text
    lines = {line.split()[0]: line for line in listing.stdout_text.splitlines()[1:] if line.strip()}
    assert "current" in lines[new_kid] and "ES256" in lines[new_kid], listing.stdout_text
    assert "retired" in lines[old_kid], listing.stdout_text
    assert sum(" current " in line for line in lines.values()) == 2, listing.stdout_text  # ES256 + RS256

    p = cli.run("signing-key", "rotate", "--alg", "EdDSA")
    assert p.returncode == 0, p.stderr_text
    p = cli.run("signing-key", "rotate", "--alg", "HS256")
    assert p.returncode != 0, p.stdout_text
    p = cli.run("signing-key", "rotate", "--alg", "nope")
    assert p.returncode != 0, p.stdout_text
