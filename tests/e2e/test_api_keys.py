"""API keys end to end (SPEC §6, §3): the seed's two ways of sending a key with `requests`,
every 401/403 case, listing, rotation with a grace period, expiry, revocation from the CLI
while the server runs, and revocation racing eight threads that use the key."""
from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from support import Cli, assert_challenges, assert_error, bearer, register_secret

KEY_RE = re.compile(r"^gk_[0-9A-Za-z]{43}$")


def me_with(server, **kw):
    return requests.get(server.url + "/users/me", timeout=10, **kw)


def wait_until(predicate, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until predicate() held, or None after timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(step)
    return None


@pytest.fixture(scope="module")
def owner(server, admin):
    user = admin.create_user()
    api = server.api()
    body = api.login_ok(user["username"], user["password"])
    api.token = body["access_token"]
    user["api"] = api
    return user


def create_key(api, **body) -> dict:
    body.setdefault("name", "e2e")
    r = api.post("/api/keys", json=body, headers=api.auth_headers())
    assert r.status_code == 201, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    out = r.json()
    assert KEY_RE.match(out["key"]), "gk_ and 43 base62 characters"
    return out


# ---------------------------------------------------------------------------------------
# The seed's two ways
# ---------------------------------------------------------------------------------------

def test_header_works_and_query_param_is_refused_by_default(server, owner):
    key = create_key(owner["api"])
    assert set(key) == {"id", "name", "key", "prefix", "scopes", "created_at", "expires_at", "rate_limit"}
    assert key["key"].startswith(key["prefix"]) and len(key["prefix"]) == 7

    r = requests.get(server.url + "/users/me", headers={"X-API-Key": key["key"]}, timeout=10)
    assert r.status_code == 200, r.text
    auth = r.json()["auth"]
    assert auth["method"] == "api_key" and auth["key_id"] == key["id"]
    assert r.json()["id"] == owner["id"]

    r = me_with(server, headers=bearer(key["key"]))
    assert r.status_code == 200, r.text
    assert r.json()["auth"]["method"] == "api_key"

    r = requests.get(server.url + "/users/me", params={"api_key": key["key"]}, timeout=10)
    body = assert_error(r, 401, "invalid_token")
    assert "X-API-Key" in body["error_description"]
    assert key["key"] not in r.text


def test_query_param_accepted_when_configured(start_server):
    srv = start_server(env={"GATEHOUSE_API_KEYS_ALLOW_QUERY_PARAM": "true"})
    admin = srv.admin()
    key = create_key(admin)
    r = requests.get(srv.url + "/users/me", params={"api_key": key["key"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["auth"]["method"] == "api_key"
    # still exactly one credential
    r = requests.get(srv.url + "/users/me", params={"api_key": key["key"]}, headers={"X-API-Key": key["key"]},
                     timeout=10)
    assert_error(r, 400, "invalid_request")


def test_two_credentials_are_refused(server, owner):
    key = create_key(owner["api"])
    r = me_with(server, headers={"X-API-Key": key["key"], "Authorization": "Bearer " + owner["api"].token})
    assert_error(r, 400, "invalid_request")
    r = me_with(server, headers={"X-API-Key": key["key"]}, params={"api_key": key["key"]})
    assert_error(r, 400, "invalid_request")


# ---------------------------------------------------------------------------------------
# 401 and 403
# ---------------------------------------------------------------------------------------

def assert_key_rejected(server, key: str, why: str):
    r = me_with(server, headers={"X-API-Key": key})
    assert r.status_code == 401, f"{why}: {r.status_code} {r.text}"
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=False)
    assert key not in r.text
    r = me_with(server, headers=bearer(key))
    assert r.status_code == 401, f"{why} (as Bearer): {r.status_code} {r.text}"
    assert_challenges(r, token_presented=True)


@pytest.mark.parametrize("bad", ["gk_" + "a" * 43, "gk_short", "gk_" + "a" * 42 + "!", "not-a-key", "gk_" + "é" * 43])
def test_unknown_and_malformed_keys(server, bad):
    r = me_with(server, headers={"X-API-Key": bad.encode("utf-8")})
    assert_error(r, 401, "invalid_token")


def test_scopes_narrow_the_owner(server, owner, admin):
    key = create_key(owner["api"], scopes=["profile:read"])
    assert key["scopes"] == ["profile:read"]
    h = {"X-API-Key": key["key"]}
    assert me_with(server, headers=h).json()["auth"]["scopes"] == ["profile:read"]
    # keys:write is the owner's, but not this key's: 403
    r = requests.post(server.url + "/api/keys", json={"name": "x"}, headers=h, timeout=10)
    assert_error(r, 403, "forbidden")
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    # A user's key can never do what the user cannot (users:read is admin's)
    full = create_key(owner["api"])
    r = requests.get(server.url + "/api/users", headers={"X-API-Key": full["key"]}, timeout=10)
    assert r.status_code == 403, r.text
    # and scopes the owner does not hold are refused at creation
    r = owner["api"].post("/api/keys", json={"name": "wide", "scopes": ["users:write"]},
                          headers=owner["api"].auth_headers())
    assert_error(r, 400, "invalid_request")
    r = owner["api"].post("/api/keys", json={"name": "typo", "scopes": ["profile:raed"]},
                          headers=owner["api"].auth_headers())
    assert_error(r, 400, "invalid_request")
    # An admin key scoped to users:read reads users but cannot create them.
    admin_key = create_key(admin, scopes=["users:read"])
    assert requests.get(server.url + "/api/users", headers={"X-API-Key": admin_key["key"]}, timeout=10).status_code == 200
    r = requests.post(server.url + "/api/users", json={"username": "nope", "password": "long-enough-1"},
                      headers={"X-API-Key": admin_key["key"]}, timeout=10)
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("body,field", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": 5}, "name"), ({"name": "x", "scopes": "a"}, "scopes"),
    ({"name": "x", "expires_in": "1h"}, "expires_in"), ({"name": "x", "expires_in": 0}, "expires_in"),
    ({"name": "x", "expires_in": -1}, "expires_in"), ({"name": "x", "extra": 1}, "extra"),
])
def test_bad_create_bodies(server, owner, body, field):
    r = owner["api"].post("/api/keys", json=body, headers=owner["api"].auth_headers())
    err = assert_error(r, 400, "invalid_request")
    assert field in err["error_description"], err


def test_expiry(server, owner):
    key = create_key(owner["api"], expires_in=2)
    assert key["expires_at"] is not None
    assert me_with(server, headers={"X-API-Key": key["key"]}).status_code == 200
    took = wait_until(lambda: me_with(server, headers={"X-API-Key": key["key"]}).status_code == 401, timeout=5)
    assert took is not None, "the key never expired"
    assert_key_rejected(server, key["key"], "expired key")


def test_revoke_works_at_once_and_list_never_shows_keys(server, owner):
    api = owner["api"]
    key = create_key(api)
    assert me_with(server, headers={"X-API-Key": key["key"]}).status_code == 200
    r = api.delete(f"/api/keys/{key['id']}", headers=api.auth_headers())
    assert r.status_code == 204, r.text
    assert_key_rejected(server, key["key"], "revoked key")
    r = api.get("/api/keys", headers=api.auth_headers())
    assert r.status_code == 200
    listed = r.json()["keys"]
    assert key["key"] not in r.text
    for k in listed:
        assert set(k) == {"id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at",
                          "rate_limit"}
    mine = next(k for k in listed if k["id"] == key["id"])
    assert mine["revoked_at"] is not None
    # revoking again is fine; an unknown id is 404
    assert api.delete(f"/api/keys/{key['id']}", headers=api.auth_headers()).status_code == 204
    assert_error(api.delete("/api/keys/01NOSUCHKEY000000000000000", headers=api.auth_headers()), 404, "not_found")


def test_last_used_at_is_recorded(server, owner):
    api = owner["api"]
    key = create_key(api)
    assert me_with(server, headers={"X-API-Key": key["key"]}).status_code == 200

    def used():
        listed = api.get("/api/keys", headers=api.auth_headers()).json()["keys"]
        return next(k for k in listed if k["id"] == key["id"])["last_used_at"] is not None
    assert wait_until(used, timeout=10, step=0.25) is not None, "last_used_at never written (batched every 5 s)"


def test_others_keys_are_invisible_but_admins_manage_them(server, owner, admin):
    other = admin.create_user()
    other_api = server.api()
    other_api.token = other_api.login_ok(other["username"], other["password"])["access_token"]
    key = create_key(owner["api"])
    assert_error(other_api.delete(f"/api/keys/{key['id']}", headers=other_api.auth_headers()), 404, "not_found")
    assert_error(other_api.post(f"/api/keys/{key['id']}/rotate", json={}, headers=other_api.auth_headers()), 404,
                 "not_found")
    r = other_api.get("/api/keys", params={"user_id": owner["id"]}, headers=other_api.auth_headers())
    assert_error(r, 403, "forbidden")
    r = admin.get("/api/keys", params={"user_id": owner["id"]}, headers=admin.auth_headers())
    assert r.status_code == 200
    assert key["id"] in {k["id"] for k in r.json()["keys"]}
    assert me_with(server, headers={"X-API-Key": key["key"]}).status_code == 200
    assert admin.delete(f"/api/keys/{key['id']}", headers=admin.auth_headers()).status_code == 204
    assert_key_rejected(server, key["key"], "revoked by an admin")


def test_disabled_and_deleted_owners(server, admin):
    user = admin.create_user()
    api = server.api()
    api.token = api.login_ok(user["username"], user["password"])["access_token"]
    key = create_key(api)
    assert me_with(server, headers={"X-API-Key": key["key"]}).status_code == 200
    assert admin.patch_user(user["id"], {"disabled": True}).status_code == 200
    assert_key_rejected(server, key["key"], "owner disabled")
    assert admin.patch_user(user["id"], {"disabled": False}).status_code == 200
    assert_key_rejected(server, key["key"], "disabling revoked the key; enabling does not revive it")

    user2 = admin.create_user()
    api2 = server.api()
    api2.token = api2.login_ok(user2["username"], user2["password"])["access_token"]
    key2 = create_key(api2)
    assert me_with(server, headers={"X-API-Key": key2["key"]}).status_code == 200
    assert admin.delete_user(user2["id"]).status_code == 204
    assert_key_rejected(server, key2["key"], "owner deleted")


# ---------------------------------------------------------------------------------------
# Rotation
# ---------------------------------------------------------------------------------------

def test_rotation_with_grace(server, owner):
    api = owner["api"]
    old = create_key(api, name="deploy", scopes=["profile:read"])
    assert me_with(server, headers={"X-API-Key": old["key"]}).status_code == 200
    r = api.post(f"/api/keys/{old['id']}/rotate", json={"grace_seconds": 2}, headers=api.auth_headers())
    assert r.status_code == 201, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    new = r.json()
    assert new["id"] != old["id"] and new["key"] != old["key"]
    assert new["name"] == "deploy" and new["scopes"] == ["profile:read"]
    assert me_with(server, headers={"X-API-Key": old["key"]}).status_code == 200, "grace period"
    assert me_with(server, headers={"X-API-Key": new["key"]}).status_code == 200
    # a rotated key cannot be rotated again
    assert_error(api.post(f"/api/keys/{old['id']}/rotate", json={}, headers=api.auth_headers()), 409, "conflict")
    took = wait_until(lambda: me_with(server, headers={"X-API-Key": old["key"]}).status_code == 401, timeout=5)
    assert took is not None, "the grace period never ended"
    assert_key_rejected(server, old["key"], "rotated past grace")
    assert me_with(server, headers={"X-API-Key": new["key"]}).status_code == 200

    # default grace 0: the old key stops at once
    r = api.post(f"/api/keys/{new['id']}/rotate", headers=api.auth_headers())
    assert r.status_code == 201, r.text
    assert_key_rejected(server, new["key"], "rotated without grace")
    assert me_with(server, headers={"X-API-Key": r.json()["key"]}).status_code == 200
    for bad in ({"grace_seconds": -1}, {"grace_seconds": "60"}, {"grace": 5}):
        rr = api.post(f"/api/keys/{r.json()['id']}/rotate", json=bad, headers=api.auth_headers())
        assert_error(rr, 400, "invalid_request")


# ---------------------------------------------------------------------------------------
# CLI and concurrency
# ---------------------------------------------------------------------------------------

def test_cli_create_list_and_revoke_while_running(server, owner, cli_factory):
    cli = cli_factory(server.data_dir)
    p = cli.run("key", "create", "--user", owner["username"], "--name", "from-cli", "--scope", "profile:read",
                "--expires-in", "1d", secret_stdout=True)
    assert p.returncode == 0, p.stderr_text
    key = p.stdout_text.strip()
    register_secret(key)
    assert KEY_RE.match(key), "stdout holds the key alone"
    assert key not in p.stderr_text
    assert me_with(server, headers={"X-API-Key": key}).status_code == 200

    listing = cli.run("key", "list", "--user", owner["username"])
    assert listing.returncode == 0, listing.stderr_text
    assert key not in listing.stdout_text
    line = next(l for l in listing.stdout_text.splitlines() if "from-cli" in l)
    key_id = line.split()[0]
    assert key[:7] in line and "active" in line and "profile:read" in line
    everyone = cli.run("key", "list")
    assert key_id in everyone.stdout_text

    p = cli.run("key", "revoke", key_id)
    assert p.returncode == 0, p.stderr_text
    took = wait_until(lambda: me_with(server, headers={"X-API-Key": key}).status_code == 401, timeout=3)
    assert took is not None and took <= 1.0, f"the CLI's revocation took {took} s to reach the server"
    assert cli.run("key", "revoke", "01NOSUCHKEY000000000000000").returncode == 1
    assert cli.run("key", "create", "--user", "nobody-here", "--name", "x", secret_stdout=True).returncode == 1
    bad_scope = cli.run("key", "create", "--user", owner["username"], "--name", "x", "--scope", "users:write",
                        secret_stdout=True)
    assert bad_scope.returncode == 1 and "narrow" in bad_scope.stderr_text


def test_revocation_races_eight_threads(server, owner):
    api = owner["api"]
    key = create_key(api)
    h = {"X-API-Key": key["key"]}
    results: list[tuple[float, float, int]] = []  # (sent, answered, status)
    lock = threading.Lock()
    stop = threading.Event()

    def hammer():
        s = requests.Session()
        while not stop.is_set():
            sent = time.monotonic()
            try:
                status = s.get(server.url + "/users/me", headers=h, timeout=10).status_code
            except requests.RequestException:
                status = -1
            with lock:
                results.append((sent, time.monotonic(), status))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    r = api.delete(f"/api/keys/{key['id']}", headers=api.auth_headers())
    revoked_at = time.monotonic()
    assert r.status_code == 204
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    statuses = {s for _, _, s in results}
    assert statuses <= {200, 401}, f"unexpected statuses: {statuses}"
    late = [x for x in results if x[0] > revoked_at and x[2] == 200]
    assert not late, f"{len(late)} requests sent after the revocation returned succeeded"
    assert any(s == 200 for _, _, s in results) and any(s == 401 for _, _, s in results)
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_audit_names_keys_by_prefix_only(server, owner, admin):
    key = create_key(owner["api"])
    me_with(server, headers={"X-API-Key": "gk_" + "Z" * 43})
    owner["api"].post(f"/api/keys/{key['id']}/rotate", json={"grace_seconds": 0}, headers=owner["api"].auth_headers())
    types = {}
    for e in admin.audit():
        types.setdefault(e["type"], []).append(e)
    for t in ("apikey.created", "apikey.rotated", "apikey.failure"):
        assert t in types, f"no {t} audit event"
    failure = types["apikey.failure"][0]
    detail = failure.get("detail") or {}
    assert detail.get("prefix") == "gk_ZZZZ", failure
    assert "apikey.revoked" in types
