"""Configuration: TOML file, environment, precedence, refusals, first-start admin."""
import subprocess

import requests

from support import BIN, Server, base_env, new_password, register_secret, require_binary


def login(srv, username, password):
    return requests.post(srv.url + "/auth/login", json={"username": username, "password": password}, timeout=10)


def test_env_duration_string(start_server):
    srv = start_server(env={"GATEHOUSE_TOKENS_ACCESS_TTL": "15m", "GATEHOUSE_TOKENS_REFRESH_TTL": "2h"})
    body = login(srv, "admin", srv.admin_password).json()
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 7200


def test_config_file(start_server, workroot):
    cfg = workroot / "gatehouse-test.toml"
    cfg.write_text('[tokens]\naccess_ttl = "30m"\nrefresh_ttl = 86400\n'
                   '[accounts]\nmin_password_length = 10\n'
                   '[log]\nlevel = "info"\n')
    srv = start_server(args=["--config", str(cfg)])
    body = login(srv, "admin", srv.admin_password).json()
    assert body["expires_in"] == 1800
    assert body["refresh_expires_in"] == 86400
    r = requests.post(srv.url + "/users/me/password", headers={"Authorization": f"Bearer {body['access_token']}"},
                      json={"current_password": srv.admin_password, "new_password": "Nine-char"}, timeout=10)
    assert r.status_code == 400, r.text


def test_env_overrides_file(start_server, workroot):
    cfg = workroot / "gatehouse-precedence.toml"
    cfg.write_text('[tokens]\naccess_ttl = "30m"\n')
    srv = start_server(args=["--config", str(cfg)], env={"GATEHOUSE_TOKENS_ACCESS_TTL": "120"})
    assert login(srv, "admin", srv.admin_password).json()["expires_in"] == 120


def run_serve(workroot, name, env, args=()):
    require_binary()
    data = workroot / name
    data.mkdir()
    return subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env(env), timeout=30)


def test_invalid_config_refused(workroot):
    p = run_serve(workroot, "bad-env", {"GATEHOUSE_TOKENS_ACCESS_TTL": "soon"})
    assert p.returncode != 0
    assert b"gatehouse listening" not in p.stdout
    assert b"access_ttl" in p.stderr.lower() or b"ACCESS_TTL" in p.stderr, p.stderr[:500]


def test_unknown_key_in_file_refused(workroot):
    cfg = workroot / "gatehouse-unknown.toml"
    cfg.write_text('[tokens]\nacess_ttl = "30m"\n')
    p = run_serve(workroot, "bad-key", {}, args=["--config", str(cfg)])
    assert p.returncode != 0
    assert b"gatehouse listening" not in p.stdout
    assert b"acess_ttl" in p.stderr, p.stderr[:500]


def test_secret_never_echoed_in_config_errors(workroot):
    # a wrong-typed secret must not be repeated in the error message
    pw = new_password("cfg")
    cfg = workroot / "gatehouse-secret.toml"
    cfg.write_text(f'[admin]\npassword = 12345678\n[storage]\nurl = "{pw}"\n')
    p = run_serve(workroot, "bad-secret", {}, args=["--config", str(cfg)])
    assert p.returncode != 0
    assert pw.encode() not in p.stderr and pw.encode() not in p.stdout


def test_upstreams_are_checked(workroot):
    """[[upstream]] entries are validated at start (the sign-in itself: test_federation.py)."""
    secret = new_password("upstream")
    cfg = workroot / "gatehouse-upstream.toml"
    cfg.write_text('[[upstream]]\nname = "corp"\nkind = "oidc"\nissuer = "http://idp.example"\n'
                   f'client_id = "gh"\nclient_secret = "{secret}"\n')
    p = run_serve(workroot, "upstream-bad", {}, args=["--config", str(cfg)])
    assert p.returncode != 0
    assert b"issuer must be an https:// URL" in p.stderr, p.stderr[:500]
    assert secret.encode() not in p.stderr and secret.encode() not in p.stdout


def test_admin_password_from_file(start_server, workroot):
    pw = new_password("fromfile")
    f = workroot / "admin-password.txt"
    f.write_text(pw + "\n")
    srv = start_server(admin_password=None, env={"GATEHOUSE_ADMIN_PASSWORD_FILE": str(f)})
    assert login(srv, "admin", pw).status_code == 200


def test_admin_username_configurable(start_server):
    srv = start_server(env={"GATEHOUSE_ADMIN_USERNAME": "root"})
    assert login(srv, "root", srv.admin_password).status_code == 200
    assert login(srv, "admin", srv.admin_password).status_code == 401


def test_admin_created_only_on_first_start(workroot):
    first = new_password("first")
    second = new_password("second")
    srv = Server(workroot / "first-start", admin_password=first, name="s")
    try:
        srv.start()
        assert login(srv, "admin", first).status_code == 200
        srv.stop()
        srv.env["GATEHOUSE_ADMIN_PASSWORD"] = second
        register_secret(second)
        srv.start()
        assert login(srv, "admin", first).status_code == 200
        assert login(srv, "admin", second).status_code == 401
    finally:
        if srv.running():
            srv.stop()


def test_no_admin_without_password(start_server):
    srv = start_server(admin_password=None)
    assert requests.get(srv.url + "/healthz", timeout=10).status_code == 200
    r = login(srv, "admin", "anything-at-all-1")
    assert r.status_code == 401
