"""The status page in a real headless Chromium at 360 px (phone) and 1280 px: before a question,
after one (asked through the page's own form, a real POST), and after an abstention. Asserts on
the rendered layout (no horizontal overflow, answer above the manuals, the latency line not
broken inside an item) and on the DOM, then writes a screenshot per state.

The device behind the page is the real one: a DeviceApp over a real index of a small manual,
answering lexically (no model load, so the test stays quick), served by the real HTTP server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from nic_edge.core.config import parse_config
from tests.support.chromium import Chromium, binary

MANUAL = """Ford Model T Manual

Carburetor adjustment

To adjust the carburetor, turn the needle valve to the right until the engine runs smoothly,
then a quarter turn back. WARNING: Never adjust the carburetor with the engine hot.

Spark plugs

The spark plug gap should be 7/32 of an inch. Clean the plugs every 1000 miles.
"""
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    exe = binary()
    if exe is None:
        pytest.skip("chromium not installed (tools/test.sh installs it); browser layout tests skipped")
    with Chromium(exe) as c:
        yield c


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from nic_edge.app.device import DeviceApp
    from nic_edge.http.server import HttpService

    tmp = tmp_path_factory.mktemp("page")
    manual = tmp / "model_t_carburetor.txt"
    manual.write_text(MANUAL)
    cfg = parse_config({"device": {"tier": "ultra_lite"}, "http": {"port": 0}})
    app = DeviceApp(cfg, tmp / "data", use_embedder=False)
    app.engine.index_paths([manual])
    app.started = True
    http = HttpService(app, cfg.http)
    http.start()
    try:
        yield http.url
    finally:
        http.stop()
        app.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_status_page_layout(chromium: Chromium, served: str, width: int, tmp_path: Path) -> None:
    chromium.open(width)
    chromium.goto(served + "/")
    m = chromium.measure()
    assert m["innerWidth"] == width and m["scripts"] == 0
    assert m["scrollWidth"] <= width, f"horizontal overflow at {width}px: {m['wide']}"
    assert chromium.eval("document.querySelector('#manuals td').textContent") == "model_t_carburetor.txt"
    assert chromium.eval("document.querySelector('details').open") is False  # diagnostics collapsed
    chromium.screenshot(tmp_path / "before.png")
    _save(chromium, f"status-page-{width}.png")

    chromium.submit_form("How do I adjust the carburetor?")
    m = chromium.measure()
    assert m["scrollWidth"] <= width, f"horizontal overflow at {width}px after a question: {m['wide']}"
    top = chromium.eval("""(() => { const y = s => document.querySelector(s).getBoundingClientRect().top;
        return {warn: y('.warn'), quote: y('blockquote'), sources: y('ol.src'), manuals: y('#manuals')}; })()""")
    assert top["warn"] < top["quote"] < top["sources"] < top["manuals"], top
    assert "WARNING: Never adjust the carburetor" in chromium.eval("document.querySelector('.warn').textContent")
    markers = chromium.eval("[...document.querySelectorAll('blockquote .mk')].map(e => e.textContent)")
    if _api_answer(served, "How do I adjust the carburetor?").get("quotes"):  # the reader's quotes
        assert markers and markers[0] == "[1]", markers
    else:  # an engine without quotes: the answer text, sources still numbered
        assert markers == []
    assert chromium.eval("document.querySelector('ol.src li').textContent").startswith("[1] model_t_carburetor.txt")
    # each latency item stays on one line (a line box of one text line is < 2 line heights)
    heights = chromium.eval("[...document.querySelectorAll('.lat')].map(e => e.getClientRects().length)")
    assert heights and all(n == 1 for n in heights), heights
    _save(chromium, f"status-page-answer-{width}.png")

    chromium.submit_form("What torque do the rotor blades of a helicopter need?")
    text = chromium.eval("document.querySelector('.abstain').textContent")
    assert "model_t_carburetor.txt" in text and "low_confidence" not in text and "no_match" not in text
    assert chromium.measure()["scrollWidth"] <= width
    _save(chromium, f"status-page-abstained-{width}.png")


def _api_answer(base: str, question: str) -> dict:
    import json
    import urllib.request
    req = urllib.request.Request(base + "/api/ask", json.dumps({"question": question}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _save(chromium: Chromium, name: str) -> None:
    """Refresh the docs screenshot only when asked (NIC_EDGE_SCREENSHOTS=1, tools/screenshots.sh)."""
    import os
    if os.environ.get("NIC_EDGE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        chromium.screenshot(SHOTS / name)
