"""The users management API: /api/users and /api/users/{id}."""
import pytest
import requests

from support import (ID_RE, TIME_RE, assert_challenges, assert_error, basic, bearer, new_password,
                     unique_name, www_authenticate)

USER_KEYS = {"id", "username", "email", "roles", "disabled", "created_at", "updated_at"}
NO_SUCH_ID = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"


def check_user(u):
    assert set(u) == USER_KEYS, u.keys()
    assert ID_RE.match(u["id"]), u["id"]
    assert TIME_RE.match(u["created_at"]) and TIME_RE.match(u["updated_at"]), u
    assert u["updated_at"] >= u["created_at"]
    assert isinstance(u["disabled"], bool)
    assert isinstance(u["roles"], list) and u["roles"]


def login(server, username, password):
    return requests.post(server.url + "/auth/login", json={"username": username, "password": password},
                         timeout=10)


def login_ok(server, u):
    r = login(server, u["username"], u["password"])
    assert r.status_code == 200, r.text
    return r.json()


def me(server, headers):
    return requests.get(server.url + "/users/me", headers=headers, timeout=10)


# -- create ----------------------------------------------------------------------------

def test_create_user_shape(server, admin):
    name = unique_name("new")
    pw = new_password()
    r = admin.post("/api/users", json={"username": name, "password": pw, "email": f"{name}@example.com"},
                   headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    u = r.json()
    check_user(u)
    assert u["username"] == name
    assert u["email"] == f"{name}@example.com"
    assert u["roles"] == ["user"]
    assert u["disabled"] is False
    assert pw not in r.text and "$argon2" not in r.text
    # it can log in, and GET returns the same object
    assert login(server, name, pw).status_code == 200
    g = admin.get(f"/api/users/{u['id']}", headers=admin.auth_headers())
    assert g.status_code == 200
    assert g.json() == u


def test_create_user_without_email_and_with_roles(server, admin):
    r = admin.post("/api/users", json={"username": unique_name("adm"), "password": new_password(),
                                       "roles": ["admin"]}, headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    u = r.json()
    check_user(u)
    assert u["email"] is None
    assert u["roles"] == ["admin"]


def test_ids_are_unique_and_time_ordered(server, admin):
    ids = [admin.create_user()["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert ids == sorted(ids), ids


def test_duplicate_username_case_insensitive_409(server, admin):
    name = unique_name("Dup")
    admin.create_user(username=name)
    for variant in (name, name.upper(), name.lower()):
        r = admin.post("/api/users", json={"username": variant, "password": new_password()},
                       headers=admin.auth_headers())
        assert_error(r, 409, "conflict")


def test_duplicate_email_case_insensitive_409(server, admin):
    name = unique_name("mail")
    admin.create_user(email=f"{name}@Example.com")
    r = admin.post("/api/users", json={"username": unique_name(), "password": new_password(),
                                       "email": f"{name.upper()}@EXAMPLE.COM"}, headers=admin.auth_headers())
    assert_error(r, 409, "conflict")


@pytest.mark.parametrize("body,word", [
    ({"password": "whatever-long-1"}, "username"),
    ({"username": "nopass"}, "password"),
    ({"username": "bad name", "password": "whatever-long-1"}, "username"),
    ({"username": "bad/name", "password": "whatever-long-1"}, "username"),
    ({"username": "", "password": "whatever-long-1"}, "username"),
    ({"username": "x" * 65, "password": "whatever-long-1"}, "username"),
    ({"username": 12, "password": "whatever-long-1"}, "username"),
    ({"username": "okname1", "password": "whatever-long-1", "email": "no-at-sign"}, "email"),
    ({"username": "okname2", "password": "whatever-long-1", "email": "a" * 250 + "@x.io"}, "email"),
    ({"username": "okname3", "password": "whatever-long-1", "email": 5}, "email"),
    ({"username": "okname4", "password": "whatever-long-1", "roles": []}, "role"),
    ({"username": "okname5", "password": "whatever-long-1", "roles": ["superuser"]}, "role"),
    ({"username": "okname6", "password": "whatever-long-1", "roles": "admin"}, "roles"),
    ({"username": "okname7", "password": "whatever-long-1", "disabled": False, "is_admin": True}, ""),
    ({"username": "okname8", "password": "short"}, "password"),
])
def test_create_user_invalid_400(server, admin, body, word):
    r = admin.post("/api/users", json=body, headers=admin.auth_headers())
    err = assert_error(r, 400, "invalid_request")
    assert word in err["error_description"], err


def test_create_user_username_edge_cases(server, admin):
    name = "a" * 60 + unique_name("")[-4:]
    assert len(name) == 64
    r = admin.post("/api/users", json={"username": name, "password": new_password()}, headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    name2 = "Z." + unique_name("_-+@")
    r = admin.post("/api/users", json={"username": name2, "password": new_password()}, headers=admin.auth_headers())
    assert r.status_code == 201, r.text


def test_create_user_malformed_json(server, admin):
    r = admin.post("/api/users", data=b"{not json", headers={**admin.auth_headers(),
                                                             "Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")


# -- list ------------------------------------------------------------------------------

def test_list_pagination(server, admin):
    created = {admin.create_user()["id"] for _ in range(5)}
    seen = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = admin.get("/api/users", params=params, headers=admin.auth_headers())
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"users", "next_cursor"}, body.keys()
        assert len(body["users"]) <= 2
        for u in body["users"]:
            check_user(u)
        seen.extend(u["id"] for u in body["users"])
        pages += 1
        assert pages < 500
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert len(body["users"]) == 2  # only the last page may be short
    assert len(seen) == len(set(seen)), "a user appeared twice"
    assert created <= set(seen)
    full = admin.get("/api/users", params={"limit": 200}, headers=admin.auth_headers()).json()
    assert full["next_cursor"] is None
    assert sorted(u["id"] for u in full["users"]) == sorted(seen)
    # default limit works too
    r = admin.get("/api/users", headers=admin.auth_headers())
    assert r.status_code == 200
    assert len(r.json()["users"]) <= 50


@pytest.mark.parametrize("limit", ["0", "abc", "500", "-1", "201", "1.5"])
def test_list_bad_limit_400(server, admin, limit):
    r = admin.get(f"/api/users?limit={limit}", headers=admin.auth_headers())
    err = assert_error(r, 400, "invalid_request")
    assert "limit" in err["error_description"], err


@pytest.mark.parametrize("limit", ["1", "200"])
def test_list_limit_bounds_ok(server, admin, limit):
    r = admin.get("/api/users", params={"limit": limit}, headers=admin.auth_headers())
    assert r.status_code == 200, r.text
    assert 1 <= len(r.json()["users"]) <= int(limit)


def test_list_with_basic_admin(server):
    r = requests.get(server.url + "/api/users", auth=("admin", server.admin_password), timeout=10)
    assert r.status_code == 200, r.text


# -- get -------------------------------------------------------------------------------

def test_get_unknown_404(server, admin):
    for uid in (NO_SUCH_ID, "nonsense"):
        r = admin.get(f"/api/users/{uid}", headers=admin.auth_headers())
        assert_error(r, 404, "not_found")
    r = admin.patch_user(NO_SUCH_ID, {"disabled": True})
    assert_error(r, 404, "not_found")
    r = admin.delete_user(NO_SUCH_ID)
    assert_error(r, 404, "not_found")


# -- patch -----------------------------------------------------------------------------

def test_disable_takes_effect_on_next_request(server, admin, make_user):
    u = make_user()
    s = login_ok(server, u)
    creds = basic(u["username"], u["password"])
    assert me(server, bearer(s["access_token"])).status_code == 200
    assert me(server, creds).status_code == 200  # Basic success is now cached
    r = admin.patch_user(u["id"], {"disabled": True})
    assert r.status_code == 200, r.text
    check_user(r.json())
    assert r.json()["disabled"] is True
    rb = me(server, bearer(s["access_token"]))
    assert_error(rb, 401, "invalid_token")
    assert_challenges(rb, token_presented=True)
    assert me(server, creds).status_code == 401
    rr = requests.post(server.url + "/auth/refresh", json={"refresh_token": s["refresh_token"]}, timeout=10)
    assert_error(rr, 401, "invalid_grant")
    assert_error(login(server, u["username"], u["password"]), 401, "invalid_credentials")
    g = admin.get(f"/api/users/{u['id']}", headers=admin.auth_headers())
    assert g.json()["disabled"] is True
    # re-enable: login and Basic work again, but the revoked session stays dead
    r = admin.patch_user(u["id"], {"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert login(server, u["username"], u["password"]).status_code == 200
    assert me(server, creds).status_code == 200
    assert me(server, bearer(s["access_token"])).status_code == 401


def test_patch_roles(server, admin, make_user):
    u = make_user()
    creds = basic(u["username"], u["password"])
    r = me(server, creds)
    assert r.status_code == 200
    assert requests.get(server.url + "/api/users", headers=creds, timeout=10).status_code == 403
    r = admin.patch_user(u["id"], {"roles": ["admin", "user"]})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["roles"]) == ["admin", "user"]
    assert r.json()["updated_at"] >= u["updated_at"]
    # the new role applies (fresh login and Basic, cached or not)
    tok = login_ok(server, u)["access_token"]
    assert requests.get(server.url + "/api/users", headers=bearer(tok), timeout=10).status_code == 200
    assert requests.get(server.url + "/api/users", headers=creds, timeout=10).status_code == 200
    # demote again
    r = admin.patch_user(u["id"], {"roles": ["user"]})
    assert r.status_code == 200 and r.json()["roles"] == ["user"]
    assert requests.get(server.url + "/api/users", headers=creds, timeout=10).status_code == 403
    tok = login_ok(server, u)["access_token"]
    assert requests.get(server.url + "/api/users", headers=bearer(tok), timeout=10).status_code == 403


def test_patch_password_revokes_sessions(server, admin, make_user):
    u = make_user()
    s = login_ok(server, u)
    old_basic = basic(u["username"], u["password"])
    assert me(server, old_basic).status_code == 200
    new = new_password("reset")
    r = admin.patch_user(u["id"], {"password": new})
    assert r.status_code == 200, r.text
    assert new not in r.text
    assert me(server, bearer(s["access_token"])).status_code == 401
    assert me(server, old_basic).status_code == 401
    assert_error(login(server, u["username"], u["password"]), 401, "invalid_credentials")
    assert login(server, u["username"], new).status_code == 200


def test_patch_email(server, admin, make_user):
    u = make_user()
    name = unique_name("em")
    r = admin.patch_user(u["id"], {"email": f"{name}@example.com"})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == f"{name}@example.com"
    assert login(server, f"{name}@example.com", u["password"]).status_code == 200
    r = admin.patch_user(u["id"], {"email": None})
    assert r.status_code == 200, r.text
    assert r.json()["email"] is None
    # taken e-mail -> 409
    other = make_user(email=f"{unique_name('taken')}@example.com")
    r = admin.patch_user(u["id"], {"email": other["email"].upper()})
    assert_error(r, 409, "conflict")


@pytest.mark.parametrize("body,word", [
    ({}, ""),
    ({"disabled": "yes"}, "disabled"),
    ({"roles": []}, "role"),
    ({"roles": ["root"]}, "role"),
    ({"email": "not-an-email"}, "email"),
    ({"password": "short"}, "password"),
    ({"username": "rename"}, "username"),
    ({"nickname": "x"}, "nickname"),
])
def test_patch_invalid_400(server, admin, make_user, body, word):
    u = make_user()
    r = admin.patch_user(u["id"], body)
    err = assert_error(r, 400, "invalid_request")
    assert word in err["error_description"], err


def test_patch_non_object_400(server, admin, make_user):
    u = make_user()
    r = admin.patch(f"/api/users/{u['id']}", data=b"[]",
                    headers={**admin.auth_headers(), "Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")


# -- delete ----------------------------------------------------------------------------

def test_delete_user(server, admin, make_user):
    u = make_user()
    s = login_ok(server, u)
    creds = basic(u["username"], u["password"])
    assert me(server, creds).status_code == 200  # cached success
    r = admin.delete_user(u["id"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    rb = me(server, bearer(s["access_token"]))
    assert_error(rb, 401, "invalid_token")
    assert me(server, creds).status_code == 401
    rr = requests.post(server.url + "/auth/refresh", json={"refresh_token": s["refresh_token"]}, timeout=10)
    assert_error(rr, 401, "invalid_grant")
    assert_error(login(server, u["username"], u["password"]), 401, "invalid_credentials")
    assert_error(admin.get(f"/api/users/{u['id']}", headers=admin.auth_headers()), 404, "not_found")
    assert_error(admin.delete_user(u["id"]), 404, "not_found")


def test_delete_self_409(server, admin):
    me_body = me(server, admin.auth_headers()).json()
    r = admin.delete_user(me_body["id"])
    assert_error(r, 409, "conflict")
    assert me(server, admin.auth_headers()).status_code == 200


def test_other_admin_can_be_deleted(server, admin):
    other = admin.create_user(roles=["admin"])
    tok = login_ok(server, other)["access_token"]
    # the other admin cannot delete itself either
    r = requests.delete(server.url + f"/api/users/{other['id']}", headers=bearer(tok), timeout=10)
    assert_error(r, 409, "conflict")
    assert admin.delete_user(other["id"]).status_code == 204


# -- authorization ---------------------------------------------------------------------

def test_non_admin_forbidden_bearer(server, make_user):
    u = make_user()
    tok = login_ok(server, u)["access_token"]
    cases = [
        ("GET", "/api/users", None, "users:read"),
        ("GET", f"/api/users/{u['id']}", None, "users:read"),
        ("POST", "/api/users", {"username": unique_name(), "password": "whatever-long-1"}, "users:write"),
        ("PATCH", f"/api/users/{u['id']}", {"roles": ["admin"]}, "users:write"),
        ("DELETE", f"/api/users/{u['id']}", None, "users:write"),
        ("GET", "/api/audit", None, "audit:read"),
    ]
    for method, path, body, scope in cases:
        r = requests.request(method, server.url + path, headers=bearer(tok), json=body, timeout=10)
        assert_error(r, 403, "forbidden")
        header = www_authenticate(r)
        assert 'error="insufficient_scope"' in header, (path, header)
        assert header.startswith("Bearer") or "Bearer " in header, header
        assert f'scope="{scope}"' in header, (path, header)
    # nothing changed
    assert me(server, bearer(tok)).json()["roles"] == ["user"]


def test_non_admin_forbidden_basic(server, make_user):
    u = make_user()
    r = requests.get(server.url + "/api/users", headers=basic(u["username"], u["password"]), timeout=10)
    assert_error(r, 403, "forbidden")


def test_admin_api_without_credentials_401(server):
    r = requests.get(server.url + "/api/users", timeout=10)
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=False)
    r = requests.post(server.url + "/api/users", json={"username": "x1", "password": "whatever-long-1"},
                      timeout=10)
    assert_error(r, 401, "invalid_token")


def test_users_wrong_method(server, admin):
    r = admin.req("PUT", "/api/users", headers=admin.auth_headers(), json={})
    assert_error(r, 405, "method_not_allowed")
