"""An outbox that cannot be opened at start (a full disk) is retried; telemetry comes back by itself.

Before, ``serve`` logged "MQTT off until restart" and ran with no outbox: the publisher did not
even connect (no ``online``, no ``info``, no tier report, no desired subscription), /healthz
said degraded for ever, and freeing disk space changed nothing until someone restarted the
service. Real ``Device`` in-process, real mosquitto, the outbox on a real tmpfs filled up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from nic_edge.app.serve import Device
from nic_edge.core.config import parse_config
from tests.comms.helpers import records, until
from tests.http.client import request
from tests.support.broker import Broker
from tests.support.device import TINY_MANUAL
from tests.support.tmpfs import fill, tmpfs

DEVICE = "reopen-dev"
ALERT = {"alert_id": "a1", "rule": "r", "severity": "warning", "state": "firing", "value": 2.0,
         "threshold": 1.0, "ts": 1.0, "message": "m"}


@pytest.fixture
def full_outbox_device(tmp_path: Path, mosquitto: Broker) -> Iterator[tuple[Device, Path]]:
    data = tmp_path / "data"
    with tmpfs(data / "outbox", "256k") as disk:
        filler = fill(disk)  # the outbox's file system is full: LMDB cannot create its files
        cfg = parse_config({"device": {"id": DEVICE, "tier": "lite"},
                            "mqtt": {**mosquitto.client_settings(), "reconnect_max_s": 1.0,
                                     "metrics_interval_s": 3600.0},  # snapshots only when the test ticks
                            "alerts": {"enabled": False}})
        dev = Device(cfg, data, port=0)
        assert dev.outbox_opener is not None
        dev.outbox_opener.first_s = dev.outbox_opener.max_s = 0.2
        manual = tmp_path / "tiny_manual.txt"
        manual.write_text(TINY_MANUAL)
        dev.app.engine.index_paths([manual])
        try:
            yield dev, filler
        finally:
            dev.stop()


def healthz(dev: Device) -> dict[str, Any]:
    return request(dev.http.port, "GET", "/healthz").json()


def test_telemetry_comes_back_once_the_disk_has_room(full_outbox_device, mosquitto, subscriber_factory):
    dev, filler = full_outbox_device
    pub = dev.publisher
    assert pub is not None and pub.outbox is None  # the first open failed for real (ENOSPC)
    sub = subscriber_factory(mosquitto, [f"nic/{DEVICE}/#"])
    dev.runtime.start()
    dev.app.started = True

    # Without an outbox the box is still on the fleet: online, info (and it listens for overrides).
    assert sub.wait_for(lambda ms: {m.topic for m in ms} >= {f"nic/{DEVICE}/status", f"nic/{DEVICE}/info"})
    assert sub.on_topic("/status")[-1].payload == b"online"
    assert until(lambda: pub.status()["state"] == "connected"), pub.status()

    health = healthz(dev)
    assert health["status"] == "degraded", health
    note = health["storage"]["outbox"]
    assert "retrying every" in note and "No space left" in note and "until restart" not in note, note

    # Produced while there is no outbox: metrics are counted as dropped; the alert is held in
    # memory (the one saying the disk is full is raised exactly now).
    assert dev.telemetry is not None
    assert [dev.telemetry.tick() for _ in range(3)] == [None, None, None]
    assert pub.submit_alert(ALERT) is None
    st = request(dev.http.port, "GET", "/api/status").json()["mqtt"]
    assert st["spool"] == "off" and st["dropped_by_kind"] == {"metrics": 3, "alerts": 0}, st
    assert st["backlog"] == 1, st
    assert "retrying" in st["last_error"], st
    assert "not kept until the disk has room" in request(dev.http.port, "GET", "/").text

    filler.unlink()  # the technician frees space; nobody restarts anything
    assert until(lambda: pub.outbox is not None), pub.status()
    assert until(lambda: healthz(dev)["status"] == "ok"), healthz(dev)
    assert "storage" not in healthz(dev)

    seq = dev.telemetry.tick()
    alert_seq = pub.submit_alert(ALERT)
    assert seq is not None and alert_seq == seq + 1
    assert sub.wait_for(lambda ms: len(records(ms, DEVICE)) >= 3), [m.topic for m in sub.messages]
    held, metrics, alert = records(sub.messages, DEVICE)
    # The held alert goes first, after the gap of the 3 dropped snapshots, flagged replayed with
    # its own time; the drops are said in the next snapshot.
    assert held["seq"] == seq - 1 and held["replayed"] is True and held["ts"] == ALERT["ts"], held
    assert metrics["seq"] == seq and metrics["drops"] == {"metrics": 3, "alerts": 0}, metrics
    assert metrics["replayed"] is False
    assert alert["seq"] == alert_seq and alert["rule"] == "r" and alert["replayed"] is False
    assert pub.outbox.stats()["dropped"] == {"metrics": 3, "alerts": 0}
    st = request(dev.http.port, "GET", "/api/status").json()["mqtt"]
    assert st["spool"] == "on" and st["last_error"] is None and st["dropped"] == 3, st
    assert "not kept" not in request(dev.http.port, "GET", "/").text
    assert until(lambda: pub.status()["backlog"] == 0 and pub.status()["sent"] == 3), pub.status()


def test_the_seq_gap_matches_the_drops(tmp_path: Path) -> None:
    """Fresh outbox after the failed start: the lost records' seqs are skipped, as for records
    the outbox itself could not store (tests/comms/test_outbox_full_disk.py)."""
    from nic_edge.comms.outbox import Outbox

    ob = Outbox(tmp_path / "outbox", 1 << 20, first_seq=100)
    ob.add_drops(3, 1)
    assert ob.enqueue("metrics", {"x": 1}) == 104
    assert ob.peek(1)[0].payload["drops"] == {"metrics": 3, "alerts": 1}
    ob.close()
    again = Outbox(tmp_path / "outbox", 1 << 20)
    assert again.last_seq == 104 and again.stats()["dropped"] == {"metrics": 3, "alerts": 1}
    assert again.stats()["drops_unreported"] == {"metrics": 0, "alerts": 0}
    again.close()
