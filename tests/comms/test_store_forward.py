"""Store-and-forward with a device process: LWT on SIGKILL, broker outage, crash mid-drain,
byte cap. Subscribers de-duplicate on (device, seq) as the contract says."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nic_edge.comms import schema
from nic_edge.comms.outbox import Outbox
from nic_edge.comms.publisher import MqttPublisher
from nic_edge.core.config import parse_config
from tests.comms.helpers import DeviceProc, dedup, records, write_config
from tests.comms.test_publisher import until
from tests.support.broker import Broker

TOPICS = ["nic/dev-a/metrics", "nic/dev-a/alerts", "nic/dev-a/status"]


def seqs_of(sub) -> list[int]:
    return [r["seq"] for r in dedup(records(sub.messages))]


@pytest.mark.parametrize("variant", ["plain", "tls+password"])
def test_device_process_status_metrics_and_last_will(tmp_path, variant, request, subscriber_factory):
    broker: Broker = request.getfixturevalue("mosquitto" if variant == "plain" else "mosquitto_tls")
    sub = subscriber_factory(broker, TOPICS)
    dev = DeviceProc(write_config(tmp_path / "dev.toml", broker), tmp_path / "data", interval=0.1).start()
    try:
        assert sub.wait_for(lambda ms: len(records(ms)) >= 5, 20)
        got = [r["seq"] for r in records(sub.messages)]
        assert got == sorted(got) and len(set(got)) == len(got)
        late = subscriber_factory(broker, ["nic/dev-a/status", "nic/dev-a/info"])
        assert late.wait_for(lambda ms: len(ms) >= 2)
        status = [m for m in late.messages if m.topic.endswith("/status")][0]
        assert status.retain and status.payload == b"online"
        info = [m for m in late.messages if m.topic.endswith("/info")][0]
        assert info.retain and schema.parse_info(info.payload)["board"] == "test rig"
    finally:
        dev.kill()
    assert sub.wait_for(lambda ms: any(m.payload == b"offline" for m in ms if m.topic.endswith("/status")))
    after = subscriber_factory(broker, ["nic/dev-a/status"])
    assert after.wait_for(lambda ms: len(ms) >= 1)
    assert after.messages[0].retain and after.messages[0].payload == b"offline"


def test_broker_outage_loses_nothing(tmp_path, broker_factory, subscriber_factory):
    # Broker persistence keeps the *subscriber's* session across the restart, so the test's
    # subscriber is not racing the device to resubscribe; the device itself uses clean
    # sessions, so its backlog lives only in its own outbox.
    broker = broker_factory(persistence=True)
    sub = subscriber_factory(broker, TOPICS[:2], client_id="outage-sub", persistent=True)
    cfg = write_config(tmp_path / "dev.toml", broker, replay_rate_per_s=50.0)
    dev = DeviceProc(cfg, tmp_path / "data", interval=0.2, alert_every=5).start()
    try:
        assert sub.wait_for(lambda ms: len(records(ms)) >= 5, 20)
        broker.stop()
        outage_from = len(dev.produced)
        time.sleep(5.0)  # the outage: the device keeps producing metrics and alerts
        produced_during = len(dev.produced) - outage_from
        broker.start()
        time.sleep(1.0)
        expected = [s for s, _ in dev.produced]
        assert sub.wait_for(lambda ms: set(expected) <= {r["seq"] for r in records(ms)}, 60), \
            sorted(set(expected) - set(seqs_of(sub)))
    finally:
        dev.terminate()
    assert produced_during >= 15
    assert expected == list(range(expected[0], expected[-1] + 1))  # one shared counter, no gaps
    got = dedup(records(sub.messages))
    got_seqs = [r["seq"] for r in got]
    assert got_seqs == sorted(got_seqs)  # in order after de-duplication
    assert got_seqs[: len(expected)] == expected  # every one, exactly once
    assert any(r.get("replayed") for r in got) and "alerts" in {k for _, k in dev.produced}
    assert any("alert_id" in r for r in got)


def test_sigkill_while_draining_loses_nothing(tmp_path, mosquitto, subscriber_factory):
    data = tmp_path / "data"
    ob = Outbox(data / "outbox", 8 << 20)
    backlog = [ob.enqueue("metrics", schema.build_metrics({"counters": {"i": i}}, seq=0, device="dev-a",
                                                          ts=float(i))) for i in range(40)]
    ob.close()
    sub = subscriber_factory(mosquitto, TOPICS[:2])
    cfg = write_config(tmp_path / "dev.toml", mosquitto, replay_rate_per_s=10.0)
    dev = DeviceProc(cfg, data, interval=0.5).start()
    assert sub.wait_for(lambda ms: len(records(ms)) >= 8, 20)
    dev.kill()  # mid-drain
    assert len(set(seqs_of(sub))) < len(backlog)
    dev2 = DeviceProc(cfg, data, interval=0.5).start()
    try:
        time.sleep(0.5)
        expected = backlog + [s for s, _ in dev.produced + dev2.produced]
        assert sub.wait_for(lambda ms: set(expected) <= {r["seq"] for r in records(ms)}, 60), \
            sorted(set(expected) - set(seqs_of(sub)))
    finally:
        dev2.terminate()
    got_seqs = seqs_of(sub)
    assert got_seqs == sorted(got_seqs) and set(expected) <= set(got_seqs)


def test_tiny_cap_drops_oldest_metrics_keeps_alerts(tmp_path, mosquitto, subscriber_factory):
    cfg = parse_config({"device": {"id": "dev-a"},
                        "mqtt": {**mosquitto.client_settings(), "spool_max_bytes": 4096}})
    pub = MqttPublisher(cfg, Outbox(tmp_path / "ob", cfg.mqtt.spool_max_bytes))
    # Not started yet: exactly like a broker outage, submissions only go to disk.
    alerts, metrics = [], []
    for i in range(60):
        metrics.append(pub.submit_metrics({"counters": {"i": i}, "cache": {"pad": "x" * 100}}))
        if i % 20 == 0:
            alerts.append(pub.submit_alert({"alert_id": f"a{i}", "rule": "r", "severity": "warning",
                                            "state": "firing", "value": 1.0, "threshold": 0.5,
                                            "ts": 1.0, "message": "m"}))
    st = pub.status()
    assert st["dropped"] > 0 and st["dropped_by_kind"]["alerts"] == 0
    sub = subscriber_factory(mosquitto, TOPICS[:2])
    pub.start()
    try:
        assert until(lambda: pub.status()["backlog"] == 0, 30)
        assert sub.wait_for(lambda ms: len(records(ms)) >= st["backlog"])
        pub.submit_metrics({"counters": {}})
        assert sub.wait_for(lambda ms: len(records(ms)) >= st["backlog"] + 1)
    finally:
        pub.stop()
    got = dedup(records(sub.messages))
    assert [r["seq"] for r in got if "alert_id" in r] == alerts  # every alert kept
    got_metrics = [r["seq"] for r in got if "alert_id" not in r]
    assert got_metrics[-1] > metrics[-1] and got_metrics[:-1] == metrics[-len(got_metrics) + 1:]
    assert sum(r["drops"]["metrics"] for r in got if "drops" in r) == st["dropped"]
