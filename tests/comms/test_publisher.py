"""MqttPublisher against a real mosquitto: retained status/info, ordered QoS 1 delivery,
bad broker settings reported, desired hook, discovery, clean shutdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nic_edge.comms import schema
from nic_edge.comms.outbox import Outbox
from nic_edge.comms.publisher import MqttPublisher, backoff_delay
from nic_edge.comms.telemetry_service import TelemetryService
from nic_edge.core.config import parse_config
from tests.comms.helpers import dedup, records, until
from tests.support.broker import Broker


def make_publisher(tmp_path: Path, broker: Broker | None, **mqtt: Any) -> MqttPublisher:
    settings = {"reconnect_max_s": 1.0, **(broker.client_settings() if broker else {}), **mqtt}
    cfg = parse_config({"device": {"id": "dev-a"}, "mqtt": settings})
    return MqttPublisher(cfg, Outbox(tmp_path / "outbox", 1 << 20), info_fn=lambda: {"tier": "lite"})


@pytest.fixture(params=["plain", "tls+password", "mqtt5"])
def any_broker(request: pytest.FixtureRequest) -> tuple[Broker, dict[str, Any]]:
    if request.param == "tls+password":
        return request.getfixturevalue("mosquitto_tls"), {}
    return request.getfixturevalue("mosquitto"), ({"protocol": "5"} if request.param == "mqtt5" else {})


def test_status_info_metrics_and_clean_offline(tmp_path, any_broker, subscriber_factory):
    broker, extra = any_broker
    sub = subscriber_factory(broker, ["nic/#"])
    pub = make_publisher(tmp_path, broker, **extra)
    pub.start()
    try:
        assert until(lambda: pub.status()["state"] == "connected"), pub.status()
        seqs = [pub.submit_metrics({"counters": {"n": i}}) for i in range(5)]
        seqs.append(pub.submit_alert({"alert_id": "a1", "rule": "r", "severity": "critical",
                                      "state": "firing", "value": 2.0, "threshold": 1.0,
                                      "ts": 1.0, "message": "m"}))
        assert sub.wait_for(lambda ms: len(records(ms)) >= 6)
        got = records(sub.messages)
        assert [r["seq"] for r in got] == seqs and seqs == sorted(seqs)
        assert all(r["replayed"] is False for r in got)
        assert until(lambda: pub.status()["backlog"] == 0 and pub.status()["sent"] == 6)
    finally:
        pub.stop()
    assert pub.status()["state"] == "disconnected"
    late = subscriber_factory(broker, ["nic/dev-a/status", "nic/dev-a/info"])
    assert late.wait_for(lambda ms: len(ms) >= 2)
    by_topic = {m.topic: m for m in late.messages}
    assert by_topic["nic/dev-a/status"].retain and by_topic["nic/dev-a/status"].payload == b"offline"
    info = schema.parse_info(by_topic["nic/dev-a/info"].payload)
    assert by_topic["nic/dev-a/info"].retain and info["tier"] == "lite" and info["device"] == "dev-a"


def test_retained_online_while_connected(tmp_path, mosquitto, subscriber_factory):
    pub = make_publisher(tmp_path, mosquitto)
    pub.start()
    try:
        assert until(lambda: pub.status()["state"] == "connected")
        late = subscriber_factory(mosquitto, ["nic/dev-a/status"])
        assert late.wait_for(lambda ms: len(ms) >= 1)
        assert late.messages[0].retain and late.messages[0].payload == b"online"
    finally:
        pub.stop()
    pub.stop()  # twice is harmless


def _error_after_attempt(pub: MqttPublisher) -> str:
    pub.start()
    try:
        return until(lambda: pub.status()["last_error"]) or ""
    finally:
        pub.stop()


def test_wrong_port_is_reported_and_submit_still_stores(tmp_path, mosquitto):
    pub = make_publisher(tmp_path, mosquitto, port=mosquitto.port + 1 if mosquitto.port < 65535 else 1)
    pub.start()
    try:
        err = until(lambda: pub.status()["last_error"])
        assert "refused" in err and "mqtt.port" in err
        assert pub.submit_metrics({}) is not None  # never blocks on the network: goes to disk
        st = pub.status()
        assert st["state"] in ("disconnected", "connecting") and st["backlog"] == 1
    finally:
        pub.stop()


def test_unresolvable_host_is_reported(tmp_path):
    pub = make_publisher(tmp_path, None, host="broker.nonexistent.invalid")
    assert "cannot resolve" in _error_after_attempt(pub)


def test_auth_refused_is_reported(tmp_path, mosquitto_tls):
    (tmp_path / "bad.pw").write_text("wrong\n")
    pub = make_publisher(tmp_path, mosquitto_tls, password_file=str(tmp_path / "bad.pw"))
    err = _error_after_attempt(pub)
    assert "refused the connection" in err and "password" in err


def test_tls_without_the_right_ca_is_reported(tmp_path, mosquitto_tls):
    pub = make_publisher(tmp_path, mosquitto_tls, ca_file="")  # system CAs do not know the test CA
    assert "TLS certificate check failed" in _error_after_attempt(pub)


def test_plain_client_on_tls_port_is_reported(tmp_path, mosquitto_tls):
    pub = make_publisher(tmp_path, mosquitto_tls, tls=False, ca_file="")
    assert "CONNACK" in _error_after_attempt(pub)


def test_desired_hook_and_reported(tmp_path, mosquitto, subscriber_factory):
    got: list[bytes] = []
    cfg = parse_config({"device": {"id": "dev-a"}, "mqtt": mosquitto.client_settings()})
    pub = MqttPublisher(cfg, Outbox(tmp_path / "ob", 1 << 20), on_desired=got.append)
    sub = subscriber_factory(mosquitto, ["nic/dev-a/tier/reported"])
    desired = schema.encode_desired(dict(schema.make_desired("lite", 1, 1.0), sig="a" * 64))
    sub.client.publish("nic/dev-a/tier/desired", desired, qos=1, retain=True).wait_for_publish(5)
    pub.start()
    try:
        assert until(lambda: got) == [desired]  # retained desired delivered on connect
        pub.set_reported(schema.make_reported("lite", "fleet", 1, "applied", None, 2.0))
        assert sub.wait_for(lambda ms: len(ms) >= 1)
        assert schema.parse_reported(sub.messages[0].payload)["status"] == "applied"
    finally:
        pub.stop()


def test_home_assistant_discovery(tmp_path, mosquitto, subscriber_factory):
    pub = make_publisher(tmp_path, mosquitto, ha_discovery=True)
    pub.start()
    try:
        assert until(lambda: pub.status()["state"] == "connected")
        sub = subscriber_factory(mosquitto, ["homeassistant/#"])
        assert sub.wait_for(lambda ms: len(ms) >= 7)
    finally:
        pub.stop()
    import json
    cfgs = {m.topic.split("/")[-2]: json.loads(m.payload) for m in sub.messages}
    assert {"latency_p95", "cache_hit_rate", "memory", "cpu_temperature", "tier",
            "alerts_active", "last_alert"} <= set(cfgs)
    for c in cfgs.values():
        assert c["availability_topic"] == "nic/dev-a/status"
        assert (c["payload_available"], c["payload_not_available"]) == ("online", "offline")
    assert cfgs["tier"]["state_topic"] == "nic/dev-a/info"


def test_disabled_without_host(tmp_path):
    pub = MqttPublisher(parse_config({"device": {"id": "d"}}), None)
    pub.start()
    assert pub.status()["state"] == "disabled" and pub.submit_metrics({}) is None
    pub.stop()


def test_backoff_doubles_with_jitter_and_cap():
    assert [backoff_delay(a, 10, lambda: 1.0) for a in range(6)] == [1, 2, 4, 8, 10, 10]
    assert [backoff_delay(a, 10, lambda: 0.0) for a in range(3)] == [0.5, 1, 2]


def test_telemetry_service_submits_snapshots():
    class Sink:
        def __init__(self) -> None:
            self.snaps: list[dict] = []

        def submit_metrics(self, s: dict) -> int:
            self.snaps.append(s)
            return len(self.snaps)

        def submit_alert(self, e: dict) -> int:
            return -1

    sink = Sink()
    svc = TelemetryService(sink, lambda: {"counters": {}}, 0.02)
    svc.start()
    assert until(lambda: len(sink.snaps) >= 3)
    svc.stop()
    assert svc.submit_alert({}) == -1 and svc.tick() == len(sink.snaps)


def test_replayed_backlog_is_sent_first_and_flagged(tmp_path, mosquitto, subscriber_factory):
    pub = make_publisher(tmp_path, mosquitto, replay_rate_per_s=20.0)
    backlog = [pub.submit_metrics({"counters": {"n": i}}) for i in range(10)]  # before start
    sub = subscriber_factory(mosquitto, ["nic/dev-a/metrics"])
    pub.start()
    try:
        assert until(lambda: pub.status()["state"] == "connected")
        live = pub.submit_metrics({"counters": {"n": 99}})
        assert sub.wait_for(lambda ms: len(records(ms)) >= 11)
    finally:
        pub.stop()
    got = dedup(records(sub.messages))
    assert [r["seq"] for r in got] == backlog + [live]
    assert [r["replayed"] for r in got] == [True] * 10 + [False]
