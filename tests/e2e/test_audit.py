"""GET /api/audit and the audit lines on stderr."""
import http.client
import json
import time

import pytest
import requests

from support import TIME_RE, assert_error, basic, bearer, find_secrets_in, new_password, unique_name

EVENT_KEYS = {"id", "time", "type", "outcome", "user_id", "username", "ip", "user_agent", "request_id", "detail"}
ALL_TYPES = ["login.success", "login.failure", "login.locked", "token.refreshed", "token.reuse_detected", "logout",
             "user.created", "user.updated", "user.deleted", "password.changed", "basic.failure",
             "authz.denied", "apikey.created", "apikey.rotated", "apikey.revoked", "apikey.failure",
             "ratelimit.exceeded", "signing_key.rotated"]
SUCCESS_TYPES = ["login.success", "token.refreshed", "logout", "user.created", "user.updated",
                 "user.deleted", "password.changed", "apikey.created", "apikey.rotated", "apikey.revoked"]
FAILURE_TYPES = ["login.failure", "login.locked", "basic.failure", "authz.denied", "apikey.failure",
                 "ratelimit.exceeded"]
UA = "gatehouse-e2e-audit/1.0"


@pytest.fixture(scope="module")
def scenario(server, admin):
    """Produces one of every event type; returns what the tests need to find them."""
    s = requests.Session()
    s.headers["User-Agent"] = UA
    url = server.url
    info = {}

    def rid(name):
        return {"X-Request-Id": f"audit-{name}-{unique_name('')}"}

    def send(method, path, name, **kw):
        headers = {**rid(name), **kw.pop("headers", {})}
        r = s.request(method, url + path, headers=headers, timeout=10, **kw)
        info.setdefault("rids", {})[name] = headers["X-Request-Id"]
        return r

    def post(path, name, **kw):
        return send("POST", path, name, **kw)

    # user.created
    name = unique_name("aud")
    pw = new_password()
    r = post("/api/users", "create", json={"username": name, "password": pw}, headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    user = r.json()
    info["user"] = user
    # login.success
    r = post("/auth/login", "login_ok", json={"username": name, "password": pw})
    assert r.status_code == 200
    tokens = r.json()
    # login.failure (known user, then unknown user)
    r = post("/auth/login", "login_bad", json={"username": name, "password": new_password("wrong")})
    assert r.status_code == 401
    r = post("/auth/login", "login_unknown", json={"username": unique_name("ghost"), "password": new_password()})
    assert r.status_code == 401
    # token.refreshed
    r = post("/auth/refresh", "refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    # token.reuse_detected
    r = post("/auth/refresh", "reuse", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    # logout
    r = post("/auth/login", "login_ok2", json={"username": name, "password": pw})
    assert r.status_code == 200
    t2 = r.json()
    r = post("/auth/logout", "logout", headers=bearer(t2["access_token"]))
    assert r.status_code == 204
    # password.changed
    r = post("/auth/login", "login_ok3", json={"username": name, "password": pw})
    t3 = r.json()
    pw2 = new_password("changed")
    r = post("/users/me/password", "password", headers=bearer(t3["access_token"]),
             json={"current_password": pw, "new_password": pw2})
    assert r.status_code == 204, r.text
    # basic.failure
    r = send("GET", "/users/me", "basic_bad", headers=basic(name, new_password("wrongbasic")))
    assert r.status_code == 401
    # authz.denied
    r = send("GET", "/api/users", "denied", headers=bearer(t3["access_token"]))
    assert r.status_code == 403
    # user.updated
    r = send("PATCH", f"/api/users/{user['id']}", "update", json={"roles": ["user"]}, headers=admin.auth_headers())
    assert r.status_code == 200
    # user.deleted
    victim = admin.create_user()
    info["victim"] = victim
    r = send("DELETE", f"/api/users/{victim['id']}", "delete", headers=admin.auth_headers())
    assert r.status_code == 204
    # apikey.created, apikey.failure, ratelimit.exceeded (the key's own 1/hour), apikey.rotated, apikey.revoked
    r = post("/api/keys", "key_create", json={"name": "audit", "rate_limit": "1/hour"},
             headers=bearer(t3["access_token"]))
    assert r.status_code == 201, r.text
    key = r.json()
    info["key"] = key
    r = send("GET", "/users/me", "key_bad", headers={"X-API-Key": "gk_" + "A" * 43})
    assert r.status_code == 401
    assert send("GET", "/users/me", "key_ok", headers={"X-API-Key": key["key"]}).status_code == 200
    r = send("GET", "/users/me", "rate", headers={"X-API-Key": key["key"]})
    assert r.status_code == 429, r.text
    r = post(f"/api/keys/{key['id']}/rotate", "key_rotate", json={"grace_seconds": 60}, headers=bearer(t3["access_token"]))
    assert r.status_code == 201, r.text
    r = send("DELETE", f"/api/keys/{r.json()['id']}", "key_revoke", headers=bearer(t3["access_token"]))
    assert r.status_code == 204
    # signing_key.rotated
    r = post("/api/signing-keys/rotate", "signing", headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    # login.locked: five failures of one (unknown) name
    ghost = unique_name("locked")
    for i in range(5):
        r = post("/auth/login", f"lock{i}", json={"username": ghost, "password": new_password("nope")})
        assert r.status_code == 401
    r = post("/auth/login", "locked", json={"username": ghost, "password": new_password("nope")})
    assert r.status_code == 429
    info["events"] = admin.audit()
    return info


def by_type(events, t):
    return [e for e in events if e["type"] == t]


def test_every_event_type_present(scenario):
    types = {e["type"] for e in scenario["events"]}
    missing = [t for t in ALL_TYPES if t not in types]
    assert not missing, f"missing audit types {missing}; got {sorted(types)}"


def test_event_shape(scenario):
    ids = set()
    for e in scenario["events"]:
        assert EVENT_KEYS <= set(e), e
        assert isinstance(e["id"], str) and e["id"]
        ids.add(e["id"])
        assert TIME_RE.match(e["time"]), e["time"]
        assert e["outcome"] in ("success", "failure"), e
        assert isinstance(e["detail"], dict), e
        assert e["user_id"] is None or isinstance(e["user_id"], str)
        assert e["username"] is None or isinstance(e["username"], str)
    assert len(ids) == len(scenario["events"]), "audit ids are not unique"


def test_outcomes(scenario):
    ev = scenario["events"]
    for t in SUCCESS_TYPES:
        assert all(e["outcome"] == "success" for e in by_type(ev, t)), by_type(ev, t)
    for t in FAILURE_TYPES:
        assert all(e["outcome"] == "failure" for e in by_type(ev, t)), by_type(ev, t)


def test_newest_first(scenario):
    times = [e["time"] for e in scenario["events"]]
    assert times == sorted(times, reverse=True)


def find_rid(events, rid):
    return [e for e in events if e["request_id"] == rid]


@pytest.mark.parametrize("step,etype", [
    ("create", "user.created"),
    ("login_ok", "login.success"),
    ("login_bad", "login.failure"),
    ("login_unknown", "login.failure"),
    ("refresh", "token.refreshed"),
    ("reuse", "token.reuse_detected"),
    ("logout", "logout"),
    ("password", "password.changed"),
    ("update", "user.updated"),
    ("delete", "user.deleted"),
    ("basic_bad", "basic.failure"),
    ("denied", "authz.denied"),
    ("key_create", "apikey.created"),
    ("key_bad", "apikey.failure"),
    ("rate", "ratelimit.exceeded"),
    ("key_rotate", "apikey.rotated"),
    ("key_revoke", "apikey.revoked"),
    ("signing", "signing_key.rotated"),
    ("lock4", "login.locked"),
    ("locked", "login.failure"),
])
def test_event_correlates_with_request(scenario, step, etype):
    rid = scenario["rids"][step]
    matches = [e for e in find_rid(scenario["events"], rid) if e["type"] == etype]
    assert matches, f"no {etype} with request_id {rid}: " + json.dumps(
        [e for e in scenario["events"] if e["type"] == etype])[:1500]
    e = matches[0]
    assert e["ip"] == "127.0.0.1", e
    assert e["user_agent"] == UA, e


def test_event_subjects(scenario):
    user = scenario["user"]
    ev = scenario["events"]
    ok = [e for e in find_rid(ev, scenario["rids"]["login_ok"]) if e["type"] == "login.success"][0]
    assert ok["user_id"] == user["id"] and ok["username"] == user["username"]
    bad = [e for e in find_rid(ev, scenario["rids"]["login_bad"]) if e["type"] == "login.failure"][0]
    assert bad["username"] == user["username"]
    refreshed = [e for e in find_rid(ev, scenario["rids"]["refresh"]) if e["type"] == "token.refreshed"][0]
    assert refreshed["user_id"] == user["id"]
    pw = [e for e in find_rid(ev, scenario["rids"]["password"]) if e["type"] == "password.changed"][0]
    assert pw["user_id"] == user["id"]
    denied = [e for e in ev if e["type"] == "authz.denied" and e["user_id"] == user["id"]]
    assert denied, "authz.denied should name the user that was refused"
    basic_fail = [e for e in ev if e["type"] == "basic.failure" and e["username"] == user["username"]]
    assert basic_fail, "basic.failure should name the attempted user"
    deleted = [e for e in ev if e["type"] == "user.deleted"]
    assert any(scenario["victim"]["id"] in json.dumps(e) for e in deleted), deleted


def test_filter_by_type(scenario, admin):
    for t in ("login.failure", "user.deleted", "token.reuse_detected"):
        events = admin.audit(type=t)
        assert events, t
        assert all(e["type"] == t for e in events), [e["type"] for e in events]
        assert len(events) >= len(by_type(scenario["events"], t))


def raw_get(server, target, headers):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", target, headers=headers)  # sent exactly as written
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_filter_since_unencoded(scenario, admin, server):
    # ":" is allowed unencoded in a query (RFC 3986 §3.4)
    status, body = raw_get(server, "/api/audit?since=2999-01-01T00:00:00Z", admin.auth_headers())
    assert status == 200, body
    assert json.loads(body)["events"] == []
    status, body = raw_get(server, "/api/audit?since=2000-01-01T00:00:00Z&limit=5", admin.auth_headers())
    assert status == 200, body
    assert len(json.loads(body)["events"]) == 5


def test_filter_query_values_are_percent_decoded(scenario, admin, server):
    # "login%2Efailure" is "login.failure" and "%3A" is ":" (RFC 3986 percent-encoding)
    status, body = raw_get(server, "/api/audit?type=login%2Efailure&limit=100", admin.auth_headers())
    assert status == 200, body
    events = json.loads(body)["events"]
    assert events and all(e["type"] == "login.failure" for e in events), [e["type"] for e in events]
    status, body = raw_get(server, "/api/audit?since=2999-01-01T00%3A00%3A00Z", admin.auth_headers())
    assert status == 200, body
    assert json.loads(body)["events"] == []


def test_filter_by_user_id(scenario, admin):
    uid = scenario["user"]["id"]
    events = admin.audit(user_id=uid)
    assert events
    assert all(e["user_id"] == uid for e in events)
    assert {"login.success", "token.refreshed", "password.changed"} <= {e["type"] for e in events}


def test_filter_since(scenario, admin):
    # values go through requests' ordinary query encoding (":" becomes %3A)
    assert admin.audit(since="2999-01-01T00:00:00Z") == []
    assert admin.audit(since=str(int(time.time()) + 3600)) == []
    everything = admin.audit(since="2000-01-01T00:00:00Z")
    assert len(everything) >= len(scenario["events"])
    assert len(admin.audit(since="946684800")) >= len(scenario["events"])


def test_audit_pagination(scenario, admin):
    seen = []
    params = {"limit": 3}
    for _ in range(200):
        r = admin.get("/api/audit", params=params, headers=admin.auth_headers())
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["events"]) <= 3
        seen += [e["id"] for e in body["events"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert len(seen) == len(set(seen))
    assert set(e["id"] for e in scenario["events"]) <= set(seen)


def test_audit_requires_permission(scenario, server):
    r = requests.get(server.url + "/api/audit", timeout=10)
    assert_error(r, 401, "invalid_token")


def test_audit_holds_no_secret(scenario, admin):
    r = admin.get("/api/audit", params={"limit": 100}, headers=admin.auth_headers())
    assert r.status_code == 200, r.text
    leaked = find_secrets_in(r.text)
    assert not leaked, f"audit API exposes {len(leaked)} secret(s), e.g. {leaked[0][:6]}…"


def test_stderr_is_json_lines_with_audit_events(scenario, server):
    lines = server.stderr_text().splitlines()
    parsed = []
    for line in lines:
        if not line.strip():
            continue
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"stderr line is not JSON: {line[:200]!r}")
        assert isinstance(parsed[-1], dict), line[:200]
    text = "\n".join(lines)
    for t in ALL_TYPES:
        assert f'"{t}"' in text, f"audit event {t} not written to stderr"
    leaked = find_secrets_in(text)
    assert not leaked, f"stderr holds {len(leaked)} secret(s)"


def test_audit_stays_valid_json_with_invalid_utf8_usernames(server, admin):
    # An anonymous caller controls the username of a basic.failure event. Bytes that are
    # not UTF-8 must not make the audit API (or the JSON lines) unparseable.
    import base64
    raw = b"\xc3(\xff\xfeevil:" + new_password("utf8").encode()
    r = requests.get(server.url + "/users/me", timeout=10,
                     headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert r.status_code == 401
    r = requests.get(server.url + "/api/audit", params={"type": "basic.failure"},
                     headers=admin.auth_headers(), timeout=10)
    assert r.status_code == 200
    events = json.loads(r.content.decode("utf-8"))["events"]  # strict: raises on bad UTF-8
    assert any("evil" in (e["username"] or "") and "\ufffd" in e["username"] for e in events), events
    for line in server.stderr_path.read_bytes().splitlines():
        json.loads(line.decode("utf-8"))


def test_forwarded_for_is_believed_only_from_trusted_proxies(server, start_server):
    """server.trusted_proxies takes CIDR ranges; only their X-Forwarded-For names the client
    (for the audit, the lockout and the rate limits)."""
    behind = start_server(env={"GATEHOUSE_SERVER_TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.0/8"})
    for srv, expected in ((behind, "198.51.100.7"), (server, "127.0.0.1")):
        name = unique_name("xff")
        r = requests.post(srv.url + "/auth/login", json={"username": name, "password": new_password()},
                          headers={"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}, timeout=10)
        assert r.status_code == 401
        admin = srv.admin()
        events = [e for e in admin.audit(type="login.failure") if e["username"] == name]
        assert events and events[0]["ip"] == expected, events
