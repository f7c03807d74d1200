"""Every route and status code of the local HTTP API, against a real server and a FakeApp."""

from __future__ import annotations

import json
import logging

import pytest

from nic_edge.errors import ModelError
from nic_edge.http.handler import normalise_path
from tests.http.client import raw, request, statuses
from tests.http.fakes import FakeApp

GET_ROUTES = ["/", "/healthz", "/api/status", "/metrics", "/api/alerts"]
JSON_ERROR_KEYS = {"error", "reason", "hint"}


@pytest.mark.parametrize("path", GET_ROUTES)
def test_get_and_head(port: int, path: str) -> None:
    got = request(port, "GET", path)
    assert got.status == 200
    assert got.body
    head = request(port, "HEAD", path)
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]


def test_content_types(port: int) -> None:
    assert request(port, "GET", "/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")
    assert request(port, "GET", "/").headers["content-type"].startswith("text/html")
    status = request(port, "GET", "/api/status")
    assert status.headers["content-type"] == "application/json"
    assert status.json()["device_id"] == "fake-01"
    assert request(port, "GET", "/api/alerts").json()["active"][0]["rule"] == "cpu_temp_high"


@pytest.mark.parametrize("state,code", [("ok", 200), ("degraded", 200), ("starting", 503)])
def test_healthz_states(make_server, state: str, code: int) -> None:
    svc = make_server(FakeApp(health=state))
    got = request(svc.port, "GET", "/healthz")
    assert got.status == code
    assert got.json()["status"] == state
    if state == "starting":
        assert got.headers["retry-after"] == "1"


@pytest.mark.parametrize("path", ["/api/status/", "/api/status?x=1", "/api/status/?a=b#f", "//api//status"])
def test_path_normalisation_and_query_ignored(port: int, path: str) -> None:
    assert request(port, "GET", path).status == 200


def test_normalise_path() -> None:
    assert normalise_path("http://host:1/api/ask/?q") == "/api/ask"
    assert normalise_path("/") == "/"
    assert normalise_path("http://[::1") is None


@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/api"), ("BREW", "/x"), ("GET", "/api/ask/x")])
def test_unknown_paths_404(port: int, method: str, path: str) -> None:
    got = request(port, method, path, body=b"" if method != "GET" else None)
    assert got.status == 404
    assert got.json()["reason"] == "not_found"


@pytest.mark.parametrize("method,path,allow", [
    ("POST", "/healthz", "GET, HEAD, OPTIONS"),
    ("DELETE", "/", "GET, HEAD, OPTIONS"),
    ("GET", "/api/ask", "OPTIONS, POST"),
    ("PUT", "/api/tier", "OPTIONS, POST"),
    ("BREW", "/metrics", "GET, HEAD, OPTIONS"),
])
def test_405_with_allow(port: int, method: str, path: str, allow: str) -> None:
    got = request(port, method, path, body=b"{}" if method in ("POST", "PUT") else None)
    assert got.status == 405
    assert got.headers["allow"] == allow
    assert set(got.json()) <= JSON_ERROR_KEYS


def test_options(port: int) -> None:
    got = request(port, "OPTIONS", "/api/ask")
    assert got.status == 204 and got.body == b""
    assert got.headers["allow"] == "OPTIONS, POST"


def test_ask_ok(port: int, app: FakeApp) -> None:
    got = request(port, "POST", "/api/ask", {"question": "How do I start it?", "top_k": 3},
                  {"Content-Type": "text/plain"})  # Content-Type is not held against the client
    assert got.status == 200
    answer = got.json()
    assert answer["abstained"] is False and answer["citations"]
    assert ("ask", ("How do I start it?", 3)) in app.calls


def test_ask_body_with_a_utf8_bom(port: int, app: FakeApp) -> None:
    got = request(port, "POST", "/api/ask", b"\xef\xbb\xbf" + json.dumps({"question": "How do I start it?"}).encode())
    assert got.status == 200 and got.json()["abstained"] is False


def test_ask_abstained_is_200(port: int) -> None:
    got = request(port, "POST", "/api/ask", {"question": "something unknown"})
    assert got.status == 200 and got.json()["reason"] == "no_match"


@pytest.mark.parametrize("body", [
    b"{not json", b"[1, 2]", b'"q"', b"null", b"\xff\xfe{}", b'{"question": 5}', b'{"question": null}',
    b"{}", b'{"question": ""}', b'{"question": "   "}', b'{"question": "a\\u0000b"}',
    b'{"question": "bell\\u0007"}', json.dumps({"question": "x" * 2001}).encode(),
    b'{"question": "ok", "top_k": true}', b'{"question": "ok", "top_k": "3"}',
    b'{"question": "ok", "top_k": 0}', b'{"question": "ok", "top_k": 51}', b'{"question": "ok", "top_k": 101}', b'{"question": "ok", "top_k": 2.5}',
    b"[" * 5000 + b"]" * 5000, b'{"question": 1' + b"0" * 5000 + b"}",
], ids=lambda b: repr(b[:30]))
def test_ask_400(port: int, body: bytes) -> None:
    got = request(port, "POST", "/api/ask", body, {"Content-Type": "application/json"})
    assert got.status == 400, got.body
    assert got.json()["reason"] == "invalid_input"
    assert isinstance(got.json()["error"], str)


def test_lone_surrogate_never_500(port: int) -> None:
    got = request(port, "POST", "/api/ask", b'{"question": "x \\ud800 y"}')
    assert got.status in (200, 400)
    json.loads(got.body)


def test_411_without_content_length(port: int) -> None:
    reply = raw(port, b"POST /api/ask HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(reply) == [411]
    chunked = raw(port, b"POST /api/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert statuses(chunked) == [411]


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1e3", b"5, 6"])
def test_bad_content_length(port: int, value: bytes) -> None:
    reply = raw(port, b"POST /api/ask HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n{}")
    assert statuses(reply) == [400]


def test_413_from_header_without_reading_body(port: int, server) -> None:
    # no body is ever sent and the socket is not half-closed: the answer must come from the header
    reply = raw(port, b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
                half_close=False, timeout=5)
    assert statuses(reply) == [413]
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["reason"] == "too_large"


def test_413_over_limit_with_body_sent(port: int, server) -> None:
    big = json.dumps({"question": "x" * (server.cfg.max_body_bytes + 10)}).encode()
    got = request(port, "POST", "/api/ask", big)
    assert got.status == 413


def test_expect_100_continue(port: int) -> None:
    body = b'{"question": "How do I start it?"}'
    head = b"POST /api/ask HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert statuses(raw(port, head + body)) == [100, 200]
    too_big = b"POST /api/ask HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 999999999\r\n\r\n"
    assert statuses(raw(port, too_big, half_close=False, timeout=5)) == [413]


def test_short_body_is_400(port: int) -> None:
    assert statuses(raw(port, b"POST /api/ask HTTP/1.1\r\nContent-Length: 50\r\n\r\n{}")) == [400]


def test_retrieve(port: int, app: FakeApp) -> None:
    got = request(port, "POST", "/api/retrieve", {"query": "spark lever", "k": 2})
    assert got.status == 200
    assert got.json()["id"] is None and len(got.json()["hits"]) == 2
    got = request(port, "POST", "/api/retrieve", {"id": "q-7", "query": "spark lever", "k": 2})
    assert got.json()["id"] == "q-7"  # echoed, as `retrieve --jsonl` does
    for bad in ({"query": ""}, {"query": 3}, {}, {"query": "ok", "k": "2"}, {"query": "a\x01"}):
        got = request(port, "POST", "/api/retrieve", bad)
        assert got.status == 400 and got.json()["reason"] == "invalid_input", bad


# ---- admin ------------------------------------------------------------------------------------
AUTH = {"Authorization": "Bearer s3cret"}


def test_admin_disabled_403(make_server) -> None:
    svc = make_server(FakeApp(token=None))
    got = request(svc.port, "POST", "/api/cache/clear", b"", AUTH)
    assert got.status == 403
    assert got.json()["reason"] == "admin_disabled" and "http.token_file" in got.json()["hint"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                                     {"Authorization": "Basic czNjcmV0"}, {"Authorization": "Bearer "},
                                     {"Authorization": "Bearer s3cret\u00e9"}])
@pytest.mark.parametrize("path", ["/api/cache/clear", "/api/tier"])
def test_admin_401(port: int, app: FakeApp, headers: dict, path: str) -> None:
    got = request(port, "POST", path, {"tier": "lite"}, headers)
    assert got.status == 401
    assert got.headers["www-authenticate"].startswith("Bearer")
    assert not [c for c in app.calls if c[0] in ("clear_cache", "set_local_tier")]


def test_cache_clear(port: int, app: FakeApp) -> None:
    got = request(port, "POST", "/api/cache/clear", b"", AUTH)
    assert got.status == 200 and got.json()["cleared"]["l1"] == 3
    assert app.calls[-1] == ("clear_cache", "http:127.0.0.1")
    # no body and no Content-Length: accepted, nothing is needed
    reply = raw(port, b"POST /api/cache/clear HTTP/1.1\r\nAuthorization: bearer s3cret\r\n\r\n")
    assert statuses(reply) == [200]


def test_tier(port: int, app: FakeApp) -> None:
    assert request(port, "POST", "/api/tier", {"tier": "lite"}, AUTH).json()["source"] == "local"
    assert app.tier == "lite"
    assert request(port, "POST", "/api/tier", {"tier": None}, AUTH).status == 200
    assert app.tier is None
    for bad in ({"tier": "huge"}, {"tier": 3}, {}, b"[]"):
        got = request(port, "POST", "/api/tier", bad, AUTH)
        assert got.status == 400 and got.json()["reason"] == "invalid_input", bad


# ---- the box failing -------------------------------------------------------------------------
def test_app_nic_error_is_503(port: int, app: FakeApp) -> None:
    app.fail_with = ModelError("model file is corrupt", hint="reinstall nic-edge")
    got = request(port, "POST", "/api/ask", {"question": "q"})
    assert got.status == 503
    assert got.json() == {"error": "model file is corrupt", "reason": "unavailable", "hint": "reinstall nic-edge"}


def test_bug_is_500_generic_and_logged_once(port: int, app: FakeApp, caplog) -> None:
    app.fail_with = RuntimeError("secret internals")
    with caplog.at_level(logging.ERROR, logger="nic_edge"):
        got = request(port, "POST", "/api/ask", {"question": "q"})
    assert got.status == 500
    assert got.json() == {"error": "internal error", "reason": "internal"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info
    assert request(port, "GET", "/healthz").status == 200


# ---- malformed requests ----------------------------------------------------------------------
@pytest.mark.parametrize("data,code", [
    (b"GARBAGE\r\n\r\n", 400),            # one word: not even HTTP/0.9
    (b"GET / HTTP/2.0\r\n\r\n", 400),     # the stdlib would say 505; it is the client's mistake
    (b"GET / FOO/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nX: " + b"y" * 70000 + b"\r\n\r\n", 431),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n", 400),  # TLS hello
], ids=lambda v: repr(v[:24]) if isinstance(v, bytes) else str(v))
def test_bad_request_lines(port: int, data: bytes, code: int) -> None:
    got = statuses(raw(port, data))
    assert got and got[0] == code, got
