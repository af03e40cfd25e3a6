"""Helpers that play an OAuth client and its user's browser against Gatehouse (SPEC §8), with
nothing but `requests`: a cookie jar, the HTML forms of SPEC §8 read with html.parser, and
redirects followed by hand so every hop can be checked."""
from __future__ import annotations

import base64
import hashlib
import html.parser
import secrets
import urllib.parse

import requests

REDIRECT_URI = "http://127.0.0.1:9/callback"


class Forms(html.parser.HTMLParser):
    """Every <form> of a page: its method, action, inputs and submit buttons."""

    def __init__(self, text: str):
        super().__init__()
        self.forms: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": a.get("method", "get").lower(), "action": a.get("action", ""),
                               "inputs": {}, "buttons": []})
        elif self.forms and tag == "input":
            self.forms[-1]["inputs"][a.get("name")] = {"type": a.get("type", "text"), "value": a.get("value", "")}
        elif self.forms and tag == "button":
            self.forms[-1]["buttons"].append((a.get("name"), a.get("value")))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def create_client(admin, **fields) -> dict:
    body = {"name": "e2e app", "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile", "email", "offline_access", "profile:read"]}
    body.update(fields)
    r = admin.post("/api/clients", json=body, headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    return r.json()


def callback_params(resp) -> dict:
    """The query of a redirect to the client (one value per key)."""
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT_URI) or "://" in location, location
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).items()}


class Browser:
    """A user agent: one cookie jar, no automatic redirects."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()
        self.http.verify = server.verify

    def authorize(self, client_id: str, challenge: str, scope: str = "openid profile", state: str = "st-1",
                  nonce: str = "n-1", redirect_uri: str = REDIRECT_URI, extra: dict | None = None):
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                  "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
        if extra:
            params.update(extra)
        params = {k: v for k, v in params.items() if v is not None}
        return self.http.get(self.server.url + "/oauth/authorize", params=params, allow_redirects=False, timeout=10)

    def submit(self, page, fields: dict, button: tuple[str, str] | None = None, drop: tuple = ()):
        forms = Forms(page.text).forms
        assert len(forms) == 1, page.text[:500]
        form = forms[0]
        assert form["method"] == "post"
        data = {name: spec["value"] for name, spec in form["inputs"].items() if spec["type"] == "hidden"}
        data.update(fields)
        if button:
            data[button[0]] = button[1]
        for name in drop:
            data.pop(name, None)
        return self.http.post(urllib.parse.urljoin(self.server.url + "/oauth/authorize", form["action"]), data=data,
                              allow_redirects=False, timeout=10)

    def login(self, page, username: str, password: str):
        return self.submit(page, {"username": username, "password": password})

    def consent(self, page, decision: str = "allow"):
        return self.submit(page, {}, button=("decision", decision))


def code_flow(server, browser: Browser, client: dict, user: dict, scope: str = "openid profile",
              nonce: str = "n-1") -> tuple[dict, str]:
    """Login (when needed), consent (when asked), back with a code: (callback params, verifier)."""
    verifier, challenge = pkce_pair()
    r = browser.authorize(client["client_id"], challenge, scope=scope, nonce=nonce)
    if r.status_code == 200 and "password" in Forms(r.text).forms[0]["inputs"]:
        r = browser.login(r, user["username"], user["password"])
    if r.status_code == 200:
        r = browser.consent(r, "allow")
    return callback_params(r), verifier


def exchange(server, client: dict, code: str, verifier: str, redirect_uri: str = REDIRECT_URI, auth: str = "basic"):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    return token_request(server, client, data, auth)


def token_request(server, client: dict, data: dict, auth: str = "basic", path: str = "/oauth/token"):
    kw = {}
    if client.get("client_secret") and auth == "basic":
        kw["auth"] = (client["client_id"], client["client_secret"])
    else:
        data = dict(data, client_id=client["client_id"])
        if client.get("client_secret"):
            data["client_secret"] = client["client_secret"]
    return requests.post(server.url + path, data=data, timeout=10, verify=server.verify, **kw)


def run_node_tests(script: str, env: dict, timeout: float = 180) -> str:
    """Runs tests/e2e/node/<script> with node's test runner; asserts every case ran and passed."""
    import os
    import re
    import shutil
    import subprocess
    from pathlib import Path

    node_dir = Path(__file__).parent / "node"
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (node_dir / "node_modules").is_dir(), "node modules missing: run `make node-deps` (make test does)"
    run = subprocess.run([node, "--test", "--test-reporter=spec", script], cwd=node_dir,
                         env=dict(os.environ, **env), capture_output=True, text=True, timeout=timeout)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    # The spec reporter ends with "ℹ tests N", "ℹ pass N", "ℹ fail 0".
    counts = {k: int(v) for k, v in re.findall(r"^ℹ (tests|pass|fail) (\d+)$", output, re.M)}
    assert counts.get("tests", 0) >= 1 and counts.get("pass") == counts["tests"] and counts.get("fail") == 0, \
        output[-3000:]
    return output
