"""Fixtures for the Gatehouse end-to-end suite (see support.py for the helpers).

- `server`: one server per test module (fast argon2id, generated admin password).
- `start_server`: a factory for tests that need their own configuration; every server it
  started is stopped with SIGTERM at the end of the test and must exit 0.
- `admin`: an Api logged in as admin on the module's server.
- At the end of the session every server log, CLI output and data file is grepped for every
  registered password and token (see test_zz_no_secrets.py for the same check as a test).
"""
from __future__ import annotations

import pytest

import support
from support import Cli, Server


@pytest.fixture(scope="session")
def workroot(tmp_path_factory):
    return tmp_path_factory.mktemp("gatehouse-e2e")


@pytest.fixture(scope="session", autouse=True)
def _session_guard(workroot):
    yield
    # Only processes this session started, by their handles.
    leftovers = [p for p in support.PROCESSES if p.poll() is None]
    support.kill_leftovers()
    problems = support.scan_for_secrets(support.LOG_FILES)
    for data_dir in support.DATA_DIRS:
        if data_dir.is_dir():
            problems += support.scan_for_secrets(p for p in data_dir.rglob("*") if p.is_file())
    msgs = []
    if leftovers:
        msgs.append(f"{len(leftovers)} gatehouse process(es) were still running at session end")
    if problems:
        msgs.append("secrets found in logs/outputs/data:\n" + "\n".join(sorted(set(problems))))
    if msgs:
        pytest.fail("\n".join(msgs), pytrace=False)


_module_counter = iter(range(1, 1_000_000))


@pytest.fixture(scope="module")
def server(workroot, request):
    name = request.module.__name__.rsplit(".", 1)[-1]
    yield from support.serve_module(Server(workroot / f"{name}-{next(_module_counter)}", name="server"))


@pytest.fixture
def start_server(workroot, request):
    started: list[Server] = []
    counter = iter(range(1, 1000))

    def factory(env: dict | None = None, start: bool = True, **kw) -> Server:
        name = request.node.name.replace("[", "_").replace("]", "").replace("/", "_")[:60]
        srv = Server(workroot / f"{name}-{next(_module_counter)}", env=env,
                     name=f"server{next(counter)}", **kw)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    errors = []
    for srv in started:
        problem = srv.exited_unexpectedly()
        if problem:
            errors.append(problem)
        if srv.running():
            try:
                srv.stop()
            except AssertionError as e:
                errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL 15 for the module's tests (pg.py), deleted at the end."""
    from pg import PostgresServer  # noqa: PLC0415 - only modules that ask for it pay for it
    pg = PostgresServer()
    pg.start()
    yield pg
    pg.close()


@pytest.fixture(scope="module")
def admin(server):
    return server.admin()


@pytest.fixture
def cli_factory(workroot, request):
    def factory(data_dir, env=None) -> Cli:
        return Cli(data_dir.parent, data_dir, env=env)
    return factory


@pytest.fixture
def make_user(admin):
    """Creates a user through the admin API: make_user(roles=["user"], email=None) -> dict
    with the user JSON plus "password"."""
    def factory(**kw):
        return admin.create_user(**kw)
    return factory
