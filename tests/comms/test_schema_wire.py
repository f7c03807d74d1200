"""The compact metrics wire format: what a box sends, and that it carries what consumers read."""

from __future__ import annotations

import json
import math

from nic_edge.comms import schema
from nic_edge.core.sketch import LatencySketch
from nic_edge.telemetry.device_metrics import DeviceMetrics
from nic_edge.telemetry.metrics import sketch_entry
from tests.fleet.aggregator_support import load_sim

sim = load_sim()


def _sketch(values: list[float]) -> LatencySketch:
    sk = LatencySketch()
    for v in values:
        sk.add(v)
    return sk


def test_light_entry_is_a_rounded_array() -> None:
    sk = _sketch([0.0123456789, 0.0234567891, 0.5])
    e = schema.light_entry(sketch_entry(sk))
    assert len(e) == len(schema.LIGHT_FIELDS) == 5
    p50, p95, p99, count, total = e
    assert count == 3 and total == float(f"{sk.sum:.6g}")
    for got, exact in zip((p50, p95, p99), sk.quantiles((0.5, 0.95, 0.99))):
        assert got == float(f"{exact:.4g}") and abs(got - exact) / exact < 1e-3  # << sketch alpha
    assert schema.light_entry(sketch_entry(LatencySketch())) == [None, None, None, 0, 0]


def test_round_keeps_what_matters() -> None:
    assert schema._round(8.718125317894355) == 8.71813
    assert schema._round(9.0) == 9 and type(schema._round(9.0)) is int
    assert schema._round(1234567.891) == 1234567.891  # beyond 6 digits of integer part: untouched
    assert schema._round(0.000123456789) == 0.000123457
    assert schema._round(-2.5) == -2.5 and schema._round(True) is True and schema._round("x") == "x"
    assert math.isnan(schema._round(float("nan")))  # validation, not rounding, rejects it


def test_build_metrics_rounds_plain_numbers_and_keeps_answer_exact() -> None:
    sk = _sketch([0.0123456789, 0.0234567891])
    answer = sketch_entry(sk)
    answer["sketch"] = sk.to_compact()
    snap = {"latency": {"answer": answer, "stages": {"embed": schema.light_entry(sketch_entry(sk))}},
            "resources": {"cpu_percent": 12.345678912, "rss_bytes": 1234, "memory_state": "ok"},
            "counters": {"q{answered}": 2.0}, "summary": {"cache_hit_rate": 0.33333333333333}}
    body = schema.parse_metrics(schema.encode_metrics(schema.build_metrics(snap, seq=1, device="d", ts=5.0)))
    assert body["latency"]["answer"] == json.loads(json.dumps(answer))  # exact: checked against the sketch
    assert LatencySketch.from_dict(body["latency"]["answer"]["sketch"]).bins == sk.bins
    assert body["resources"] == {"cpu_percent": 12.3457, "rss_bytes": 1234, "memory_state": "ok"}
    assert body["counters"] == {"q{answered}": 2} and body["summary"]["cache_hit_rate"] == 0.333333


def test_device_snapshot_sends_a_compact_answer_sketch() -> None:
    dm = DeviceMetrics()
    for v in (0.02, 0.03, 0.05):
        dm.record_question("answered", v, None)
    answer = dm.snapshot(reset_interval=True)["latency"]["answer"]
    assert answer["sketch"]["v"] == 2 and answer["count"] == 3
    assert LatencySketch.from_dict(answer["sketch"]).count == 3


def test_current_payload_is_smaller_than_the_legacy_one() -> None:
    new = sim.SimDevice("dev-a", seed=7).metrics_payload(1_700_000_000.0)
    old = sim.SimDevice("dev-a", seed=7, legacy=True).metrics_payload(1_700_000_000.0)
    assert len(new) < 0.75 * len(old)
    n, o = schema.parse_metrics(new), schema.parse_metrics(old)
    assert n["latency"]["answer"]["sketch"]["v"] == 2 and o["latency"]["answer"]["sketch"]["v"] == 1
    assert isinstance(n["latency"]["stages"]["embed"], list) and isinstance(o["latency"]["stages"]["embed"], dict)
    assert n["latency"]["stages"]["embed"][3] == o["latency"]["stages"]["embed"]["count"]
    # the same observations on both
    assert LatencySketch.from_dict(n["latency"]["answer"]["sketch"]).bins == \
        LatencySketch.from_dict(o["latency"]["answer"]["sketch"]).bins
