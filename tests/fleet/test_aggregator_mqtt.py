"""Integration: real mosquitto, simulated devices in subprocesses (Last Will), the real
``nic-aggregator`` process, a webhook receiver on 127.0.0.1, kill -9 and restart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.aggregator_support import (SimProc, WebhookReceiver, load_sim, start_aggregator, wait_json,
                                           write_agg_config)
from nic_edge.fleet.aggregator.notify import SIG_HEADER, TS_HEADER, verify_signature
from nic_edge.fleet.aggregator.series import SeriesStore
from tests.support.broker import Broker

SECRET = "webhook-s3cret"


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in doc["devices"]}


def test_fleet_dashboard_end_to_end(tmp_path: Path, mosquitto: Broker, stop_procs: list[Any]) -> None:
    hook = WebhookReceiver()
    stop_procs.append(hook)
    (tmp_path / "secret").write_text(SECRET + "\n")
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", mosquitto, out, render_interval_s=0.5,
                           webhook_url=hook.url, webhook_secret_file=str(tmp_path / "secret"),
                           notify_cooldown_s=0.0)
    agg = start_aggregator(cfg, tmp_path / "agg.log")
    stop_procs.append(agg)
    sims = {d: SimProc(mosquitto, d, tier="lite", interval=0.3) for d in ("dev-a", "dev-b", "dev-c")}
    stop_procs.extend(sims.values())
    fj = out / "fleet.json"
    doc = wait_json(fj, lambda d: len(d["devices"]) == 3 and all(x["online"] and x["latency_count"] for x in d["devices"]))
    assert {d["tier"] for d in doc["devices"]} == {"lite"}

    # tier change reported by a box (what it publishes after `nic-fleet set-tier`)
    sims["dev-b"].send("tier standard fleet applied", expect="tier/reported")
    doc = wait_json(fj, lambda d: by_id(d)["dev-b"]["tier"] == "standard")
    assert by_id(doc)["dev-b"]["tier_source"] == "fleet"

    # an alert fires and resolves; the webhook gets correctly signed POSTs
    sims["dev-a"].send("alert firing cpu_temp 82.5", expect="alerts")
    doc = wait_json(fj, lambda d: [a["rule"] for a in by_id(d)["dev-a"]["alerts_active"]] == ["cpu_temp"])
    sims["dev-a"].send("alert resolved cpu_temp 61", expect="alerts")
    wait_json(fj, lambda d: by_id(d)["dev-a"]["alerts_active"] == [])
    assert hook.wait(lambda rs: len(rs) >= 2), hook.requests
    states = []
    for req in hook.requests[:2]:
        h = {k.lower(): v for k, v in req["headers"].items()}
        assert verify_signature(SECRET.encode(), h[TS_HEADER.lower()], req["body"], h[SIG_HEADER.lower()])
        assert not verify_signature(SECRET.encode(), h[TS_HEADER.lower()], req["body"] + b" ", h[SIG_HEADER.lower()])
        assert not verify_signature(SECRET.encode(), str(int(time.time()) - 3600), req["body"], h[SIG_HEADER.lower()])
        body = json.loads(req["body"])
        assert body["device"] == "dev-a" and body["rule"] == "cpu_temp"
        states.append(body["state"])
    assert states == ["firing", "resolved"]

    # SIGKILL one box: the broker publishes its Last Will, the dashboard shows it offline
    sims["dev-c"].kill()
    doc = wait_json(fj, lambda d: by_id(d)["dev-c"]["online"] is False, timeout=30)
    assert by_id(doc)["dev-a"]["online"] and by_id(doc)["dev-b"]["online"]
    page = (out / "devices" / "dev-a.html").read_text()
    assert "cpu_temp" in page and "<svg" in page and "resolved" in page
    index = (out / "index.html").read_text()
    assert all(f">{d}<" in index for d in sims) and "offline" in index


def _points(data: Path, dev: str = "dev-r") -> list[dict[str, Any]]:
    store = SeriesStore(data)
    try:
        return store.series(dev, "10s", 0)
    finally:
        store.close()


def test_kill9_restart_keeps_history_without_duplicates(tmp_path: Path, mosquitto: Broker,
                                                        stop_procs: list[Any]) -> None:
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", mosquitto, out, render_interval_s=0.5,
                           mqtt={"protocol": "5", "client_id": "agg-restart-test"})
    agg = start_aggregator(cfg, tmp_path / "agg.log")
    stop_procs.append(agg)
    sim = SimProc(mosquitto, "dev-r", interval=0.0)
    stop_procs.append(sim)
    fj = out / "fleet.json"
    wait_json(fj, lambda d: len(d["devices"]) == 1)  # retained status seen: the aggregator is subscribed
    for _ in range(12):
        sim.send("metrics", expect="metrics")
    wait_json(fj, lambda d: d["devices"] and d["devices"][0]["last_seq"] == 12)
    time.sleep(1.5)  # > FLUSH_INTERVAL_S: what the dashboard showed is committed
    os.kill(agg.pid, signal.SIGKILL)
    agg.wait(10)
    before = _points(out / ".state")
    assert sum(p["n"] for p in before) == 12
    # while the aggregator is down: new snapshots (queued by the broker for its MQTT 5 session)
    # and the box re-sending old ones from its outbox
    for _ in range(3):
        sim.send("metrics", expect="metrics")
    for seq in (3, 7, 11):
        sim.send(f"replay {seq}", expect="metrics")
    agg = start_aggregator(cfg, tmp_path / "agg2.log")
    stop_procs.append(agg)
    sim.send("replay 14", expect="metrics")
    for _ in range(2):
        sim.send("metrics", expect="metrics")
    doc = wait_json(fj, lambda d: d["devices"] and d["devices"][0]["last_seq"] == 17)
    assert doc["devices"][0]["duplicates"] >= 4  # 3, 7, 11 and 14 (and re-delivered ones, if any)
    agg.send_signal(signal.SIGTERM)
    assert agg.wait(15) == 0
    after = _points(out / ".state")
    assert sum(p["n"] for p in after) == 17  # every snapshot exactly once
    old = {p["t"]: p for p in before}
    for p in after:
        if p["t"] in old:
            assert p == old[p["t"]] or p["n"] > old[p["t"]]["n"]  # history intact (a bucket may have grown)
    assert {p["t"] for p in before} <= {p["t"] for p in after}


@pytest.mark.parametrize("ack", ["auto", "off"])
def test_kill9_before_the_commit(tmp_path: Path, mosquitto: Broker, stop_procs: list[Any], ack: str) -> None:
    """Snapshots applied but not yet committed when the aggregator is killed: with
    ack_after_commit (auto = on with MQTT 5) the broker still holds them and re-sends them on
    restart; acknowledged on arrival ("off") they are gone. Commits come every 30 s and with
    renders (which read LMDB); metrics from a known device change nothing worth a render, so
    the kill lands before their commit."""
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", mosquitto, out, render_interval_s=3600.0, commit_interval_s=30.0,
                           ack_after_commit=ack, mqtt={"protocol": "5", "client_id": f"agg-commit-{ack}"})
    agg = start_aggregator(cfg, tmp_path / "agg.log")
    stop_procs.append(agg)
    sim = SimProc(mosquitto, "dev-c", interval=0.0)
    stop_procs.append(sim)
    fj = out / "fleet.json"
    wait_json(fj, lambda d: len(d["devices"]) == 1)  # subscribed; the device is known (retained status)
    time.sleep(1.5)  # the render that followed is behind us
    for _ in range(12):
        sim.send("metrics", expect="metrics")
    time.sleep(1.0)  # applied in memory (loopback: milliseconds), not committed
    os.kill(agg.pid, signal.SIGKILL)
    agg.wait(10)
    assert sum(p["n"] for p in _points(out / ".state", "dev-c")) == 0  # nothing of it was committed
    mtime = fj.stat().st_mtime_ns
    agg = start_aggregator(cfg, tmp_path / "agg2.log")
    stop_procs.append(agg)
    deadline = time.monotonic() + 20
    while fj.stat().st_mtime_ns == mtime and time.monotonic() < deadline:
        time.sleep(0.1)  # the restarted aggregator's first render: it is running
    sim.send("metrics", expect="metrics")
    time.sleep(1.5)  # re-sent (if still held by the broker) and new snapshots applied
    agg.send_signal(signal.SIGTERM)  # a clean stop commits
    assert agg.wait(15) == 0
    got = sum(p["n"] for p in _points(out / ".state", "dev-c"))
    assert got == (13 if ack == "auto" else 1)  # re-sent by the broker, or lost


def test_kill9_before_the_commit_over_tls(tmp_path: Path, broker_factory: Any, tls_files: Any,
                                          stop_procs: list[Any]) -> None:
    """The same over TLS, where paho's own receive path runs: its manual acks hold the PUBACKs."""
    import paho.mqtt.client as mqtt

    broker = broker_factory(tls=tls_files, password=True)
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", broker, out, render_interval_s=3600.0, commit_interval_s=30.0,
                           mqtt={**broker.client_settings(), "protocol": "5", "client_id": "agg-commit-tls"})
    agg = start_aggregator(cfg, tmp_path / "agg.log")
    stop_procs.append(agg)
    box = load_sim().SimDevice("dev-t", seed=9)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="box-dev-t")
    pub.tls_set(ca_certs=str(broker.ca_file))
    pub.username_pw_set(broker.username, broker.password)
    pub.connect(broker.host, broker.port)
    pub.loop_start()

    def send(payload: bytes, topic: str = "nic/dev-t/metrics", retain: bool = False) -> None:
        pub.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    try:
        fj = out / "fleet.json"
        send(b"online", "nic/dev-t/status", retain=True)
        wait_json(fj, lambda d: len(d["devices"]) == 1)
        time.sleep(1.5)
        for _ in range(12):
            send(box.metrics_payload())
        time.sleep(1.0)
        os.kill(agg.pid, signal.SIGKILL)
        agg.wait(10)
        assert sum(p["n"] for p in _points(out / ".state", "dev-t")) == 0
        mtime = fj.stat().st_mtime_ns
        agg = start_aggregator(cfg, tmp_path / "agg2.log")
        stop_procs.append(agg)
        deadline = time.monotonic() + 20
        while fj.stat().st_mtime_ns == mtime and time.monotonic() < deadline:
            time.sleep(0.1)
        send(box.metrics_payload())
        time.sleep(1.5)
        agg.send_signal(signal.SIGTERM)
        assert agg.wait(15) == 0
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert sum(p["n"] for p in _points(out / ".state", "dev-t")) == 13
