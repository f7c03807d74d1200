"""The page, /api/status and /healthz of a real DeviceApp behind a real HttpService on 127.0.0.1,
in the states a technician meets: indexing at start, a damaged index (and its repair), a local
tier override."""

from __future__ import annotations

import threading
import urllib.parse
from pathlib import Path
from typing import Callable, Iterator

import pytest

from nic_edge.app.device import DeviceApp
from nic_edge.app.serve import Device
from nic_edge.core.config import HttpConfig, parse_config
from nic_edge.core.tiers import Hardware
from nic_edge.http.server import HttpService
from tests.http.client import request
from tests.support.device import TINY_MANUAL

HW = Hardware(16000, 4, None)


def _cfg(**sections: dict) -> object:
    return parse_config({"device": {"id": "box-1", "tier": "lite"}, "http": {"port": 0},
                         "engine": {"abstain_threshold": 0.0}, **sections})


@pytest.fixture
def manual(tmp_path: Path) -> Path:
    path = tmp_path / "fuel.txt"
    path.write_text(TINY_MANUAL, encoding="utf-8")
    return path


@pytest.fixture
def serve() -> Iterator[Callable[[DeviceApp], int]]:
    started: list[HttpService] = []

    def run(app: DeviceApp) -> int:
        svc = HttpService(app, HttpConfig(bind="127.0.0.1", port=0, request_timeout_s=5.0))  # type: ignore[arg-type]
        svc.start()
        started.append(svc)
        assert svc.port
        return svc.port

    yield run
    for svc in started:
        svc.stop()


def _damage(data: Path) -> None:
    """Cut one file of the live generation short, as a power cut during a copy would."""
    gen = data / "index" / (data / "index" / "CURRENT").read_text().strip()
    victim = sorted(gen.glob("*.npy"))[0]
    victim.write_bytes(victim.read_bytes()[:10])


def _indexed(data: Path, manual: Path) -> None:
    app = DeviceApp(_cfg(), data, hardware=HW, env={}, use_embedder=False)
    try:
        app.engine.index_paths([manual])
    finally:
        app.close()


def _started_app(data: Path, manual: Path) -> DeviceApp:
    """A started box (no model) over ``manual`` indexed into ``data``."""
    _indexed(data, manual)
    app = DeviceApp(_cfg(), data, hardware=HW, env={}, use_embedder=False)
    app.started = True
    return app


def test_a_damaged_index_leaves_the_page_and_status_up_and_says_so(tmp_path: Path, manual: Path, serve) -> None:
    data = tmp_path / "data"
    _indexed(data, manual)
    _damage(data)
    app = DeviceApp(_cfg(), data, hardware=HW, env={}, use_embedder=False)
    app.started = True
    try:
        port = serve(app)
        page = request(port, "GET", "/")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        assert "cannot be read" in page.text and "nic-edge index" in page.text
        assert "No manuals are indexed yet" not in page.text and "working normally" not in page.text
        status = request(port, "GET", "/api/status")
        assert status.status == 200
        assert status.json()["index"]["damaged"] is True and "unreadable" in status.json()["index"]["problem"]
        health = request(port, "GET", "/healthz")
        assert health.status == 200 and health.json()["status"] == "degraded" and "index" in health.json()
        # the form gets a page saying why, not a JSON error meant for programs
        form = request(port, "POST", "/ask", "question=fuel+filter",
                       {"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status == 503 and form.headers["content-type"].startswith("text/html")
        assert "cannot answer right now" in form.text and 'value="fuel filter"' in form.text
        assert request(port, "POST", "/api/ask", {"question": "fuel filter"}).status == 503  # the API: unchanged
        # the resource sampler's callback (every 5 s in serve) went on failing with a traceback
        app.on_resources({"rss_bytes": 50 * 1048576, "disk_free_bytes": 1 << 30})
        assert request(port, "GET", "/api/status").json()["resources"]["rss_mib"] == 50
    finally:
        app.close()


def test_a_damaged_index_at_start_is_degraded_not_starting_and_clears_once_rebuilt(
        tmp_path: Path, manual: Path) -> None:
    data = tmp_path / "data"
    _indexed(data, manual)
    _damage(data)
    device = Device(_cfg(), data, hardware=HW, env={})
    device.start()
    try:
        port = device.http.port
        assert port
        before = request(port, "GET", "/healthz")
        assert before.status == 200, before.body  # was 503 "starting" for good, even after the repair
        assert before.json()["status"] == "degraded" and "unreadable" in before.json()["index"]
        device.app.engine.index_paths([manual])  # what the hint says: `nic-edge index`
        after = request(port, "GET", "/healthz")
        assert after.status == 200 and "index" not in after.json(), after.body
        page = request(port, "GET", "/").text
        assert "fuel.txt" in page and "cannot be read" not in page
    finally:
        device.stop()


def test_while_indexing_at_start_the_page_says_so_not_no_manuals_or_degraded(
        tmp_path: Path, manual: Path, serve) -> None:
    app = DeviceApp(_cfg(), tmp_path / "data", hardware=HW, env={}, use_embedder=False)
    reading, release = threading.Event(), threading.Event()

    def progress(done: int, total: int, what: str) -> None:
        reading.set()
        release.wait(30)

    worker = threading.Thread(target=app.engine.index_paths, args=([manual], progress))
    try:
        port = serve(app)
        worker.start()
        assert reading.wait(30)
        page = request(port, "GET", "/").text
        assert "being indexed" in page and "starting" in page
        assert "No manuals are indexed yet" not in page and 'class="bad"' not in page
        assert request(port, "GET", "/api/status").json()["health"]["status"] == "starting"
    finally:
        release.set()
        worker.join(60)
        app.close()


def test_a_tier_set_on_the_box_is_not_called_set_by_the_fleet(tmp_path: Path, serve) -> None:
    app = DeviceApp(_cfg(), tmp_path / "data", hardware=HW, env={}, use_embedder=False)
    app.started = True
    try:
        port = serve(app)
        app.set_local_tier("ultra_lite", "http:127.0.0.1")  # what POST /api/tier does
        page = request(port, "GET", "/").text
        assert "ultra_lite (set on this box)" in page and "set by the fleet" not in page
        app.apply_tier("standard", "fleet")
        assert "standard (set by the fleet)" in request(port, "GET", "/").text
    finally:
        app.close()


def test_a_full_disk_is_not_working_normally_on_the_page(tmp_path: Path, manual: Path, serve) -> None:
    data = tmp_path / "data"
    _indexed(data, manual)
    (data / "audit.jsonl").symlink_to("/dev/full")  # every audit write: ENOSPC from the kernel
    app = DeviceApp(_cfg(), data, hardware=HW, env={}, use_embedder=False)
    app.started = True
    try:
        port = serve(app)
        assert request(port, "POST", "/api/ask", {"question": "How do I replace the fuel filter?"}).status == 200
        assert request(port, "GET", "/healthz").json()["status"] == "degraded"
        page = request(port, "GET", "/").text
        assert "working normally" not in page
        assert '<span class="bad">degraded</span>: audit log not being saved (' in page and "No space left" in page
    finally:
        app.close()


@pytest.mark.parametrize("question", ["\u200b", "\u200b \ufeff", "\u200e\u200f", " \u2060 "])
def test_an_invisible_only_question_is_empty_as_design_says(tmp_path: Path, manual: Path, serve,
                                                            question: str) -> None:
    app = _started_app(tmp_path / "data", manual)
    try:
        port = serve(app)
        got = request(port, "POST", "/api/ask", {"question": question})
        assert got.status == 400 and got.json()["reason"] == "invalid_input", got.body  # was 200 no_match
        assert "empty" in got.json()["error"]
        assert request(port, "POST", "/api/ask", {"question": "fuel\u200b filter"}).status == 200
    finally:
        app.close()


def test_an_invalid_question_is_400_even_when_its_twin_is_cached(tmp_path: Path, manual: Path, serve) -> None:
    """The cache key is the normalised question: a control character, padding past the length
    limit or an invisible-only question used to hit the answer cached for a valid twin (200)."""
    app = _started_app(tmp_path / "data", manual)
    try:
        port = serve(app)
        question = "How do I replace the fuel filter?"
        assert request(port, "POST", "/api/ask", {"question": question}).json()["answer"]
        assert request(port, "POST", "/api/ask", {"question": "?"}).json()["abstained"]  # cached under ""
        for bad in (question + "\x01", "\x00" + question, question + " " * 2000, "\u200b"):
            got = request(port, "POST", "/api/ask", {"question": bad})
            assert got.status == 400 and got.json()["reason"] == "invalid_input", (bad[:40], got.body[:200])
            form = request(port, "POST", "/ask", urllib.parse.urlencode({"question": bad}),
                           {"Content-Type": "application/x-www-form-urlencoded"})
            assert form.status == 400 and "<blockquote>" not in form.text
        assert request(port, "POST", "/api/ask", {"question": question}).json()["cached"] == "l1"
    finally:
        app.close()
