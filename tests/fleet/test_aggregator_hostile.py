"""Hostile fleet input (issue 22): bad ids, forged seqs, bad records, id floods, idle cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nic_edge.comms import schema
from nic_edge.core.config import parse_config
from nic_edge.fleet.aggregator.html import page_name
from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.main import AggregatorLoop
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState
from tests.fleet.aggregator_support import Clock, load_sim

sim = load_sim()
NOW = 1_700_000_000.0


def make(tmp: Path, clock: Clock | None = None, **kw: object) -> tuple[FleetState, Ingestor]:
    st = FleetState(SeriesStore(tmp / "state"), clock=clock or Clock(), **kw)  # type: ignore[arg-type]
    return st, Ingestor(st)


@pytest.mark.parametrize("dev", ["L" * 65, "L" * 600, "bad\x00id", "tab\tid", " padded"])
def test_topic_boundary_applies_the_device_id_rule(dev: str) -> None:
    with pytest.raises(schema.SchemaError):
        schema.parse_topic(f"nic/{dev}/status")
    assert schema.parse_topic(f"nic/{'L' * 64}/status") == ("L" * 64, "status")


def test_overlong_id_never_reaches_the_store_and_renders_go_on(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    assert not ing.handle("nic/" + "L" * 600 + "/status", b"online", retained=True)
    assert ing.handle("nic/dev-a/status", b"online", retained=True)
    assert st.flush() >= 0 and st.store.flush_errors == 0
    out = tmp_path / "out"
    Renderer(st, out).render(now=NOW)
    assert [d["id"] for d in json.loads((out / "fleet.json").read_text())["devices"]] == ["dev-a"]


def test_one_unwritable_record_does_not_sink_the_batch(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    dev = sim.SimDevice("dev-a", seed=1)
    assert ing.handle("nic/dev-a/metrics", dev.metrics_payload(NOW - 5))
    # an alert whose LMDB key is over 511 bytes (128 four-byte characters in alert_id)
    event = {"alert_id": "\U0001F600" * 128, "rule": "r", "severity": "warning", "state": "firing",
             "value": 1.0, "threshold": 0.5, "ts": NOW, "message": "m"}
    assert ing.handle("nic/dev-a/alerts", schema.encode_alert(schema.build_alert(event, seq=2, device="dev-a")))
    st.flush()
    assert st.store.flush_errors == 0 and st.store.records_dropped == 1
    assert [k for k, _ in st.store.items("devices")] == [b"dev-a"]  # the rest of the batch was written
    assert sum(r["n"] for r in st.store.series("dev-a", "10s", 0)) == 1


def _metrics(dev: "sim.SimDevice", ts: float, seq: int | None = None) -> bytes:
    body = json.loads(dev.metrics_payload(ts))
    if seq is not None:
        body["seq"] = seq
    return json.dumps(body).encode()


def test_forged_seq_does_not_silence_a_device(tmp_path: Path) -> None:
    clock = Clock()
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev1", seed=1)
    assert ing.handle("nic/dev1/metrics", _metrics(dev, NOW))
    assert not ing.handle("nic/dev1/metrics", _metrics(dev, NOW, seq=2**62))  # forged: rejected
    assert st.stats["seq_jumps"] == 1 and st.devices["dev1"].seq_rejected == 1
    for i in range(5):  # the real box goes on, and is counted
        clock.t += 10
        assert ing.handle("nic/dev1/metrics", _metrics(dev, clock.t))
    assert st.devices["dev1"].counts["messages"] == 6 and st.devices["dev1"].seq_max == 7
    out = tmp_path / "out"
    Renderer(st, out).render(now=clock.t)
    assert json.loads((out / "fleet.json").read_text())["devices"][0]["seq_rejected"] == 1  # reported
    # a long silence explains a big (but not absurd) jump: an outbox that dropped its oldest
    clock.t += 86400
    assert ing.handle("nic/dev1/metrics", _metrics(dev, clock.t, seq=50_000))


def test_device_restart_with_a_reset_counter_recovers(tmp_path: Path) -> None:
    clock = Clock()
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("dev1", seed=1)
    for _ in range(3):
        assert ing.handle("nic/dev1/metrics", _metrics(dev, clock.t, seq=5000 + dev.seq))
    fresh = sim.SimDevice("dev1", seed=2)  # data dir wiped: seq starts at 1 again
    assert not ing.handle("nic/dev1/metrics", _metrics(fresh, clock.t + 1))  # stale, as before a reconnect
    assert ing.handle("nic/dev1/status", b"online")  # the box (re)connects
    assert ing.handle("nic/dev1/metrics", _metrics(fresh, clock.t + 2))
    assert ing.handle("nic/dev1/metrics", _metrics(fresh, clock.t + 3))
    assert st.devices["dev1"].seq_max == 3


def test_device_cap_evicts_unknown_ids_and_keeps_real_devices(tmp_path: Path) -> None:
    st, ing = make(tmp_path, max_devices=5)
    real = sim.SimDevice("real-1", seed=1)
    assert ing.handle("nic/real-1/metrics", _metrics(real, NOW))
    for i in range(100):  # a flood of ids that only ever say "online"
        assert ing.handle(f"nic/fake-{i}/status", b"online", retained=True)
    assert len(st.devices) == 5 and "real-1" in st.devices and "fake-99" in st.devices
    st.flush()
    assert len(st.store.items("devices")) == 5
    # when every slot holds a device that sent real data, new ids are refused and counted
    for i in range(4):
        d = sim.SimDevice(f"real-{i + 2}", seed=i)
        assert ing.handle(f"nic/real-{i + 2}/metrics", _metrics(d, NOW))
    assert not ing.handle("nic/fake-x/status", b"online")
    assert st.stats["refused"] == 1 and "fake-x" not in st.devices


def test_unknown_devices_expire_and_forget_removes_everything(tmp_path: Path) -> None:
    clock = Clock()
    st, ing = make(tmp_path, clock, unknown_expire_s=60)
    dev = sim.SimDevice("dev-a", seed=1)
    assert ing.handle("nic/dev-a/metrics", _metrics(dev, NOW))
    assert ing.handle("nic/ghost/status", b"online", retained=True)
    out = tmp_path / "out"
    r = Renderer(st, out)
    r.render(now=NOW)
    assert (out / "devices" / page_name("ghost")).exists()
    clock.t += 61
    assert st.expire() == ["ghost"]
    r.render(now=clock.t)
    assert not (out / "devices" / page_name("ghost")).exists()
    # `nic-fleet forget` deletes the retained status: an empty status payload forgets the device
    assert ing.handle("nic/dev-a/status", b"")
    st.flush()
    assert st.devices == {} and st.store.items("devices") == []
    assert st.store.series("dev-a", "10s", 0) == []
    r.render(now=clock.t)
    assert json.loads((out / "fleet.json").read_text())["devices"] == []


def test_idle_fleet_is_not_re_rendered(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    for i in range(20):
        ing.handle(f"nic/dev-{i}/status", b"online", retained=True)
    out = tmp_path / "out"
    loop = AggregatorLoop(st, Renderer(st, out, 0.1), render_interval_s=0.1, report_interval_s=1e6,
                          commit_interval_s=0.05)
    loop.start()
    try:
        assert loop.wait(1.0) is False
        first = loop.renders
        mtime = (out / "fleet.json").stat().st_mtime_ns
        loop.wait(1.5)
        assert loop.renders == first, "nothing changed, yet the dashboard was rendered again"
        assert (out / "fleet.json").stat().st_mtime_ns == mtime
        ing.handle("nic/dev-0/status", b"offline", retained=False)
        loop.wait(1.0)
        assert loop.renders > first
    finally:
        loop.stop()


def test_aggregator_config_keys() -> None:
    cfg = parse_config({"aggregator": {"max_devices": 10, "unknown_expire_s": 5}})
    assert cfg.aggregator.max_devices == 10 and cfg.aggregator.unknown_expire_s == 5
