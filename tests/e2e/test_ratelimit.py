"""Rate limits (SPEC §9): per principal, RateLimit-* headers, 429 too_many_requests with
Retry-After, separate buckets, refill, per-role and per-key limits, the client IP for login,
and ratelimit.exceeded audited once per period."""
from __future__ import annotations

import time

import pytest
import requests

from support import Cli, assert_error, bearer, register_secret


def me(srv, headers):
    return requests.get(srv.url + "/users/me", headers=headers, timeout=10)


def headers_of(r):
    return int(r.headers["RateLimit-Limit"]), int(r.headers["RateLimit-Remaining"]), int(r.headers["RateLimit-Reset"])


def test_the_default_is_1000_per_hour(start_server):
    srv = start_server(env={"GATEHOUSE_RATELIMIT_DEFAULT": None})
    admin = srv.admin()
    r = me(srv, admin.auth_headers())
    assert r.status_code == 200
    limit, remaining, reset = headers_of(r)
    assert limit == 1000 and remaining == 999
    assert 0 < reset <= 3600


def test_quota_then_429_then_refill_per_principal(start_server):
    # 5 per 5 s: one request back every second. Logins count against the IP (5 too).
    srv = start_server(env={"GATEHOUSE_RATELIMIT_DEFAULT": "5/5s",
                            "GATEHOUSE_RATELIMIT_ROLES": "admin=100000/hour"})
    admin = srv.admin()  # login 1 (IP)
    alice, bob = admin.create_user(), admin.create_user()
    a = bearer(srv.api().login_ok(alice["username"], alice["password"])["access_token"])  # login 2
    b = bearer(srv.api().login_ok(bob["username"], bob["password"])["access_token"])  # login 3
    remaining = []
    for _ in range(5):
        r = me(srv, a)
        assert r.status_code == 200, r.text
        remaining.append(headers_of(r)[1])
    assert remaining == [4, 3, 2, 1, 0]
    r = me(srv, a)
    assert_error(r, 429, "too_many_requests")
    assert 1 <= int(r.headers["Retry-After"]) <= 2
    assert headers_of(r)[1] == 0
    assert me(srv, a).status_code == 429
    assert me(srv, b).status_code == 200, "two principals do not share a bucket"
    time.sleep(1.2)
    assert me(srv, a).status_code == 200, "the bucket refills"
    # the admin role's own limit
    for _ in range(20):
        assert me(srv, admin.auth_headers()).status_code == 200
    events = admin.audit(type="ratelimit.exceeded", user_id=alice["id"])
    assert len(events) == 1, events  # once per period, not per refused request
    assert events[0]["detail"]["key"] == "user"


def test_an_api_keys_own_limit(start_server):
    srv = start_server()
    admin = srv.admin()
    user = admin.create_user()
    api = srv.api()
    api.token = api.login_ok(user["username"], user["password"])["access_token"]
    r = api.post("/api/keys", json={"name": "slow", "rate_limit": "2/minute"}, headers=api.auth_headers())
    assert r.status_code == 201, r.text
    assert r.json()["rate_limit"] == "2/minute"
    key = {"X-API-Key": r.json()["key"]}
    assert [me(srv, key).status_code for _ in range(3)] == [200, 200, 429]
    assert headers_of(me(srv, key))[0] == 2
    assert me(srv, api.auth_headers()).status_code == 200, "the owner's own bucket is separate"
    bad = api.post("/api/keys", json={"name": "x", "rate_limit": "fast"}, headers=api.auth_headers())
    assert_error(bad, 400, "invalid_request")


def test_logins_are_limited_by_client_ip(start_server):
    srv = start_server(env={"GATEHOUSE_RATELIMIT_DEFAULT": "3/minute"})
    admin = srv.admin()  # one login
    user = admin.create_user()
    statuses = [srv.api().login(user["username"], user["password"]).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = srv.api().login(user["username"], user["password"])
    assert_error(r, 429, "too_many_requests")
    assert int(r.headers["Retry-After"]) >= 1


def test_disabled_means_no_headers(start_server):
    srv = start_server(env={"GATEHOUSE_RATELIMIT_ENABLED": "false", "GATEHOUSE_RATELIMIT_DEFAULT": "1/hour"})
    admin = srv.admin()
    for _ in range(3):
        r = me(srv, admin.auth_headers())
        assert r.status_code == 200
        assert "RateLimit-Limit" not in r.headers


@pytest.mark.parametrize("value", ["fast", "0/hour", "10/fortnight"])
def test_bad_limits_stop_the_server_at_start(start_server, value):
    srv = start_server(env={"GATEHOUSE_RATELIMIT_DEFAULT": value}, start=False)
    cli = Cli(srv.workdir, srv.data_dir, env={"GATEHOUSE_RATELIMIT_DEFAULT": value})
    p = cli.run("migrate")
    assert p.returncode == 2
    assert "ratelimit.default" in p.stderr_text


def test_oauth_clients_have_their_own_limit_counted_after_authentication(start_server, cli_factory):
    from oauth_flow import token_request
    srv = start_server(env={"GATEHOUSE_RATELIMIT_DEFAULT": "3/minute"}, start=False)
    cli = cli_factory(srv.data_dir)
    clients = []
    for name in ("svc-a", "svc-b"):
        p = cli.run("client", "add", "--name", name, "--grant", "client_credentials", "--scope", "x",
                    secret_stdout=True)
        assert p.returncode == 0, p.stderr_text
        client_id, secret = p.stdout_text.split()
        register_secret(secret)
        clients.append({"client_id": client_id, "client_secret": secret})
    srv.start()
    a, b = clients
    wrong = dict(a, client_secret="gcs_" + "w" * 43)
    for _ in range(5):  # failed authentications do not use up a's quota
        assert token_request(srv, wrong, {"grant_type": "client_credentials"}).status_code == 401
    for i in range(3):
        r = token_request(srv, a, {"grant_type": "client_credentials"})
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Limit"] == "3" and r.headers["RateLimit-Remaining"] == str(2 - i)
    r = token_request(srv, a, {"grant_type": "client_credentials"})
    assert r.status_code == 429 and r.json()["error"] == "too_many_requests"
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["Cache-Control"] == "no-store"
    assert token_request(srv, b, {"grant_type": "client_credentials"}).status_code == 200  # its own bucket
