"""One message, one stored record or one failed write must not stop the aggregator's loop:
sketches it cannot merge, device clocks out of range, numbers whose derived values overflow,
an output folder removed while it runs; and the overview follows the newest snapshot by seq."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator.buckets import Point
from nic_edge.fleet.aggregator.ingest import Ingestor
from nic_edge.fleet.aggregator.main import AggregatorLoop
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState
from tests.fleet.aggregator_support import Clock, load_sim, start_aggregator, wait_json, write_agg_config
from tests.fleet.test_hostile_mqtt import publish
from tests.support.broker import Broker

sim = load_sim()
NOW = 1_700_000_000.0
# the tester's payload: a latency sketch of another gamma (LatencySketch.from_dict takes any in (1, 2])
EVIL_SKETCH = {"v": 2, "g": 1.5, "k": [-11], "c": [1], "z": 0, "n": 1, "s": 0.01, "mn": 0.01, "mx": 0.01}


def make(tmp: Path, clock: Clock | None = None) -> tuple[FleetState, Ingestor]:
    st = FleetState(SeriesStore(tmp / "state"), clock=clock or Clock(NOW))
    return st, Ingestor(st)


def metrics(dev: str, seq: int, ts: float = NOW, **over: Any) -> bytes:
    """A valid snapshot (one 10 ms answer) with ``over`` replacing top-level keys."""
    sk = LatencySketch()
    sk.add(0.01)
    body: dict[str, Any] = {
        "seq": seq, "ts": ts, "replayed": False, "device": dev, "cache": {}, "counters": {},
        "drops": {"metrics": 0, "alerts": 0}, "resources": {"rss_bytes": 60 << 20, "memory_budget_bytes": 320 << 20},
        "latency": {"answer": {"p50": 0.01, "p95": 0.01, "p99": 0.01, "count": 1, "sum": 0.01,
                               "sketch": sk.to_compact()}}}
    body.update(over)
    return json.dumps(body).encode()


def alert(dev: str, seq: int, ts: float = NOW, **over: Any) -> bytes:
    body = {"alert_id": "x-1", "rule": "x", "severity": "critical", "state": "firing", "value": 1,
            "threshold": 0, "ts": ts, "message": "m", "seq": seq, "device": dev, "replayed": False}
    return json.dumps({**body, **over}).encode()


def fleet_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "fleet.json").read_text())  # strict JSON: no NaN/Infinity either


def render_all(st: FleetState, out: Path, now: float = NOW) -> dict[str, Any]:
    r = Renderer(st, out)
    r.run_analytics(now=now, report=True)
    r.render(now=now, all_pages=True)
    return fleet_json(out)


def test_a_sketch_of_another_gamma_is_refused_at_ingest(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    assert ing.handle("nic/evil1/status", b"online", retained=True)
    bad = {"p50": 0.01, "p95": 0.01, "p99": 0.01, "count": 1, "sum": 0.01, "sketch": EVIL_SKETCH}
    assert not ing.handle("nic/evil1/metrics", metrics("evil1", 1, latency={"answer": bad}))
    assert st.devices["evil1"].counts["bad"] == 1
    assert ing.handle("nic/good/metrics", metrics("good", 1))
    st.flush()
    doc = render_all(st, tmp_path / "out")
    assert {d["id"]: d["latency_count"] for d in doc["devices"]} == {"evil1": 0, "good": 1}


def test_a_stored_sketch_of_another_gamma_is_skipped_by_every_reader(tmp_path: Path) -> None:
    # what a store written before ingestion refused them holds: the restart and --once crashed
    st, ing = make(tmp_path)
    assert ing.handle("nic/evil1/status", b"online", retained=True)
    st.store.add("evil1", Point(NOW - 20, 1, 1, sketch=LatencySketch.from_dict(EVIL_SKETCH), raw=EVIL_SKETCH), NOW)
    st.flush()
    st.store.close()
    st2, ing2 = make(tmp_path)
    assert ing2.handle("nic/evil1/metrics", metrics("evil1", 1))  # merges into the rebuilt 5-minute bucket
    doc = render_all(st2, tmp_path / "out")
    assert [d["id"] for d in doc["devices"]] == ["evil1"] and doc["devices"][0]["latency_count"] == 1
    assert (tmp_path / "out" / "devices" / "evil1.html").exists()


def test_device_clocks_out_of_range_are_refused_and_stored_ones_render(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    assert not ing.handle("nic/bigts/alerts", alert("bigts", 5, ts=1e300))
    assert not ing.handle("nic/bigts/metrics", metrics("bigts", 6, ts=1e300))
    assert st.devices["bigts"].counts["bad"] == 2 and st.devices["bigts"].alerts_active == {}
    # an alert stored by a version that accepted any finite ts (it survived restarts)
    a = json.loads(alert("bigts", 7, ts=1e300))
    assert st.apply_alert("bigts", a)
    st.flush()
    doc = render_all(st, tmp_path / "out")
    assert doc["devices"][0]["alerts_active"][0]["since"] == 1e300
    assert "critical alert" in (tmp_path / "out" / "index.html").read_text()


def test_derived_values_that_overflow_do_not_break_fleet_json(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    res = {"rss_bytes": 1e308, "memory_budget_bytes": 1e-308}
    assert ing.handle("nic/a/metrics", metrics("a", 1, resources=res, summary={"cache_hit_rate": 1e308}))
    assert ing.handle("nic/b/metrics", metrics("b", 1, summary={"cache_hit_rate": 1e308}))
    for d in ("a", "b"):
        ing.handle(f"nic/{d}/status", b"online")
    doc = render_all(st, tmp_path / "out")
    a = next(d for d in doc["devices"] if d["id"] == "a")
    assert a["memory_ratio"] is None and a["memory_budget_bytes"] is None and a["cache_hit_rate"] is None
    assert doc["fleet"]["cache_hit_rate_mean"] is None
    # a summary stored by an older version, which kept such numbers
    st.devices["a"].metrics.update(rss_bytes=1e308, budget_bytes=1e-308)
    st.devices["b"].metrics.update(cache_hit_rate=1e308)
    st.devices["a"].metrics.update(cache_hit_rate=1e308)
    doc = render_all(st, tmp_path / "out")
    assert next(d for d in doc["devices"] if d["id"] == "a")["memory_ratio"] is None
    assert doc["fleet"]["cache_hit_rate_mean"] is None


def test_output_folder_removed_while_running(tmp_path: Path) -> None:
    st, ing = make(tmp_path)
    assert ing.handle("nic/dev-a/metrics", metrics("dev-a", 1))
    out = tmp_path / "out"
    r = Renderer(st, out)
    r.render(now=NOW)
    shutil.rmtree(out / "devices")
    r.render(now=NOW + 1, all_pages=True)
    assert (out / "devices" / "dev-a.html").exists()
    shutil.rmtree(out)
    r.render(now=NOW + 2, all_pages=True)
    assert fleet_json(out)["generated_at"] == NOW + 2 and (out / "devices" / "dev-a.html").exists()


def test_the_loop_survives_a_failing_render_and_renders_again(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    st, ing = make(tmp_path)
    out = tmp_path / "out"
    (out / "index.html").mkdir(parents=True)  # index.html cannot be replaced: every render fails
    loop = AggregatorLoop(st, Renderer(st, out, 0.1), render_interval_s=0.1, report_interval_s=1e6,
                          commit_interval_s=0.05)
    loop.start()
    try:
        assert ing.handle("nic/dev-a/status", b"online", retained=True)
        deadline = time.monotonic() + 20
        while not any(r.levelno >= logging.ERROR for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "IsADirectoryError" in caplog.text, "the render did not fail as arranged"
        (out / "index.html").rmdir()
        assert ing.handle("nic/dev-b/status", b"online", retained=True)
        wait_json(out / "fleet.json", lambda d: {x["id"] for x in d["devices"]} == {"dev-a", "dev-b"})
    finally:
        (out / "index.html").unlink()
        (out / "index.html").mkdir()
        loop.stop()  # the final render fails again: logged, not raised


def test_overview_follows_the_newest_seq_not_a_far_future_clock(tmp_path: Path) -> None:
    clock = Clock(NOW)
    st, ing = make(tmp_path, clock)
    assert ing.handle("nic/d/metrics", metrics("d", 1, ts=4e9, mode="lexical"))  # clock far ahead (2096)
    for seq in (2, 3):
        clock.t += 10
        assert ing.handle("nic/d/metrics", metrics("d", seq, ts=clock.t, mode="hybrid"))
    assert st.devices["d"].metrics["seq"] == 3 and st.devices["d"].metrics["mode"] == "hybrid"
    # an older snapshot arriving late (replayed, with a later clock) does not take the overview back
    assert ing.handle("nic/d/metrics", metrics("d", 5, ts=clock.t + 10, mode="hybrid"))
    assert ing.handle("nic/d/metrics", metrics("d", 4, ts=clock.t + 20, replayed=True, mode="lexical"))
    assert st.devices["d"].metrics["seq"] == 5 and st.devices["d"].metrics["mode"] == "hybrid"


def test_the_tester_repro_over_mqtt_keeps_the_dashboard_alive(tmp_path: Path, mosquitto: Broker) -> None:
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", mosquitto, out, render_interval_s=0.3)
    agg = start_aggregator(cfg, tmp_path / "agg.log")
    try:
        assert publish(mosquitto, "nic/evil1/status", b"online")
        wait_json(out / "fleet.json", lambda d: "evil1" in {x["id"] for x in d["devices"]})
        bad = {"p50": 0.01, "p95": 0.01, "p99": 0.01, "count": 1, "sum": 0.01, "sketch": EVIL_SKETCH}
        assert publish(mosquitto, "nic/evil1/metrics", metrics("evil1", 1, latency={"answer": bad}), retain=False)
        assert publish(mosquitto, "nic/bigts/alerts", alert("bigts", 5, ts=1e300), retain=False)
        res = {"rss_bytes": 1e308, "memory_budget_bytes": 1e-308}
        assert publish(mosquitto, "nic/inf/metrics", metrics("inf", 1, resources=res), retain=False)
        assert publish(mosquitto, "nic/after/status", b"online")
        doc = wait_json(out / "fleet.json", lambda d: {"after", "inf"} <= {x["id"] for x in d["devices"]})
        assert doc["fleet"]["ingest"]["bad"] == 2
    finally:
        agg.terminate()
        assert agg.wait(20) == 0
    log = (tmp_path / "agg.log").read_text()
    assert "Traceback" not in log and "crashed" not in log
