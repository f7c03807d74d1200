#!/usr/bin/env python3
"""Aggregator scale benchmark: 1,000 simulated devices, one snapshot each per 10 s, accelerated.

    python3 tools/bench_aggregator.py [--devices 1000] [--rounds 10] [--runs 3] [--no-orjson]
                                      [--no-broker] [--protocol 3.1.1|5] [--agg-cpu 0 --pub-cpu 1]

Payloads come from tools/device_sim.py (the exact device wire format; timestamps 10 s apart
per device, i.e. accelerated time). The aggregator's clock is accelerated with them
(``--clock sim``, the default): each round of 1,000 snapshots moves it 10 s on, so per device a
5-minute bucket closes every 30 snapshots and an hour every 360, as in a live fleet.
``--clock wall`` keeps the real clock instead, which makes the rounds a backlog from the past
(a broker queue drained after an outage): the first rounds land in buckets that are closed
already and take the late path (reload, merge, rewrite). ``--no-orjson`` hides the optional
accelerator, so every figure is that of a default install (stdlib json). Then:
1. in-process: ``Ingestor.handle`` fed directly, LMDB flush every 0.5 s of wall time as the
   service does; current payloads, and the payloads of boxes not yet upgraded ("legacy");
2. render time for the 1,000-device dashboard (index.html + fleet.json; all device pages),
   analytics, and RSS of this process;
3. end to end through a real mosquitto: the aggregator runs as its own process pinned to
   ``--agg-cpu`` (``MqttIngest`` -> ``Ingestor`` -> ``FleetState`` with the 0.5 s LMDB flush
   of ``AggregatorLoop``; ``--full`` adds the real loop's rendering); mosquitto and one publisher
   process (a minimal MQTT 3.1.1 QoS 1 client sending pre-built packets, so the publishing side
   is not the bottleneck) are pinned to ``--pub-cpu``. A first round (one message per device)
   warms the aggregator up; the rate is the remaining messages / (time their last one was
   committed to LMDB - time the first of them was received); also the aggregator's CPU per
   message. The broker queues for the aggregator's persistent session what it cannot take yet.
   ``--receive-only`` counts messages and does nothing else (the MQTT path's own cost);
   ``--paho-path`` uses paho's receive path instead of netbuf.py's.
Prints medians of --runs runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if "--no-orjson" in sys.argv:
    sys.modules["orjson"] = None  # type: ignore[assignment]  # as on a default install

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from device_sim import SimDevice  # noqa: E402
from nic_edge.fleet.aggregator.ingest import Ingestor  # noqa: E402
from nic_edge.fleet.aggregator.render import Renderer  # noqa: E402
from nic_edge.fleet.aggregator.series import SeriesStore  # noqa: E402
from nic_edge.fleet.aggregator.state import FleetState  # noqa: E402

FLUSH_S = 0.5  # nic_edge.fleet.aggregator.main.FLUSH_INTERVAL_S


def payloads(n_dev: int, rounds: int, qpi: int, t0: float, legacy: bool = False) -> list[tuple[str, bytes]]:
    devs = [SimDevice(f"dev-{i:04d}", seed=i, questions_per_interval=qpi, legacy=legacy) for i in range(n_dev)]
    return [(f"nic/{d.device}/metrics", d.metrics_payload(t0 + 10 * r)) for r in range(rounds) for d in devs]


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class SimClock:
    """The aggregator's clock in accelerated time: each round of snapshots (one per device)
    moves it 10 s on, so buckets open and close as they would in a live fleet (a 5-minute
    bucket closes every 30 rounds). ``t0`` None: the wall clock (``--clock wall``)."""

    def __init__(self, t0: float | None, devices: int) -> None:
        self.t0, self.devices = t0, devices
        self.state: FleetState | None = None

    def __call__(self) -> float:
        if self.t0 is None:
            return time.time()
        n = self.state.stats["messages"] if self.state is not None else 0
        return self.t0 + 10.0 * (n // self.devices) + 10.0  # just after the round's snapshots


def new_state(clock: SimClock) -> FleetState:
    st = FleetState(SeriesStore(tempfile.mkdtemp(prefix="bench-agg-")), clock=clock)
    clock.state = st
    return st


def ingest_inprocess(msgs: list[tuple[str, bytes]], clock: SimClock) -> tuple[float, FleetState]:
    st = new_state(clock)
    ing = Ingestor(st)
    t = last = time.perf_counter()
    for i, (topic, p) in enumerate(msgs):
        ing.handle(topic, p)
        if i & 127 == 0 and time.perf_counter() - last >= FLUSH_S:
            st.flush()
            last = time.perf_counter()
    st.flush()
    el = time.perf_counter() - t
    assert st.stats["messages"] == len(msgs), st.stats
    return len(msgs) / el, st


# -- end to end: publisher ---------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, b = n >> 7, n & 0x7F
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


def _utf8(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def publish_all(port: int, msgs: list[tuple[str, bytes]], window: int = 2000) -> None:
    """MQTT 3.1.1, QoS 1, pre-built PUBLISH packets written in batches, at most ``window``
    unacknowledged (packet ids cycle; one is reused only after its PUBACK)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(_packet(0x10, _utf8("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + _utf8("bench-pub")))
    assert sock.recv(4)[:2] == b"\x20\x02", "no CONNACK"
    packets = [_packet(0x32, _utf8(t) + struct.pack(">H", i % 65535 + 1) + p) for i, (t, p) in enumerate(msgs)]
    acked = threading.Semaphore(window)
    done = threading.Event()

    def reader() -> None:
        buf, n = b"", 0
        while n < len(packets):
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("broker closed the publisher connection")
            buf += data
            k = len(buf) // 4  # PUBACK is 4 bytes: 0x40 0x02 id id
            for _ in range(k):
                acked.release()
            n += k
            buf = buf[4 * k:]
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    for i in range(0, len(packets), 50):
        batch = packets[i:i + 50]
        for _ in batch:
            acked.acquire()
        sock.sendall(b"".join(batch))
    done.wait(600)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


# -- end to end: aggregator process ------------------------------------------------------------
def aggregator_child(args: argparse.Namespace) -> int:
    from nic_edge.core.config import parse_config
    from nic_edge.fleet.aggregator.ingest import MqttIngest
    from nic_edge.fleet.aggregator.main import AggregatorLoop

    cfg = parse_config({"mqtt": {"host": "127.0.0.1", "port": args.port, "protocol": args.protocol}})
    st = new_state(SimClock(args.sim_t0, args.warm))
    ing = Ingestor(st)
    warm, total = args.warm, args.expect
    marks: dict[str, float] = {}
    handle = ing.handle
    done = threading.Event()

    def counting(topic: str, payload: bytes, retained: bool = False) -> bool:
        ok = handle(topic, payload, retained)
        n = st.stats["messages"]
        if n == warm + 1 and "first" not in marks:
            marks["first"], marks["cpu0"] = time.perf_counter(), time.process_time()
        elif n >= total:
            done.set()
        return ok

    if args.receive_only:  # the MQTT receive path alone: each message only counted

        def counting(topic: str, payload: bytes, retained: bool = False) -> bool:  # noqa: F811
            st.stats["messages"] += 1
            n = st.stats["messages"]
            if n == warm + 1:
                marks["first"], marks["cpu0"] = time.perf_counter(), time.process_time()
            elif n >= total:
                done.set()
            return True
    ing.handle = counting  # type: ignore[method-assign]
    stop = threading.Event()
    if args.full:
        out = Path(tempfile.mkdtemp(prefix="bench-aggm-out-"))
        loop = AggregatorLoop(st, Renderer(st, out), 10.0, 3600.0)
        loop.start()
    else:  # what AggregatorLoop.cycle does every FLUSH_S: the LMDB commit

        def flusher() -> None:
            while not stop.wait(FLUSH_S):
                st.flush()
        threading.Thread(target=flusher, name="flusher", daemon=True).start()
    svc = MqttIngest(cfg, ing, client_id=f"bench-agg-{os.getpid()}-{time.time_ns()}")
    svc.buffered = not args.paho_path
    svc.start()
    assert svc.subscribed.wait(10), "no SUBACK"
    print("ready", flush=True)
    done.wait(600)
    st.flush()  # persisted: the commit after the last message (waits for a flush in progress)
    end, cpu1 = time.perf_counter(), time.process_time()
    svc.stop()
    stop.set()
    if args.full:
        loop.stop()
    n = st.stats["messages"] - warm
    print(json.dumps({"messages": st.stats["messages"], "bad": st.stats["bad"], "rate": n / (end - marks["first"]),
                      "cpu_us": (cpu1 - marks["cpu0"]) / n * 1e6, "rss_mib": rss_mib()}), flush=True)
    return 0 if st.stats["messages"] >= total else 1


def ingest_broker(msgs: list[tuple[str, bytes]], warm: int, port: int, args: argparse.Namespace,
                  t0: float | None) -> dict[str, Any]:
    import pickle
    work = Path(tempfile.mkdtemp(prefix="bench-broker-msgs-"))
    (work / "msgs.pkl").write_bytes(pickle.dumps(msgs))
    cmd = [sys.executable, __file__, "--child", "aggregator", "--port", str(port), "--expect", str(len(msgs)),
           "--warm", str(warm), "--protocol", args.protocol] + (["--sim-t0", repr(t0)] if t0 is not None else []) + (["--no-orjson"] if args.no_orjson else []) \
        + [f for f, on in (("--full", args.full), ("--receive-only", args.receive_only),
                           ("--paho-path", args.paho_path)) if on]
    agg = subprocess.Popen(["taskset", "-c", str(args.agg_cpu), *cmd], stdout=subprocess.PIPE, text=True)
    assert agg.stdout is not None
    assert agg.stdout.readline().strip() == "ready"
    pub = subprocess.Popen(["taskset", "-c", str(args.pub_cpu), sys.executable, __file__, "--child", "publisher",
                            "--port", str(port), "--file", str(work / "msgs.pkl")])
    out = agg.stdout.readline()
    agg.wait(60)
    pub.wait(60)
    if not out:
        raise RuntimeError("aggregator child failed")
    return json.loads(out)  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--broker-rounds", type=int, default=31, help="end to end: rounds incl. 1 warm-up")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-broker", action="store_true")
    ap.add_argument("--no-inprocess", action="store_true")
    ap.add_argument("--no-orjson", action="store_true", help="measure without the optional orjson extra")
    ap.add_argument("--protocol", default="3.1.1", choices=("3.1.1", "5"))
    ap.add_argument("--full", action="store_true", help="end to end with the real loop (renders too)")
    ap.add_argument("--broker-inflight", type=int, help="mosquitto max_inflight_messages (default: its own, 20)")
    ap.add_argument("--receive-only", action="store_true", help="end to end: messages only counted (MQTT path cost)")
    ap.add_argument("--paho-path", action="store_true", help="end to end: paho's own receive path (not netbuf's)")
    ap.add_argument("--clock", choices=("sim", "wall"), default="sim",
                    help="sim (default): the aggregator's clock follows the accelerated time, 10 s per round, "
                         "as in a live fleet; wall: the real clock, so the rounds are a backlog from the past "
                         "(the first ones land in buckets already closed: the replay path)")
    ap.add_argument("--agg-cpu", type=int, default=0)
    ap.add_argument("--pub-cpu", type=int, default=1)
    ap.add_argument("--child", choices=("aggregator", "publisher"), help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--warm", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--sim-t0", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    if args.child == "aggregator":  # its first stdout line must be "ready" (the parent reads it)
        return aggregator_child(args)
    if args.child == "publisher":
        import pickle
        publish_all(args.port, pickle.loads(Path(args.file).read_bytes()))
        return 0
    print(cpu_banner(), flush=True)
    json_lib = "stdlib json" if args.no_orjson else "orjson" if _has_orjson() else "stdlib json (orjson not installed)"
    print(f"decoder/encoder: {json_lib}; interpreter {sys.executable} (Python {platform.python_version()}); "
          f"aggregator clock: {args.clock}; load average {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.time() - args.rounds * 10 - 60
    if not args.no_inprocess:
        inprocess(args, t0)
    if not args.no_broker:
        broker(args)
    return 0


def _has_orjson() -> bool:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return False
    return True


def inprocess(args: argparse.Namespace, t0: float) -> None:
    print(f"generating {args.devices} x {args.rounds} payloads ...", flush=True)
    sets = {"current": payloads(args.devices, args.rounds, 12, t0),
            "legacy": payloads(args.devices, args.rounds, 12, t0, legacy=True)}
    for name, msgs in sets.items():
        print(f"payload size {name}: {statistics.median(len(p) for _, p in msgs):.0f} B (median)")
    last_state = None
    for name, msgs in sets.items():
        rates = []
        for _ in range(args.runs):
            rate, st = ingest_inprocess(msgs, SimClock(t0 if args.clock == "sim" else None, args.devices))
            rates.append(rate)
            if name == "current" and last_state is None:
                last_state = st
            else:
                st.store.close()
        print(f"in-process ingest, {name} payloads: {statistics.median(rates):8.0f} msg/s (median of {args.runs}; "
              f"runs {', '.join(f'{r:.0f}' for r in rates)})", flush=True)
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
    print(f"RSS after ingest + render: {rss_mib():.0f} MiB (peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)",
          flush=True)
    last_state.store.close()


def broker(args: argparse.Namespace) -> None:
    from tests.support.broker import Broker, find_mosquitto
    binary = find_mosquitto()
    if binary is None:
        print("mosquitto not installed: end-to-end figure skipped")
        return
    cpus = sorted(os.sched_getaffinity(0))
    if args.agg_cpu not in cpus or args.pub_cpu not in cpus or args.agg_cpu == args.pub_cpu:
        print(f"note: CPUs {cpus} available; aggregator and broker/publisher share them (not the one-core figure)")
        args.agg_cpu = args.agg_cpu if args.agg_cpu in cpus else cpus[0]
        args.pub_cpu = args.pub_cpu if args.pub_cpu in cpus else cpus[-1]
    t0 = time.time() - args.broker_rounds * 10 - 60
    msgs = payloads(args.devices, args.broker_rounds, 12, t0)
    work = Path(tempfile.mkdtemp(prefix="bench-broker-"))
    b = Broker(work, binary)
    if args.broker_inflight is not None:  # mosquitto's default: 20 unacknowledged QoS 1 messages per client
        with b.config.open("a") as fh:
            fh.write(f"max_inflight_messages {args.broker_inflight}\n")
    b.start()
    assert b.proc is not None
    subprocess.run(["taskset", "-p", "-c", str(args.pub_cpu), str(b.proc.pid)], check=True, stdout=subprocess.DEVNULL)
    try:
        results = [ingest_broker(msgs, args.devices, b.port, args, t0 if args.clock == "sim" else None)
                   for _ in range(args.runs)]
    finally:
        b.stop()
    rates = [r["rate"] for r in results]
    print(f"end to end via mosquitto (MQTT {args.protocol}, QoS 1, {len(msgs) - args.devices} messages after a "
          f"{args.devices}-message warm-up; aggregator pinned to CPU {args.agg_cpu}, broker + publisher to CPU "
          f"{args.pub_cpu}{', full loop with rendering' if args.full else ''}"
          f"{', receive path only' if args.receive_only else ''}{', paho receive path' if args.paho_path else ''}): "
          f"{statistics.median(rates):.0f} msg/s "
          f"(median of {args.runs}; runs {', '.join(f'{r:.0f}' for r in rates)}); aggregator CPU "
          f"{statistics.median(r['cpu_us'] for r in results):.0f} us/msg; RSS {statistics.median(r['rss_mib'] for r in results):.0f} MiB",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
