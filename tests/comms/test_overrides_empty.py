"""A deleted retained tier/desired (empty payload) on a real broker: the box says nothing, so
the retained tier/reported keeps the last real report (DESIGN: applied|rejected|cleared)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from nic_edge.core import signing  # noqa: E402
from tests.support.broker import Broker, Subscriber  # noqa: E402
from tests.support.content_device import SimDevice  # noqa: E402

FLEET = bytes(range(32))


def desired(tier: str, version: int) -> bytes:
    body = {"tier": tier, "version": version, "issued_at": time.time()}
    body["sig"] = signing.sign(body, "dev-a", signing.derive_device_key(FLEET, "dev-a"))
    return json.dumps(body).encode()


def test_an_empty_desired_publishes_no_report(tmp_path: Path, mosquitto: Broker) -> None:
    sub = Subscriber(mosquitto, ["nic/dev-a/tier/reported"])
    dev = SimDevice("dev-a", tmp_path / "d", mosquitto.client_settings(), None,
                    device_key=signing.derive_device_key(FLEET, "dev-a")).start()

    def reports() -> list[dict]:
        return [json.loads(m.payload) for m in sub.messages if m.payload]

    def reported(version: int) -> bool:
        return any(r["version"] == version and r["status"] == "applied" and r["reason"] is None for r in reports())

    try:
        topic = "nic/dev-a/tier/desired"
        sub.client.publish(topic, desired("standard", 5), qos=1, retain=True).wait_for_publish(10)
        assert sub.wait_for(lambda _: reported(5), 20)
        sub.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)  # deleted
        # The box handles its messages in order: once v6 is reported, the empty one was seen.
        sub.client.publish(topic, desired("full", 6), qos=1, retain=True).wait_for_publish(10)
        assert sub.wait_for(lambda _: reported(6), 20)
        assert {r["status"] for r in reports()} == {"applied"}, reports()
    finally:
        dev.stop()
        sub.close()
