"""Admin routes with a token that is not plain ASCII (check-config accepts any UTF-8 text of
16+ characters): the token must work from curl, which sends the header's UTF-8 bytes as typed,
and from Python's http.client, which sends it Latin-1 encoded."""

from __future__ import annotations

import pytest

from tests.http.client import raw, request, statuses
from tests.http.fakes import FakeApp

TOKEN = "schlüssel-0123456789abcdef"


def _clear(token: bytes) -> bytes:
    return (b"POST /api/cache/clear HTTP/1.1\r\nHost: box\r\nContent-Length: 0\r\n"
            b"Authorization: Bearer " + token + b"\r\n\r\n")


@pytest.fixture
def token_port(make_server) -> int:
    return make_server(FakeApp(token=TOKEN)).port


def test_a_utf8_token_as_curl_sends_it(token_port: int) -> None:
    assert statuses(raw(token_port, _clear(TOKEN.encode("utf-8")))) == [200]  # was 401


def test_a_utf8_token_as_http_client_sends_it(token_port: int) -> None:
    got = request(token_port, "POST", "/api/cache/clear", b"", {"Authorization": f"Bearer {TOKEN}"})
    assert got.status == 200


@pytest.mark.parametrize("wrong", ["schlussel-0123456789abcdef", "schlüssel-0123456789abcde", "schlüssel-0123456789abcdeF"])
def test_near_misses_still_401(token_port: int, wrong: str) -> None:
    for data in (wrong.encode("utf-8"), wrong.encode("latin-1")):
        assert statuses(raw(token_port, _clear(data))) == [401]
