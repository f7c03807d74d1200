"""Registry and DeviceMetrics: counters, gauges, interval/cumulative sketches, alert window."""

from __future__ import annotations

import json
import threading

import pytest

from nic_edge.core.sketch import LatencySketch
from nic_edge.telemetry.device_metrics import OUTCOMES, STAGES, DeviceMetrics
from nic_edge.telemetry.metrics import Registry


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_counter_gauge_histogram_basics() -> None:
    reg = Registry()
    c = reg.counter("nic_edge_things_total", "Things", ("kind",))
    c.labels("a").inc()
    c.labels("a").inc(2)
    c.labels("b").inc()
    g = reg.gauge("nic_edge_level", "Level")
    g.set(3.5)
    h = reg.histogram("nic_edge_op_seconds", "Op time")
    for v in (0.1, 0.2, 0.3):
        h.observe(v)
    snap = reg.snapshot()
    assert snap["counters"]["nic_edge_things_total"] == {"a": 3.0, "b": 1.0}
    assert snap["gauges"]["nic_edge_level"] == 3.5
    entry = snap["histograms"]["nic_edge_op_seconds"]
    assert entry["count"] == 3 and entry["p50"] == pytest.approx(0.2, rel=0.01)
    assert reg.counter("nic_edge_things_total", "Things", ("kind",)) is c  # idempotent
    with pytest.raises(ValueError):
        reg.gauge("nic_edge_things_total", "clash")
    with pytest.raises(ValueError):
        c.labels("a", "b")
    with pytest.raises(ValueError):
        reg.counter("bad name", "x")
    with pytest.raises(ValueError):
        reg.counter("nic_edge_x_total", "x", ("quantile",))
    with pytest.raises(ValueError):
        reg.counter("nic_edge_y_total", "y").inc(-1)
    assert reg.snapshot()["gauges"].get("nic_edge_unset") is None


def test_interval_reset_and_cumulative_views() -> None:
    reg = Registry()
    h = reg.histogram("nic_edge_op_seconds", "Op time")
    for v in (0.1, 0.2):
        h.observe(v)
    first = reg.snapshot(reset_interval=True)["histograms"]["nic_edge_op_seconds"]
    assert first["count"] == 2
    h.observe(0.4)
    second = reg.snapshot(reset_interval=True)["histograms"]["nic_edge_op_seconds"]
    assert second["count"] == 1 and second["p50"] == pytest.approx(0.4, rel=0.01)
    assert reg.snapshot(reset_interval=True)["histograms"]["nic_edge_op_seconds"]["count"] == 0
    cumulative = reg.snapshot()["histograms"]["nic_edge_op_seconds"]
    assert cumulative["count"] == 3 and cumulative["sum"] == pytest.approx(0.7)
    # Interval sketches merge back into the cumulative one exactly (what the aggregator does).
    merged = LatencySketch.from_dict(first["sketch"])
    merged.merge(LatencySketch.from_dict(second["sketch"]))
    assert merged.bins == LatencySketch.from_dict(cumulative["sketch"]).bins


def test_registry_is_thread_safe() -> None:
    reg = Registry()
    c = reg.counter("nic_edge_hits_total", "Hits")
    h = reg.histogram("nic_edge_t_seconds", "T", ("stage",))

    def work() -> None:
        for i in range(2000):
            c.inc()
            h.labels("s%d" % (i % 3)).observe(0.001 * (i % 50 + 1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = reg.snapshot()
    assert snap["counters"]["nic_edge_hits_total"] == 8000
    assert sum(e["count"] for e in snap["histograms"]["nic_edge_t_seconds"].values()) == 8000


def test_device_metrics_snapshot_shape_and_outcomes() -> None:
    m = DeviceMetrics(clock=FakeClock())
    for stage in STAGES:
        m.observe_stage(stage, 0.002)
    m.record_answer({"latency_ms": 20.0, "abstained": False, "cached": None})
    m.record_answer({"latency_ms": 2.0, "abstained": False, "cached": "l1"})
    m.record_answer({"latency_ms": 30.0, "abstained": True, "reason": "low_confidence", "cached": "l2"})
    m.record_answer({"latency_ms": 0.1, "abstained": True, "reason": "invalid_input", "cached": None})
    m.record_error(0.5)
    snap = json.loads(json.dumps(m.snapshot()))  # JSON-able
    assert snap["window"] == "cumulative"
    assert set(snap["latency"]["stages"]) == set(STAGES)
    assert set(snap["latency"]["outcomes"]) == set(OUTCOMES)
    answer = snap["latency"]["answer"]
    assert answer["count"] == 4  # invalid excluded
    assert set(answer) >= {"p50", "p95", "p99", "count", "sketch"}
    LatencySketch.from_dict(answer["sketch"])
    assert snap["counters"]["nic_edge_questions_total"] == {"abstained": 1, "answered": 2, "error": 1, "invalid": 1}
    assert snap["counters"]["nic_edge_cache_lookups_total"] == {"l1": 1, "l2": 1, "miss": 1}
    interval = m.snapshot(reset_interval=True)
    assert interval["window"] == "interval" and interval["latency"]["answer"]["count"] == 4
    assert m.snapshot(reset_interval=True)["latency"]["answer"]["count"] == 0
    assert m.latency_summary()["answer"]["count"] == 4


def test_alert_values_window_and_resources() -> None:
    clock = FakeClock()
    m = DeviceMetrics(clock=clock, window_s=100.0, min_samples=5)
    assert m.alert_values()["answer_latency_p95_ms"] is None  # no data yet
    for i in range(8):
        m.record_answer({"latency_ms": 100.0, "abstained": False, "cached": "l1" if i < 2 else None})
    m.record_error()
    m.record_error()
    v = m.alert_values()
    assert v["answer_latency_p95_ms"] == pytest.approx(100.0, rel=0.01)
    assert v["error_rate"] == pytest.approx(2 / 10)
    assert v["cache_hit_rate"] == pytest.approx(2 / 8)
    clock.t += 60  # older half still counted
    assert m.alert_values()["questions_in_window"] == 10
    clock.t += 120  # whole window passed
    v = m.alert_values()
    assert v["questions_in_window"] == 0 and v["error_rate"] is None
    m.set_resources({"rss_bytes": 200 * 1048576, "cpu_temp_c": 71.5, "disk_free_bytes": 50 * 1048576,
                     "throttled": 0x50005, "throttled_now": True, "cpu_percent": None})
    m.set_budget({"budget_bytes": 160 * 1048576, "level": 2})
    m.set_mode("lexical")
    v = m.alert_values()
    assert v["rss_mib"] == 200 and v["memory_budget_ratio"] == pytest.approx(1.25)
    assert v["cpu_temp_c"] == 71.5 and v["disk_free_mib"] == 50 and v["throttled_now"] == 1.0
    assert v["lexical_mode"] == 1.0 and v["memory_degraded_level"] == 2.0
    text = m.prometheus_text()
    assert "nic_edge_cpu_temperature_celsius 71.5" in text
    assert "\nnic_edge_cpu_percent " not in text  # unknown values are omitted, not reported as 0
