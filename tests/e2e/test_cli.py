"""The `gatehouse` subcommands that work directly on the store."""
import re
import subprocess

import pytest
import requests

from support import BIN, FAST_HASH_ENV, Cli, Server, base_env, new_password, require_binary


def login(srv, username, password):
    return requests.post(srv.url + "/auth/login", json={"username": username, "password": password}, timeout=10)


@pytest.fixture
def store(workroot, request):
    d = workroot / f"cli-{request.node.name}"
    d.mkdir()
    data = d / "data"
    data.mkdir()
    return d, data


def serve(workdir, data_dir, start_server_list):
    srv = Server(workdir, data_dir=data_dir, admin_password=None, name=f"serve{len(start_server_list) + 1}")
    start_server_list.append(srv)
    return srv.start()


@pytest.fixture
def servers():
    started = []
    yield started
    for srv in started:
        if srv.running():
            srv.stop()


def run_bare(*args):
    """Runs the binary without --data-dir (version, usage errors)."""
    require_binary()
    return subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=base_env(FAST_HASH_ENV), timeout=30)


def test_version():
    p = run_bare("version")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert out.strip(), "version printed nothing"
    assert re.search(r"\d+\.\d+\.\d+", out), out


def test_unknown_subcommand_fails():
    p = run_bare("no-such-command")
    assert p.returncode != 0


def test_user_lifecycle(store, servers):
    workdir, data = store
    cli = Cli(workdir, data)
    alice_pw = new_password("alice")
    bob_pw = new_password("bob")

    p = cli.run("migrate")
    assert p.returncode == 0, p.stderr_text
    p = cli.run("user", "add", "alice", "--email", "alice@example.com", "--role", "user", stdin=alice_pw + "\n")
    assert p.returncode == 0, p.stderr_text
    p = cli.run("user", "add", "bob", "--role", "admin", stdin=bob_pw + "\n")
    assert p.returncode == 0, p.stderr_text

    # duplicates (case-insensitive) are refused
    p = cli.run("user", "add", "ALICE", stdin=new_password() + "\n")
    assert p.returncode != 0
    assert p.stderr_text.strip(), "a refused command should say why on stderr"

    p = cli.run("user", "list")
    assert p.returncode == 0, p.stderr_text
    assert "alice" in p.stdout_text and "bob" in p.stdout_text
    assert "alice@example.com" in p.stdout_text
    assert alice_pw not in p.stdout_text and bob_pw not in p.stdout_text

    srv = serve(workdir, data, servers)
    r = login(srv, "alice", alice_pw)
    assert r.status_code == 200, r.text
    tok = r.json()["access_token"]
    me = requests.get(srv.url + "/users/me", headers={"Authorization": f"Bearer {tok}"}, timeout=10).json()
    assert me["email"] == "alice@example.com" and me["roles"] == ["user"]
    r = requests.get(srv.url + "/api/users", auth=("bob", bob_pw), timeout=10)
    assert r.status_code == 200, r.text  # bob is an admin
    r = requests.get(srv.url + "/api/users", auth=("alice", alice_pw), timeout=10)
    assert r.status_code == 403
    srv.stop()

    # set-password and disable with the server stopped
    alice_pw2 = new_password("alice2")
    p = cli.run("user", "set-password", "alice", stdin=alice_pw2 + "\n")
    assert p.returncode == 0, p.stderr_text
    p = cli.run("user", "disable", "bob")
    assert p.returncode == 0, p.stderr_text

    srv = serve(workdir, data, servers)
    assert login(srv, "alice", alice_pw).status_code == 401
    assert login(srv, "alice", alice_pw2).status_code == 200
    r = login(srv, "bob", bob_pw)
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    srv.stop()

    p = cli.run("user", "delete", "alice")
    assert p.returncode == 0, p.stderr_text
    p = cli.run("user", "list")
    assert p.returncode == 0
    assert "alice" not in p.stdout_text
    assert "bob" in p.stdout_text

    srv = serve(workdir, data, servers)
    assert login(srv, "alice", alice_pw2).status_code == 401
    srv.stop()


def test_password_without_trailing_newline(store, servers):
    workdir, data = store
    cli = Cli(workdir, data)
    pw = new_password("nonl")
    p = cli.run("user", "add", "carol", stdin=pw)
    assert p.returncode == 0, p.stderr_text
    srv = serve(workdir, data, servers)
    assert login(srv, "carol", pw).status_code == 200
    srv.stop()


def test_cli_refusals(store):
    workdir, data = store
    cli = Cli(workdir, data)
    assert cli.run("migrate").returncode == 0
    # too short
    p = cli.run("user", "add", "dave", stdin="short\n")
    assert p.returncode != 0
    # empty stdin
    p = cli.run("user", "add", "erin", stdin="")
    assert p.returncode != 0
    # invalid username
    p = cli.run("user", "add", "bad name", stdin=new_password() + "\n")
    assert p.returncode != 0
    # invalid role
    p = cli.run("user", "add", "frank", "--role", "root", stdin=new_password() + "\n")
    assert p.returncode != 0
    # unknown users
    for args in (("user", "disable", "nobody"), ("user", "delete", "nobody")):
        p = cli.run(*args)
        assert p.returncode != 0, args
    p = cli.run("user", "set-password", "nobody", stdin=new_password() + "\n")
    assert p.returncode != 0
    # none of the refused users exists
    p = cli.run("user", "list")
    assert p.returncode == 0
    for name in ("dave", "erin", "frank"):
        assert name not in p.stdout_text


def test_password_cannot_be_given_on_argv(store):
    workdir, data = store
    cli = Cli(workdir, data)
    # deliberately not a registered secret: it is written to the CLI transcript
    p = cli.run("user", "add", "grace", "--password", "argv-password-1", stdin="")
    assert p.returncode != 0
    p = cli.run("user", "list")
    assert "grace" not in p.stdout_text


def test_migrate_idempotent_and_keeps_data(store, servers):
    workdir, data = store
    cli = Cli(workdir, data)
    for _ in range(3):
        p = cli.run("migrate")
        assert p.returncode == 0, p.stderr_text
    pw = new_password("heidi")
    assert cli.run("user", "add", "heidi", stdin=pw + "\n").returncode == 0
    p = cli.run("migrate")
    assert p.returncode == 0, p.stderr_text
    srv = serve(workdir, data, servers)
    assert login(srv, "heidi", pw).status_code == 200
    srv.stop()
    p = cli.run("migrate")
    assert p.returncode == 0, p.stderr_text
    p = cli.run("user", "list")
    assert "heidi" in p.stdout_text


def test_cli_creates_admin_that_can_use_api(store, servers):
    workdir, data = store
    cli = Cli(workdir, data)
    pw = new_password("root")
    assert cli.run("user", "add", "ivan", "--role", "admin", "--email", "ivan@example.com",
                   stdin=pw + "\n").returncode == 0
    srv = serve(workdir, data, servers)
    tok = login(srv, "ivan@example.com", pw).json()["access_token"]
    r = requests.post(srv.url + "/api/users", json={"username": "judy", "password": new_password()},
                      headers={"Authorization": f"Bearer {tok}"}, timeout=10)
    assert r.status_code == 201, r.text
    srv.stop()
    p = cli.run("user", "list")
    assert "judy" in p.stdout_text
