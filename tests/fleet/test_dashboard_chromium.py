"""The dashboard in a real headless Chromium: a healthy, a degraded (lexical), an alerting and an
offline device with 24 h of history (tests/fleet/dashboard_scenario.py). Asserts on the rendered
DOM and layout: worst device first, one health column, alert messages with their age, three
inline SVG trends, no horizontal scrolling at 1280 px, every link resolving to a file, the data
age and broker state stated, no raw seq on the device page.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from tests.fleet import dashboard_scenario as S
from tests.support.chromium import Chromium, save_screenshot

NOW = time.time()
CONNECTED = {"address": "127.0.0.1:1883", "state": "connected", "since": NOW - 3600, "error": None, "failures": 0}


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    r, out = S.build(tmp_path_factory.mktemp("dash"), NOW, broker=CONNECTED)
    yield out
    r.state.store.close()


def _links_resolve(chromium: Chromium) -> list[str]:
    hrefs = chromium.eval("[...document.querySelectorAll('a[href]')].map(a => a.href)")
    assert hrefs
    return [h for h in hrefs if urlsplit(h).scheme != "file" or not Path(unquote(urlsplit(h).path)).is_file()]


def test_overview_worst_first_health_and_trends(chromium: Chromium, dashboard: Path) -> None:
    chromium.open(1280)
    chromium.goto((dashboard / "index.html").as_uri())
    m = chromium.measure()
    assert m["scrollWidth"] <= 1280 and m["scripts"] == 0, f"horizontal scroll at 1280px: {m['wide']}"
    table_fits = chromium.eval("(() => { const t = document.querySelector('.tw'); return t.scrollWidth <= t.clientWidth; })()")
    assert table_fits, "the device table scrolls sideways at 1280 px"
    rows = chromium.eval("""[...document.querySelectorAll('.tw tbody tr')].map(tr =>
        [...tr.cells].map(td => td.innerText.replace(/\\s+/g, ' ').trim()))""")
    assert [r[0] for r in rows] == [S.ALERTING, S.OFFLINE, S.DEGRADED, S.HEALTHY]
    health = {r[0]: r[1] for r in rows}
    assert health[S.ALERTING].startswith("critical") and "1 critical alert" in health[S.ALERTING]
    assert health[S.OFFLINE].startswith("offline")
    assert health[S.DEGRADED].startswith("degraded") and "lexical" in health[S.DEGRADED]
    assert health[S.HEALTHY].startswith("ok")
    alerts = rows[0][8]
    assert S.CRITICAL_MESSAGE in alerts and "3 h ago" in alerts
    assert rows[1][3] == "40 min ago"  # the offline device's last report
    charts = chromium.eval("[...document.querySelectorAll('figure')].map(f => [f.querySelector('figcaption').innerText,"
                           " f.querySelectorAll('svg polyline').length])")
    titles = [c[0] for c in charts]
    assert any("p95" in t for t in titles) and any("reporting" in t for t in titles) and any("alerts" in t for t in titles)
    assert all(n >= 1 for _, n in charts), charts
    text = chromium.eval("document.body.innerText")
    assert "Broker 127.0.0.1:1883: connected" in text and "Data as of" in text
    assert not _links_resolve(chromium)
    assert "report" not in chromium.eval("[...document.querySelectorAll('a')].map(a => a.textContent).join(' ')")
    save_screenshot(chromium, "dashboard.png")
    chromium.open(360)
    chromium.goto((dashboard / "index.html").as_uri())
    m = chromium.measure()
    assert m["scrollWidth"] <= 360, f"the page (not only the table) scrolls sideways on a phone: {m['wide']}"


def test_device_page_states_data_age_without_raw_seq(chromium: Chromium, dashboard: Path) -> None:
    chromium.open(1280)
    chromium.goto((dashboard / "devices" / f"{S.ALERTING}.html").as_uri())
    m = chromium.measure()
    assert m["scrollWidth"] <= 1280, m["wide"]
    text = chromium.eval("document.body.innerText")
    assert "Data as of" in text and "3 s before that" in text and "at most every 60 s" in text
    assert "seq" not in text.lower() and "0 s ago" not in text
    assert text.index("critical") < text.index("Charts, last hour")
    assert S.CRITICAL_MESSAGE in text
    assert not _links_resolve(chromium)
    save_screenshot(chromium, "dashboard-device.png")


def test_unreachable_broker_is_not_an_empty_fleet(chromium: Chromium, tmp_path: Path) -> None:
    from nic_edge.fleet.aggregator.render import Renderer
    from nic_edge.fleet.aggregator.series import SeriesStore
    from nic_edge.fleet.aggregator.state import FleetState

    broker = {"address": "127.0.0.1:1", "state": "unreachable", "since": NOW - 30, "error": "cannot connect",
              "failures": 5}
    state = FleetState(SeriesStore(tmp_path / "state"), clock=lambda: NOW)
    r = Renderer(state, tmp_path / "out", broker=lambda: broker)
    r.run_analytics(NOW)
    r.render(NOW)
    state.store.close()
    chromium.open(1280)
    chromium.goto((tmp_path / "out" / "index.html").as_uri())
    text = chromium.eval("document.body.innerText")
    assert "Broker 127.0.0.1:1: unreachable since 30 s ago" in text
    assert "this is not an empty fleet" in text
    assert not _links_resolve(chromium)

