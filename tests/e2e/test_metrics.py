"""GET /metrics (SPEC §11): the Prometheus text exposition parses (a strict parser here, as
promtool is not available), uses route templates rather than raw paths, and its counters move
as requests are made."""
from __future__ import annotations

import re

import requests

from support import bearer

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|\+Inf|NaN)$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse(text: str) -> dict:
    """{(name, frozenset(labels.items())): value}; asserts the format line by line."""
    assert text.endswith("\n")
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "histogram", "gauge"), line
            assert name not in types, f"TYPE twice: {line}"
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, _, label_text, value = m.groups()
        labels = {}
        pos = 0
        while label_text and pos < len(label_text):
            lm = LABEL.match(label_text, pos)
            assert lm, f"bad labels in {line!r}"
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert base in types, f"sample {name} without a TYPE"
        key = (name, frozenset(labels.items()))
        assert key not in samples, f"duplicate series {line}"
        samples[key] = float(value)
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(srv):
    r = requests.get(srv.url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def test_counters_move(start_server):
    srv = start_server(env={"GATEHOUSE_LOCKOUT_MAX_FAILURES": "2"})
    admin = srv.admin()
    before = scrape(srv)
    user = admin.create_user()
    token = srv.api().login_ok(user["username"], user["password"])["access_token"]
    for _ in range(3):
        assert requests.get(srv.url + "/users/me", headers=bearer(token), timeout=10).status_code == 200
    assert requests.get(srv.url + f"/api/users/{user['id']}", headers=bearer(token), timeout=10).status_code == 403
    assert requests.get(srv.url + "/users/me", headers=bearer("gat_" + "x" * 43), timeout=10).status_code == 401
    assert requests.get(srv.url + "/no/such/place/123", timeout=10).status_code == 404
    for _ in range(2):
        srv.api().login(user["username"], "wrong-password")
    assert srv.api().login(user["username"], user["password"]).status_code == 429
    after = scrape(srv)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("gatehouse_http_requests_total", route="/users/me", method="GET", status="200") == 3
    assert moved("gatehouse_http_requests_total", route="/api/users/{id}", method="GET", status="403") == 1
    assert moved("gatehouse_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert moved("gatehouse_http_request_duration_seconds_count", route="/users/me") == 4  # the 401 too
    assert moved("gatehouse_http_request_duration_seconds_bucket", route="/users/me", le="+Inf") == 4
    assert moved("gatehouse_authentications_total", method="jwt", outcome="success") >= 4
    assert moved("gatehouse_authentications_total", method="bearer", outcome="failure") == 1
    assert moved("gatehouse_tokens_issued_total", kind="access") == 1
    assert moved("gatehouse_tokens_issued_total", kind="refresh") == 1
    assert moved("gatehouse_lockouts_total", scope="username") == 1
    # raw paths never become labels
    assert not any("123" in dict(labels).get("route", "") for _, labels in after)


def test_histogram_buckets_are_cumulative(server):
    for _ in range(5):
        requests.get(server.url + "/healthz", timeout=10)
    s = scrape(server)
    buckets = sorted(((float("inf") if dict(l)["le"] == "+Inf" else float(dict(l)["le"])), v)
                     for (n, l), v in s.items()
                     if n == "gatehouse_http_request_duration_seconds_bucket" and dict(l)["route"] == "/healthz")
    assert buckets, "no /healthz histogram"
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets must be cumulative"
    assert counts[-1] == value(s, "gatehouse_http_request_duration_seconds_count", route="/healthz")
