"""DeviceApp construction: events raised while building parts reach the audit log (issue 17 item 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from nic_edge.app.device import DeviceApp
from nic_edge.core.config import load_config
from nic_edge.core.tiers import Hardware


def test_cache_recovered_at_start_is_audited_not_a_crash(tmp_path: Path) -> None:
    store = tmp_path / "cache"
    store.mkdir()
    (store / "data.mdb").write_bytes(os.urandom(64 * 1024))  # not an LMDB file: moved aside
    app = DeviceApp(load_config(None), tmp_path, hardware=Hardware(1800, 2, None), env={},
                    use_embedder=False)
    try:
        assert [e["event"] for e in app.events] == ["cache_l2_recovered"]
        assert app.cache is not None and app.cache.stats()["l2_items"] == 0
    finally:
        app.close()
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert any(r.get("action") == "cache_l2_recovered" for r in records), records
    assert list(tmp_path.glob("cache.corrupt-*"))
