#!/usr/bin/env python3
"""What a broker does with a dead member's messages under an MQTT 5 shared subscription.

    python3 tools/probe_shared_sub.py [--expiry 0|3600]

Starts a mosquitto on a free loopback port; members A (a subprocess that never acknowledges)
and B (acknowledges everything) subscribe to ``$share/g/probe/#`` at QoS 1; 40 messages are
published; A is killed with SIGKILL while holding its share unacknowledged; then 40 more.
Prints how many of A's unacknowledged messages B received (redistributed) and, with a session
expiry, how many A gets back when it reconnects. docs/FLEET_HA.md quotes its output.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def member(port: int, name: str, ack: bool, expiry: int, out: list[str], clean: bool = True) -> object:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5, manual_ack=True)
    ready = threading.Event()

    def on_message(cl: object, u: object, msg: object) -> None:
        out.append(msg.payload.decode())  # type: ignore[attr-defined]
        if ack:
            c.ack(msg.mid, msg.qos)  # type: ignore[attr-defined]
    c.on_message = on_message
    c.on_subscribe = lambda *a: ready.set()
    c.on_connect = lambda cl, u, f, rc, p: c.subscribe("$share/g/probe/#", qos=1)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry
    c.connect("127.0.0.1", port, clean_start=clean, properties=props)
    c.loop_start()
    assert ready.wait(10)
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--expiry", type=int, default=0, help="session expiry of member A (s)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # member A: receives, never acknowledges, prints what it got
        got: list[str] = []
        member(args.port, "member-a", False, args.expiry, got)
        print("ready", flush=True)
        while True:
            time.sleep(0.2)
            print(f"got {len(got)}", flush=True)
    import paho.mqtt.client as mqtt

    from tests.support.broker import Broker, find_mosquitto
    broker = Broker(Path(tempfile.mkdtemp(prefix="probe-share-")), find_mosquitto() or "mosquitto")
    broker.start()
    out = subprocess.run([broker.binary, "-h"], capture_output=True, text=True).stdout.splitlines()[:1]
    print(out[0] if out else "mosquitto", f"; member A session expiry {args.expiry} s")
    a = subprocess.Popen([sys.executable, __file__, "--child", "a", "--port", str(broker.port), "--expiry",
                          str(args.expiry)], stdout=subprocess.PIPE, text=True)
    assert a.stdout is not None and a.stdout.readline().strip() == "ready"
    got_b: list[str] = []
    b = member(broker.port, "member-b", True, 0, got_b)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe-pub", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    for i in range(40):
        pub.publish(f"probe/{i}", f"m{i}", qos=1).wait_for_publish(5)
    time.sleep(1.0)
    line = ""
    while not line.startswith("got"):
        line = a.stdout.readline().strip()
    held = int(line.split()[1])
    os.kill(a.pid, signal.SIGKILL)
    a.wait(5)
    before = len(got_b)
    time.sleep(2.0)
    for i in range(40, 80):
        pub.publish(f"probe/{i}", f"m{i}", qos=1).wait_for_publish(5)
    time.sleep(2.0)
    b_first = set(got_b[:before])
    redistributed = {f"m{i}" for i in range(40)} & set(got_b[before:])
    print(f"first 40: A held {held} unacknowledged, B got {len(b_first)}; after A's kill -9 B got "
          f"{len(redistributed)} of A's {held} (redistributed) and {len(got_b) - before - len(redistributed)} of the "
          f"next 40")
    if args.expiry:
        back: list[str] = []
        member(broker.port, "member-a", True, args.expiry, back, clean=False)
        time.sleep(2.0)
        print(f"A reconnects with its session: gets {len(back)} messages back "
              f"({len({x for x in back if int(x[1:]) < 40})} of its held ones)")
    pub.loop_stop()
    b.loop_stop()  # type: ignore[attr-defined]
    broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
