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
from tests.support.chromium import Chromium, save_screenshot

MANUAL = """# Ford Model T: carburetor and plugs

## Carburetor adjustment

WARNING: Never adjust the carburetor with the engine hot.

To adjust the carburetor, turn the needle valve to the right until the engine runs smoothly,
then a quarter turn back.

## Spark plugs

The spark plug gap should be 7/32 of an inch. Clean the plugs every 1000 miles.
"""
# one question per width: the second would otherwise come from the answer cache
QUESTIONS = {360: "Is it safe to adjust the carburetor with the engine hot?",
             1280: "Can I adjust the carburetor while the engine is hot?"}
OFF_TOPIC = {360: "What torque do the rotor blades of a helicopter need?",
             1280: "How often should the helicopter rotor blades be balanced?"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """What `nic-edge serve` runs (app.serve.Device: engine with the real model, resource sampler,
    HTTP), over the bundled sample manual and a small second one."""
    from nic_edge.app.serve import Device
    from nic_edge.core.resources import SAMPLE_MANUAL, data_file

    tmp = tmp_path_factory.mktemp("page")
    manual = tmp / "model_t_carburetor.md"
    manual.write_text(MANUAL)
    cfg = parse_config({"device": {"id": "workshop-box-3", "tier": "lite"}, "http": {"port": 0}})
    device = Device(cfg, tmp / "data")
    device.app.engine.index_paths([data_file(SAMPLE_MANUAL), manual])
    device.start()
    try:
        assert device.app.started, device.app.start_error
        yield device.http.url
    finally:
        device.stop()


@pytest.mark.parametrize("width", [360, 1280])
def test_status_page_layout(chromium: Chromium, served: str, width: int, tmp_path: Path) -> None:
    chromium.open(width)
    chromium.goto(served + "/")
    m = chromium.measure()
    assert m["innerWidth"] == width and m["scripts"] == 0
    assert m["scrollWidth"] <= width, f"horizontal overflow at {width}px: {m['wide']}"
    names = chromium.eval("[...document.querySelectorAll('#manuals tr td:first-child')].map(td => td.textContent)")
    assert names == ["ford_model_t_manual_1919.txt", "model_t_carburetor.md"]
    assert chromium.eval("document.querySelector('details').open") is False  # diagnostics collapsed
    chromium.screenshot(tmp_path / "before.png")
    save_screenshot(chromium, f"status-page-{width}.png")

    chromium.submit_form(QUESTIONS[width])
    m = chromium.measure()
    assert m["scrollWidth"] <= width, f"horizontal overflow at {width}px after a question: {m['wide']}"
    top = chromium.eval("""(() => { const y = s => document.querySelector(s).getBoundingClientRect().top;
        return {warn: y('.warn'), quote: y('blockquote'), sources: y('ol.src'), manuals: y('#manuals')}; })()""")
    assert top["warn"] < top["quote"] < top["sources"] < top["manuals"], top
    assert "WARNING: Never adjust the carburetor" in chromium.eval("document.querySelector('.warn').textContent")
    markers = chromium.eval("[...document.querySelectorAll('blockquote .mk')].map(e => e.textContent)")
    if _api_answer(served, QUESTIONS[width]).get("quotes"):  # the reader's quotes
        assert markers and markers[0] == "[1]", markers
    else:  # an engine without quotes: the answer text, sources still numbered
        assert markers == []
    assert chromium.eval("document.querySelector('ol.src li').textContent").startswith("[1] ")
    # a quote's line breaks (steps, table rows) are shown, not folded into one paragraph
    assert chromium.eval("getComputedStyle(document.querySelector('blockquote')).whiteSpace") == "pre-line"
    # each latency item stays on one line (a line box of one text line is < 2 line heights)
    heights = chromium.eval("[...document.querySelectorAll('.lat')].map(e => e.getClientRects().length)")
    assert heights and all(n == 1 for n in heights), heights
    save_screenshot(chromium, f"status-page-answer-{width}.png")

    chromium.submit_form(OFF_TOPIC[width])
    text = chromium.eval("document.querySelector('.abstain').textContent")
    assert "ford_model_t_manual_1919.txt" in text and "model_t_carburetor.md" in text and "low_confidence" not in text and "no_match" not in text
    assert chromium.measure()["scrollWidth"] <= width
    save_screenshot(chromium, f"status-page-abstained-{width}.png")


def _api_answer(base: str, question: str) -> dict:
    import json
    import urllib.request
    req = urllib.request.Request(base + "/api/ask", json.dumps({"question": question}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())



def test_a_long_device_id_does_not_widen_the_phone_page(chromium: Chromium, make_server) -> None:
    """Device ids may be 64 printable characters; underscores give no line-break opportunity."""
    from tests.http.fakes import FakeApp

    app = FakeApp()
    app.device_id = "plant_berlin_line_2_press_17_station_b_left_hydraulic_unit_0042"
    assert len(app.device_id) <= 64
    svc = make_server(app)
    chromium.open(360)
    chromium.goto(f"http://127.0.0.1:{svc.port}/")
    m = chromium.measure()
    assert m["scrollWidth"] <= 360, f"horizontal overflow at 360px: {m['wide']}"
    assert app.device_id in chromium.eval("document.querySelector('header h1').textContent")
