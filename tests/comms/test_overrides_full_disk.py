"""A tier override that cannot be saved (a full disk) is refused with the reason.

The override file is written before the tier is applied; on a full disk ENOSPC escaped:
over MQTT the handler died inside the client callback (no ``tier/reported``, the fleet tool
waited for nothing), and ``POST /api/tier`` answered 500 "internal error". Real tmpfs.
"""

from __future__ import annotations

from pathlib import Path

from nic_edge.app.device import DeviceApp
from nic_edge.core import override_state
from nic_edge.core.config import HttpConfig, parse_config
from nic_edge.http.server import HttpService
from tests.comms.test_overrides import manager, raw, signed
from tests.http.client import request
from tests.support.tmpfs import fill, tmpfs

TOKEN = "s3cret-admin-token-for-tests"


def test_fleet_override_on_a_full_disk_is_rejected_and_says_why(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "256k") as data:
        m, box, audit = manager(data)
        assert m.handle(raw(signed(version=5)))["status"] == "applied"
        fill(data)
        rep = m.handle(raw(signed(tier="full", version=6)))
        assert rep["status"] == "rejected" and rep["version"] == 6, rep
        assert "No space left" in rep["reason"], rep
        assert box.applied == ["lite"]  # not applied, and the saved override is still version 5
        assert override_state.read_state(data)["version"] == 5
        assert not (data / (override_state.FILE_NAME + ".tmp")).exists()
        (data / "filler").unlink()  # space again: a new push applies
        assert m.handle(raw(signed(tier="full", version=7)))["status"] == "applied"


def test_local_override_on_a_full_disk_is_503_with_the_reason(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "16m") as data:
        (tmp_path / "token").write_text(TOKEN)
        cfg = parse_config({"device": {"id": "full-tier", "tier": "lite"},
                            "http": {"token_file": str(tmp_path / "token")}})
        app = DeviceApp(cfg, data, use_embedder=False)
        app.started = True
        svc = HttpService(app, HttpConfig(port=0))
        svc.start()
        try:
            fill(data)
            r = request(svc.port, "POST", "/api/tier", {"tier": "standard"},
                        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
            assert r.status == 503, r.body
            assert "No space left" in r.json()["error"] and r.json()["hint"], r.body
            assert app.decision.name == "lite"
        finally:
            svc.stop()
            app.close()
