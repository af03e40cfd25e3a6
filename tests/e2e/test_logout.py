"""POST /auth/logout."""
import requests

from support import assert_challenges, assert_error, basic, bearer


def login(server, u):
    r = requests.post(server.url + "/auth/login", json={"username": u["username"], "password": u["password"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def logout(server, headers, body=None):
    if body is None:
        return requests.post(server.url + "/auth/logout", headers=headers, timeout=10)
    return requests.post(server.url + "/auth/logout", headers=headers, json=body, timeout=10)


def me(server, access):
    return requests.get(server.url + "/users/me", headers=bearer(access), timeout=10)


def refresh(server, token):
    return requests.post(server.url + "/auth/refresh", json={"refresh_token": token}, timeout=10)


def test_logout_ends_only_that_session(server, make_user):
    u = make_user()
    s1 = login(server, u)
    s2 = login(server, u)
    r = logout(server, bearer(s1["access_token"]))
    assert r.status_code == 204, r.text
    assert r.content == b""
    r = me(server, s1["access_token"])
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=True)
    assert_error(refresh(server, s1["refresh_token"]), 401, "invalid_grant")
    # the other session lives on
    assert me(server, s2["access_token"]).status_code == 200
    r = refresh(server, s2["refresh_token"])
    assert r.status_code == 200, r.text


def test_logout_with_empty_json_body(server, make_user):
    u = make_user()
    s = login(server, u)
    r = logout(server, bearer(s["access_token"]), body={})
    assert r.status_code == 204, r.text
    assert me(server, s["access_token"]).status_code == 401


def test_logout_after_refresh_ends_the_whole_session(server, make_user):
    u = make_user()
    s = login(server, u)
    r = refresh(server, s["refresh_token"])
    assert r.status_code == 200
    s2 = r.json()
    assert logout(server, bearer(s2["access_token"])).status_code == 204
    assert me(server, s["access_token"]).status_code == 401
    assert me(server, s2["access_token"]).status_code == 401
    assert_error(refresh(server, s2["refresh_token"]), 401, "invalid_grant")


def test_logout_with_refresh_token_of_other_own_session(server, make_user):
    u = make_user()
    s1 = login(server, u)
    s2 = login(server, u)
    s3 = login(server, u)
    r = logout(server, bearer(s1["access_token"]), body={"refresh_token": s2["refresh_token"]})
    assert r.status_code == 204, r.text
    for s in (s1, s2):
        assert me(server, s["access_token"]).status_code == 401
        assert_error(refresh(server, s["refresh_token"]), 401, "invalid_grant")
    assert me(server, s3["access_token"]).status_code == 200


def test_logout_cannot_end_another_users_session(server, make_user):
    alice, bob = make_user(), make_user()
    sa = login(server, alice)
    sb = login(server, bob)
    r = logout(server, bearer(sa["access_token"]), body={"refresh_token": sb["refresh_token"]})
    assert r.status_code < 500, r.text
    # bob's session must survive whatever alice sends
    assert me(server, sb["access_token"]).status_code == 200
    assert refresh(server, sb["refresh_token"]).status_code == 200


def test_logout_twice(server, make_user):
    u = make_user()
    s = login(server, u)
    assert logout(server, bearer(s["access_token"])).status_code == 204
    r = logout(server, bearer(s["access_token"]))
    assert_error(r, 401, "invalid_token")


def test_logout_with_basic_is_400(server, make_user):
    u = make_user()
    r = logout(server, basic(u["username"], u["password"]))
    assert_error(r, 400, "invalid_request")


def test_logout_without_credentials_401(server):
    r = logout(server, {})
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=False)


def test_logout_with_bad_token_401(server):
    r = logout(server, {"Authorization": "Bearer gat_" + "Z" * 43})
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=True)


def test_logout_with_refresh_token_as_bearer(server, make_user):
    u = make_user()
    s = login(server, u)
    r = logout(server, bearer(s["refresh_token"]))
    assert_error(r, 401, "invalid_token")
    assert me(server, s["access_token"]).status_code == 200


def test_logout_bad_body(server, make_user):
    u = make_user()
    s = login(server, u)
    r = logout(server, bearer(s["access_token"]), body={"refresh_token": 12})
    assert_error(r, 400, "invalid_request")
    r = requests.post(server.url + "/auth/logout", headers={**bearer(s["access_token"]),
                                                             "Content-Type": "application/json"},
                      data=b"[1,2]", timeout=10)
    assert_error(r, 400, "invalid_request")
    # a refused logout does not end the session
    assert me(server, s["access_token"]).status_code == 200


def test_logout_wrong_method(server):
    r = requests.get(server.url + "/auth/logout", timeout=10)
    assert_error(r, 405, "method_not_allowed")
