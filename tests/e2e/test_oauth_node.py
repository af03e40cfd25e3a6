"""Runs tests/e2e/node/oidc.test.mjs (openid-client v6 and jose, unmodified, with their
defaults) against a server of this module: the Python side makes the clients and the user
and passes them through the environment; node's test runner reports each case."""
from __future__ import annotations

import re

from oauth_flow import REDIRECT_URI, create_client, run_node_tests


def test_openid_client_and_jose(server, admin):
    web = create_client(admin, name="openid-client web")
    service = create_client(admin, name="openid-client service", grant_types=["client_credentials"], redirect_uris=[],
                            scopes=["orders:read"], introspect=True)
    user = admin.create_user()
    output = run_node_tests("oidc.test.mjs", {
        "GATEHOUSE_URL": server.url, "GH_REDIRECT_URI": REDIRECT_URI,
        "GH_CLIENT_ID": web["client_id"], "GH_CLIENT_SECRET": web["client_secret"],
        "GH_SERVICE_ID": service["client_id"], "GH_SERVICE_SECRET": service["client_secret"],
        "GH_USERNAME": user["username"], "GH_PASSWORD": user["password"]}, timeout=120)
    assert int(re.search(r"^ℹ pass (\d+)$", output, re.M).group(1)) >= 4
