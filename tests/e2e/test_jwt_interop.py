"""Independent verifiers accept Gatehouse's access tokens (PyJWT + the published JWKS), and
Gatehouse accepts HS256 tokens PyJWT mints with the shared secret (the seed's round trip).
"""
from __future__ import annotations

import secrets
import subprocess
import time

import pytest
import requests

try:
    import cryptography  # noqa: F401  (PyJWT needs it for RS256/ES256/EdDSA)
    import jwt
    from jwt import PyJWKClient
except ImportError as e:  # pragma: no cover - reported, not hidden
    pytest.fail(f"python3-jwt and python3-cryptography are required for the JWT tests: {e}", pytrace=False)

from support import (BIN, FAST_HASH_ENV, JWT_RE, base_env, require_binary, OPAQUE_ACCESS_RE, assert_error, bearer, jwks_of, jwt_claims, jwt_header,
                     register_secret)

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}
USER_SCOPES = "keys:read keys:write profile:read profile:write"


def login(srv, user) -> dict:
    r = requests.post(srv.url + "/auth/login", json={"username": user["username"], "password": user["password"]},
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def check_jwks_shape(srv, expect_algs: set) -> dict:
    r = requests.get(srv.url + "/.well-known/jwks.json", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "public, max-age=300", r.headers
    assert "json" in r.headers.get("Content-Type", ""), r.headers
    jwks = r.json()
    assert set(jwks) == {"keys"}, jwks
    kids = [k["kid"] for k in jwks["keys"]]
    assert len(kids) == len(set(kids)), f"duplicate kids: {kids}"
    for k in jwks["keys"]:
        leaked = PRIVATE_MEMBERS & set(k)
        assert not leaked, f"JWKS publishes private members {leaked}: {k}"
        assert k["kty"] in ("EC", "RSA", "OKP"), k
        assert k.get("use") == "sig" and k.get("alg") in ("ES256", "RS256", "EdDSA"), k
        assert isinstance(k["kid"], str) and k["kid"], k
    assert {k["alg"] for k in jwks["keys"]} == expect_algs, jwks
    return jwks


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_pyjwt_verifies_with_the_jwks(start_server, alg):
    issuer = f"http://gatehouse-{alg.lower()}.test"
    srv = start_server(env={"GATEHOUSE_TOKENS_SIGNING_ALG": alg, "GATEHOUSE_SERVER_ISSUER": issuer})
    user = srv.admin().create_user()
    body = login(srv, user)
    token = body["access_token"]
    assert JWT_RE.match(token), token[:40]

    header = jwt_header(token)
    assert header == {"alg": alg, "typ": "at+jwt", "kid": header["kid"]}, header
    jwks = check_jwks_shape(srv, {alg, "RS256"})
    assert header["kid"] in {k["kid"] for k in jwks["keys"] if k["alg"] == alg}

    client = PyJWKClient(srv.url + "/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[alg], audience=issuer, issuer=issuer,
                        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})
    assert claims["sub"] == user["id"]
    assert claims["aud"] == issuer
    assert claims["client_id"] == "gatehouse"
    assert claims["username"] == user["username"]
    assert claims["roles"] == ["user"]
    assert claims["scope"] == USER_SCOPES, claims["scope"]
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 3600
    assert claims["nbf"] == claims["iat"] and abs(claims["iat"] - time.time()) < 30
    assert isinstance(claims["sid"], str) and claims["sid"] and isinstance(claims["jti"], str) and claims["jti"]

    # a wrong audience or issuer fails in PyJWT too (the claims really are checked)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=[alg], audience="http://other.test", issuer=issuer)
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, key.key, algorithms=[alg], audience=issuer, issuer="http://other.test")

    # refreshed tokens verify the same way, with a new jti and the same sid
    r = requests.post(srv.url + "/auth/refresh", json={"refresh_token": body["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    token2 = r.json()["access_token"]
    claims2 = jwt.decode(token2, client.get_signing_key_from_jwt(token2).key, algorithms=[alg],
                         audience=issuer, issuer=issuer)
    assert claims2["sid"] == claims["sid"] and claims2["jti"] != claims["jti"]

    me = requests.get(srv.url + "/users/me", headers=bearer(token), timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["auth"]["method"] == "jwt"
    assert me.json()["auth"]["client_id"] == "gatehouse"


def test_default_issuer_and_configured_audience(start_server):
    """Default issuer is http://127.0.0.1:<port>; tokens.audience changes aud only."""
    srv = start_server(env={"GATEHOUSE_TOKENS_AUDIENCE": "https://api.gatehouse.test"})
    user = srv.admin().create_user()
    token = login(srv, user)["access_token"]
    assert jwt_header(token)["alg"] == "ES256"  # the default
    client = PyJWKClient(srv.url + "/.well-known/jwks.json")
    claims = jwt.decode(token, client.get_signing_key_from_jwt(token).key, algorithms=["ES256"],
                        audience="https://api.gatehouse.test", issuer=srv.url)
    assert claims["iss"] == srv.url == f"http://127.0.0.1:{srv.port}"
    assert requests.get(srv.url + "/users/me", headers=bearer(token), timeout=10).status_code == 200


def test_opaque_format_still_available(start_server):
    srv = start_server(env={"GATEHOUSE_TOKENS_FORMAT": "opaque"})
    user = srv.admin().create_user()
    token = login(srv, user)["access_token"]
    assert OPAQUE_ACCESS_RE.match(token), token[:10]
    me = requests.get(srv.url + "/users/me", headers=bearer(token), timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["auth"]["method"] == "opaque"


# -- HS256: the seed's round trip, both directions -----------------------------------------

HS_ISSUER = "http://gatehouse-hs256-interop.test"
HS_SECRET = "interop-hs256-" + secrets.token_hex(24)
register_secret(HS_SECRET)


@pytest.fixture
def hs_server(start_server):
    return start_server(env={"GATEHOUSE_TOKENS_SIGNING_ALG": "HS256", "GATEHOUSE_TOKENS_HS256_SECRET": HS_SECRET,
                             "GATEHOUSE_SERVER_ISSUER": HS_ISSUER})


def test_hs256_round_trip(hs_server):
    srv = hs_server
    user = srv.admin().create_user()

    # Gatehouse -> PyJWT
    token = login(srv, user)["access_token"]
    assert jwt_header(token)["alg"] == "HS256" and jwt_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(token, HS_SECRET, algorithms=["HS256"], audience=HS_ISSUER, issuer=HS_ISSUER)
    assert claims["sub"] == user["id"] and claims["client_id"] == "gatehouse"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, HS_SECRET + "x", algorithms=["HS256"], audience=HS_ISSUER, issuer=HS_ISSUER)

    # the JWKS never carries the shared secret (only the RS256 key exists besides)
    jwks = check_jwks_shape(srv, {"RS256"})
    assert not [k for k in jwks["keys"] if k.get("kty") == "oct" or k.get("alg") == "HS256"], jwks
    assert HS_SECRET not in requests.get(srv.url + "/.well-known/jwks.json", timeout=10).text

    # PyJWT -> Gatehouse, as the seed mints them (plus the RFC 9068 typ and the standard claims)
    now = int(time.time())
    minted = jwt.encode({"sub": user["id"], "iss": HS_ISSUER, "aud": HS_ISSUER, "exp": now + 300, "iat": now},
                        HS_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    r = requests.get(srv.url + "/users/me", headers=bearer(minted), timeout=10)
    assert r.status_code == 200, (
        f"GET /users/me with a PyJWT HS256 token (claims sub, iss, aud, exp, iat; no scope): "
        f"{r.status_code} {r.text}")
    assert r.json()["id"] == user["id"]
    assert r.json()["auth"]["method"] == "jwt"


def test_hs256_minted_token_with_scope(hs_server):
    """Same as above with a scope claim, and datetime exp/iat the way the seed writes them."""
    import datetime
    srv = hs_server
    user = srv.admin().create_user()
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    minted = jwt.encode({"sub": user["id"], "iss": HS_ISSUER, "aud": HS_ISSUER, "scope": "profile:read",
                         "exp": now + datetime.timedelta(minutes=5), "iat": now},
                        HS_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    r = requests.get(srv.url + "/users/me", headers=bearer(minted), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == user["id"]
    assert r.json()["auth"]["scopes"] == ["profile:read"]
    # PyJWT's default typ "JWT" is not an access token
    plain = jwt.encode({"sub": user["id"], "iss": HS_ISSUER, "aud": HS_ISSUER, "scope": "profile:read",
                        "exp": now + datetime.timedelta(minutes=5), "iat": now}, HS_SECRET, algorithm="HS256")
    assert_error(requests.get(srv.url + "/users/me", headers=bearer(plain), timeout=10), 401, "invalid_token")


def test_jwks_has_no_private_members_after_rotation(server, admin):
    for alg in ("EdDSA", "RS256", "ES256"):
        r = admin.post("/api/signing-keys/rotate", json={"alg": alg}, headers=admin.auth_headers())
        assert r.status_code == 201, r.text
    jwks = check_jwks_shape(server, {"ES256", "RS256", "EdDSA"})
    assert len(jwks["keys"]) == 5, [(k["alg"], k["kid"]) for k in jwks["keys"]]  # 2 initial + 3 new
    # every published key is usable by PyJWT
    for k in jwks_of(server)["keys"]:
        jwt.PyJWK(k)


@pytest.mark.parametrize("env,needle", [
    ({"GATEHOUSE_TOKENS_SIGNING_ALG": "HS256"}, "tokens.signing_alg"),
    ({"GATEHOUSE_TOKENS_SIGNING_ALG": "HS256", "GATEHOUSE_TOKENS_HS256_SECRET": "short-hs256-secret-31-bytes-xxx"},
     "tokens.hs256_secret"),
    ({"GATEHOUSE_TOKENS_SIGNING_ALG": "PS256"}, "tokens.signing_alg"),
    ({"GATEHOUSE_TOKENS_SIGNING_ALG": "none"}, "tokens.signing_alg"),
    ({"GATEHOUSE_TOKENS_LEEWAY": "0"}, "tokens.leeway"),
    ({"GATEHOUSE_TOKENS_FORMAT": "paseto"}, "tokens.format"),
], ids=["hs256-without-secret", "hs256-short-secret", "ps256", "none", "leeway-0", "format"])
def test_token_configuration_refused(workroot, env, needle):
    require_binary()
    secret = env.get("GATEHOUSE_TOKENS_HS256_SECRET")
    if secret:
        assert len(secret) == 31
        register_secret(secret)
    data = workroot / f"jwt-config-{secrets.token_hex(4)}"
    data.mkdir()
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=base_env({**FAST_HASH_ENV, **env}), timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 2, f"rc={p.returncode}: {out[:500]}"
    assert "listening" not in out
    assert needle in out, out
    if secret:
        assert secret not in out, "the refused secret was echoed"
