"""The rendered dashboard in headless Chromium: it loads, logs no console errors, requests nothing
outside the output directory.

What this covers: (1) a static scan of every rendered page for any http(s)/protocol-relative
reference in src/href/url()/@import, any <script>, <link rel=stylesheet>, <iframe>, <object> or
<img> (the pages use none); (2) Chromium loads index.html and a device page with
``--dump-dom`` and ``--enable-logging=stderr``: the DOM comes back complete and the log shows
no console message at all (this Chromium logs every console call as ``INFO:CONSOLE``, whatever
its level, so any such line fails; a canary page proves the check can fail). Chromium does not
log failed subresource loads there, so "no external requests" rests on the static scan, which
is exhaustive for these pages because they contain no script that could build a URL.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.fleet.aggregator_support import load_sim
from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]
EXTERNAL = re.compile(r"""(?:src|href|action|poster)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)
FORBIDDEN = re.compile(r"<(script|iframe|object|embed|img|link)\b", re.I)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def dashboard(tmp_path: Path) -> Path:
    sim = load_sim()
    now = time.time()
    st = FleetState(SeriesStore(tmp_path / "state"), clock=lambda: now)
    ing = Ingestor(st)
    for i, name in enumerate(("pi-a", "pi-b", "pi-c")):
        d = sim.SimDevice(name, seed=i)
        ing.handle(f"nic/{name}/status", b"online" if i < 2 else b"offline", True)
        ing.handle(f"nic/{name}/info", d.info_payload(now), True)
        for k in range(60):
            ing.handle(f"nic/{name}/metrics", d.metrics_payload(now - 600 + 10 * k))
        ing.handle(f"nic/{name}/alerts", d.alert_payload("cpu_temp", "firing", 80.0, ts=now - 100, alert_id="t-1"))
    r = Renderer(st, tmp_path / "out")
    r.run_analytics(now, report=True)
    r.render(now, all_pages=True)
    st.store.close()
    return tmp_path / "out"


def test_pages_reference_nothing_external(dashboard: Path) -> None:
    pages = list(dashboard.rglob("*.html"))
    assert len(pages) >= 5
    for p in pages:
        text = p.read_text()
        assert not EXTERNAL.search(text), p
        assert not FORBIDDEN.search(text), p
        for link in re.findall(r'href="([^"]+)"', text):
            assert not link.startswith(("/", "file:", "javascript:")) and (p.parent / link).resolve().exists(), (p, link)


@pytest.mark.parametrize("page", ["index.html", "devices/pi-a.html", "report.html"])
def test_chromium_loads_without_console_errors(dashboard: Path, page: str) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium not installed (apt-get install chromium); headless dashboard check skipped")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                               (dashboard / page).as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "</footer>" in proc.stdout and "</html>" in proc.stdout
    console_errors = [l for l in proc.stderr.splitlines() if ":CONSOLE" in l]
    net_errors = [l for l in proc.stderr.splitlines() if re.search(r"net::ERR_|Failed to load resource|blocked", l)]
    assert not console_errors, console_errors
    assert not net_errors, net_errors


def test_console_check_catches_a_canary(tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium not installed; canary skipped")
    canary = tmp_path / "canary.html"
    canary.write_text('<html><body><script>console.error("canary")</script></body></html>')
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", canary.as_uri()],
                              capture_output=True, text=True, timeout=120)
    assert [l for l in proc.stderr.splitlines() if ":CONSOLE" in l and "canary" in l]
    assert FORBIDDEN.search(canary.read_text())
