"""Python's authlib (Debian's python3-authlib) as an unmodified OAuth client of Gatehouse
(SPEC §8): the authorization code flow with PKCE through our HTML forms, ID token validation
with authlib's own JOSE code against our JWKS, and client credentials with client_secret_basic
and client_secret_post."""
from __future__ import annotations

import os

import pytest
import requests

from oauth_flow import REDIRECT_URI, Browser, Forms, create_client

authlib = pytest.importorskip("authlib", reason="python3-authlib is not installed (scripts/install-deps.sh)")
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.jose import JsonWebKey, jwt  # noqa: E402

# The test server speaks plain HTTP on loopback; authlib refuses that unless told.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"


@pytest.fixture(scope="module")
def discovery(server):
    return requests.get(server.url + "/.well-known/openid-configuration", timeout=10).json()


def drive_browser(server, user, url: str) -> str:
    """Follows the authorization URL as a user would: log in, allow. Returns the redirect."""
    browser = Browser(server)
    r = browser.http.get(url, allow_redirects=False, timeout=10)
    if r.status_code == 200 and "password" in Forms(r.text).forms[0]["inputs"]:
        r = browser.login(r, user["username"], user["password"])
    if r.status_code == 200:
        r = browser.consent(r, "allow")
    assert r.status_code in (302, 303), r.text[:300]
    return r.headers["Location"]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authorization_code_flow_with_pkce(server, admin, discovery, auth_method):
    client = create_client(admin, name="authlib " + auth_method)
    email = auth_method + "@example.com"
    user = admin.create_user(email=email)
    session = OAuth2Session(client["client_id"], client["client_secret"], scope="openid profile email",
                            redirect_uri=REDIRECT_URI, code_challenge_method="S256",
                            token_endpoint_auth_method=auth_method)
    session.verify = server.verify
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier,
                                                  nonce=nonce)
    location = drive_browser(server, user, url)
    token = session.fetch_token(discovery["token_endpoint"], authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["scope"] == "email openid profile"

    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], jwks,
                        claims_options={"iss": {"essential": True, "value": discovery["issuer"]},
                                        "aud": {"essential": True, "value": client["client_id"]},
                                        "nonce": {"essential": True, "value": nonce}})
    claims.validate()
    assert claims["sub"] == user["id"] and claims["email"] == email

    info = session.get(discovery["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200 and info.json()["preferred_username"] == user["username"]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials(server, admin, discovery, auth_method):
    client = create_client(admin, name="authlib svc", grant_types=["client_credentials"], redirect_uris=[],
                           scopes=["reports:read"])
    session = OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method=auth_method)
    session.verify = server.verify
    token = session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "reports:read" and "refresh_token" not in token
    r = requests.post(discovery["introspection_endpoint"], data={"token": token["access_token"]},
                      auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert r.json()["active"] is True


def test_refresh_through_authlib(server, admin, discovery):
    client = create_client(admin, name="authlib refresh")
    user = admin.create_user()
    session = OAuth2Session(client["client_id"], client["client_secret"], scope="openid offline_access",
                            redirect_uri=REDIRECT_URI, code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
    token = session.fetch_token(discovery["token_endpoint"], authorization_response=drive_browser(server, user, url),
                                code_verifier=verifier)
    refreshed = session.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"] and refreshed["access_token"]
