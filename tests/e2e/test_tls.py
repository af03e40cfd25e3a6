"""HTTPS (SPEC §9): a certificate made with `openssl req`, and `serve --tls-self-signed`;
TLS 1.2 and 1.3 only; HSTS on every response; issuer and JWKS over https; clear errors for a
missing or mismatched key; plain HTTP refused off loopback."""
from __future__ import annotations

import socket
import ssl
import subprocess

import jwt as pyjwt
import pytest
import requests

from support import Cli


def make_cert(workdir, cn="127.0.0.1"):
    key, crt = workdir / "server.key", workdir / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return crt, key


def handshake(port, ca, version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca))
    ctx.minimum_version = ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it; the server must refuse
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version()


def test_certificate_from_openssl_req(start_server, tmp_path):
    crt, key = make_cert(tmp_path)
    srv = start_server(env={"GATEHOUSE_TLS_CERT_FILE": str(crt), "GATEHOUSE_TLS_KEY_FILE": str(key)}, ca_file=crt)
    assert srv.url.startswith("https://")
    r = requests.get(srv.url + "/healthz", verify=str(crt), timeout=10)
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    admin = srv.admin()
    me = admin.get("/users/me", headers=admin.auth_headers())
    assert me.status_code == 200 and "Strict-Transport-Security" in me.headers
    # tokens name the https issuer and verify against the JWKS fetched over TLS
    claims = pyjwt.decode(admin.token, options={"verify_signature": False})
    assert claims["iss"] == srv.url
    assert handshake(srv.port, crt, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert handshake(srv.port, crt, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            handshake(srv.port, crt, old)
    # plain HTTP to the TLS port gets no answer a client could mistake for success
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{srv.port}/healthz", timeout=5)
    assert requests.get(srv.url + "/healthz", verify=str(crt), timeout=10).status_code == 200


def test_self_signed_development_certificate(start_server):
    srv = start_server(args=["--tls-self-signed"])
    assert srv.url.startswith("https://")
    assert srv.ca_file.exists() and (srv.ca_file.parent / "self-signed.key").stat().st_mode & 0o077 == 0
    r = requests.get(srv.url + "/.well-known/jwks.json", verify=srv.verify, timeout=10)
    assert r.status_code == 200 and r.headers["Strict-Transport-Security"]
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(srv.url + "/healthz", timeout=10)  # not trusted by default
    before = srv.ca_file.read_bytes()
    srv.restart()
    assert srv.ca_file.read_bytes() == before, "the certificate is kept across restarts"
    assert requests.get(srv.url + "/healthz", verify=srv.verify, timeout=10).status_code == 200


def test_plain_http_has_no_hsts(server):
    r = requests.get(server.url + "/healthz", timeout=10)
    assert "Strict-Transport-Security" not in r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("case", ["missing", "mismatch", "only-cert", "non-loopback-plain"])
def test_bad_tls_settings_stop_the_server(tmp_path, case):
    crt, key = make_cert(tmp_path)
    env, args = {}, []
    if case == "missing":
        env = {"GATEHOUSE_TLS_CERT_FILE": str(tmp_path / "nope.crt"), "GATEHOUSE_TLS_KEY_FILE": str(key)}
    elif case == "mismatch":
        d = tmp_path / "other"
        d.mkdir()
        _, wrong_key = make_cert(d)
        env = {"GATEHOUSE_TLS_CERT_FILE": str(crt), "GATEHOUSE_TLS_KEY_FILE": str(wrong_key)}
    elif case == "only-cert":
        env = {"GATEHOUSE_TLS_CERT_FILE": str(crt)}
    else:
        args = ["--listen", "0.0.0.0:0"]
    cli = Cli(tmp_path, tmp_path / "data", env=env)
    p = cli.run("serve", *args, timeout=20)
    assert p.returncode != 0
    expected = {"missing": "tls.cert_file", "mismatch": "not the key of tls.cert_file", "only-cert": "set both",
                "non-loopback-plain": "plain HTTP"}[case]
    assert expected in p.stderr_text, p.stderr_text


def test_html_pages_carry_a_strict_csp(server):
    r = requests.get(server.url + "/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"):
        assert directive in csp, csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in r.text and "http://" not in r.text and "https://" not in r.text
    # JSON responses do not need them
    j = requests.get(server.url + "/healthz", timeout=10)
    assert "Content-Security-Policy" not in j.headers and j.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_behind_a_trusted_tls_proxy_only(start_server, server):
    behind = start_server(env={"GATEHOUSE_SERVER_TRUSTED_PROXIES": "127.0.0.1"})
    r = requests.get(behind.url + "/healthz", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert r.headers.get("Strict-Transport-Security", "").startswith("max-age=")
    assert "Strict-Transport-Security" not in requests.get(behind.url + "/healthz", timeout=10).headers
    # from an untrusted peer the header means nothing
    r = requests.get(server.url + "/healthz", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert "Strict-Transport-Security" not in r.headers
