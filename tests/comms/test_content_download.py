"""Downloader against the real bundle server on loopback: resume, truncation, rate cap."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from nic_edge.comms.download import Downloader, DownloadError
from nic_edge.fleet.content_server import BundleServer

BODY = bytes(range(256)) * 800  # 200 KiB


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BundleServer]:
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "b").write_bytes(BODY)
    (tmp_path / "srv" / "short").write_bytes(BODY[:1000])
    s = BundleServer(tmp_path / "srv")
    s.start()
    yield s
    s.stop()


def test_resume_fetches_only_the_rest(server: BundleServer, tmp_path: Path) -> None:
    part = tmp_path / "x.part"
    part.write_bytes(BODY[:150_000])
    dl = Downloader(threading.Event())
    dl.fetch(server.url + "/b", part, len(BODY))
    assert part.read_bytes() == BODY
    assert dl.bytes_received == len(BODY) - 150_000 == server.bytes_served
    dl.fetch(server.url + "/b", part, len(BODY))  # complete already: no request
    assert server.bytes_served == len(BODY) - 150_000


def test_truncated_on_the_server_is_permanent(server: BundleServer, tmp_path: Path) -> None:
    part = tmp_path / "x.part"
    dl = Downloader(threading.Event())
    with pytest.raises(DownloadError) as e:
        dl.fetch(server.url + "/short", part, len(BODY))
    assert not e.value.permanent and "closed after 1000" in e.value.message  # first try: looks like a cut link
    with pytest.raises(DownloadError) as e:
        dl.fetch(server.url + "/short", part, len(BODY))
    assert e.value.permanent and "truncated download" in e.value.message
    with pytest.raises(DownloadError) as e:
        dl.fetch(server.url + "/b", tmp_path / "y.part", 1000)  # larger than announced
    assert e.value.permanent
    with pytest.raises(DownloadError) as e:
        dl.fetch(server.url + "/missing", tmp_path / "z.part", 10)
    assert e.value.permanent and "404" in e.value.message


def test_rate_cap(server: BundleServer, tmp_path: Path) -> None:
    dl = Downloader(threading.Event(), rate_bytes_per_s=400_000)
    t0 = time.monotonic()
    dl.fetch(server.url + "/b", tmp_path / "x.part", len(BODY))
    assert time.monotonic() - t0 >= 0.4  # 204,800 bytes at 400 kB/s, minus the first block's head start


def test_stop_interrupts(server: BundleServer, tmp_path: Path) -> None:
    stop = threading.Event()
    dl = Downloader(stop, rate_bytes_per_s=10_000)
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="stopped"):
        dl.fetch(server.url + "/b", tmp_path / "x.part", len(BODY))
    assert time.monotonic() - t0 < 5
    assert 0 < (tmp_path / "x.part").stat().st_size < len(BODY)  # kept for the resume
