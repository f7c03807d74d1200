"""Start-up indexing that fails on a full disk, with an index already there: up and degraded.

``serve`` indexes new files of ``<data>/manuals`` at start. On a full disk that fails; the
box still answered from the index it had, but /healthz said 503 "starting" for ever - to a
health check (the updater's after a software update, a load balancer) a box that never came
up. Real ``nic-edge serve`` process, real tmpfs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.device import ROOT, DeviceServer, prepare_data_dir, write_toml
from tests.support.tmpfs import fill, tmpfs


def test_serve_answers_and_is_degraded_when_startup_indexing_hits_a_full_disk(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "16m") as data:
        prepare_data_dir(data, tmp_path / "manuals")
        (data / "manuals").mkdir()
        shutil.copy(ROOT / "nic_edge/data/ford_model_t_manual_1919.txt", data / "manuals")
        fill(data)
        cfg = write_toml(tmp_path / "device.toml", {"device": {"id": "full-start", "tier": "lite"}})
        dev = DeviceServer(cfg, data)
        try:
            dev.start(timeout=30)  # waits for /healthz to say ok or degraded
            health = dev.get("/healthz")
            assert health["status"] == "degraded", health
            assert "free space" in health["start_error"], health
            answer = dev.post("/api/ask", {"question": "How do I replace the fuel filter?"})
            assert answer["answer"] and not answer["abstained"], answer
        finally:
            assert dev.stop() == 0, "".join(dev.log)
