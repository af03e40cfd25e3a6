"""Many nodes on one PostgreSQL (issue 8, SPEC §9 "Scaling out"): two gatehouse processes, two
ports, one real PostgreSQL 15 that this module starts itself (pg.py). What one node does, the
other honours: users, API key revocation (within 1 s, through LISTEN/NOTIFY), refresh rotation
and reuse detection, lockout counters and signing-key rotation. Then the fault test: the
database stops mid-run and comes back, and neither node is restarted.

Each test gets its own database and its own pair of nodes, so they do not share state."""
from __future__ import annotations

import itertools
import time

import pytest
import requests

import support
from pg import wait_until
from support import assert_error, basic, bearer, jwks_kids, jwt_header, race_posts

ISSUER = "http://gatehouse-cluster.test"  # both nodes must name the same issuer
_databases = itertools.count(1)


@pytest.fixture
def cluster(postgres, start_server):
    """Two nodes, A and B, on a fresh database; B starts once A has migrated it."""
    database = f"cluster{next(_databases)}"
    postgres.create_database(database)
    admin_password = support.new_password("admin")
    env = {**postgres.gatehouse_env(database), "GATEHOUSE_SERVER_ISSUER": ISSUER,
           "GATEHOUSE_LOCKOUT_MAX_FAILURES": "5", "GATEHOUSE_LOCKOUT_IP_MAX_FAILURES": "1000"}
    a = start_server(env=env, admin_password=admin_password)
    b = start_server(env=env, admin_password=admin_password)
    return a, b


def login(node, user) -> dict:
    r = requests.post(node.url + "/auth/login", json={"username": user["username"], "password": user["password"]},
                      timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def check(node, headers) -> int:
    """Authenticates a request on `node` (GET /users/me: any valid credential may read itself)."""
    return requests.get(node.url + "/users/me", headers=headers, timeout=10).status_code


def test_a_user_created_on_a_logs_in_on_b(cluster):
    a, b = cluster
    user = a.admin().create_user()
    tokens = login(b, user)
    assert requests.get(a.url + "/users/me", headers=bearer(tokens["access_token"]), timeout=10).status_code == 200
    assert requests.get(b.url + "/users/me", headers=bearer(tokens["access_token"]), timeout=10).status_code == 200


def test_a_key_revoked_on_a_fails_on_b_within_a_second(cluster):
    a, b = cluster
    user = a.admin().create_user()
    api = a.api()
    api.token = login(a, user)["access_token"]
    r = api.post("/api/keys", json={"name": "cluster"}, headers=api.auth_headers())
    assert r.status_code == 201, r.text
    key = r.json()
    headers = {"X-API-Key": key["key"]}
    assert check(b, headers) == 200  # now in B's cache
    assert check(b, headers) == 200

    r = api.delete(f"/api/keys/{key['id']}", headers=api.auth_headers())
    assert r.status_code in (200, 204), r.text
    revoked_at = time.monotonic()
    assert check(a, headers) == 401  # the node that revoked it, at once
    refused, waited = wait_until(lambda: check(b, headers) == 401, timeout=5)
    assert refused, "B still accepts the revoked key after 5 s"
    assert time.monotonic() - revoked_at < 1.0, f"B refused the key only after {waited:.3f} s"


def test_a_user_disabled_on_a_is_refused_on_b_within_a_second(cluster):
    """B's caches (user status, verified tokens, Basic) follow A's change."""
    a, b = cluster
    admin = a.admin()
    user = admin.create_user()
    jwt = bearer(login(b, user)["access_token"])
    plain = basic(user["username"], user["password"])
    for headers in (jwt, plain):  # cached on B: the verified token, the Basic verification
        assert check(b, headers) == 200
        assert check(b, headers) == 200
    r = admin.patch_user(user["id"], {"disabled": True})
    assert r.status_code == 200, r.text
    disabled_at = time.monotonic()
    for headers in (jwt, plain):
        refused, _ = wait_until(lambda h=headers: check(b, h) == 401, timeout=5)
        assert refused, "B still accepts the disabled user after 5 s"
    assert time.monotonic() - disabled_at < 1.0, "B refused the disabled user only after more than 1 s"


def test_a_refresh_token_used_on_a_and_replayed_on_b_is_reuse(cluster):
    a, b = cluster
    user = a.admin().create_user()
    first = login(a, user)
    r = requests.post(a.url + "/auth/refresh", json={"refresh_token": first["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    second = r.json()
    # The spent token, replayed on the other node: reuse, and the whole session ends.
    r = requests.post(b.url + "/auth/refresh", json={"refresh_token": first["refresh_token"]}, timeout=10)
    assert_error(r, 401, "invalid_grant")
    r = requests.post(a.url + "/auth/refresh", json={"refresh_token": second["refresh_token"]}, timeout=10)
    assert_error(r, 401, "invalid_grant")
    # The session's access token is refused on both nodes (within the feed's delay on A).
    for node in (b, a):
        refused, _ = wait_until(lambda n=node: requests.get(n.url + "/users/me", headers=bearer(
            second["access_token"]), timeout=10).status_code == 401, timeout=1.0)
        assert refused, f"{node.name} still accepts the revoked session's access token"


def test_twenty_concurrent_refreshes_over_two_nodes_have_one_winner(cluster):
    a, b = cluster
    user = a.admin().create_user()
    tokens = login(a, user)
    body = {"refresh_token": tokens["refresh_token"]}
    results = race_posts([((a if i % 2 == 0 else b).url + "/auth/refresh", body) for i in range(20)])
    statuses = [r.status_code for r in results]
    assert statuses.count(200) == 1, statuses
    for r in results:
        if r.status_code != 200:
            assert_error(r, 401, "invalid_grant")


def test_lockout_counts_failures_on_every_node(cluster):
    a, b = cluster
    user = a.admin().create_user()
    wrong = {"username": user["username"], "password": "not-the-password"}
    for i in range(5):  # max_failures = 5, alternating nodes
        node = a if i % 2 == 0 else b
        assert requests.post(node.url + "/auth/login", json=wrong, timeout=30).status_code == 401
    right = {"username": user["username"], "password": user["password"]}
    for node in (a, b):
        r = requests.post(node.url + "/auth/login", json=right, timeout=30)
        assert r.status_code == 429, (node.name, r.status_code, r.text)
        assert int(r.headers["Retry-After"]) > 0


def test_a_signing_key_rotated_on_a_verifies_on_b(cluster):
    a, b = cluster
    admin = a.admin()
    user = admin.create_user()
    old_kid = jwt_header(login(a, user)["access_token"])["kid"]
    r = admin.post("/api/signing-keys/rotate", headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    new_kid = r.json()["kid"]
    rotated_at = time.monotonic()
    published, _ = wait_until(lambda: new_kid in jwks_kids(b), timeout=5)
    assert published, "B never published the new key"
    assert time.monotonic() - rotated_at < 1.0, "B published the new key after more than 1 s"
    assert jwks_kids(a) == jwks_kids(b) and {old_kid, new_kid} <= jwks_kids(b)
    # A token A signs with the new key verifies on B; B signs with it too.
    from_a = login(a, user)["access_token"]
    assert jwt_header(from_a)["kid"] == new_kid
    assert requests.get(b.url + "/users/me", headers=bearer(from_a), timeout=10).status_code == 200
    assert jwt_header(login(b, user)["access_token"])["kid"] == new_kid


def test_database_down_then_back(cluster, postgres):
    """Stop PostgreSQL mid-run: JWTs and cached API keys keep verifying from memory, writes
    answer 503, /readyz fails. Start it again: both nodes recover without a restart, and every
    write acknowledged before the stop is still there."""
    a, b = cluster
    admin = a.admin()
    users = [admin.create_user() for _ in range(3)]  # acknowledged writes
    api = a.api()
    api.token = login(a, users[0])["access_token"]
    r = api.post("/api/keys", json={"name": "before-the-outage"}, headers=api.auth_headers())
    assert r.status_code == 201, r.text
    key = r.json()
    jwt = api.token
    for node in (a, b):  # each node verifies and caches the key while the database is up
        assert check(node, {"X-API-Key": key["key"]}) == 200
        assert requests.get(node.url + "/readyz", timeout=10).status_code == 200

    postgres.stop()
    try:
        for node in (a, b):
            assert check(node, bearer(jwt)) == 200, f"{node.name}: a JWT needs no database"
            assert check(node, {"X-API-Key": key["key"]}) == 200, f"{node.name}: a cached key needs no database"
            r = requests.get(node.url + "/readyz", timeout=30)
            assert r.status_code == 503, (node.name, r.status_code, r.text)
            r = requests.post(node.url + "/api/users", json={"username": support.unique_name(),
                                                              "password": support.new_password()},
                              headers=admin.auth_headers(), timeout=30)
            assert_error(r, 503, "unavailable")
    finally:
        postgres.start()

    for node in (a, b):
        ready, _ = wait_until(lambda n=node: requests.get(n.url + "/readyz", timeout=10).status_code == 200,
                              timeout=30, interval=0.2)
        assert ready, f"{node.name} did not become ready again after the database came back"
    for node in (a, b):  # nothing acknowledged was lost, and writes work again on both nodes
        for user in users:
            assert login(node, user)["access_token"]
        assert node.admin().create_user()
    assert a.running() and b.running()
