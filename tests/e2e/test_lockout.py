"""Brute-force lockout (SPEC §9): five failures lock a username, even for the right password,
with 429 too_many_attempts and Retry-After; unknown usernames alike; Basic failures count; the
lock ends, admins unlock (API and CLI), a restart keeps the count, and one IP's failures
across many names lock that IP."""
from __future__ import annotations

import time

import pytest
import requests

from support import assert_error, basic


def login(srv, username, password):
    return requests.post(srv.url + "/auth/login", json={"username": username, "password": password}, timeout=30)


def assert_locked(r, max_wait: int):
    body = assert_error(r, 429, "too_many_attempts")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= max_wait, r.headers
    assert "password" not in body["error_description"].lower()
    return retry


@pytest.fixture(scope="module")
def short(workroot):
    from support import Server, serve_module
    yield from serve_module(Server(workroot / "test_lockout-short", name="short",
                                   env={"GATEHOUSE_LOCKOUT_DURATION": "3", "GATEHOUSE_LOCKOUT_IP_MAX_FAILURES": "1000"}))


def test_sixth_attempt_with_the_right_password_is_429_until_the_lock_ends(short):
    user = short.admin().create_user()
    for _ in range(5):
        assert_error(login(short, user["username"], "wrong-password"), 401, "invalid_credentials")
    r = login(short, user["username"], user["password"])
    assert_locked(r, 3)
    assert user["password"] not in r.text
    # Basic is refused too while the lock holds
    r = requests.get(short.url + "/users/me", headers=basic(user["username"], user["password"]), timeout=10)
    assert_locked(r, 3)
    deadline = time.monotonic() + 8
    while login(short, user["username"], user["password"]).status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert login(short, user["username"], user["password"]).status_code == 200, "the lock never ended"


def test_unknown_usernames_behave_identically(short):
    user = short.admin().create_user()
    known = [login(short, user["username"], "wrong-password").status_code for _ in range(7)]
    unknown = [login(short, "no-such-" + user["username"], "wrong-password").status_code for _ in range(7)]
    assert known == unknown == [401] * 5 + [429] * 2


def test_a_success_resets_and_basic_failures_count(short):
    user = short.admin().create_user()
    for _ in range(4):
        assert login(short, user["username"], "wrong-password").status_code == 401
    assert login(short, user["username"], user["password"]).status_code == 200
    for _ in range(4):
        r = requests.get(short.url + "/users/me", headers=basic(user["username"], "wrong-password"), timeout=10)
        assert_error(r, 401, "invalid_credentials")
    assert login(short, user["username"], "wrong-password").status_code == 401  # the 5th failure
    assert_locked(login(short, user["username"], user["password"]), 3)


def test_admin_unlock_by_api_and_cli(short, cli_factory):
    admin = short.admin()
    user = admin.create_user()
    for _ in range(5):
        login(short, user["username"], "wrong-password")
    assert login(short, user["username"], user["password"]).status_code == 429
    r = admin.post(f"/api/users/{user['id']}/unlock", headers=admin.auth_headers())
    assert r.status_code == 204, r.text
    assert login(short, user["username"], user["password"]).status_code == 200
    # a user may not unlock (users:write)
    api = short.api()
    api.token = api.login_ok(user["username"], user["password"])["access_token"]
    assert_error(api.post(f"/api/users/{user['id']}/unlock", headers=api.auth_headers()), 403, "forbidden")
    assert_error(admin.post("/api/users/01NOSUCHUSER00000000000000/unlock", headers=admin.auth_headers()), 404,
                 "not_found")

    for _ in range(5):
        login(short, user["username"], "wrong-password")
    assert login(short, user["username"], user["password"]).status_code == 429
    p = cli_factory(short.data_dir).run("user", "unlock", user["username"])
    assert p.returncode == 0, p.stderr_text
    assert login(short, user["username"], user["password"]).status_code == 200

    events = admin.audit(type="login.locked", user_id=user["id"])
    assert events, "no login.locked audit event"
    assert all(e["ip"] for e in events)


def test_a_restart_keeps_the_count(start_server):
    srv = start_server(env={"GATEHOUSE_LOCKOUT_DURATION": "10m"})
    user = srv.admin().create_user()
    for _ in range(3):
        assert login(srv, user["username"], "wrong-password").status_code == 401
    srv.restart()
    for _ in range(2):
        assert login(srv, user["username"], "wrong-password").status_code == 401
    assert_locked(login(srv, user["username"], user["password"]), 600)
    srv.restart()
    assert_locked(login(srv, user["username"], user["password"]), 600)


def test_failures_from_one_ip_lock_the_ip(start_server):
    srv = start_server(env={"GATEHOUSE_LOCKOUT_IP_MAX_FAILURES": "6", "GATEHOUSE_LOCKOUT_DURATION": "10m"})
    admin = srv.admin()  # logs in before the storm
    user = admin.create_user()
    for i in range(6):  # six names, one failure each: no username reaches 5
        assert login(srv, f"someone-{i}", "wrong-password").status_code == 401
    assert_locked(login(srv, user["username"], user["password"]), 600)
    events = admin.audit(type="login.locked")
    assert any(e["detail"].get("scope") == "ip" for e in events), events
