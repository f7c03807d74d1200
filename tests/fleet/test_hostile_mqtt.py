"""Issue 22 over a real mosquitto: a retained 600-character id, `nic-fleet forget`, and the ACL."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.aggregator_support import start_aggregator, wait_json, write_agg_config
from tests.support.broker import Broker, Subscriber
from tests.support.device import run_cli

ROOT = Path(__file__).resolve().parents[2]


def publish(broker: Broker, topic: str, payload: bytes, retain: bool = True, *, user: str | None = None,
            password: str | None = None) -> bool:
    """One QoS 1 publish; False when the broker did not accept it (e.g. ACL denial under MQTT 5)."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}",
                    protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    acked: list[Any] = []
    c.on_publish = lambda client, userdata, mid, rc, props: acked.append(rc)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while not acked and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        c.loop_stop()
        c.disconnect()
    return bool(acked) and not acked[0].is_failure


def ids(doc: dict[str, Any]) -> set[str]:
    return {d["id"] for d in doc["devices"]}


def _stop(p: subprocess.Popen) -> None:
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()


def test_retained_overlong_id_does_not_freeze_the_dashboard_across_restarts(tmp_path: Path, mosquitto: Broker) -> None:
    # the repro: mosquitto_pub -t "nic/$(python3 -c "print('L'*600)")/status" -m online -q 1 -r
    assert publish(mosquitto, "nic/" + "L" * 600 + "/status", b"online")
    assert publish(mosquitto, "nic/dev-ok/status", b"online")
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", mosquitto, out, render_interval_s=0.3)
    for run in range(2):  # the retained message comes back after every restart
        agg = start_aggregator(cfg, tmp_path / "agg.log")
        try:
            publish(mosquitto, f"nic/dev-new{run}/status", b"online")
            doc = wait_json(out / "fleet.json", lambda d: f"dev-new{run}" in ids(d))
            assert ids(doc) >= {"dev-ok", f"dev-new{run}"} and not any(len(i) > 64 for i in ids(doc))
        finally:
            _stop(agg)
    assert "Traceback" not in (tmp_path / "agg.log").read_text()


def test_nic_fleet_forget_removes_a_device_everywhere(tmp_path: Path, mosquitto: Broker) -> None:
    out = tmp_path / "out"
    cfg = write_agg_config(tmp_path / "agg.toml", mosquitto, out, render_interval_s=0.3)
    for dev in ("keep-1", "old-box"):
        assert publish(mosquitto, f"nic/{dev}/status", b"online")
    agg = start_aggregator(cfg, tmp_path / "agg.log")
    try:
        wait_json(out / "fleet.json", lambda d: ids(d) == {"keep-1", "old-box"})
        r = run_cli("--config", str(cfg), "forget", "old-box", module="nic_edge.cli.fleet")
        assert r.returncode == 0, r.stderr
        wait_json(out / "fleet.json", lambda d: ids(d) == {"keep-1"})
        assert not (out / "devices" / "old-box.html").exists()
    finally:
        _stop(agg)
    sub = Subscriber(mosquitto, ["nic/old-box/#"])  # nothing retained is left at the broker
    try:
        time.sleep(0.5)
        assert sub.messages == []
    finally:
        sub.close()
    # and the aggregator does not bring it back from its own store after a restart
    agg = start_aggregator(cfg, tmp_path / "agg.log")
    try:
        publish(mosquitto, "nic/keep-2/status", b"online")
        assert ids(wait_json(out / "fleet.json", lambda d: "keep-2" in ids(d))) == {"keep-1", "keep-2"}
    finally:
        _stop(agg)


USERS = {"dev-a": "pw-a", "dev-b": "pw-b", "nic-fleet": "pw-fleet", "nic-aggregator": "pw-agg"}


@pytest.fixture
def acl_broker(tmp_path: Path, mosquitto_bin: str) -> Any:
    """mosquitto with a password per device user and the ACL shipped in config/mosquitto/acl."""
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd missing (apt-get install mosquitto-clients)")
    b = Broker(tmp_path / "acl-broker", mosquitto_bin)
    passwd = b.dir / "passwd"
    passwd.write_text("")
    for user, pw in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True, capture_output=True)
    conf = b.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    conf += f"password_file {passwd}\nacl_file {ROOT / 'config' / 'mosquitto' / 'acl'}\n"
    b.config.write_text(conf)
    b.start()
    yield b
    b.stop()


def test_acl_lets_a_device_publish_only_as_itself(acl_broker: Broker) -> None:
    b = acl_broker
    b.username, b.password = "nic-aggregator", USERS["nic-aggregator"]
    agg = Subscriber(b, ["nic/#"])
    try:
        assert publish(b, "nic/dev-a/metrics", b'{"own": 1}', retain=False, user="dev-a", password="pw-a")
        assert not publish(b, "nic/dev-b/metrics", b'{"forged": 1}', retain=False, user="dev-a", password="pw-a")
        assert not publish(b, "nic/dev-b/status", b"offline", user="dev-a", password="pw-a")
        assert not publish(b, "nic/dev-a/metrics", b'{"agg": 1}', retain=False, user="nic-aggregator",
                           password=USERS["nic-aggregator"])
        assert publish(b, "nic/dev-b/tier/desired", b'{"signed": 1}', user="nic-fleet", password="pw-fleet")
        assert agg.wait_for(lambda ms: any(m.topic == "nic/dev-b/tier/desired" for m in ms), 5)
        time.sleep(0.3)
        seen = {(m.topic, m.payload) for m in agg.messages}
        assert ("nic/dev-a/metrics", b'{"own": 1}') in seen
        assert not any(b"forged" in p or b"agg" in p or t == "nic/dev-b/status" for t, p in seen), seen
    finally:
        agg.close()
    # a device reads its own desired state, not another's
    b.username, b.password = "dev-a", "pw-a"
    dev_a = Subscriber(b, ["nic/dev-b/tier/desired", "nic/dev-a/tier/desired"])
    try:
        time.sleep(0.5)
        assert dev_a.messages == []
        assert publish(b, "nic/dev-a/tier/desired", b'{"mine": 1}', user="nic-fleet", password="pw-fleet")
        assert dev_a.wait_for(lambda ms: [m.topic for m in ms] == ["nic/dev-a/tier/desired"], 5)
    finally:
        dev_a.close()
