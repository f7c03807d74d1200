"""Issue 8: real mosquitto, two real device processes, nic-fleet set-tier / clear-tier."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.device import DeviceServer, prepare_data_dir, run_cli, write_toml


def fleet_setup(tmp_path: Path, broker: Broker) -> tuple[Path, dict[str, Path]]:
    fleet_key = tmp_path / "fleet.key"
    assert run_cli("keygen", "--out", str(fleet_key), module="nic_edge.cli.fleet").returncode == 0
    fleet_cfg = write_toml(tmp_path / "fleet.toml", {
        "mqtt": broker.client_settings(), "fleet": {"key_file": str(fleet_key), "report_timeout_s": 20.0}})
    configs = {}
    for dev, tier in (("dev-a", "standard"), ("dev-b", "auto")):
        d = tmp_path / dev
        d.mkdir()
        key = d / "device.key"
        r = run_cli("--config", str(fleet_cfg), "device-key", dev, "--out", str(key), module="nic_edge.cli.fleet")
        assert r.returncode == 0, r.stderr
        configs[dev] = write_toml(d / "device.toml", {
            "device": {"id": dev, "tier": tier},
            "mqtt": {**broker.client_settings(), "metrics_interval_s": 1.0, "reconnect_max_s": 1.0},
            "fleet": {"key_file": str(key)},
            "http": {"port": 0},
        })
        prepare_data_dir(d / "data", d / "manuals")
    return fleet_cfg, configs


def fleet(cfg: Path, *args: str) -> tuple[int, str]:
    r = run_cli("--config", str(cfg), *args, module="nic_edge.cli.fleet", timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_set_tier_applies_persists_and_clears(tmp_path: Path, mosquitto: Broker) -> None:
    fleet_cfg, configs = fleet_setup(tmp_path, mosquitto)
    env = {"NIC_EDGE_TIER": ""}
    a = DeviceServer(configs["dev-a"], tmp_path / "dev-a" / "data", env).start()
    b = DeviceServer(configs["dev-b"], tmp_path / "dev-b" / "data", env).start()
    try:
        b_before = b.get("/api/status")["tier"]
        assert a.get("/api/status")["tier"]["source"] == "config"
        a.wait_for(lambda s: s["mqtt"]["state"] == "connected")
        b.wait_for(lambda s: s["mqtt"]["state"] == "connected")

        rc, out = fleet(fleet_cfg, "set-tier", "dev-a", "lite")
        assert rc == 0, out
        assert "dev-a: applied: tier lite from override" in out
        st = a.wait_for(lambda s: s["tier"]["name"] == "lite")
        assert st["tier"]["source"] == "override"
        assert b.get("/api/status")["tier"] == b_before  # dev-b unchanged

        rc, out = fleet(fleet_cfg, "status", "--json", "--wait", "1.5")
        assert rc == 0, out
        rows = {d["id"]: d for d in json.loads(out[out.index("{"):])["devices"]}
        assert rows["dev-a"]["online"] is True and rows["dev-a"]["tier"] == "lite"
        assert rows["dev-a"]["source"] == "override" and rows["dev-b"]["online"] is True

        # a reboot keeps the override (persisted atomically, re-reported on connect)
        a.stop()
        a = DeviceServer(configs["dev-a"], tmp_path / "dev-a" / "data", env).start()
        st = a.get("/api/status")
        assert st["tier"]["name"] == "lite" and st["tier"]["source"] == "override"

        rc, out = fleet(fleet_cfg, "clear-tier", "dev-a")
        assert rc == 0, out
        assert "dev-a: cleared: tier standard from config" in out
        a.wait_for(lambda s: s["tier"]["name"] == "standard" and s["tier"]["source"] == "config")
    finally:
        a.stop()
        b.stop()


def test_set_tier_times_out_for_offline_device(tmp_path: Path, mosquitto: Broker) -> None:
    fleet_cfg, _ = fleet_setup(tmp_path, mosquitto)
    rc, out = fleet(fleet_cfg, "set-tier", "dev-a", "lite", "--timeout", "1")
    assert rc == 1 and "no report within the timeout" in out


def test_forged_override_is_rejected_live(tmp_path: Path, mosquitto: Broker) -> None:
    """A desired state signed with another device's key changes nothing and is reported."""
    from tests.support.broker import Subscriber
    import paho.mqtt.client as mqtt
    from nic_edge.core import signing
    fleet_cfg, configs = fleet_setup(tmp_path, mosquitto)
    a = DeviceServer(configs["dev-a"], tmp_path / "dev-a" / "data", {"NIC_EDGE_TIER": ""}).start()
    sub = Subscriber(mosquitto, ["nic/dev-a/tier/reported"])
    try:
        a.wait_for(lambda s: s["mqtt"]["state"] == "connected")
        other = signing.read_key(tmp_path / "dev-b" / "device.key")
        body = {"tier": "full", "version": 99, "issued_at": 1_900_000_000.0}
        body["sig"] = signing.sign(body, "dev-a", other)
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        c.connect(mosquitto.host, mosquitto.port)
        c.loop_start()
        c.publish("nic/dev-a/tier/desired", json.dumps(body), qos=1, retain=True).wait_for_publish(5)
        c.loop_stop()
        c.disconnect()
        assert sub.wait_for(lambda ms: any(b'"rejected"' in m.payload for m in ms), timeout=15)
        rep = [json.loads(m.payload) for m in sub.on_topic("tier/reported") if b'"rejected"' in m.payload][-1]
        assert rep["reason"] == "bad signature" and rep["tier"] == "standard"
        assert a.get("/api/status")["tier"]["name"] == "standard"
        audit = (tmp_path / "dev-a" / "data" / "audit.jsonl").read_text()
        assert '"tier_override"' in audit and '"bad signature"' in audit
    finally:
        sub.close()
        a.stop(signal.SIGTERM)
