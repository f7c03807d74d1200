"""The aggregator records content/reported, persists it and shows it in fleet.json and the device page."""

from __future__ import annotations

import json
from pathlib import Path

from nic_edge.comms import content_schema as cs
from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState

NOW = 1_700_000_000.0


def test_content_report_recorded_persisted_rendered(tmp_path: Path) -> None:
    st = FleetState(SeriesStore(tmp_path / "state"), clock=lambda: NOW)
    ing = Ingestor(st)
    rep = cs.make_reported(7, "rejected", "replayed version 7 < applied 9", NOW, applied_version=9)
    assert ing.handle("nic/dev-a/content/reported", cs.encode_reported(rep), retained=True)
    assert not ing.handle("nic/dev-a/content/reported", b'{"version": "x"}')  # bad payload: counted, ignored
    assert st.devices["dev-a"].content == rep
    st.flush()
    out = tmp_path / "out"
    Renderer(st, out).render(NOW, all_pages=True)
    row = json.loads((out / "fleet.json").read_text())["devices"][0]
    assert row["content_version"] == 9 and row["content_status"] == "rejected"
    assert any("content (last report)" in p.read_text() for p in out.rglob("*.html"))
    st.store.close()
    reloaded = FleetState(SeriesStore(tmp_path / "state"), clock=lambda: NOW)
    assert reloaded.devices["dev-a"].content == rep  # persisted with the device record
