"""On a full disk the audit write fails; what follows it must still happen (issue 22 follow-up).

``serve`` audited alerts and fleet actions straight through ``AuditLog.action``: the ENOSPC
from the audit log escaped, so the ``storage_write_failing`` alert (the one that says the disk
is full) never reached the outbox and was never sent, and a fleet tier override was applied
but never reported. The audit log is pointed at ``/dev/full`` (a real ENOSPC from the kernel);
the outbox is real LMDB on a disk with room.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from nic_edge.app.serve import Device
from nic_edge.core import signing
from nic_edge.core.config import parse_config
from tests.support.device import TINY_MANUAL
from tests.support.tmpfs import audit_on_dev_full

DEVICE = "full-audit"
FLEET = bytes(range(32))


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    data = audit_on_dev_full(tmp_path / "data")  # every audit write: ENOSPC
    key = tmp_path / "device.key"
    signing.write_key(key, signing.derive_device_key(FLEET, DEVICE))
    cfg = parse_config({"device": {"id": DEVICE, "tier": "lite"},
                        "mqtt": {"host": "127.0.0.1", "port": 1},  # no broker: all waits in the outbox
                        "fleet": {"key_file": str(key)}})
    dev = Device(cfg, data, port=0)
    manual = tmp_path / "tiny_manual.txt"
    manual.write_text(TINY_MANUAL)
    dev.app.engine.index_paths([manual])
    dev.app.started = True
    yield dev
    dev.stop()


def _outbox_alerts(dev: Device) -> list[dict]:
    assert dev.publisher is not None and dev.publisher.outbox is not None
    return [r.payload for r in dev.publisher.outbox.peek(100) if r.kind == "alerts"]


def test_the_disk_full_alert_is_queued_although_its_audit_line_fails(device: Device) -> None:
    answer = device.app.ask("How do I replace the fuel filter?")
    assert answer["answer"]
    assert device.app.writes.counts.get("audit", 0) >= 1
    events = device.alerts.tick()  # what the alert thread does each interval
    firing = [e["rule"] for e in events if e["state"] == "firing"]
    assert "storage_write_failing" in firing
    queued = [a["rule"] for a in _outbox_alerts(device)]
    assert queued == firing  # every event of the tick, not only those before the failed audit


def test_a_fleet_override_is_reported_although_its_audit_line_fails(device: Device) -> None:
    assert device.overrides is not None and device.publisher is not None
    body = {"tier": "ultra_lite", "version": int(time.time() * 1000), "issued_at": time.time()}
    body["sig"] = signing.sign(body, DEVICE, signing.derive_device_key(FLEET, DEVICE))
    device._on_desired(json.dumps(body).encode())  # what the MQTT thread calls
    assert device.app.decision.name == "ultra_lite"
    assert device.publisher._reported is not None
    report = json.loads(device.publisher._reported)
    assert report["status"] == "applied" and report["tier"] == "ultra_lite", report
