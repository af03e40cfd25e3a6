"""The authorization code flow in a real browser: tests/e2e/node/browser.test.mjs drives
Debian's headless Chromium with playwright-core (SPEC §8). Skipped, saying why, only when
Chromium is not installed (scripts/install-deps.sh installs it)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from oauth_flow import create_client, run_node_tests
from support import free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def test_code_flow_in_headless_chromium(server, admin):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (scripts/install-deps.sh installs Debian's chromium)")
    # The client's callback: the node script listens there (Chromium refuses well-known ports
    # such as 9, and playwright cannot intercept the request a redirect leads to).
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    web = create_client(admin, name="browser app", redirect_uris=[redirect_uri])
    user = admin.create_user()
    run_node_tests("browser.test.mjs", {
        "GATEHOUSE_URL": server.url, "GH_REDIRECT_URI": redirect_uri, "CHROMIUM_PATH": CHROMIUM,
        "GH_CLIENT_ID": web["client_id"], "GH_CLIENT_SECRET": web["client_secret"],
        "GH_USERNAME": user["username"], "GH_PASSWORD": user["password"]})
