"""``nic-aggregator backup`` while the store is being written, then ``restore``: same history."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nic_edge.cli.aggregator import main as aggregator_main
from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState
from tests.fleet.aggregator_support import load_sim
from tests.support.device import run_cli, write_toml

sim = load_sim()
NOW = 1_700_000_000.0


def test_hot_backup_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_toml(tmp_path / "agg.toml", {"aggregator": {"out_dir": "site"}})
    state_dir = tmp_path / "site" / ".state"
    st = FleetState(SeriesStore(state_dir), clock=lambda: NOW)
    ing = Ingestor(st)
    dev = sim.SimDevice("dev-a", seed=5)
    for i in range(30):
        ing.handle("nic/dev-a/metrics", dev.metrics_payload(NOW - 600 + 10 * i))
    st.flush()
    committed = st.store.series("dev-a", "10s", 0)
    stop = threading.Event()

    def writer() -> None:  # the aggregator keeps committing while the backup runs
        j = 0
        other = sim.SimDevice("dev-b", seed=6)
        while not stop.is_set():
            ing.handle("nic/dev-b/metrics", other.metrics_payload(NOW - 3000 + 10 * j))
            st.flush()
            j += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        # its own process, as in production (LMDB allows one open per environment per process)
        r = run_cli("backup", "--config", str(cfg), "--out", str(tmp_path / "agg.nicbak"),
                    module="nic_edge.cli.aggregator")
        assert r.returncode == 0, r.stderr
    finally:
        stop.set()
        t.join()
        st.store.close()
    # a device backup is not an aggregator backup, and the other way round
    assert aggregator_main(["restore", str(tmp_path / "agg.nicbak"), "--data-dir", str(state_dir)]) == 1
    assert "not empty" in capsys.readouterr().err
    target = tmp_path / "new-state"
    assert aggregator_main(["restore", str(tmp_path / "agg.nicbak"), "--data-dir", str(target)]) == 0
    restored = SeriesStore(target)
    try:
        assert not restored.recovered
        assert restored.series("dev-a", "10s", 0) == committed
        assert any(k.startswith(b"dev-b") or b"dev-b" in k for k, _ in restored.items("devices"))
    finally:
        restored.close()
    r = run_cli("restore", str(tmp_path / "agg.nicbak"), "--data-dir", str(tmp_path / "x"))
    assert r.returncode == 1 and "not a device backup" in r.stderr
    assert not (tmp_path / "x").exists()
    assert run_cli("backup", "--help", module="nic_edge.cli.aggregator").returncode == 0
