"""POST /auth/refresh: rotation, reuse detection, concurrency, expiry."""
import time

import pytest
import requests

from support import (ACCESS_RE, REFRESH_RE, assert_challenges, assert_error, bearer, race_posts, random_base62)

REFRESH_KEYS = {"token", "access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}


def login(server, u):
    r = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def refresh(server, token):
    return requests.post(server.url + "/auth/refresh", json={"refresh_token": token}, timeout=10)


def me_status(server, access):
    return requests.get(server.url + "/users/me", headers=bearer(access), timeout=10).status_code


def test_rotation(server, make_user):
    u = make_user()
    first = login(server, u)
    r = refresh(server, first["refresh_token"])
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    body = r.json()
    assert set(body) == REFRESH_KEYS, body.keys()
    assert body["token"] == body["access_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_expires_in"] == 2592000
    assert ACCESS_RE.match(body["access_token"]) and REFRESH_RE.match(body["refresh_token"])
    assert body["access_token"] != first["access_token"]
    assert body["refresh_token"] != first["refresh_token"]
    # the new access token works, and the one issued before the refresh is still valid
    assert me_status(server, body["access_token"]) == 200
    assert me_status(server, first["access_token"]) == 200
    # the new refresh token rotates again
    r2 = refresh(server, body["refresh_token"])
    assert r2.status_code == 200, r2.text
    r3 = refresh(server, r2.json()["refresh_token"])
    assert r3.status_code == 200, r3.text
    assert me_status(server, r3.json()["access_token"]) == 200


def test_reuse_revokes_the_whole_session(server, make_user):
    u = make_user()
    s1 = login(server, u)
    other = login(server, u)  # another session of the same user: must survive
    r = refresh(server, s1["refresh_token"])
    assert r.status_code == 200, r.text
    s2 = r.json()
    # replaying the spent R1
    replay = refresh(server, s1["refresh_token"])
    assert_error(replay, 401, "invalid_grant")
    # the newest refresh token of the family is revoked too
    assert_error(refresh(server, s2["refresh_token"]), 401, "invalid_grant")
    # and every access token of that session
    for access in (s1["access_token"], s2["access_token"]):
        resp = requests.get(server.url + "/users/me", headers=bearer(access), timeout=10)
        assert_error(resp, 401, "invalid_token")
        assert_challenges(resp, token_presented=True)
    # the other session is unaffected
    assert me_status(server, other["access_token"]) == 200
    assert refresh(server, other["refresh_token"]).status_code == 200


def test_reuse_deep_in_chain(server, make_user):
    u = make_user()
    s = login(server, u)
    chain = [s["refresh_token"]]
    access = [s["access_token"]]
    for _ in range(3):
        r = refresh(server, chain[-1])
        assert r.status_code == 200, r.text
        chain.append(r.json()["refresh_token"])
        access.append(r.json()["access_token"])
    assert_error(refresh(server, chain[1]), 401, "invalid_grant")  # spent middle token
    assert_error(refresh(server, chain[-1]), 401, "invalid_grant")
    for a in access:
        assert me_status(server, a) == 401


def test_unknown_refresh_token(server):
    assert_error(refresh(server, "grt_" + random_base62(43)), 401, "invalid_grant")
    assert_error(refresh(server, "nonsense-refresh-token"), 401, "invalid_grant")


def test_access_token_is_not_a_refresh_token(server, make_user):
    u = make_user()
    s = login(server, u)
    assert_error(refresh(server, s["access_token"]), 401, "invalid_grant")
    # and the session is unharmed
    assert me_status(server, s["access_token"]) == 200
    assert refresh(server, s["refresh_token"]).status_code == 200


@pytest.mark.parametrize("body,desc_word", [
    ({}, "refresh_token"),
    ({"refresh_token": 42}, "refresh_token"),
    ({"refresh_token": None}, "refresh_token"),
    ({"refresh_token": "grt_x", "extra": 1}, "extra"),
])
def test_refresh_bad_requests(server, body, desc_word):
    r = requests.post(server.url + "/auth/refresh", json=body, timeout=10)
    err = assert_error(r, 400, "invalid_request")
    assert desc_word in err["error_description"], err


def test_refresh_malformed_json(server):
    for raw in (b"{", b"[]", b"\"grt_x\""):
        r = requests.post(server.url + "/auth/refresh", data=raw, headers={"Content-Type": "application/json"},
                          timeout=10)
        assert_error(r, 400, "invalid_request")


def test_concurrent_refresh_exactly_one_wins(server, make_user):
    u = make_user()
    s = login(server, u)
    results = race_posts([(server.url + "/auth/refresh", {"refresh_token": s["refresh_token"]})] * 20)
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1, statuses
    for r in results:
        if r.status_code != 200:
            assert_error(r, 401, "invalid_grant")


def test_expired_access_token_then_refresh_pattern(start_server):
    """ACCESS_TTL=1: the token dies; the seed's make_authenticated_request recovers."""
    # JWT expiry allows tokens.leeway of clock skew (default 30 s): keep it to 1 s here.
    srv = start_server(env={"GATEHOUSE_TOKENS_ACCESS_TTL": "1", "GATEHOUSE_TOKENS_LEEWAY": "1"})
    admin = srv.admin()
    u = admin.create_user()
    s = login(srv, u)
    assert s["expires_in"] == 1
    assert me_status(srv, s["access_token"]) == 200
    time.sleep(2.1)
    r = requests.get(srv.url + "/users/me", headers=bearer(s["access_token"]), timeout=10)
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=True)

    base = srv.url

    # --- seed snippet (URL swapped for the test server) -----------------------------
    def make_authenticated_request(url, access_token, refresh_token):
        headers = {"Authorization": f"Bearer {access_token}"}
        response = requests.get(url, headers=headers)
        # If access token expired
        if response.status_code == 401:
            # Refresh access token
            refresh_response = requests.post(
                base + "/auth/refresh",
                json={"refresh_token": refresh_token}
            )
            if refresh_response.status_code == 200:
                new_access_token = refresh_response.json()["access_token"]
                # Retry original request
                headers = {"Authorization": f"Bearer {new_access_token}"}
                response = requests.get(url, headers=headers)
        return response
    # ----------------------------------------------------------------------------------

    resp = make_authenticated_request(base + "/users/me", s["access_token"], s["refresh_token"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["username"] == u["username"]


def test_refresh_lifetime_is_fresh_and_expiry(start_server):
    """REFRESH_TTL=5 s. Session A is refreshed at ~2.5 s, session B never. At ~6.2 s B's refresh
    token has expired (even allowing 1 s of rounding) while A's rotated token (fresh 5 s
    lifetime from 2.5 s) still works."""
    srv = start_server(env={"GATEHOUSE_TOKENS_REFRESH_TTL": "5s"})
    admin = srv.admin()
    u = admin.create_user()
    t0 = time.monotonic()
    a = login(srv, u)
    b = login(srv, u)
    assert a["refresh_expires_in"] == 5
    time.sleep(max(0.0, 2.5 - (time.monotonic() - t0)))
    r = refresh(srv, a["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.json()["refresh_expires_in"] == 5
    a2 = r.json()
    time.sleep(max(0.0, 6.2 - (time.monotonic() - t0)))
    r = refresh(srv, a2["refresh_token"])
    assert r.status_code == 200, f"rotated refresh token should still be valid: {r.status_code} {r.text}"
    assert_error(refresh(srv, b["refresh_token"]), 401, "invalid_grant")
