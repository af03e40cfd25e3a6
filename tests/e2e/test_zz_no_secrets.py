"""Runs last (file name order): no password or token used anywhere in this session may appear
in any server's stdout/stderr, in any CLI transcript, or in clear text in any data file.

The session-scoped guard in conftest.py repeats the check at the very end (for servers that
are stopped after this module ran, and for runs that select a subset of the tests)."""
import requests

import support


def test_no_secret_in_logs(server):
    # exercise one more login on a fresh server so this module has its own evidence too
    api = server.api()
    api.login_admin(server.admin_password)
    requests.get(server.url + "/users/me", headers=api.auth_headers(), timeout=10)
    requests.get(server.url + "/users/me", auth=("admin", "definitely-wrong-pw"), timeout=10)
    # the registry is fed automatically by the requests hook; check that it was
    assert api.token in support.SECRETS and api.refresh_token in support.SECRETS
    assert "definitely-wrong-pw" in support.SECRETS
    problems = support.scan_for_secrets(support.LOG_FILES)
    assert not problems, "\n".join(sorted(set(problems))[:50])


def test_logs_were_written():
    # the check above is only meaningful if the logs exist and hold something
    sizes = [p.stat().st_size for p in support.LOG_FILES if p.exists() and p.name.endswith(".stderr")]
    assert sizes and sum(sizes) > 0


def test_no_secret_stored_in_clear():
    files = [p for d in support.DATA_DIRS if d.is_dir() for p in d.rglob("*") if p.is_file()]
    assert files
    problems = support.scan_for_secrets(files)
    assert not problems, "\n".join(sorted(set(problems))[:50])


def test_scanner_detects_a_planted_secret(tmp_path):
    # negative control: the scan really finds a registered secret in a file
    planted = support.new_password("planted")
    f = tmp_path / "planted.log"
    f.write_text('{"msg": "oops", "password": "' + planted + '"}\n')
    assert support.scan_for_secrets([f])
    support.SECRETS.discard(planted)
