#!/usr/bin/env python3
"""Aggregator scale benchmark: 1,000 simulated devices, one snapshot each per 10 s, accelerated.

    python3 tools/bench_aggregator.py [--devices 1000] [--rounds 10] [--runs 3] [--no-broker]

Payloads are made beforehand by tools/device_sim.py (the exact device wire format; timestamps
10 s apart per device, i.e. accelerated time), then:
1. in-process: ``Ingestor.handle`` fed directly, LMDB flush every 0.5 s of wall time as the
   service does; orjson fast path and the strict stdlib ``schema.parse_*`` path;
   "busy" payloads (12 questions per interval, 12 sketches) and "light" ones (2 per interval);
2. through a real mosquitto: a publisher subprocess sends every payload (QoS 1), the
   aggregator's MqttIngest in this process receives; rate = messages / wall time, plus the
   aggregator's CPU seconds (so msgs per CPU-second is the one-core figure);
3. render time for the 1,000-device dashboard (index.html + fleet.json; all device pages);
4. RSS of this process after all of it.
Prints medians of --runs runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from device_sim import SimDevice  # noqa: E402
from nic_edge.fleet.aggregator.ingest import Ingestor  # noqa: E402
from nic_edge.fleet.aggregator.render import Renderer  # noqa: E402
from nic_edge.fleet.aggregator.series import SeriesStore  # noqa: E402
from nic_edge.fleet.aggregator.state import FleetState  # noqa: E402


def payloads(n_dev: int, rounds: int, qpi: int, t0: float) -> list[tuple[str, bytes]]:
    devs = [SimDevice(f"dev-{i:04d}", seed=i, questions_per_interval=qpi) for i in range(n_dev)]
    return [(f"nic/{d.device}/metrics", d.metrics_payload(t0 + 10 * r)) for r in range(rounds) for d in devs]


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ingest_inprocess(msgs: list[tuple[str, bytes]], strict: bool) -> tuple[float, FleetState, str]:
    d = tempfile.mkdtemp(prefix="bench-agg-")
    st = FleetState(SeriesStore(d))
    ing = Ingestor(st, strict=strict)
    t = last = time.perf_counter()
    for i, (topic, p) in enumerate(msgs):
        ing.handle(topic, p)
        if i & 127 == 0 and time.perf_counter() - last >= 0.5:
            st.flush()
            last = time.perf_counter()
    st.flush()
    el = time.perf_counter() - t
    assert st.stats["messages"] == len(msgs), st.stats
    return len(msgs) / el, st, d


PUBLISHER = textwrap.dedent("""
    import sys, pickle, paho.mqtt.client as mqtt
    msgs = pickle.load(open(sys.argv[3], "rb"))
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub")
    c.max_inflight_messages_set(1000); c.max_queued_messages_set(0)
    c.connect("127.0.0.1", int(sys.argv[1])); c.loop_start()
    infos = [c.publish(t, p, qos=1) for t, p in msgs]
    for i in infos: i.wait_for_publish(60)
    c.loop_stop(); c.disconnect()
""")


def ingest_broker(msgs: list[tuple[str, bytes]], broker_port: int, workdir: Path) -> tuple[float, float]:
    import pickle

    from nic_edge.core.config import parse_config
    from nic_edge.fleet.aggregator.ingest import MqttIngest

    cfg = parse_config({"mqtt": {"host": "127.0.0.1", "port": broker_port, "protocol": "5"}})
    st = FleetState(SeriesStore(tempfile.mkdtemp(prefix="bench-aggm-")))
    ing = Ingestor(st)
    done = threading.Event()
    first: list[float] = []
    n = len(msgs)
    orig = ing.handle

    def counting(topic: str, payload: bytes, retained: bool = False) -> bool:
        if not first:
            first.append(time.perf_counter())
        ok = orig(topic, payload, retained)
        if st.stats["messages"] >= n:
            done.set()
        return ok

    ing.handle = counting  # type: ignore[method-assign]
    svc = MqttIngest(cfg, ing, client_id=f"bench-agg-{os.getpid()}-{time.time_ns()}")
    svc.start()
    assert svc.subscribed.wait(10)
    flusher_stop = threading.Event()

    def flusher() -> None:
        while not flusher_stop.wait(0.5):
            st.flush()

    threading.Thread(target=flusher, daemon=True).start()
    pk = workdir / "msgs.pkl"
    pk.write_bytes(pickle.dumps(msgs))
    cpu0 = time.process_time()
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(broker_port), "x", str(pk)])
    ok = done.wait(300)
    end = time.perf_counter()
    cpu = time.process_time() - cpu0
    pub.wait(60)
    flusher_stop.set()
    svc.stop()
    st.flush()
    st.store.close()
    if not ok:
        raise RuntimeError(f"only {st.stats['messages']} of {n} messages arrived")
    return n / (end - first[0]), n / cpu


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-broker", action="store_true")
    args = ap.parse_args()
    t0 = time.time() - args.rounds * 10 - 60
    print(f"generating {args.devices} x {args.rounds} payloads ...", flush=True)
    busy = payloads(args.devices, args.rounds, 12, t0)
    light = payloads(args.devices, args.rounds, 2, t0)
    print(f"payload size: busy {statistics.median(len(p) for _, p in busy):.0f} B, "
          f"light {statistics.median(len(p) for _, p in light):.0f} B (median)")
    results: dict[str, float] = {}
    last_state = None
    for name, msgs, strict in (("busy/orjson", busy, False), ("busy/strict-stdlib", busy, True),
                               ("light/orjson", light, False), ("light/strict-stdlib", light, True)):
        rates = []
        for _ in range(args.runs):
            rate, st, _ = ingest_inprocess(msgs, strict)
            rates.append(rate)
            if name == "busy/orjson":
                last_state = st
            else:
                st.store.close()
        results[name] = statistics.median(rates)
        print(f"in-process ingest {name:22s}: {results[name]:8.0f} msg/s (median of {args.runs}; runs {', '.join(f'{r:.0f}' for r in rates)})",
              flush=True)
    assert last_state is not None
    out = Path(tempfile.mkdtemp(prefix="bench-dash-"))
    r = Renderer(last_state, out)
    idx, allp = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        r.render()
        idx.append(time.perf_counter() - t)
        t = time.perf_counter()
        r.render(all_pages=True)
        allp.append(time.perf_counter() - t)
    print(f"render {args.devices} devices: index.html + fleet.json {statistics.median(idx):.3f} s; "
          f"with all {args.devices} device pages {statistics.median(allp):.2f} s "
          f"({statistics.median(allp) / args.devices * 1000:.1f} ms/page) (medians of {args.runs})")
    t = time.perf_counter()
    r.run_analytics(report=True)
    print(f"analytics + report for {args.devices} devices: {time.perf_counter() - t:.2f} s")
    print(f"RSS after ingest + render: {rss_mib():.0f} MiB (peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
    if not args.no_broker:
        from tests.support.broker import Broker, find_mosquitto
        binary = find_mosquitto()
        if binary is None:
            print("mosquitto not installed: broker figure skipped")
            return 0
        work = Path(tempfile.mkdtemp(prefix="bench-broker-"))
        b = Broker(work, binary)
        b.start()
        try:
            rates, cpus = [], []
            for _ in range(args.runs):
                rate, per_cpu = ingest_broker(busy, b.port, work)
                rates.append(rate)
                cpus.append(per_cpu)
            print(f"via mosquitto (busy payloads, QoS 1): {statistics.median(rates):.0f} msg/s wall, "
                  f"{statistics.median(cpus):.0f} msg per aggregator CPU-second (medians of {args.runs})")
        finally:
            b.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
