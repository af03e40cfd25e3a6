"""Signing in through an upstream identity provider (SPEC §8, Federation; issue 9).

What is real here: the upstream is a second `gatehouse serve` process (its own port and data
dir) acting as an OpenID provider, with a client registered for the first; every hop goes
through both servers' real HTML forms and endpoints. The test plays the browser: one cookie jar
per origin, as a browser keeps for two sites, and redirects followed by hand.

What stands in, and where:
- `MirrorIssuer` serves a discovery document naming itself as issuer but the real upstream's
  endpoints, so the ID tokens that come back are real ones from *another issuer*.
- `GitHubApi` plays api.github.com's `/user` and `/user/emails` for the `github` preset: it
  reshapes the real upstream's `/oauth/userinfo` answer (same bearer token) into GitHub's shapes.
  The preset's authorize and token URLs point at the real upstream's endpoints, whose shapes match.
- The wrong-nonce case edits the nonce in the authorization URL on its way to the upstream, as a
  tampering or injecting attacker would; the upstream then signs an ID token with that nonce.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import threading
import urllib.parse

import pytest
import requests

import oauth_flow
from support import Server, free_port, new_password


class Browser:
    """One cookie jar per origin (scheme, host, port), no automatic redirects."""

    def __init__(self, verify=True):
        self.jars: dict[str, requests.Session] = {}
        self.verify = verify

    def _session(self, url: str) -> requests.Session:
        origin = urllib.parse.urlsplit(url)._replace(path="", query="", fragment="").geturl()
        if origin not in self.jars:
            self.jars[origin] = requests.Session()
        return self.jars[origin]

    # verify= on each call: requests prefers REQUESTS_CA_BUNDLE over a session's own setting.
    def get(self, url: str, **kw) -> requests.Response:
        return self._session(url).get(url, allow_redirects=False, timeout=20, verify=self.verify, **kw)

    def post(self, url: str, data: dict) -> requests.Response:
        return self._session(url).post(url, data=data, allow_redirects=False, timeout=20, verify=self.verify)

    def follow(self, resp: requests.Response) -> requests.Response:
        assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
        return self.get(urllib.parse.urljoin(resp.url, resp.headers["Location"]))

    def submit(self, page: requests.Response, fields: dict, button=None) -> requests.Response:
        forms = oauth_flow.Forms(page.text).forms
        assert len(forms) == 1, page.text[:500]
        data = {n: spec["value"] for n, spec in forms[0]["inputs"].items() if spec["type"] == "hidden"}
        data.update(fields)
        if button:
            data[button[0]] = button[1]
        return self.post(urllib.parse.urljoin(page.url, forms[0]["action"]), data)


def upstream_links(page_text: str) -> dict[str, str]:
    """The login page's "Log in with <name>" links: name -> href."""
    import html.parser

    found: dict[str, str] = {}

    class P(html.parser.HTMLParser):
        href = None

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.href = dict(attrs).get("href")

        def handle_data(self, data):
            if self.href and data.startswith("Log in with "):
                found[data[len("Log in with "):]] = self.href
                self.href = None

    P().feed(page_text)
    return found


# -- stand-ins ----------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def reply(self, status: int, body: dict | list):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class StandIn:
    """A small HTTP server on 127.0.0.1 in a thread, stopped by the fixture that made it."""

    def __init__(self, handler_cls):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def mirror_issuer(upstream_url: str, ca: str) -> StandIn:
    """A discovery document that names itself the issuer and the real upstream's endpoints."""

    class H(_Handler):
        def do_GET(self):
            if self.path != "/.well-known/openid-configuration":
                return self.reply(404, {"error": "not_found"})
            doc = requests.get(upstream_url + "/.well-known/openid-configuration", timeout=10, verify=ca).json()
            doc["issuer"] = stand_in.url
            self.reply(200, doc)

    stand_in = StandIn(H)
    return stand_in


def github_api(upstream_url: str, ca: str) -> StandIn:
    """GitHub's /user and /user/emails, answered from the upstream's /oauth/userinfo."""

    class H(_Handler):
        def do_GET(self):
            r = requests.get(upstream_url + "/oauth/userinfo",
                             headers={"Authorization": self.headers.get("Authorization", "")}, timeout=10,
                             verify=ca)
            if r.status_code != 200:
                return self.reply(r.status_code, {"message": "Bad credentials"})
            info = r.json()
            if self.path == "/user":
                # GitHub's ids are numbers: a stable one from the upstream's subject.
                number = int.from_bytes(hashlib.sha256(info["sub"].encode()).digest()[:6], "big")
                return self.reply(200, {"id": number, "login": info.get("preferred_username", ""), "email": None})
            if self.path == "/user/emails":
                emails = [{"email": info["email"], "primary": True, "verified": True}] if info.get("email") else []
                return self.reply(200, emails)
            self.reply(404, {"message": "Not Found"})

    return StandIn(H)


# -- the two servers ----------------------------------------------------------------------

def make_ca(workdir):
    """A test CA and a certificate it signed for 127.0.0.1."""
    ca_key, ca_crt = workdir / "ca.key", workdir / "ca.crt"
    key, csr, crt = workdir / "upstream.key", workdir / "upstream.csr", workdir / "upstream.crt"
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
        str(ca_key), "-out", str(ca_crt), "-days", "2", "-subj", "/CN=Gatehouse e2e test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
        "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return ca_crt, crt, key


class Federation:
    """An upstream gatehouse (U) and a downstream gatehouse (D) that signs users in with it."""

    def __init__(self, workroot):
        self.dir = workroot / "federation"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.stand_ins: list[StandIn] = []
        self.servers: list[Server] = []

        # U: an OpenID provider over HTTPS, with a certificate from a test CA.
        self.ca, crt, key = make_ca(self.dir)
        u_cfg = self.dir / "upstream.toml"
        u_cfg.write_text(f'[tls]\ncert_file = "{crt}"\nkey_file = "{key}"\n')
        self.up = Server(self.dir / "upstream", name="upstream", args=["--config", str(u_cfg)], ca_file=self.ca)
        self.up.scheme = "https"
        self.up.start()
        self.servers.append(self.up)
        self.up_admin = self.up.admin()
        self.issuer = requests.get(self.up.url + "/.well-known/openid-configuration", verify=str(self.ca),
                                   timeout=10).json()["issuer"]
        self.uma = self.up_admin.create_user(email="uma@example.com")

        # D: its port chosen first, so U's clients can register D's callback URLs.
        port = free_port()
        self.down_url = f"http://127.0.0.1:{port}"
        self.mirror = mirror_issuer(self.up.url, str(self.ca))
        self.github = github_api(self.up.url, str(self.ca))
        self.stand_ins += [self.mirror, self.github]

        def client_for(name, scopes=("openid", "profile", "email")):
            return oauth_flow.create_client(
                self.up_admin, name=f"downstream {name}",
                redirect_uris=[f"{self.down_url}/auth/upstream/{name}/callback"],
                grant_types=["authorization_code"], scopes=list(scopes))

        entries = []
        for name, extra, scopes in [
            ("corp", f'issuer = "{self.issuer}"\nauto_create = true\nca_file = "{self.ca}"\n', None),
            ("strict", f'issuer = "{self.issuer}"\nca_file = "{self.ca}"\n', None),
            ("untrusted", f'issuer = "{self.issuer}"\nauto_create = true\n', None),
            ("mirror", f'issuer = "{self.mirror.url}"\nauto_create = true\nca_file = "{self.ca}"\n', None),
        ]:
            c = client_for(name)
            entries.append(f'[[upstream]]\nname = "{name}"\nkind = "oidc"\nclient_id = "{c["client_id"]}"\n'
                           f'client_secret = "{c["client_secret"]}"\n{extra}')
        # openid too: the stand-in reads the upstream's /oauth/userinfo, which wants it.
        gh = client_for("gh")
        entries.append(
            f'[[upstream]]\nname = "gh"\nkind = "github"\nclient_id = "{gh["client_id"]}"\n'
            f'client_secret = "{gh["client_secret"]}"\nauto_create = true\nca_file = "{self.ca}"\n'
            f'scopes = ["openid", "profile", "email"]\n'
            f'authorize_url = "{self.up.url}/oauth/authorize"\ntoken_url = "{self.up.url}/oauth/token"\n'
            f'userinfo_url = "{self.github.url}"\n')
        d_cfg = self.dir / "downstream.toml"
        d_cfg.write_text("\n".join(entries))
        self.down = Server(self.dir / "downstream", name="downstream", args=["--config", str(d_cfg)],
                           listen=f"127.0.0.1:{port}")
        self.down.start()
        self.servers.append(self.down)
        self.down_admin = self.down.admin()
        # A client of D, for sign-ins that happen inside D's /oauth/authorize.
        self.app = oauth_flow.create_client(self.down_admin, name="downstream app")

    def stop(self):
        for s in self.stand_ins:
            s.stop()
        for srv in self.servers:
            srv.stop()

    # -- steps -------------------------------------------------------------------------
    def start(self, browser: Browser, name: str, **params) -> requests.Response:
        query = urllib.parse.urlencode(params)
        return browser.get(f"{self.down_url}/auth/upstream/{name}/start" + (f"?{query}" if query else ""))

    def upstream_login(self, browser: Browser, to_upstream: requests.Response, user: dict,
                       decision: str = "allow", edit=None) -> requests.Response:
        """From D's redirect to U's authorize endpoint through U's login and consent forms, to
        U's redirect back to D's callback (not followed)."""
        assert to_upstream.status_code == 302, (to_upstream.status_code, to_upstream.text[:500])
        location = to_upstream.headers["Location"]
        if edit:
            location = edit(location)
        page = browser.get(location)
        if page.status_code == 200 and "password" in oauth_flow.Forms(page.text).forms[0]["inputs"]:
            page = browser.submit(page, {"username": user["username"], "password": user["password"]})
        if page.status_code == 200:
            page = browser.submit(page, {}, button=("decision", decision))
        assert page.status_code in (302, 303), (page.status_code, page.text[:500])
        assert page.headers["Location"].startswith(self.down_url + "/auth/upstream/"), page.headers["Location"]
        return page

    def sign_in(self, browser: Browser, name: str, user: dict, **params) -> requests.Response:
        back = self.upstream_login(browser, self.start(browser, name, **params), user)
        return browser.follow(back)

    def failures(self, name: str, reason_part: str) -> list:
        return [e for e in self.down_admin.audit(type="login.failure")
                if e["detail"].get("method") == f"upstream:{name}" and reason_part in e["detail"].get("reason", "")]


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    f = Federation(tmp_path_factory.mktemp("federation"))
    yield f
    f.stop()


def set_nonce(location: str, nonce: str) -> str:
    parts = urllib.parse.urlsplit(location)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["nonce"] = nonce
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


def session_cookie(browser: Browser, fed: Federation) -> str | None:
    return browser._session(fed.down_url).cookies.get("gatehouse_session")


# -- the tests ----------------------------------------------------------------------------

def test_login_through_both_sets_of_forms_inside_authorize(fed):
    """D's /oauth/authorize lists the upstreams; the user picks corp, logs in and consents at U
    (over HTTPS, verified against the test CA), comes back to D's authorization request with a
    D session, consents at D, and the app gets tokens for the D account made on first login."""
    b = Browser(verify=str(fed.ca))
    verifier, challenge = oauth_flow.pkce_pair()
    params = {"response_type": "code", "client_id": fed.app["client_id"], "redirect_uri": oauth_flow.REDIRECT_URI,
              "scope": "openid profile", "state": "app-state", "nonce": "app-nonce", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    authorize = f"{fed.down_url}/oauth/authorize?" + urllib.parse.urlencode(params)
    page = b.get(authorize)
    assert page.status_code == 200
    links = upstream_links(page.text)
    assert set(links) == {"corp", "strict", "untrusted", "mirror", "gh"}, links

    to_upstream = b.get(urllib.parse.urljoin(fed.down_url, links["corp"]))
    assert to_upstream.status_code == 302
    location = to_upstream.headers["Location"]
    assert location.startswith(fed.up.url + "/oauth/authorize?")
    sent = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["nonce"] and sent["state"] and sent["nonce"] != sent["state"]
    assert sent["redirect_uri"] == f"{fed.down_url}/auth/upstream/corp/callback"
    assert "client_secret" not in location
    flow_cookie = to_upstream.headers["Set-Cookie"]
    assert flow_cookie.startswith("gatehouse_upstream=") and "HttpOnly" in flow_cookie and "SameSite=Lax" in flow_cookie
    assert sent["state"] not in flow_cookie  # the cookie is not the state

    back = fed.upstream_login(b, to_upstream, fed.uma)
    returned = b.follow(back)
    assert returned.status_code == 303, returned.text[:500]
    location = urllib.parse.urlsplit(returned.headers["Location"])
    assert location.path == "/oauth/authorize" and not location.netloc
    assert dict(urllib.parse.parse_qsl(location.query)) == params
    assert session_cookie(b, fed)

    consent = b.follow(returned)
    assert consent.status_code == 200 and "decision" in consent.text, consent.text[:500]
    to_app = b.submit(consent, {}, button=("decision", "allow"))
    got = oauth_flow.callback_params(to_app)
    assert got["state"] == "app-state"
    tokens = oauth_flow.exchange(fed.down, fed.app, got["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    info = requests.get(fed.down_url + "/oauth/userinfo",
                        headers={"Authorization": "Bearer " + tokens.json()["access_token"]}, timeout=10)
    assert info.status_code == 200
    assert info.json()["preferred_username"] == fed.uma["username"]

    users = [u for u in fed.down_admin.get("/api/users", headers=fed.down_admin.auth_headers()).json()["users"]
             if u["username"] == fed.uma["username"]]
    assert len(users) == 1
    # U's ID token carries the e-mail without email_verified: not taken.
    assert not users[0].get("email")
    events = fed.down_admin.audit(type="login.success", user_id=users[0]["id"])
    assert any(e["detail"].get("method") == "upstream:corp" for e in events), events
    assert fed.down_admin.audit(type="user.created", user_id=users[0]["id"])
    # The account has no password: its only link cannot be removed.
    r = fed.down_admin.delete(f"/api/users/{users[0]['id']}/upstreams/corp", headers=fed.down_admin.auth_headers())
    assert r.status_code == 409, r.text
    assert fed.down_admin.get("/api/users/nobody/upstreams", headers=fed.down_admin.auth_headers()).status_code == 404

    # A second sign-in finds the link: the same account, no new one.
    again = Browser(verify=str(fed.ca))
    done = fed.sign_in(again, "corp", fed.uma)
    assert done.status_code == 200 and "Signed in" in done.text and fed.uma["username"] in done.text
    after = [u for u in fed.down_admin.get("/api/users", headers=fed.down_admin.auth_headers()).json()["users"]
             if u["username"].startswith(fed.uma["username"])]
    assert [u["id"] for u in after] == [users[0]["id"]]


def test_prompt_login_is_satisfied_by_an_upstream_sign_in(fed):
    """prompt=login shows the login page even with a session. Its upstream links carry the
    fresh login to the upstream (which asks its user to log in again), and come back to the
    request without it, so it goes on instead of asking again; prompt=consent stays."""
    b = Browser(verify=str(fed.ca))
    assert fed.sign_in(b, "corp", fed.uma).status_code == 200  # a D session already
    _, challenge = oauth_flow.pkce_pair()
    params = {"response_type": "code", "client_id": fed.app["client_id"], "redirect_uri": oauth_flow.REDIRECT_URI,
              "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
              "prompt": "login consent"}
    page = b.get(f"{fed.down_url}/oauth/authorize?" + urllib.parse.urlencode(params))
    assert page.status_code == 200 and "password" in oauth_flow.Forms(page.text).forms[0]["inputs"]
    link = urllib.parse.urljoin(fed.down_url, upstream_links(page.text)["corp"])
    to_upstream = b.get(link)
    sent = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_upstream.headers["Location"]).query))
    assert sent["prompt"] == "login" and sent["max_age"] == "0"
    # U shows its login form although the browser is signed in there.
    assert "password" in oauth_flow.Forms(b.get(to_upstream.headers["Location"]).text).forms[0]["inputs"]
    back = b.follow(fed.upstream_login(b, to_upstream, fed.uma))
    assert back.status_code == 303
    returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back.headers["Location"]).query))
    assert returned["prompt"] == "consent"
    after = b.follow(back)
    # Consent was given before (the first test), but prompt=consent asks again; no login page.
    assert after.status_code == 200 and "decision" in after.text, after.text[:300]
    assert "password" not in oauth_flow.Forms(after.text).forms[0]["inputs"]
    assert "code" in oauth_flow.callback_params(b.submit(after, {}, button=("decision", "allow")))


def test_a_forged_state_is_refused(fed):
    b = Browser(verify=str(fed.ca))
    back = fed.upstream_login(b, fed.start(b, "corp"), fed.uma)
    forged = back.headers["Location"].replace("state=", "state=x")
    r = b.get(forged)
    assert r.status_code == 400 and "does not belong to this browser" in r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert session_cookie(b, fed) is None
    assert fed.failures("corp", "state mismatch")
    # The flow was spent by the attempt: the genuine callback cannot be used after it.
    assert b.get(back.headers["Location"]).status_code == 400


def test_a_callback_from_another_browser_is_refused(fed):
    """Login CSRF: the attacker's own code and state, delivered to the victim's browser."""
    attacker, victim = Browser(verify=str(fed.ca)), Browser(verify=str(fed.ca))
    back = fed.upstream_login(attacker, fed.start(attacker, "corp"), fed.uma)
    fed.start(victim, "corp")  # the victim has a flow of its own
    r = victim.get(back.headers["Location"])
    assert r.status_code == 400
    assert session_cookie(victim, fed) is None
    r = Browser(verify=str(fed.ca)).get(back.headers["Location"])  # and one with no flow at all
    assert r.status_code == 400 and "no sign-in in progress" in r.text
    assert fed.failures("corp", "no flow cookie")


def test_a_replayed_callback_is_refused(fed):
    b = Browser(verify=str(fed.ca))
    back = fed.upstream_login(b, fed.start(b, "corp"), fed.uma)
    cookie = b._session(fed.down_url).cookies.get("gatehouse_upstream")
    assert b.follow(back).status_code == 200
    # The replay brings the flow cookie back, as an attacker who copied it would.
    r = requests.get(back.headers["Location"], cookies={"gatehouse_upstream": cookie}, allow_redirects=False,
                     timeout=10)
    assert r.status_code == 400 and "already completed" in r.text
    assert "gatehouse_session=" not in r.headers.get("Set-Cookie", "").replace("gatehouse_session=;", "")
    assert fed.failures("corp", "unknown, used or expired flow")


def test_a_wrong_nonce_is_refused(fed):
    b = Browser(verify=str(fed.ca))
    back = fed.upstream_login(b, fed.start(b, "corp"), fed.uma, edit=lambda loc: set_nonce(loc, "attacker-nonce"))
    r = b.follow(back)
    assert r.status_code == 403 and "nonce" in r.text, r.text[:500]
    assert session_cookie(b, fed) is None
    assert fed.failures("corp", "nonce")


def test_an_id_token_from_another_issuer_is_refused(fed):
    b = Browser(verify=str(fed.ca))
    to_upstream = fed.start(b, "mirror")
    assert to_upstream.status_code == 302, to_upstream.text[:500]
    r = b.follow(fed.upstream_login(b, to_upstream, fed.uma))
    assert r.status_code == 403 and "iss" in r.text, r.text[:500]
    assert session_cookie(b, fed) is None
    assert fed.failures("mirror", "iss")


def test_an_upstream_with_a_certificate_from_an_unknown_ca_is_refused(fed):
    """'untrusted' names the same HTTPS upstream without its ca_file: the system store does not
    know the test CA, so discovery fails and the browser is never sent there."""
    b = Browser(verify=str(fed.ca))
    r = fed.start(b, "untrusted")
    assert r.status_code == 502 and "could not be reached" in r.text, r.text[:500]
    assert "Location" not in r.headers
    assert fed.failures("untrusted", "tls") or fed.failures("untrusted", "certificate")


def test_a_denial_at_the_upstream_is_refused(fed):
    dan = fed.up_admin.create_user()  # no consent remembered: U asks, and dan says no
    b = Browser(verify=str(fed.ca))
    back = fed.upstream_login(b, fed.start(b, "corp"), dan, decision="deny")
    r = b.follow(back)
    assert r.status_code == 403 and "access_denied" in r.text
    assert fed.failures("corp", "upstream refused: access_denied")


def test_without_auto_create_an_unknown_identity_has_no_account_until_linked(fed):
    ulla = fed.up_admin.create_user()
    b = Browser(verify=str(fed.ca))
    r = fed.sign_in(b, "strict", ulla)
    assert r.status_code == 403 and "No Gatehouse account is linked" in r.text
    assert fed.failures("strict", "no linked account")

    # Link: dora signs in to D with her password, then starts strict with link=1.
    dora = fed.down_admin.create_user()
    r = b.get(f"{fed.down_url}/auth/upstream/strict/start?link=1")
    assert r.status_code == 401, "linking needs a signed-in user"
    b._session(fed.down_url).cookies.set(
        "gatehouse_session", browser_session(fed, dora), domain="127.0.0.1", path="/")
    back = fed.upstream_login(b, fed.start(b, "strict", link="1", return_to="/somewhere"), ulla)
    r = b.follow(back)
    assert r.status_code == 303 and r.headers["Location"] == "/somewhere"
    linked = fed.down_admin.audit(type="upstream.linked", user_id=dora["id"])
    assert linked and linked[0]["detail"]["upstream"] == "strict"

    # From now on ulla's upstream account signs in as dora, in a fresh browser.
    fresh = Browser(verify=str(fed.ca))
    r = fed.sign_in(fresh, "strict", ulla)
    assert r.status_code == 200 and dora["username"] in r.text
    # dora sees the link and can remove it; an admin sees it too.
    token = fed.down.api().login_ok(dora["username"], dora["password"])["access_token"]
    mine = requests.get(fed.down_url + "/users/me/upstreams", headers={"Authorization": f"Bearer {token}"},
                        timeout=10)
    assert mine.status_code == 200
    assert [l["upstream"] for l in mine.json()["links"]] == ["strict"]
    admin_view = fed.down_admin.get(f"/api/users/{dora['id']}/upstreams", headers=fed.down_admin.auth_headers())
    assert admin_view.json() == mine.json()

    # And it cannot be linked to a second account.
    other = fed.down_admin.create_user()
    c = Browser(verify=str(fed.ca))
    c._session(fed.down_url).cookies.set(
        "gatehouse_session", browser_session(fed, other), domain="127.0.0.1", path="/")
    r = c.follow(fed.upstream_login(c, fed.start(c, "strict", link="1"), ulla))
    assert r.status_code == 403 and "already linked" in r.text

    # Unlinked by dora: ulla's upstream account has no account again.
    gone = requests.delete(fed.down_url + "/users/me/upstreams/strict", headers={"Authorization": f"Bearer {token}"},
                           timeout=10)
    assert gone.status_code == 204
    assert fed.down_admin.audit(type="upstream.unlinked", user_id=dora["id"])
    assert requests.delete(fed.down_url + "/users/me/upstreams/strict", headers={"Authorization": f"Bearer {token}"},
                           timeout=10).status_code == 404
    r = fed.sign_in(Browser(verify=str(fed.ca)), "strict", ulla)
    assert r.status_code == 403 and "No Gatehouse account is linked" in r.text


def browser_session(fed: Federation, user: dict) -> str:
    """A D browser session for `user`: its HTML login form, as a browser gets one."""
    b = oauth_flow.Browser(fed.down)
    _, challenge = oauth_flow.pkce_pair()
    page = b.authorize(fed.app["client_id"], challenge)
    r = b.login(page, user["username"], user["password"])
    assert r.status_code in (200, 303), r.text[:300]
    return b.http.cookies.get("gatehouse_session")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                                    "http://127.0.0.1:9/callbackx"])
def test_return_to_must_be_ours_or_a_registered_redirect(fed, target):
    r = fed.start(Browser(verify=str(fed.ca)), "corp", return_to=target)
    assert r.status_code == 400 and "Location" not in r.headers


def test_return_to_may_be_a_registered_client_redirect(fed):
    b = Browser(verify=str(fed.ca))
    r = fed.sign_in(b, "corp", fed.uma, return_to=oauth_flow.REDIRECT_URI)
    assert r.status_code == 303 and r.headers["Location"] == oauth_flow.REDIRECT_URI


def test_an_unknown_upstream_is_404(fed):
    r = fed.start(Browser(), "nope")
    assert r.status_code == 404


def test_github_preset(fed):
    """The github preset: authorize and token are the real upstream's endpoints, /user and
    /user/emails the stand-in (see the module's docstring). The subject is GitHub's numeric id;
    the e-mail the primary verified one."""
    gus = fed.up_admin.create_user(email=f"gus-{new_password('m')[-8:].lower()}@example.com")
    b = Browser(verify=str(fed.ca))
    to_upstream = fed.start(b, "gh")
    sent = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_upstream.headers["Location"]).query))
    assert "nonce" not in sent and sent["scope"] == "openid profile email"
    r = b.follow(fed.upstream_login(b, to_upstream, gus))
    assert r.status_code == 200 and gus["username"] in r.text, r.text[:500]
    made = [u for u in fed.down_admin.get("/api/users", headers=fed.down_admin.auth_headers(),
                                          params={"limit": 100}).json()["users"] if u["username"] == gus["username"]]
    assert len(made) == 1 and made[0]["email"] == gus["email"]
    events = fed.down_admin.audit(type="login.success", user_id=made[0]["id"])
    assert any(e["detail"].get("method") == "upstream:gh" for e in events)
