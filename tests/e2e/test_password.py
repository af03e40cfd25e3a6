"""POST /users/me/password."""
import pytest
import requests

from support import assert_error, basic, bearer, new_password


def login(server, username, password):
    return requests.post(server.url + "/auth/login", json={"username": username, "password": password},
                         timeout=10)


def login_ok(server, u):
    r = login(server, u["username"], u["password"])
    assert r.status_code == 200, r.text
    return r.json()


def change(server, headers, body):
    return requests.post(server.url + "/users/me/password", headers=headers, json=body, timeout=10)


def me(server, headers):
    return requests.get(server.url + "/users/me", headers=headers, timeout=10)


def test_change_password_with_bearer(server, make_user):
    u = make_user()
    current = login_ok(server, u)
    other = login_ok(server, u)
    # warm the Basic success cache with the old password
    assert me(server, basic(u["username"], u["password"])).status_code == 200
    new = new_password("new")
    r = change(server, bearer(current["access_token"]), {"current_password": u["password"], "new_password": new})
    assert r.status_code == 204, r.text
    assert r.content == b""
    # the calling session survives (access and refresh)
    assert me(server, bearer(current["access_token"])).status_code == 200
    # other sessions are revoked
    assert_error(me(server, bearer(other["access_token"])), 401, "invalid_token")
    rr = requests.post(server.url + "/auth/refresh", json={"refresh_token": other["refresh_token"]}, timeout=10)
    assert_error(rr, 401, "invalid_grant")
    # old password: login and Basic fail at once (cache or not)
    assert_error(login(server, u["username"], u["password"]), 401, "invalid_credentials")
    assert_error(me(server, basic(u["username"], u["password"])), 401, "invalid_credentials")
    # new password works
    assert login(server, u["username"], new).status_code == 200
    assert me(server, basic(u["username"], new)).status_code == 200
    rr = requests.post(server.url + "/auth/refresh", json={"refresh_token": current["refresh_token"]}, timeout=10)
    assert rr.status_code == 200, rr.text


def test_change_password_with_basic_ends_all_sessions(server, make_user):
    u = make_user()
    s = login_ok(server, u)
    new = new_password("new")
    r = change(server, basic(u["username"], u["password"]), {"current_password": u["password"], "new_password": new})
    assert r.status_code == 204, r.text
    assert me(server, bearer(s["access_token"])).status_code == 401
    assert me(server, basic(u["username"], u["password"])).status_code == 401
    assert me(server, basic(u["username"], new)).status_code == 200


def test_wrong_current_password_403(server, make_user):
    u = make_user()
    s = login_ok(server, u)
    r = change(server, bearer(s["access_token"]),
               {"current_password": new_password("wrong"), "new_password": new_password("new")})
    assert_error(r, 403, "forbidden")
    # nothing changed
    assert me(server, bearer(s["access_token"])).status_code == 200
    assert login(server, u["username"], u["password"]).status_code == 200


def test_short_new_password_400(server, make_user):
    u = make_user()
    s = login_ok(server, u)
    r = change(server, bearer(s["access_token"]), {"current_password": u["password"], "new_password": "Sh0rt-7"})
    err = assert_error(r, 400, "invalid_request")
    assert "new_password" in err["error_description"] or "8" in err["error_description"], err
    assert login(server, u["username"], u["password"]).status_code == 200
    # exactly 8 is enough
    eight = "Ei8ht-Ch"
    r = change(server, bearer(s["access_token"]), {"current_password": u["password"], "new_password": eight})
    assert r.status_code == 204, r.text
    assert login(server, u["username"], eight).status_code == 200


@pytest.mark.parametrize("body,word", [
    ({"new_password": "whatever-long-1"}, "current_password"),
    ({"current_password": "whatever-long-1"}, "new_password"),
    ({"current_password": 1, "new_password": "whatever-long-1"}, "current_password"),
    ({"current_password": "whatever-long-1", "new_password": ["x"]}, "new_password"),
    ({"current_password": "whatever-long-1", "new_password": "whatever-long-2", "confirm": "x"}, "confirm"),
])
def test_change_password_bad_requests(server, make_user, body, word):
    u = make_user()
    s = login_ok(server, u)
    r = change(server, bearer(s["access_token"]), body)
    err = assert_error(r, 400, "invalid_request")
    assert word in err["error_description"], err


def test_change_password_needs_credentials(server):
    r = change(server, {}, {"current_password": "whatever-long-1", "new_password": "whatever-long-2"})
    assert_error(r, 401, "invalid_token")


def test_min_password_length_configurable(start_server):
    srv = start_server(env={"GATEHOUSE_ACCOUNTS_MIN_PASSWORD_LENGTH": "12"})
    admin = srv.admin()
    u = admin.create_user(password=new_password("long-enough"))
    s = login_ok(srv, u)
    r = change(srv, bearer(s["access_token"]), {"current_password": u["password"], "new_password": "Eleven-char"})
    assert_error(r, 400, "invalid_request")
    twelve = "Twelve-chars"
    assert len(twelve) == 12
    r = change(srv, bearer(s["access_token"]), {"current_password": u["password"], "new_password": twelve})
    assert r.status_code == 204, r.text
    # the admin API applies the same minimum
    r = admin.post("/api/users", json={"username": "shorty12", "password": "Eleven-char"},
                   headers=admin.auth_headers())
    assert_error(r, 400, "invalid_request")
