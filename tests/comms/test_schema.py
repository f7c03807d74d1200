"""The MQTT contract: topics, payload round trips, hostile payloads rejected with a reason."""

from __future__ import annotations

import json

import pytest

from nic_edge.comms import schema
from nic_edge.comms.schema import SchemaError
from nic_edge.core.sketch import LatencySketch


def alert(**kw):
    base = {"alert_id": "a1", "rule": "latency_p95", "severity": "warning", "state": "firing",
            "value": 1.5, "threshold": 1.0, "ts": 1700000000.0, "message": "slow"}
    base.update(kw)
    return schema.build_alert(base, seq=7, device="dev-a")


def test_topics_and_parse_topic():
    assert schema.status_topic("nic", "dev-a") == "nic/dev-a/status"
    assert schema.desired_topic("plant/nic", "d1") == "plant/nic/d1/tier/desired"
    assert schema.parse_topic("nic/dev-a/tier/reported") == ("dev-a", "tier/reported")
    assert schema.parse_topic("plant/nic/d1/metrics", "plant/nic") == ("d1", "metrics")
    assert schema.subscription("nic", "metrics") == "nic/+/metrics"
    for bad in ("nic/dev-a", "other/dev-a/status", "nic/dev-a/bogus", "nic//status"):
        with pytest.raises(SchemaError):
            schema.parse_topic(bad)
    with pytest.raises(SchemaError):
        schema.topic("nic", "a/b", "status")


def test_status_round_trip():
    assert schema.parse_status(schema.encode_status(True)) is True
    assert schema.parse_status(b"offline") is False
    with pytest.raises(SchemaError):
        schema.parse_status(b"maybe")


def test_metrics_round_trip_carries_sketch_dicts():
    sk = LatencySketch()
    for v in (0.01, 0.02, 0.03):
        sk.add(v)
    snap = schema.build_metrics({"latency": {"answer": sk.to_dict()}, "counters": {"q": 3},
                                 "summary": {"latency_p95_ms": 30.0}},
                                seq=5, device="dev-a", ts=1.0, drops={"metrics": 2, "alerts": 0})
    back = schema.parse_metrics(schema.encode_metrics(snap))
    assert back["seq"] == 5 and back["replayed"] is False and back["drops"]["metrics"] == 2
    assert LatencySketch.from_dict(back["latency"]["answer"]).count == 3


def test_alert_round_trip_and_rejections():
    a = alert()
    assert schema.parse_alert(schema.encode_alert(a)) == a
    for bad in (alert(severity="loud"), alert(state="on"), alert(value="x"),
                dict(a, seq=-1), dict(a, replayed=1), dict(a, ts=float("nan"))):
        with pytest.raises(SchemaError):
            schema.encode_alert(bad)


def test_desired_strict_and_empty_ignored():
    d = dict(schema.make_desired("lite", 3, 1700000000.0), sig="ab" * 32)
    assert schema.parse_desired(schema.encode_desired(d)) == d
    assert schema.parse_desired(b"") is None
    cleared = dict(d, tier=None)
    assert schema.parse_desired(json.dumps(cleared).encode())["tier"] is None


@pytest.mark.parametrize("payload,reason", [
    (b"\xff\xfe", "UTF-8"),
    (b"{", "not JSON"),
    (b"[1]", "object"),
    (b"x" * 2048, "too large"),
    (b'{"tier":"lite","tier":"full","version":1,"issued_at":1,"sig":"' + b"a" * 64 + b'"}', "duplicate"),
    (b'{"tier":"lite","version":NaN,"issued_at":1,"sig":"' + b"a" * 64 + b'"}', "NaN"),
    (b'{"tier":"mega","version":1,"issued_at":1,"sig":"' + b"a" * 64 + b'"}', "tier"),
    (b'{"tier":"lite","version":true,"issued_at":1,"sig":"' + b"a" * 64 + b'"}', "version"),
    (b'{"tier":"lite","version":1,"issued_at":1,"sig":"zz"}', "sig"),
    (b'{"tier":"lite","version":1,"issued_at":1,"sig":"' + b"a" * 64 + b'","x":1}', "unknown"),
    (b'{"tier":"lite","version":1,"issued_at":1}', "missing"),
    (b"[" * 600 + b"]" * 600, "too large"),
])
def test_desired_hostile_payloads(payload, reason):
    with pytest.raises(SchemaError, match=reason):
        schema.parse_desired(payload)


def test_deep_nesting_within_size_is_rejected_not_crashing():
    deep = b"[" * 100_000 + b"]" * 100_000  # 200 KB: under the metrics cap, far too deep
    with pytest.raises(SchemaError, match="nests too deeply"):
        schema.parse_metrics(deep)


def test_reported_and_info():
    r = schema.make_reported("lite", "fleet", 3, "applied", None, 2.0)
    assert schema.parse_reported(schema.encode_reported(r)) == r
    with pytest.raises(SchemaError):
        schema.encode_reported(dict(r, status="done"))
    info = {"device": "dev-a", "version": "0.1.0", "ts": 1.0, "board": "Pi 4", "ram_bytes": 1 << 30,
            "tier": "lite", "index": {"chunks": 10}, "extra": "kept"}
    assert schema.parse_info(schema.encode_info(info))["extra"] == "kept"


def test_encode_refuses_oversize_metrics():
    snap = schema.build_metrics({"cache": {"blob": "x" * (300 * 1024)}}, seq=1, device="d", ts=1.0)
    with pytest.raises(SchemaError, match="too large"):
        schema.encode_metrics(snap)


@pytest.mark.parametrize("ts", [1e300, -1.0, 2.0 ** 32, 1e12, True])
def test_device_clocks_are_bounded_in_every_telemetry_payload(ts):
    # a box's time is formatted (time.gmtime/localtime) and bucketed (u32 keys) by every reader:
    # 1e300 is finite, yet ended the aggregator's loop and `nic-fleet status`/`alerts`
    info = {"device": "d", "version": "1", "ts": ts, "board": None, "ram_bytes": None, "tier": None, "index": {}}
    snap = schema.build_metrics({}, seq=1, device="d", ts=ts)
    reported = schema.make_reported("lite", "fleet", 1, "applied", None, ts)
    for parse, body in ((schema.parse_alert, alert(ts=ts)), (schema.parse_metrics, snap),
                        (schema.parse_info, info), (schema.parse_reported, reported)):
        with pytest.raises(SchemaError, match="ts: must be a Unix time in seconds"):
            parse(json.dumps(body).encode())
    for ok in (0, 1700000000.5, 2 ** 32 - 1):  # a box without RTC or NTP may say 1970: still read
        assert schema.parse_alert(schema.encode_alert(alert(ts=ok)))["ts"] == ok
