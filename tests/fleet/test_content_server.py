"""The bundle server on loopback: Range, HEAD, 416, no way out of its folder."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from nic_edge.fleet.content_server import BundleServer, parse_range


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BundleServer]:
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "b.nicb").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "secret").write_text("no")
    s = BundleServer(tmp_path / "pub")
    s.start()
    yield s
    s.stop()
    s.stop()  # twice is harmless


def get(url: str, rng: str | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, method=method, headers={"Range": rng} if rng else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""


def test_ranges(server: BundleServer) -> None:
    body = bytes(range(256)) * 40
    url = server.url + "/b.nicb"
    st, h, data = get(url)
    assert st == 200 and data == body and h["Accept-Ranges"] == "bytes"
    st, h, data = get(url, "bytes=100-")
    assert st == 206 and data == body[100:] and h["Content-Range"] == f"bytes 100-{len(body) - 1}/{len(body)}"
    st, _, data = get(url, "bytes=10-19")
    assert st == 206 and data == body[10:20]
    st, _, data = get(url, "bytes=-5")
    assert st == 206 and data == body[-5:]
    st, h, _ = get(url, f"bytes={len(body)}-")
    assert st == 416 and h["Content-Range"] == f"bytes */{len(body)}"
    st, h, data = get(url, method="HEAD")
    assert st == 200 and data == b"" and int(h["Content-Length"]) == len(body)
    assert server.bytes_served == len(body) + (len(body) - 100) + 10 + 5


def test_only_files_of_the_folder(server: BundleServer) -> None:
    for path in ("/../secret", "/%2e%2e/secret", "/", "/missing", "/.hidden"):
        assert get(server.url + path)[0] == 404


def test_parse_range() -> None:
    assert parse_range("bytes=0-", 10) == (0, 9)
    assert parse_range("bytes=5-100", 10) == (5, 9)
    assert parse_range("bytes=10-", 10) == "unsatisfiable"
    assert parse_range("bytes=0-1,3-4", 10) is None
    assert parse_range("items=0-1", 10) is None
