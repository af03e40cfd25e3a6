"""SPEC §10 /auth/check behind a real nginx (Debian's nginx-light, auth_request module).

The test starts its own nginx on free loopback ports from the demo's template
(scripts/demo-nginx.conf, the shape docs/gateway.md documents): a front server whose
`location /` asks gatehouse (auth_request -> /auth/check over an upstream keepalive pool) and
then proxies to a tiny upstream (a second nginx server block that echoes the identity headers
it received). Gatehouse runs the demo's policies (scripts/demo-gatehouse.toml).
"""
import os
import shutil
from pathlib import Path
import subprocess
import time
import uuid

import pytest
import requests

from support import PROCESSES, Server, basic, bearer, free_port

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
# The demo's own files (make run-demo): what users try is what is tested.
GATEHOUSE_TOML = SCRIPTS / "demo-gatehouse.toml"
NGINX_TEMPLATE = SCRIPTS / "demo-nginx.conf"


def nginx_conf(work, gatehouse_port, front_port, upstream_port) -> str:
    text = NGINX_TEMPLATE.read_text()
    for name, value in (("@WORK@", str(work)), ("@GH_PORT@", str(gatehouse_port)),
                        ("@FRONT_PORT@", str(front_port)), ("@UP_PORT@", str(upstream_port))):
        text = text.replace(name, value)
    return text


@pytest.fixture(scope="module")
def gateway(workroot):
    if not shutil.which(NGINX) and not os.access(NGINX, os.X_OK):
        pytest.fail(f"nginx not found at {NGINX}; scripts/install-deps.sh installs nginx-light", pytrace=False)
    work = workroot / f"gateway-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    server = Server(work, args=["--config", str(GATEHOUSE_TOML)], name="gateway").start()
    nginx_dir = work / "nginx"
    (nginx_dir / "tmp").mkdir(parents=True)
    front, upstream = free_port(), free_port()
    (nginx_dir / "nginx.conf").write_text(nginx_conf(nginx_dir, server.port, front, upstream))
    nginx = subprocess.Popen([NGINX, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(nginx_dir / "stderr.log", "wb"))
    PROCESSES.append(nginx)
    try:
        front_url = f"http://127.0.0.1:{front}"
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(front_url + "/public/ping", timeout=2)
                break
            except requests.ConnectionError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("nginx did not start:\n" + (nginx_dir / "stderr.log").read_text()
                                + (nginx_dir / "error.log").read_text(), pytrace=False)
                time.sleep(0.05)

        admin = server.admin()
        sam = admin.create_user(roles=["user", "support"])
        token = server.api().login_ok(sam["username"], sam["password"])["access_token"]
        key = requests.post(server.url + "/api/keys", json={"name": "gateway", "scopes": ["orders:read"]},
                            headers=bearer(token), timeout=10)
        assert key.status_code == 201, key.text
        yield {"url": front_url, "server": server, "sam": sam, "token": token, "key": key.json()["key"],
               "nginx_dir": nginx_dir}
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        server.stop()


def through(gw, path, headers=None, method="GET"):
    return requests.request(method, gw["url"] + path, headers=headers or {}, timeout=10)


@pytest.mark.parametrize("credential", ["jwt", "api_key", "basic"])
def test_valid_credentials_reach_the_upstream_with_the_subject(gateway, credential):
    sam = gateway["sam"]
    headers = {"jwt": bearer(gateway["token"]), "api_key": {"X-API-Key": gateway["key"]},
               "basic": basic(sam["username"], sam["password"])}[credential]
    r = through(gateway, "/api/orders/12", headers)
    assert r.status_code == 200, r.text
    assert r.text.startswith("upstream: GET /api/orders/12 ")
    assert f"subject={sam['id']} " in r.text
    assert f"method={ {'jwt': 'jwt', 'api_key': 'api_key', 'basic': 'basic'}[credential] } " in r.text
    assert "orders:read" in r.text


def test_missing_credential_is_401_with_the_challenge_passed_through(gateway):
    r = through(gateway, "/api/orders/12")
    assert r.status_code == 401
    assert 'Bearer realm="gatehouse"' in r.headers.get("WWW-Authenticate", "")
    r = through(gateway, "/api/orders/12", bearer("not-a-valid-token"))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers.get("WWW-Authenticate", "")


def test_lacking_the_permission_is_403(gateway):
    r = through(gateway, "/api/admin/users", bearer(gateway["token"]))
    assert r.status_code == 403
    r = through(gateway, "/api/orders/12", bearer(gateway["token"]), method="DELETE")
    assert r.status_code == 403  # the orders policy is GET only; nothing else matches


def test_route_rate_limit_is_429_with_retry_after(gateway):
    headers = {"X-API-Key": gateway["key"]}
    assert through(gateway, "/api/limited", headers).status_code == 200
    assert through(gateway, "/api/limited", headers).status_code == 200
    r = through(gateway, "/api/limited", headers)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    # The route's limit is its own: other routes still answer.
    assert through(gateway, "/api/orders/1", headers).status_code == 200


def test_anonymous_route_needs_no_credential_and_unmatched_paths_are_denied(gateway):
    r = through(gateway, "/public/docs/index.html")
    assert r.status_code == 200
    assert "subject= " in r.text and "method=anonymous" in r.text
    assert through(gateway, "/nowhere").status_code == 403
    assert through(gateway, "/", bearer(gateway["token"])).status_code == 403


FORGED = {"X-Auth-Subject": "admin-id", "X-Auth-Username": "admin", "X-Auth-Method": "jwt",
          "X-Auth-Scopes": "users:write", "X-Auth-Key-Id": "victim-key", "X-Auth-Client-Id": "victim-client"}


def test_clients_cannot_smuggle_identity_headers(gateway):
    r = through(gateway, "/public/x", FORGED)
    assert r.status_code == 200
    assert r.text.startswith("upstream: GET /public/x subject= username= method=anonymous "), r.text
    assert 'scopes="" key_id= client_id=\n' in r.text, r.text
    r = through(gateway, "/api/orders/1", {**FORGED, "X-API-Key": gateway["key"]})
    assert r.status_code == 200
    assert f"subject={gateway['sam']['id']} username={gateway['sam']['username']} method=api_key " in r.text, r.text
    assert "client_id=\n" in r.text and "key_id=victim-key" not in r.text, r.text


def test_client_copies_of_the_other_header_family_change_nothing(gateway):
    # nginx sets X-Original-* and drops any X-Forwarded-Uri/Method the client sent.
    r = through(gateway, "/api/admin/users", {"X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET"})
    assert r.status_code == 401


def test_encoded_traversal_does_not_escape_a_stricter_policy(gateway):
    # nginx passes $request_uri as sent; gatehouse resolves it before matching.
    r = through(gateway, "/public/%2e%2e/api/admin/users", bearer(gateway["token"]))
    assert r.status_code == 403
    assert through(gateway, "/public/..%2fapi/admin/users").status_code == 400  # an encoded '/'
    # What a servlet container would read as /api/admin/users: refused, not let through.
    assert through(gateway, "/public/..;/api/admin/users").status_code == 400
    assert through(gateway, "/api/admin./users", bearer(gateway["token"])).status_code == 400


def test_keepalive_pool_serves_many_checks(gateway):
    s = requests.Session()
    for i in range(50):
        r = s.get(gateway["url"] + f"/api/orders/{i}", headers={"X-API-Key": gateway["key"]}, timeout=10)
        assert r.status_code == 200, (i, r.status_code)
    errors = (gateway["nginx_dir"] / "error.log").read_text()
    assert "upstream prematurely closed" not in errors and "connect() failed" not in errors, errors
