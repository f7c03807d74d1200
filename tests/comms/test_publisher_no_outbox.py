"""MqttPublisher with no outbox (it could not be opened), then one attached while connected;
and an outbox that fills up at runtime and recovers once the disk has room. Real mosquitto,
real LMDB, a real full tmpfs."""

from __future__ import annotations

from typing import Any

from nic_edge.comms import schema
from nic_edge.comms.outbox import Outbox
from nic_edge.comms.publisher import MqttPublisher
from nic_edge.core.config import parse_config
from tests.comms.helpers import records, until
from tests.support.tmpfs import fill, tmpfs

ALERT = {"alert_id": "a1", "rule": "r", "severity": "critical", "state": "firing", "value": 2.0,
         "threshold": 1.0, "ts": 1.0, "message": "m"}
REPORT = {"tier": "lite", "source": "fleet", "version": 7, "status": "applied", "reason": None, "ts": 1.0}


def _cfg(broker: Any) -> Any:
    return parse_config({"device": {"id": "dev-a"}, "mqtt": {"reconnect_max_s": 1.0, **broker.client_settings()}})


def test_connects_without_an_outbox_and_replays_the_one_attached_later(tmp_path, mosquitto, subscriber_factory):
    sub = subscriber_factory(mosquitto, ["nic/#"])
    pub = MqttPublisher(_cfg(mosquitto), None, info_fn=lambda: {"tier": "lite"}, on_desired=lambda b: None,
                        storage_error="cannot open the outbox")
    pub.set_reported(REPORT)
    pub.start()
    try:
        assert until(lambda: pub.status()["state"] == "connected"), pub.status()
        # status, info and the tier report go out with no outbox at all
        assert sub.wait_for(lambda ms: {m.topic for m in ms} >= {"nic/dev-a/status", "nic/dev-a/info",
                                                                 "nic/dev-a/tier/reported"})
        assert schema.parse_reported(sub.on_topic("/tier/reported")[-1].payload)["version"] == 7
        assert pub.submit_metrics({"counters": {"n": 1}}) is None
        assert pub.submit_alert(ALERT) is None
        st = pub.status()
        # the metrics snapshot is dropped; the alert is held in memory until an outbox opens
        assert st["spool"] == "off" and st["dropped_by_kind"] == {"metrics": 1, "alerts": 0}
        assert st["backlog"] == 1
        assert pub.storage_error == "cannot open the outbox"

        # The runtime opens the store, which holds a backlog from before (e.g. a previous run).
        outbox = Outbox(tmp_path / "outbox", 1 << 20, first_seq=500)
        old = [outbox.enqueue("metrics", schema.build_metrics({"counters": {"old": i}}, seq=0,
                                                              device="dev-a", ts=1.0)) for i in range(2)]
        pub.attach_outbox(outbox)
        assert pub.storage_error is None and pub.status()["spool"] == "on"
        new = pub.submit_metrics({"counters": {"n": 2}})
        # one metrics lost (a gap of one seq), then the held alert, stored on attach
        assert new == old[-1] + 1 + 1 + 1
        assert sub.wait_for(lambda ms: len(records(ms)) >= 4)
        got = records(sub.messages)
        assert [r["seq"] for r in got] == old + [new - 1, new]
        assert [r["replayed"] for r in got] == [True, True, True, False]
        assert got[2]["rule"] == ALERT["rule"] and got[2]["ts"] == ALERT["ts"]
        assert got[-1]["drops"] == {"metrics": 1, "alerts": 0}
        assert until(lambda: pub.status()["backlog"] == 0), pub.status()
        assert pub.status()["dropped_by_kind"] == {"metrics": 1, "alerts": 0}
    finally:
        pub.stop()


def test_an_outbox_that_filled_up_at_runtime_recovers_when_space_is_back(tmp_path, mosquitto, subscriber_factory):
    """No reopen is needed here: LMDB fails the writes with ENOSPC and takes them again once
    there is room; the publisher's error clears at the first record stored."""
    sub = subscriber_factory(mosquitto, ["nic/dev-a/metrics"])
    with tmpfs(tmp_path / "disk", "1m") as disk:
        outbox = Outbox(disk / "outbox", 256 * 1024)
        pub = MqttPublisher(_cfg(mosquitto), outbox)
        mosquitto.stop()  # records pile up on disk meanwhile
        pub.start()
        try:
            for i in range(20):
                assert pub.submit_metrics({"counters": {"n": i}, "pad": {"x": "y" * 300}}) is not None
            filler = fill(disk)
            lost = sum(pub.submit_metrics({"counters": {"n": i}}) is None for i in range(40))
            assert lost > 0 and "No space left" in (pub.storage_error or "")
            filler.unlink()
            seq = pub.submit_metrics({"counters": {"after": 1}})
            assert seq is not None and pub.storage_error is None
            mosquitto.start()
            assert sub.wait_for(lambda ms: any(r["seq"] == seq for r in records(ms)), timeout=30)
            last = [r for r in records(sub.messages) if r["seq"] == seq][0]
            assert last["drops"]["metrics"] == lost and last["replayed"] is True
        finally:
            pub.stop()
