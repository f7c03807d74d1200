"""The data dir removed (or replaced) under a running device is said, not silent.

After ``rm -rf`` of the data dir (or a restore without stopping serve) the runtime went on
writing its answer cache, outbox and audit log into files no longer on disk - all lost at the
next restart, telemetry queued for a broker that is down included - and answered "no manuals
are loaded" while /healthz said ``ok``. Real data dir, real LMDB; no fakes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nic_edge.app.device import DeviceApp
from nic_edge.core.config import parse_config
from tests.support.device import TINY_MANUAL

SAMPLE = {"rss_bytes": 50 << 20}


def test_a_data_dir_removed_under_a_running_device_is_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    manual = tmp_path / "tiny_manual.txt"
    manual.write_text(TINY_MANUAL)
    app = DeviceApp(parse_config({"device": {"id": "gone", "tier": "lite"}}), data, use_embedder=False)
    try:
        app.engine.index_paths([manual])
        app.started = True
        app.on_resources(SAMPLE)  # the sampler's periodic call
        assert app.health()[0] == "ok"
        shutil.rmtree(data)
        app.ask("How do I replace the fuel filter?")  # the audit log recreates an empty dir
        app.on_resources(SAMPLE)
        state, details = app.health()
        assert state == "degraded", details
        assert "removed or replaced" in details["storage"]["data_dir"], details
        events = app.alert_evaluator.evaluate(app.metrics.alert_values())
        assert "storage_write_failing" in [e["rule"] for e in events if e["state"] == "firing"]
    finally:
        app.close()
