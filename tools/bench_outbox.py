"""Outbox throughput: snapshots/s it can take (enqueue, durable commit) and drain (QoS 1
publish + PUBACK to a local mosquitto, outbox delete), vs bare paho QoS 1 publishing of the same
payloads in the same process (the baseline: what the broker round trip alone allows).

    python3 tools/bench_outbox.py [--n 2000] [--runs 3] [--core 0]

The benchmark process is pinned to one core (--core), mosquitto to another when there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nic_edge.comms import schema  # noqa: E402
from nic_edge.comms.outbox import Outbox  # noqa: E402
from nic_edge.comms.publisher import MqttPublisher  # noqa: E402
from nic_edge.core.config import parse_config  # noqa: E402
from tests.comms.device_proc import fake_snapshot  # noqa: E402
from tests.support.broker import Broker, find_mosquitto  # noqa: E402


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def snapshot(i: int) -> dict:
    return schema.build_metrics(fake_snapshot(i), seq=0, device="bench", ts=time.time())


def bench_enqueue(n: int, workdir: Path) -> float:
    ob = Outbox(workdir / f"enq-{time.monotonic_ns()}", 64 << 20)
    snaps = [snapshot(i) for i in range(n)]
    t = time.perf_counter()
    for s in snaps:
        ob.enqueue("metrics", s)
    dt = time.perf_counter() - t
    ob.close()
    return n / dt


def bench_drain(n: int, workdir: Path, broker: Broker) -> float:
    ob = Outbox(workdir / f"drain-{time.monotonic_ns()}", 64 << 20)
    for i in range(n):
        ob.enqueue("metrics", snapshot(i))
    cfg = parse_config({"device": {"id": "bench"},
                        "mqtt": {"host": broker.host, "port": broker.port, "replay_rate_per_s": 100000.0}})
    pub = MqttPublisher(cfg, ob)
    t = time.perf_counter()
    pub.start()
    while len(ob) > 0:
        time.sleep(0.005)
    dt = time.perf_counter() - t
    pub.stop()
    ob.close()
    return n / dt


def bench_bare_paho(n: int, broker: Broker) -> float:
    import paho.mqtt.client as mqtt

    payloads = [schema.encode_metrics(dict(snapshot(i), seq=i)) for i in range(n)]
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare")
    c.max_inflight_messages_set(16)
    c.max_queued_messages_set(0)
    c.connect(broker.host, broker.port)
    c.loop_start()
    t = time.perf_counter()
    infos = [c.publish("nic/bench/metrics", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(30)
    dt = time.perf_counter() - t
    c.loop_stop()
    c.disconnect()
    return n / dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--core", type=int, default=0)
    args = ap.parse_args()
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    os.sched_setaffinity(0, {args.core})
    binary = find_mosquitto()
    if binary is None:
        print("mosquitto not found (apt-get install mosquitto)", file=sys.stderr)
        return 2
    size = len(schema.encode_metrics(dict(snapshot(1), seq=1)))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Broker(work / "broker", binary)
        broker.start()
        assert broker.proc is not None
        others = sorted(os.sched_getaffinity(broker.proc.pid) - {args.core})
        if others:
            os.sched_setaffinity(broker.proc.pid, {others[0]})
        try:
            enq = [bench_enqueue(args.n, work) for _ in range(args.runs)]
            drain = [bench_drain(args.n, work, broker) for _ in range(args.runs)]
            bare = [bench_bare_paho(args.n, broker) for _ in range(args.runs)]
        finally:
            broker.stop()
    res = {"cpu": cpu_model(), "snapshot_bytes_json": size, "n": args.n, "runs": args.runs,
           "enqueue_per_s": enq, "drain_per_s": drain, "bare_paho_qos1_per_s": bare}
    print(json.dumps(res))
    me, md, mb = statistics.median(enq), statistics.median(drain), statistics.median(bare)
    print(f"machine: {res['cpu']}; bench pinned to core {args.core}; snapshot {size} B JSON")
    print(f"enqueue (durable commit, fsync):  median {me:8.0f} snapshots/s  runs {[round(x) for x in enq]}")
    print(f"drain (QoS1 publish+PUBACK+ack): median {md:8.0f} snapshots/s  runs {[round(x) for x in drain]}")
    print(f"bare paho QoS1 (baseline):       median {mb:8.0f} msgs/s       runs {[round(x) for x in bare]}")
    print(f"drain / bare paho = {md / mb:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
