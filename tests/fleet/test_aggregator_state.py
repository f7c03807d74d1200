"""Aggregator core without MQTT: de-dup, idempotent replay, bad payloads, persistence, analytics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fleet.aggregator_support import Clock, load_sim
from nic_edge.comms import schema
from nic_edge.core.config import parse_config
from nic_edge.core.sketch import LatencySketch
from nic_edge.errors import ConfigError
from nic_edge.fleet.aggregator import analytics
from nic_edge.fleet.aggregator.html import page_name
from nic_edge.fleet.aggregator.ingest import Ingestor, subscriptions
from nic_edge.fleet.aggregator.prom import exposition
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState

sim = load_sim()
NOW = 1_700_000_000.0


def make(tmp: Path, clock: Clock | None = None) -> tuple[FleetState, Ingestor]:
    st = FleetState(SeriesStore(tmp / "state"), clock=clock or Clock())
    return st, Ingestor(st)


def total_points(st: FleetState, dev: str, res: str = "10s") -> int:
    return sum(r["n"] for r in st.store.series(dev, res, 0))


@pytest.mark.parametrize("strict", [False, True])
def test_duplicates_and_replays_add_nothing(tmp_path: Path, strict: bool) -> None:
    st = FleetState(SeriesStore(tmp_path / "s"), clock=Clock())
    ing = Ingestor(st, strict=strict)
    dev = sim.SimDevice("dev-a", seed=1)
    msgs = [dev.metrics_payload(NOW - 600 + 10 * i) for i in range(20)]
    for m in msgs:
        assert ing.handle("nic/dev-a/metrics", m)
    for m in msgs[:5]:
        assert not ing.handle("nic/dev-a/metrics", m)           # exact duplicate
    assert not ing.handle("nic/dev-a/metrics", dev.replay_payload(3))  # replayed copy
    st.flush()
    assert total_points(st, "dev-a") == 20
    assert sum(r["n"] for r in st.store.series("dev-a", "5m", 0)) == 20
    assert st.stats["duplicates"] == 6
    q = sum(r["q"] for r in st.store.series("dev-a", "10s", 0))
    assert q == sum(r["q"] for r in st.store.series("dev-a", "1h", 0)) > 0


def test_restart_keeps_history_and_dedup_window(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    dev = sim.SimDevice("dev-a", seed=2)
    msgs = [dev.metrics_payload(NOW - 300 + 10 * i) for i in range(10)]
    for m in msgs[:6]:
        ing.handle("nic/dev-a/metrics", m)
    st.flush()
    before = st.store.series("dev-a", "10s", 0)
    st.store.close()
    st2, ing2 = make(tmp_path)
    assert st2.store.series("dev-a", "10s", 0) == before
    for m in msgs:  # the broker re-delivers everything after a crash: only the 4 new ones count
        ing2.handle("nic/dev-a/metrics", m)
    st2.flush()
    assert total_points(st2, "dev-a") == 10
    assert total_points(st2, "dev-a", "5m") == 10
    # Percentiles of a bucket come from merged sketches: equal to one sketch of all samples.
    sk = st2.store.merged_sketch("dev-a", "1h", 0)
    ref = LatencySketch()
    for m in msgs:
        ref.merge(LatencySketch.from_dict(json.loads(m)["latency"]["answer"]["sketch"]))
    assert sk.count == ref.count and sk.quantile(0.95) == ref.quantile(0.95)


def test_bad_payloads_counted_never_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    st, ing = make(tmp_path)
    dev = sim.SimDevice("dev-b", seed=3)
    good = json.loads(dev.metrics_payload(NOW))
    bad_sketch = dict(good, seq=99)
    bad_sketch["latency"] = {"answer": {"sketch": {"v": 1, "g": 1.02, "b": {"x": 1}, "z": 0, "n": 1, "s": 1}}}
    other_dev = dict(good, seq=100, device="dev-z")
    cases = [b"", b"\xff\xfe", b"{", b"[]", b'{"seq": -1}', json.dumps(bad_sketch).encode(),
             json.dumps(other_dev).encode(), b'{"a":NaN}', b"x" * 300_000]
    for c in cases:
        assert not ing.handle("nic/dev-b/metrics", c)
    for kind in ("alerts", "info", "tier/reported", "status"):
        assert not ing.handle(f"nic/dev-b/{kind}", b"garbage")
    assert not ing.handle("other/dev-b/metrics", b"{}")
    assert not ing.handle("nic/dev-b/unknown", b"{}")
    assert st.devices["dev-b"].counts["bad"] == len(cases) + 4
    assert len([r for r in caplog.records if "dev-b" in r.getMessage()]) == 1  # logged once per device
    assert ing.handle("nic/dev-b/metrics", dev.metrics_payload(NOW))


def test_alert_dedup_and_state(tmp_path: Path) -> None:
    seen: list[dict] = []
    st = FleetState(SeriesStore(tmp_path / "s"), clock=Clock())
    ing = Ingestor(st, on_alert=seen.append)
    dev = sim.SimDevice("dev-c", seed=4)
    fire = dev.alert_payload("cpu_temp", "firing", 81.0, ts=NOW, alert_id="cpu_temp-1")
    assert ing.handle("nic/dev-c/alerts", fire)
    assert not ing.handle("nic/dev-c/alerts", fire)  # same seq
    again = dev.alert_payload("cpu_temp", "firing", 82.0, ts=NOW + 1, alert_id="cpu_temp-1")
    assert not ing.handle("nic/dev-c/alerts", again)  # new seq, same alert_id + state
    assert list(st.devices["dev-c"].alerts_active) == ["cpu_temp-1"]
    assert ing.handle("nic/dev-c/alerts", dev.alert_payload("cpu_temp", "resolved", 60.0, ts=NOW + 60,
                                                           alert_id="cpu_temp-1"))
    assert st.devices["dev-c"].alerts_active == {}
    assert [a["state"] for a in seen] == ["firing", "resolved"]
    st.flush()
    assert [e["state"] for e in st.alert_history("dev-c")] == ["firing", "resolved"]


def test_status_tier_and_render(tmp_path: Path) -> None:
    clock = Clock()
    st, ing = make(tmp_path, clock)
    devs = [sim.SimDevice(d, seed=i) for i, d in enumerate(["a1", "b2", "evil<script>"])]
    for d in devs:
        ing.handle(f"nic/{d.device}/status", b"online", True)
        ing.handle(f"nic/{d.device}/info", d.info_payload(NOW), True)
        for i in range(5):
            ing.handle(f"nic/{d.device}/metrics", d.metrics_payload(NOW - 50 + 10 * i))
    ing.handle("nic/b2/status", b"offline", True)
    ing.handle("nic/a1/tier/reported", devs[0].reported_payload("standard", "fleet", ts=NOW), True)
    st.flush()
    out = tmp_path / "out"
    r = Renderer(st, out, offline_after_s=120)
    r.render(NOW)
    doc = json.loads((out / "fleet.json").read_text())
    by = {d["id"]: d for d in doc["devices"]}
    assert set(doc) >= {"generated_at", "devices", "fleet"}
    assert by["a1"]["online"] is True and by["b2"]["online"] is False
    assert (by["a1"]["tier"], by["a1"]["tier_source"]) == ("standard", "fleet")
    assert by["a1"]["latency_p95_ms"] > 0 and doc["fleet"]["online"] == 2
    index = (out / "index.html").read_text()
    assert "<script>" not in index and "evil&lt;script&gt;" in index
    for d in ("a1", "b2", "evil<script>"):
        assert (out / "devices" / page_name(d)).is_file()
    clock.t = NOW + 600  # silent longer than offline_after_s -> shown as stale, not online
    r.render(clock.t)
    after = {d["id"]: d for d in json.loads((out / "fleet.json").read_text())["devices"]}
    assert after["a1"]["status"] == "stale" and after["a1"]["health"]["level"] == "silent"
    assert [d["id"] for d in json.loads((out / "fleet.json").read_text())["devices"]][0] == "b2"  # worst first
    assert not [p for p in out.rglob(".*.tmp")]  # atomic writes leave no temp files


def test_page_names_are_safe() -> None:
    assert page_name("dev-a") == "dev-a.html"
    for bad in ("..", "a\\b", "über box", "x" * 200, "a:b"):
        name = page_name(bad)
        assert re.fullmatch(r"[A-Za-z0-9._-]+\.html", name) and name not in ("..html",)
    assert page_name("a b") != page_name("a_b")


def test_shared_subscription_needs_mqtt5() -> None:
    cfg = parse_config({"mqtt": {"host": "x"}, "aggregator": {"shared_group": "g"}})
    with pytest.raises(ConfigError):
        subscriptions(cfg)
    cfg5 = parse_config({"mqtt": {"host": "x", "protocol": "5"}, "aggregator": {"shared_group": "g"}})
    assert subscriptions(cfg5)[0] == "$share/g/nic/+/status"
    assert subscriptions(parse_config({"mqtt": {"host": "x"}}))[2] == schema.subscription("nic", "metrics")


def test_robust_stats_and_trends() -> None:
    assert analytics.robust_z(10.0, [1.0, 1.1, 0.9, 1.0, 1.05]) > 3.5
    assert abs(analytics.robust_z(1.0, [1.0, 1.1, 0.9, 1.0, 1.05])) < 1
    assert analytics.robust_z(5.0, [1.0] * 10) is None
    pts = [(float(t), 100.0 - 2.0 * t) for t in range(10)]
    assert analytics.slope(pts) == pytest.approx(-2.0)
    rows = [{"id": f"d{i}", "online": True, "latency_p95_ms": 100.0 + i, "memory_bytes": None,
             "cpu_temp_c": None, "cache_hit_rate": None} for i in range(6)]
    rows[3]["latency_p95_ms"] = 900.0
    assert [a["device"] for a in analytics.fleet_anomalies(rows)] == ["d3"]


def test_trend_to_exhaustion_and_report(tmp_path: Path) -> None:
    clock = Clock()
    st, ing = make(tmp_path, clock)
    dev = sim.SimDevice("leaky", seed=5)
    dev.leak_bytes = 256 * 1024
    for i in range(288):
        ing.handle("nic/leaky/metrics", dev.metrics_payload(NOW - 86400 + 300 * i))
    st.flush()
    r = Renderer(st, tmp_path / "out")
    res = r.run_analytics(NOW, report=True)
    tr = res["devices"]["leaky"]["trends"]
    assert tr["memory"]["slope_bytes_per_h"] > 0 and tr["memory"]["budget_reached_in_s"] > 0
    assert tr["disk"]["exhausted_in_s"] > 0
    assert res["devices"]["leaky"]["usage"]["questions"] > 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "leaky" in md and (tmp_path / "out" / "report.html").is_file()


def test_prometheus_exposition(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    d = sim.SimDevice('q"x', seed=6)
    ing.handle('nic/q"x/status', b"online", True)
    ing.handle('nic/q"x/metrics', d.metrics_payload(NOW))
    rows, fleet, _ = Renderer(st, tmp_path / "o").model(NOW)
    text = exposition(rows, fleet)
    assert 'nic_fleet_devices{state="online"} 1' in text
    assert 'nic_fleet_device_up{device="q\\"x",tier="lite"} 1' in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_0-9]+(\{.*\})? \S+', line), line


def test_metrics_server_serves_healthz_and_metrics(tmp_path: Path) -> None:
    """The container HEALTHCHECK's route: a real server on a free loopback port."""
    import urllib.error
    import urllib.request

    from nic_edge.fleet.aggregator.prom import MetricsServer

    st, ing = make(tmp_path)
    ing.handle("nic/dev-h/status", b"online", True)
    ing.handle("nic/dev-h/metrics", sim.SimDevice("dev-h", seed=3).metrics_payload(NOW))
    srv = MetricsServer("127.0.0.1", 0, Renderer(st, tmp_path / "o").model)
    srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/json"
            assert json.loads(r.read()) == {"status": "ok", "devices": 1}
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            assert b'nic_fleet_device_up{device="dev-h"' in r.read()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/nope", timeout=5)
        assert e.value.code == 404
    finally:
        srv.stop()


def test_numbers_beyond_float_range_are_bad_payloads(tmp_path: Path) -> None:
    st = FleetState(SeriesStore(tmp_path / "s"), clock=Clock())
    ing = Ingestor(st, strict=True)  # the stdlib decoder reads any integer (orjson refuses these)
    dev = sim.SimDevice("dev-o", seed=4)
    m = json.loads(dev.metrics_payload(NOW))
    m["resources"]["rss_bytes"] = 10 ** 400
    assert not ing.handle("nic/dev-o/metrics", json.dumps(m).encode())  # counted, not raised
    assert st.devices["dev-o"].counts["bad"] == 1
    assert ing.handle("nic/dev-o/metrics", dev.metrics_payload(NOW))
