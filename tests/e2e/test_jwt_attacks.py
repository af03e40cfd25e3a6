"""Forged, tampered, expired and revoked JWT access tokens (SPEC §5, RFC 8725).

Every forgery must get `401 invalid_token` with the Bearer error="invalid_token" challenge,
never a 500, and the server must keep serving.

Two servers: the module's default one (ES256, issuer = its own URL) for forgeries made
without the server's key, and an HS256 one with a secret this module knows, so that claim
and encoding checks can be tested with tokens whose signature is *valid* (the defect under
test is then the only thing wrong with the token). Each HS256 case is paired with a
correctly minted token that is accepted, so a rejection cannot come from a bad mint.
"""
from __future__ import annotations

import base64
import datetime
import http.server
import json
import secrets
import threading
import time

import pytest
import requests

try:
    import cryptography  # noqa: F401  (PyJWT needs it for RS256/ES256/EdDSA)
    import jwt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.x509.oid import NameOID
except ImportError as e:  # pragma: no cover - reported, not hidden
    pytest.fail(f"python3-jwt and python3-cryptography are required for the JWT tests: {e}", pytrace=False)

from support import (Server, assert_challenges, assert_error, b64url, b64url_decode, bearer, compact_jws, serve_module,
                     hs256_sign, jwks_of, jwt_claims, jwt_header, register_secret)

# --------------------------------------------------------------------------------------
# Attacker material (never known to the server)
# --------------------------------------------------------------------------------------

ATTACKER_EC = ec.generate_private_key(ec.SECP256R1())
ATTACKER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_ED = ed25519.Ed25519PrivateKey.generate()
ALGS = jwt.algorithms.get_default_algorithms()

# n, the order of P-256
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign(alg: str, key, header: dict, payload) -> str:
    """A compact JWS signed by hand (full control of the header bytes), key = private key."""
    head = b64url(json.dumps(header, separators=(",", ":")))
    body = b64url(payload if isinstance(payload, (str, bytes)) else json.dumps(payload, separators=(",", ":")))
    signing_input = f"{head}.{body}"
    sig = ALGS[alg].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64url(sig)}"


def attacker_public_jwk(alg="ES256", kid="attacker-key") -> dict:
    key = {"ES256": ATTACKER_EC, "RS256": ATTACKER_RSA, "EdDSA": ATTACKER_ED}[alg]
    jwk = json.loads(ALGS[alg].to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------

def me(srv, token):
    return requests.get(srv.url + "/users/me", headers=bearer(token), timeout=10)


def assert_rejected(srv, token: str, why: str = "") -> None:
    r = me(srv, token)
    assert r.status_code == 401, (
        f"{why}: expected 401 invalid_token, got {r.status_code}: {r.text[:300]}\n"
        f"GET /users/me with Authorization: Bearer {token[:300]}")
    assert_error(r, 401, "invalid_token")
    assert_challenges(r, token_presented=True)
    health = requests.get(srv.url + "/healthz", timeout=10)
    assert health.status_code == 200, f"server stopped serving after {why}: {health.status_code}"


def assert_accepted(srv, token: str, why: str = "") -> dict:
    r = me(srv, token)
    assert r.status_code == 200, (
        f"{why}: expected 200, got {r.status_code}: {r.text[:300]}\n"
        f"header={jwt_header(token)} claims={jwt_claims(token)}")
    body = r.json()
    assert body["auth"]["method"] == "jwt", body
    return body


# --------------------------------------------------------------------------------------
# The ES256 server (module default) and a genuine token
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def victim(server, admin):
    user = admin.create_user()
    body = admin.login_ok(user["username"], user["password"])
    user["access"] = body["access_token"]
    user["refresh"] = body["refresh_token"]
    return user


@pytest.fixture(scope="module")
def server_keys(server, victim):
    """{"ES256": jwk, "RS256": jwk} as published; ES256 is the key that signed the victim's token."""
    keys = jwks_of(server)["keys"]
    kid = jwt_header(victim["access"])["kid"]
    es = [k for k in keys if k["kid"] == kid]
    rs = [k for k in keys if k.get("alg") == "RS256"]
    assert es and es[0]["alg"] == "ES256", (kid, keys)
    assert rs, keys
    return {"ES256": es[0], "RS256": rs[0]}


def test_genuine_token_is_accepted(server, victim):
    header = jwt_header(victim["access"])
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt" and header["kid"], header
    body = assert_accepted(server, victim["access"], "genuine token")
    assert body["id"] == victim["id"]
    assert body["auth"]["client_id"] == "gatehouse"


def _parts(token):
    h, p, s = token.split(".")
    return h, p, s


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("variant", ["empty-signature", "original-signature", "no-kid"])
def test_alg_none(server, victim, alg, variant):
    header = jwt_header(victim["access"])
    header["alg"] = alg
    if variant == "no-kid":
        del header["kid"]
    _, p, s = _parts(victim["access"])
    token = f"{b64url(json.dumps(header))}.{p}."
    if variant == "original-signature":
        token += s
    assert_rejected(server, token, f"alg={alg} {variant}")


def _public_key(jwk: dict):
    return ALGS[jwk["alg"]].from_jwk(json.dumps(jwk))


def _confusion_secrets(jwk: dict) -> dict:
    pub = _public_key(jwk)
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = {
        "jwk-as-published": json.dumps(jwk, separators=(",", ":")).encode(),
        "jwk-pretty": json.dumps(jwk).encode(),
        "pem": pem,
        "pem-no-newline": pem.rstrip(b"\n"),
        "der": der,
    }
    if jwk["kty"] == "EC":
        out["raw-point"] = b"\x04" + b64url_decode(jwk["x"]) + b64url_decode(jwk["y"])
    else:
        out["pkcs1-pem"] = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return out


@pytest.mark.parametrize("target", ["ES256", "RS256"])
def test_hs256_key_confusion(server, victim, server_keys, target):
    """HS256 MAC keyed with the server's own public key, presented under that key's kid
    (and without a kid)."""
    jwk = server_keys[target]
    payload = jwt_claims(victim["access"])
    for name, secret in _confusion_secrets(jwk).items():
        for kid in (jwk["kid"], None):
            header = {"alg": "HS256", "typ": "at+jwt"}
            if kid:
                header["kid"] = kid
            head, body = b64url(json.dumps(header)), b64url(json.dumps(payload))
            token = f"{head}.{body}.{b64url(hs256_sign(secret, f'{head}.{body}'))}"
            assert_rejected(server, token, f"HS256 keyed with the {target} public key as {name}, kid={kid}")


@pytest.mark.parametrize("alg,attacker_key", [("RS256", ATTACKER_RSA), ("EdDSA", ATTACKER_ED), ("ES256", ATTACKER_EC)])
def test_foreign_signature_under_the_es256_kid(server, victim, server_keys, alg, attacker_key):
    header = {"alg": alg, "typ": "at+jwt", "kid": server_keys["ES256"]["kid"]}
    token = sign(alg, attacker_key, header, jwt_claims(victim["access"]))
    assert_rejected(server, token, f"{alg} signed by an attacker, kid of the server's ES256 key")


@pytest.mark.parametrize("alg,attacker_key", [("RS256", ATTACKER_RSA), ("ES256", ATTACKER_EC)])
def test_attacker_signature_under_the_rs256_kid(server, victim, server_keys, alg, attacker_key):
    header = {"alg": alg, "typ": "at+jwt", "kid": server_keys["RS256"]["kid"]}
    token = sign(alg, attacker_key, header, jwt_claims(victim["access"]))
    assert_rejected(server, token, f"{alg} signed by an attacker, kid of the server's RS256 key")


@pytest.mark.parametrize("kid", [
    "attacker-key",
    "no-such-kid-" + "A" * 43,
    "",
    "../../../../etc/passwd",
    "' OR '1'='1",
    "\u00e9\u4e2d",
    "K" * 2000,
])
def test_unknown_kid(server, victim, kid):
    header = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
    token = sign("ES256", ATTACKER_EC, header, jwt_claims(victim["access"]))
    assert_rejected(server, token, f"unknown kid {kid[:40]!r}")


def test_kid_of_wrong_type(server, victim):
    _, p, s = _parts(victim["access"])
    for kid in (None, 42, ["x"], {"kid": "x"}, True):
        header = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
        assert_rejected(server, f"{b64url(json.dumps(header))}.{p}.{s}", f"kid={kid!r}")


# -- key sources named by the token -------------------------------------------------------

class _KeyHost:
    """A local web server that would hand out the attacker's keys, and counts requests."""

    def __init__(self, jwks: dict, cert_pem: bytes):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                body = cert_pem if self.path.endswith(".pem") else json.dumps(jwks).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _attacker_cert():
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(ATTACKER_EC.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .sign(ATTACKER_EC, hashes.SHA256()))


@pytest.fixture(scope="module")
def key_host():
    cert = _attacker_cert()
    host = _KeyHost({"keys": [attacker_public_jwk("ES256", "attacker-key")]},
                    cert.public_bytes(serialization.Encoding.PEM))
    host.cert_der = cert.public_bytes(serialization.Encoding.DER)
    yield host
    host.close()


@pytest.mark.parametrize("source", ["jku", "x5u", "jwk", "x5c"])
@pytest.mark.parametrize("kid_choice", ["attacker-kid", "server-kid", "no-kid"])
def test_key_source_headers_are_not_followed(server, victim, server_keys, key_host, source, kid_choice):
    header = {"alg": "ES256", "typ": "at+jwt"}
    if kid_choice == "attacker-kid":
        header["kid"] = "attacker-key"
    elif kid_choice == "server-kid":
        header["kid"] = server_keys["ES256"]["kid"]
    if source == "jku":
        header["jku"] = key_host.url + "/jwks.json"
    elif source == "x5u":
        header["x5u"] = key_host.url + "/cert.pem"
    elif source == "jwk":
        header["jwk"] = attacker_public_jwk("ES256", "attacker-key")
    else:
        header["x5c"] = [base64.b64encode(key_host.cert_der).decode()]
    token = sign("ES256", ATTACKER_EC, header, jwt_claims(victim["access"]))
    assert_rejected(server, token, f"{source} header pointing at the attacker's key ({kid_choice})")
    assert key_host.hits == [], f"the server fetched attacker-named key material: {key_host.hits}"


# -- bad signatures ------------------------------------------------------------------------

def _es256_signatures(real_sig: bytes) -> dict:
    n = P256_N.to_bytes(32, "big")
    r, s = real_sig[:32], real_sig[32:]
    der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    return {
        "all-zero (CVE-2022-21449)": bytes(64),
        "r=0": bytes(32) + s,
        "s=0": r + bytes(32),
        "r=s=n": n + n,
        "r=n": n + s,
        "s=n": r + n,
        "r=s=0xff..": b"\xff" * 64,
        "DER instead of r||s": der,
        "63 bytes": real_sig[:63],
        "65 bytes": real_sig + b"\x00",
        "leading zero": b"\x00" + real_sig,
        "swapped r and s": s + r,
        "one bit flipped": real_sig[:-1] + bytes([real_sig[-1] ^ 1]),
    }


def test_ecdsa_signature_forgeries(server, victim):
    h, p, s = _parts(victim["access"])
    real = b64url_decode(s)
    assert len(real) == 64
    for name, sig in _es256_signatures(real).items():
        assert_rejected(server, f"{h}.{p}.{b64url(sig)}", f"ES256 signature {name}")
    # the genuine one still works
    assert_accepted(server, victim["access"], "genuine token after the forgeries")


@pytest.mark.parametrize("shape", ["empty-signature", "two-parts", "two-parts-trailing-dot-only", "signature-only"])
def test_signature_stripped(server, victim, shape):
    h, p, s = _parts(victim["access"])
    token = {"empty-signature": f"{h}.{p}.", "two-parts": f"{h}.{p}",
             "two-parts-trailing-dot-only": f"{h}..", "signature-only": f"..{s}"}[shape]
    assert_rejected(server, token, f"signature stripped ({shape})")


@pytest.mark.parametrize("change", ["sub-admin", "roles-admin", "scope", "exp-later", "username", "sid",
                                    "jti", "extra-claim", "whitespace"])
def test_payload_tampered(server, admin, victim, change):
    h, p, s = _parts(victim["access"])
    claims = jwt_claims(victim["access"])
    admin_id = jwt_claims(admin.token)["sub"]
    text = None
    if change == "sub-admin":
        claims["sub"] = admin_id
    elif change == "roles-admin":
        claims["roles"] = ["admin"]
    elif change == "scope":
        claims["scope"] += " users:write users:read"
    elif change == "exp-later":
        claims["exp"] += 86400
    elif change == "username":
        claims["username"] = "admin"
    elif change == "sid":
        claims["sid"] = claims["sid"][:-1] + ("A" if claims["sid"][-1] != "A" else "B")
    elif change == "jti":
        claims["jti"] = ("x" if claims["jti"][0] != "x" else "y") + claims["jti"][1:]  # always a change
    elif change == "extra-claim":
        claims["admin"] = True
    elif change == "whitespace":
        text = b64url_decode(p).decode().replace(",", ", ", 1)
    body = b64url(text if text is not None else json.dumps(claims, separators=(",", ":")))
    assert body != p
    assert_rejected(server, f"{h}.{body}.{s}", f"payload tampered ({change}), signature kept")


@pytest.mark.parametrize("change", ["typ-upper", "extra-member", "kid-rs256"])
def test_header_tampered(server, victim, server_keys, change):
    _, p, s = _parts(victim["access"])
    header = jwt_header(victim["access"])
    if change == "typ-upper":
        header["typ"] = "AT+JWT"
    elif change == "extra-member":
        header["cty"] = "JWT"
    else:
        header["kid"] = server_keys["RS256"]["kid"]
    assert_rejected(server, f"{b64url(json.dumps(header, separators=(',', ':')))}.{p}.{s}",
                    f"header tampered ({change})")


def _noncanonical_last_char(segment: str) -> str:
    """The same bytes to a lenient decoder, but unused trailing bits set: not canonical."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rem = len(segment) % 4
    assert rem in (2, 3), f"segment length {len(segment)} has no unused bits"
    unused = 4 if rem == 2 else 2
    idx = alphabet.index(segment[-1])
    assert idx & ((1 << unused) - 1) == 0, "the input is already non-canonical"
    altered = segment[:-1] + alphabet[idx | 1]
    # a lenient decoder (Python's) gives the same bytes: only strictness can reject it
    assert b64url_decode(altered) == b64url_decode(segment)
    return altered


def test_non_canonical_signature_encoding(server, victim):
    h, p, s = _parts(victim["access"])
    assert_rejected(server, f"{h}.{p}.{_noncanonical_last_char(s)}", "non-canonical base64url signature")


@pytest.mark.parametrize("where", ["signature", "all"])
def test_padded_signature(server, victim, where):
    h, p, s = _parts(victim["access"])
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    assert pad(s) != s
    token = f"{h}.{p}.{pad(s)}" if where == "signature" else f"{pad(h)}.{pad(p)}.{pad(s)}"
    assert_rejected(server, token, f"'=' padding ({where})")


def test_standard_base64_alphabet_signature(server, victim):
    h, p, s = _parts(victim["access"])
    for _ in range(50):
        if "-" in s or "_" in s:
            break
        body = requests.post(server.url + "/auth/login",
                             json={"username": victim["username"], "password": victim["password"]}, timeout=10)
        h, p, s = _parts(body.json()["access_token"])
    assert "-" in s or "_" in s
    std = s.replace("-", "+").replace("_", "/")
    assert_rejected(server, f"{h}.{p}.{std}", "signature in the standard base64 alphabet")


def test_oversized_token(server, victim):
    h, p, s = _parts(victim["access"])
    claims = jwt_claims(victim["access"])
    claims["filler"] = "x" * 9216
    assert_rejected(server, f"{h}.{b64url(json.dumps(claims))}.{s}", "a 9 KiB token")
    assert_rejected(server, "A" * 9216 + "." + "B" * 10 + "." + "C" * 10, "9 KiB of base64url")


@pytest.mark.parametrize("token", [
    "a.b.c", "..", "...", "x.y.z.w", "e30.e30.", "e30.e30.e30",
    b64url("[]") + "." + b64url("{}") + ".",
    b64url('{"alg":"ES256","typ":"at+jwt"') + "." + b64url("{}") + ".",
    b64url('{"alg":1,"typ":"at+jwt"}') + "." + b64url("{}") + ".",
    b64url('{"alg":"ES256","typ":"at+jwt","kid":"k"}') + "." + b64url("not json") + "." + b64url(bytes(64)),
    b64url('{"alg":"ES256","typ":"at+jwt","kid":"k"}') + "." + b64url("[1,2]") + "." + b64url(bytes(64)),
    b64url(b'{"alg":"ES256","typ":"at+jwt","kid":"\xff\xfe"}') + "." + b64url("{}") + "." + b64url(bytes(64)),
    b64url('{"alg":"ES256","typ":"at+jwt","kid":"k\\u0000"}') + "." + b64url("{}") + "." + b64url(bytes(64)),
    b64url('{"alg":"ES256","typ":"at+jwt"}') + "." + b64url('{"a":' * 900 + "1" + "}" * 900) + ".",
    "eyJ%2F.eyJ.x", "\u00e9.\u00e9.\u00e9",
], ids=lambda t: t[:24])
def test_garbage_tokens(server, token):
    try:
        token.encode("latin-1")
    except UnicodeEncodeError:
        pytest.skip("not representable in an HTTP header")
    assert_rejected(server, token, f"garbage {token[:40]!r}")


# -- expiry with the real key ---------------------------------------------------------------

def test_expired_token(start_server):
    srv = start_server(env={"GATEHOUSE_TOKENS_ACCESS_TTL": "1", "GATEHOUSE_TOKENS_LEEWAY": "1",
                            "GATEHOUSE_SERVER_ISSUER": "http://gatehouse-expiry.test"})
    user = srv.admin().create_user()
    token = srv.api().login_ok(user["username"], user["password"])["access_token"]
    claims = jwt_claims(token)
    assert claims["exp"] - claims["iat"] == 1, claims
    assert_accepted(srv, token, "fresh token")
    # exp + leeway has passed (plus a margin for the server's whole-second clock)
    time.sleep(max(0.0, claims["exp"] + 1 + 0.3 - time.time()))
    assert_rejected(srv, token, "expired token (exp + leeway passed)")


# -- revocation (real tokens) -----------------------------------------------------------------

def test_logged_out_session_token(server, admin):
    user = admin.create_user()
    api = server.api()
    body = api.login_ok(user["username"], user["password"])
    other = api.login_ok(user["username"], user["password"])
    assert_accepted(server, body["access_token"], "before logout")
    r = requests.post(server.url + "/auth/logout", headers=bearer(body["access_token"]), timeout=10)
    assert r.status_code == 204, r.text
    assert_rejected(server, body["access_token"], "access token of a logged-out session")
    # a refresh issued later for the session does not resurrect it
    r = requests.post(server.url + "/auth/refresh", json={"refresh_token": body["refresh_token"]}, timeout=10)
    assert_error(r, 401, "invalid_grant")
    assert_accepted(server, other["access_token"], "the user's other session")


def test_refresh_reuse_revokes_jwts(server, admin):
    user = admin.create_user()
    body = server.api().login_ok(user["username"], user["password"])
    r = requests.post(server.url + "/auth/refresh", json={"refresh_token": body["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    second = r.json()
    assert_accepted(server, second["access_token"], "refreshed token")
    replay = requests.post(server.url + "/auth/refresh", json={"refresh_token": body["refresh_token"]}, timeout=10)
    assert_error(replay, 401, "invalid_grant")
    assert_rejected(server, body["access_token"], "first access token after refresh reuse")
    assert_rejected(server, second["access_token"], "second access token after refresh reuse")


def test_password_change_revokes_other_sessions(server, admin):
    user = admin.create_user()
    api = server.api()
    a = api.login_ok(user["username"], user["password"])
    b = api.login_ok(user["username"], user["password"])
    r = requests.post(server.url + "/users/me/password", headers=bearer(a["access_token"]),
                      json={"current_password": user["password"], "new_password": "pw-" + secrets.token_hex(8)},
                      timeout=10)
    assert r.status_code == 204, r.text
    assert_rejected(server, b["access_token"], "other session's token after a password change")
    assert_accepted(server, a["access_token"], "the calling session survives its own password change")


def test_disabled_user(server, admin):
    user = admin.create_user()
    token = server.api().login_ok(user["username"], user["password"])["access_token"]
    assert_accepted(server, token, "before disable")
    r = admin.patch_user(user["id"], {"disabled": True})
    assert r.status_code == 200, r.text
    assert_rejected(server, token, "token of a disabled user (at once)")
    r = admin.patch_user(user["id"], {"disabled": False})
    assert r.status_code == 200, r.text
    # disabling revoked the session: re-enabling does not bring the old token back
    assert_rejected(server, token, "token of a session ended by disable, after re-enable")
    fresh = server.api().login_ok(user["username"], user["password"])["access_token"]
    assert_accepted(server, fresh, "new login after re-enable")


def test_deleted_user(server, admin):
    user = admin.create_user()
    token = server.api().login_ok(user["username"], user["password"])["access_token"]
    assert_accepted(server, token, "before delete")
    r = admin.delete_user(user["id"])
    assert r.status_code == 204, r.text
    assert_rejected(server, token, "token of a deleted user")


def test_revoked_jti(server, admin, cli_factory):
    """`gatehouse token revoke` denylists one token (its jti): the running server refuses it
    within a second (change feed), while a second token of the same session keeps working."""
    user = admin.create_user()
    body = server.api().login_ok(user["username"], user["password"])
    doomed = body["access_token"]
    r = server.api().refresh(body["refresh_token"])
    assert r.status_code == 200, r.text
    sibling = r.json()["access_token"]
    assert jwt_claims(doomed)["sid"] == jwt_claims(sibling)["sid"]
    assert jwt_claims(doomed)["jti"] != jwt_claims(sibling)["jti"]
    assert_accepted(server, doomed, "before revoke")

    cli = cli_factory(server.data_dir)
    p = cli.run("token", "revoke", "-", "--issuer", jwt_claims(doomed)["iss"], stdin=doomed + "\n")
    assert p.returncode == 0, p.stdout_text + p.stderr_text
    assert f"jti={jwt_claims(doomed)['jti']}" in p.stdout_text, p.stdout_text
    assert doomed not in p.stdout_text + p.stderr_text

    deadline = time.monotonic() + 1.5
    while me(server, doomed).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_rejected(server, doomed, "a token whose jti was revoked")
    assert_accepted(server, sibling, "another token of the same session")

    again = cli.run("token", "revoke", "-", "--issuer", jwt_claims(doomed)["iss"], stdin=doomed)
    assert again.returncode == 1 and "revoked" in again.stdout_text, again.stdout_text
    events = admin.audit(type="token.revoked")
    assert any(e.get("user_id") == user["id"] for e in events), events


# ========================================================================================
# HS256 server: tokens with a valid signature and one defect each
# ========================================================================================

HS_ISSUER = "http://gatehouse-hs256.test"
HS_SECRET = "e2e-hs256-" + secrets.token_hex(24)
register_secret(HS_SECRET)


@pytest.fixture(scope="module")
def hs_server(workroot):
    yield from serve_module(
        Server(workroot / f"test_jwt_attacks-hs256-{secrets.token_hex(3)}", name="hs256",
               env={"GATEHOUSE_TOKENS_SIGNING_ALG": "HS256", "GATEHOUSE_TOKENS_HS256_SECRET": HS_SECRET,
                    "GATEHOUSE_SERVER_ISSUER": HS_ISSUER}))


@pytest.fixture(scope="module")
def hs_user(hs_server):
    admin = hs_server.admin()
    user = admin.create_user()
    body = hs_server.api().login_ok(user["username"], user["password"])
    user["access"] = body["access_token"]
    user["admin"] = admin
    return user


def good_claims(user, **changes) -> dict:
    now = int(time.time())
    claims = {"iss": HS_ISSUER, "sub": user["id"], "aud": HS_ISSUER, "exp": now + 600, "iat": now, "nbf": now,
              "jti": secrets.token_urlsafe(16), "scope": "profile:read profile:write", "client_id": "gatehouse",
              "username": user["username"], "roles": ["user"]}
    for k, v in changes.items():
        if v is _DROP:
            claims.pop(k, None)
        else:
            claims[k] = v
    return claims


_DROP = object()
HS_HEADER = {"alg": "HS256", "typ": "at+jwt"}


def mint(header, payload, secret=HS_SECRET, pad: bool = False) -> str:
    """HS256 over exactly the given header/payload JSON (dict or raw text)."""
    def text(part):
        return json.dumps(part, separators=(",", ":")) if isinstance(part, dict) else part
    head, body = b64url(text(header)), b64url(text(payload))
    if pad:
        head += "=" * (-len(head) % 4)
        body += "=" * (-len(body) % 4)
    return f"{head}.{body}.{b64url(hs256_sign(secret, f'{head}.{body}'))}"


def test_hs256_genuine_and_minted_tokens_accepted(hs_server, hs_user):
    header = jwt_header(hs_user["access"])
    assert header["alg"] == "HS256" and header["typ"] == "at+jwt", header
    assert_accepted(hs_server, hs_user["access"], "server-issued HS256 token")
    for h in (HS_HEADER, {**HS_HEADER, "kid": header["kid"]}, {**HS_HEADER, "typ": "application/at+jwt"}):
        body = assert_accepted(hs_server, mint(h, good_claims(hs_user)), f"minted with header {h}")
        assert body["id"] == hs_user["id"]
    # PyJWT as the minter too
    token = jwt.encode(good_claims(hs_user), HS_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    assert_accepted(hs_server, token, "minted by PyJWT")


def test_hs256_wrong_secret(hs_server, hs_user):
    for secret in (HS_SECRET[:-1] + ("0" if HS_SECRET[-1] != "0" else "1"), "", HS_SECRET + "x", HS_SECRET[:32]):
        assert_rejected(hs_server, mint(HS_HEADER, good_claims(hs_user), secret=secret), "wrong HS256 secret")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "hs256", "HS384", "HS512", "ES256", "RS256", "EdDSA"])
def test_hs256_mode_other_algs(hs_server, hs_user, alg):
    """Valid HMAC with the real secret under another alg name, and unsigned variants."""
    header = {"alg": alg, "typ": "at+jwt"}
    assert_rejected(hs_server, mint(header, good_claims(hs_user)), f"alg={alg} with the real HS256 MAC")
    unsigned = compact_jws(header, good_claims(hs_user))
    assert_rejected(hs_server, unsigned, f"alg={alg} unsigned")


LEEWAY = 30  # the default tokens.leeway


@pytest.mark.parametrize("name,changes,accepted", [
    ("exp-past-beyond-leeway", {"exp": -LEEWAY - 90, "iat": -3600, "nbf": -3600}, False),
    ("exp-past-within-leeway", {"exp": -LEEWAY + 20, "iat": -3600, "nbf": -3600}, True),
    ("nbf-future-beyond-leeway", {"nbf": LEEWAY + 90}, False),
    ("nbf-future-within-leeway", {"nbf": LEEWAY - 20}, True),
    ("iat-future-beyond-leeway", {"iat": LEEWAY + 90, "nbf": _DROP}, False),
    ("iat-future-within-leeway", {"iat": LEEWAY - 20, "nbf": _DROP}, True),
    ("no-exp", {"exp": _DROP}, False),
    ("exp-string", {"exp": "far-future"}, False),
    ("exp-numeric-string", {"exp": "9999999999"}, False),
    ("exp-null", {"exp": None}, False),
    ("nbf-string", {"nbf": "0"}, False),
    ("no-nbf", {"nbf": _DROP}, True),
], ids=lambda x: x if isinstance(x, str) else "")
def test_hs256_time_claims(hs_server, hs_user, name, changes, accepted):
    now = int(time.time())
    resolved = {k: (now + v if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in changes.items()}
    token = mint(HS_HEADER, good_claims(hs_user, **resolved))
    if accepted:
        assert_accepted(hs_server, token, name)
    else:
        assert_rejected(hs_server, token, name)


@pytest.mark.parametrize("name,changes,accepted", [
    ("iss-wrong", {"iss": "http://evil.test"}, False),
    ("iss-trailing-slash", {"iss": HS_ISSUER + "/"}, False),
    ("iss-case", {"iss": HS_ISSUER.upper()}, False),
    ("iss-missing", {"iss": _DROP}, False),
    ("iss-array", {"iss": [HS_ISSUER]}, False),
    ("aud-wrong", {"aud": "http://other-api.test"}, False),
    ("aud-missing", {"aud": _DROP}, False),
    ("aud-array-with-ours", {"aud": ["http://other-api.test", HS_ISSUER]}, True),
    ("aud-array-without-ours", {"aud": ["http://other-api.test"]}, False),
    ("aud-empty-array", {"aud": []}, False),
    ("aud-number", {"aud": 1}, False),
    ("sub-missing", {"sub": _DROP}, False),
    ("sub-empty", {"sub": ""}, False),
    ("sub-number", {"sub": 42}, False),
    ("sub-unknown-user", {"sub": "0" * 26}, False),
], ids=lambda x: x if isinstance(x, str) else "")
def test_hs256_identity_claims(hs_server, hs_user, name, changes, accepted):
    token = mint(HS_HEADER, good_claims(hs_user, **changes))
    if accepted:
        assert_accepted(hs_server, token, name)
    else:
        assert_rejected(hs_server, token, name)


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", "application/jwt", "", None, 1, "_missing_"])
def test_hs256_typ_must_be_at_jwt(hs_server, hs_user, typ):
    header = {"alg": "HS256"}
    if typ != "_missing_":
        header["typ"] = typ
    assert_rejected(hs_server, mint(header, good_claims(hs_user)), f"typ={typ!r}")


@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["x-unknown"], [], "exp"])
def test_hs256_crit(hs_server, hs_user, crit):
    header = {**HS_HEADER, "crit": crit}
    if isinstance(crit, list) and crit:
        header[crit[0]] = False if crit[0] == "b64" else 1
    assert_rejected(hs_server, mint(header, good_claims(hs_user)), f"crit={crit!r}")


def _claims_json(user, first: str = "", last: str = "") -> str:
    body = json.dumps(good_claims(user), separators=(",", ":"))
    return "{" + first + body[1:-1] + last + "}"


@pytest.mark.parametrize("where", ["sub-before", "sub-after", "exp", "iss", "aud", "nested", "header-alg",
                                   "header-typ", "header-kid"])
def test_hs256_duplicate_keys(hs_server, hs_user, where):
    header = '{"alg":"HS256","typ":"at+jwt"}'
    if where == "sub-before":
        payload = _claims_json(hs_user, first='"sub":"x",')
    elif where == "sub-after":
        payload = _claims_json(hs_user, last=',"sub":"x"')
    elif where == "exp":
        payload = _claims_json(hs_user, last=f',"exp":{int(time.time()) + 99999}')
    elif where == "iss":
        payload = _claims_json(hs_user, first='"iss":"http://evil.test",')
    elif where == "aud":
        payload = _claims_json(hs_user, last=',"aud":"http://evil.test"')
    elif where == "nested":
        payload = _claims_json(hs_user, last=',"ext":{"a":1,"a":2}')
    else:
        payload = _claims_json(hs_user)
        header = {"header-alg": '{"alg":"none","alg":"HS256","typ":"at+jwt"}',
                  "header-typ": '{"alg":"HS256","typ":"JWT","typ":"at+jwt"}',
                  "header-kid": '{"alg":"HS256","typ":"at+jwt","kid":"x","kid":"y"}'}[where]
    assert json.loads(payload)  # Python's json takes the last duplicate: lenient parsers would accept
    assert_rejected(hs_server, mint(header, payload), f"duplicate keys ({where})")


def _with_length_mod4(user, rem: int) -> dict:
    """Claims whose base64url form has length % 4 == rem (so trailing bits are unused)."""
    for n in range(12):
        claims = good_claims(user, pad="p" * n)
        if len(b64url(json.dumps(claims, separators=(",", ":")))) % 4 == rem:
            return claims
    raise AssertionError("no padding length found")


@pytest.mark.parametrize("segment", ["header", "payload", "signature"])
def test_hs256_non_canonical_base64url(hs_server, hs_user, segment):
    claims = _with_length_mod4(hs_user, 2)
    # a header whose base64url length leaves unused bits too (unknown members are ignored)
    header = next(h for h in ({**HS_HEADER, "x": "h" * n} for n in range(12))
                  if len(b64url(json.dumps(h, separators=(",", ":")))) % 4 == 2)
    good = mint(header, claims)
    assert_accepted(hs_server, good, "the canonical form")
    h, p, s = good.split(".")
    if segment == "signature":
        token = f"{h}.{p}.{_noncanonical_last_char(s)}"
    else:
        if segment == "header":
            h = _noncanonical_last_char(h)
        else:
            p = _noncanonical_last_char(p)
        token = f"{h}.{p}.{b64url(hs256_sign(HS_SECRET, f'{h}.{p}'))}"  # re-signed: the MAC is valid
    assert_rejected(hs_server, token, f"non-canonical base64url in the {segment}")


def test_hs256_padding(hs_server, hs_user):
    claims = _with_length_mod4(hs_user, 2)
    good = mint(HS_HEADER, claims)
    assert_accepted(hs_server, good, "unpadded")
    padded = mint(HS_HEADER, claims, pad=True)
    assert padded.split(".")[1].endswith("=")
    assert_rejected(hs_server, padded, "'=' padded header/payload with a valid MAC over the padded input")
    h, p, s = good.split(".")
    assert_rejected(hs_server, f"{h}.{p}.{s}=", "'=' padded signature")


def test_hs256_standard_alphabet(hs_server, hs_user):
    # ASCII only yields base64url '-'/'_' from bytes like '~' or '?' in the third position
    claims = good_claims(hs_user, note="~~~???")
    body = b64url(json.dumps(claims, separators=(",", ":")))
    assert "-" in body or "_" in body, body
    h0 = b64url(json.dumps(HS_HEADER, separators=(",", ":")))
    assert_accepted(hs_server, f"{h0}.{body}.{b64url(hs256_sign(HS_SECRET, f'{h0}.{body}'))}", "url alphabet")
    h = b64url(json.dumps(HS_HEADER, separators=(",", ":")))
    std = body.replace("-", "+").replace("_", "/")
    token = f"{h}.{std}.{b64url(hs256_sign(HS_SECRET, f'{h}.{std}'))}"
    assert_rejected(hs_server, token, "payload in the standard base64 alphabet (valid MAC)")


def test_hs256_size_limit(hs_server, hs_user):
    small = mint(HS_HEADER, good_claims(hs_user, filler="x" * 5000))
    assert 6000 < len(small) < 8000
    assert_accepted(hs_server, small, f"a validly signed {len(small)}-byte token")
    big = mint(HS_HEADER, good_claims(hs_user, filler="x" * 7000))
    assert 9 * 1024 <= len(big) < 10 * 1024, len(big)
    assert_rejected(hs_server, big, f"a validly signed {len(big)}-byte token (> 8 KiB)")


def _token_of_length(user, total: int) -> str:
    claims = good_claims(user, filler="")
    for hpad in range(8):
        header = {**HS_HEADER, "x": "h" * hpad}
        fixed = len(b64url(json.dumps(header, separators=(",", ":")))) + 2 + 43
        base = len(json.dumps(claims, separators=(",", ":")))
        for n in range(max(0, (total - fixed) * 3 // 4 - base - 4), (total - fixed) * 3 // 4 - base + 4):
            token = mint(header, good_claims(user, filler="x" * n))
            if len(token) == total:
                return token
    raise AssertionError(f"no token of exactly {total} bytes")


def test_hs256_size_limit_boundary(hs_server, hs_user):
    """At most 8 KiB = 8192 bytes of token."""
    exact = _token_of_length(hs_user, 8192)
    assert_accepted(hs_server, exact, "a validly signed token of exactly 8192 bytes")
    over = _token_of_length(hs_user, 8193)
    assert_rejected(hs_server, over, "a validly signed token of 8193 bytes")


def test_hs256_revoked_sid_in_a_minted_token(hs_server, hs_user):
    """The denylist works on the sid claim, not on the token string: a fresh token (new jti,
    valid MAC) carrying a logged-out session's sid is refused."""
    body = hs_server.api().login_ok(hs_user["username"], hs_user["password"])
    sid = jwt_claims(body["access_token"])["sid"]
    assert_accepted(hs_server, mint(HS_HEADER, good_claims(hs_user, sid=sid)), "minted with a live sid")
    r = requests.post(hs_server.url + "/auth/logout", headers=bearer(body["access_token"]), timeout=10)
    assert r.status_code == 204, r.text
    assert_rejected(hs_server, body["access_token"], "logged-out token")
    assert_rejected(hs_server, mint(HS_HEADER, good_claims(hs_user, sid=sid)), "minted with a revoked sid")
    assert_accepted(hs_server, mint(HS_HEADER, good_claims(hs_user)), "minted without sid")


def test_hs256_disabled_and_deleted_users(hs_server, hs_user):
    admin = hs_user["admin"]
    u = admin.create_user()
    assert_accepted(hs_server, mint(HS_HEADER, good_claims(u)), "minted for a live user")
    assert admin.patch_user(u["id"], {"disabled": True}).status_code == 200
    assert_rejected(hs_server, mint(HS_HEADER, good_claims(u)), "minted for a disabled user")
    assert admin.delete_user(u["id"]).status_code == 204
    assert_rejected(hs_server, mint(HS_HEADER, good_claims(u)), "minted for a deleted user")


def test_hs256_scope_narrows(hs_server, hs_user):
    """A minted token's scope narrows; it never widens past the user's roles."""
    wide = mint(HS_HEADER, good_claims(hs_user, scope="users:read users:write audit:read profile:read"))
    r = requests.get(hs_server.url + "/api/users", headers=bearer(wide), timeout=10)
    assert_error(r, 403, "forbidden")
    body = assert_accepted(hs_server, wide, "scope wider than the roles")
    assert sorted(body["auth"]["scopes"]) == ["profile:read"], body


def test_servers_still_healthy(server, hs_server, victim, hs_user):
    for srv in (server, hs_server):
        assert requests.get(srv.url + "/healthz", timeout=10).status_code == 200
        assert not srv.exited_unexpectedly()
    assert_accepted(server, victim["access"], "genuine ES256 token at the end")
    assert_accepted(hs_server, hs_user["access"], "genuine HS256 token at the end")
