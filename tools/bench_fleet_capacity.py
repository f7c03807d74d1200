#!/usr/bin/env python3
"""How many devices (one snapshot per 10 s) one aggregator core carries, from measured parts.

    taskset -c 1 python3 tools/bench_fleet_capacity.py [--devices 5000] [--runs 3] [--no-broker]

An aggregator's CPU per device and 10 s is the sum of what it does for that device:
1. ingest one snapshot: measured end to end through a real mosquitto with MQTT 5 and PUBACKs
   after the LMDB commit (the active-active setting of docs/FLEET_HA.md), by
   tools/bench_aggregator.py's child processes (aggregator pinned to --agg-cpu, broker and
   publisher to --pub-cpu), 1,000 devices x 10 rounds; ``--no-broker``: in process instead;
2. its share of a render (index.html + fleet.json every ``render_interval_s`` = 10 s), of its
   device page (re-rendered at most every 60 s while it sends data), of analytics (every 60 s):
   measured in process on a fleet of ``--devices`` (default 5,000) built from real payloads;
3. its share of a remote-write batch (every 30 s by default, when on): building, protobuf and snappy.
Devices per core = 10 s / (1 + 2 + 3). Prints medians of --runs; the machine and load first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

if "--no-orjson" not in sys.argv:
    sys.argv.append("--no-orjson")  # a default install (stdlib json); bench_aggregator reads argv at import
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import bench_aggregator as BA  # noqa: E402
from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
from nic_edge.fleet.aggregator import promwire  # noqa: E402
from nic_edge.fleet.aggregator.ingest import Ingestor  # noqa: E402
from nic_edge.fleet.aggregator.remote_write import batch  # noqa: E402
from nic_edge.fleet.aggregator.render import Renderer  # noqa: E402
from nic_edge.fleet.aggregator.series import SeriesStore  # noqa: E402
from nic_edge.fleet.aggregator.state import FleetState  # noqa: E402


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def med(f: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.process_time()
        f()  # type: ignore[operator]
        times.append(time.process_time() - t)
    return statistics.median(times)


def fleet_parts(n: int, runs: int) -> dict[str, float]:
    """CPU seconds of each periodic job for a fleet of ``n`` devices, and in-process ingest per msg."""
    t0 = time.time() - 3 * 10 - 60
    msgs = BA.payloads(n, 3, 12, t0)
    clock = BA.SimClock(t0, n)
    st = FleetState(SeriesStore(tempfile.mkdtemp(prefix="bench-cap-")), clock=clock, max_devices=n)
    clock.state = st
    ing = Ingestor(st)
    t = time.process_time()
    for i, (topic, p) in enumerate(msgs):
        ing.handle(topic, p)
        if i % 2000 == 1999:
            st.flush()
    st.flush()
    ingest = (time.process_time() - t) / len(msgs)
    r = Renderer(st, Path(tempfile.mkdtemp(prefix="bench-cap-out-")), instance={"id": "bench", "tag": "bench"})
    pages = med(lambda: r.render(all_pages=True), runs)
    index = med(lambda: r.render(), runs)
    analytics = med(lambda: r.run_analytics(), 1)

    def rw() -> None:
        rows, fleet, sketches = r.model(time.time())
        promwire.compressed_write_request(batch(rows, fleet, sketches, int(time.time() * 1000),
                                                {"aggregator": "bench"}))
    remote = med(rw, runs)
    rows, fleet, sketches = r.model(time.time())
    series = batch(rows, fleet, sketches, int(time.time() * 1000), {"aggregator": "bench"})
    size = len(promwire.compressed_write_request(series))
    raw = len(promwire.write_request(series))
    st.store.close()
    return {"ingest_inproc": ingest, "index": index, "pages": max(0.0, pages - index), "analytics": analytics,
            "remote": remote, "rw_bytes": float(size), "rw_raw": float(raw), "rss_mib": BA.rss_mib()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-broker", action="store_true", help="ingest cost in process (no mosquitto)")
    ap.add_argument("--no-orjson", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--agg-cpu", type=int, default=0)
    ap.add_argument("--pub-cpu", type=int, default=1)
    args = ap.parse_args()
    print(cpu_banner())
    print(f"python {sys.version.split()[0]} ({sys.executable}); stdlib json; load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    n = args.devices
    parts = fleet_parts(n, args.runs)
    per_msg = parts["ingest_inproc"]
    how = "in process"
    if not args.no_broker:
        from tests.support.broker import Broker, find_mosquitto
        binary = find_mosquitto()
        if binary is None:
            print("mosquitto not installed: in-process ingest cost used")
        else:
            b = Broker(Path(tempfile.mkdtemp(prefix="bench-cap-broker-")), binary)
            b.start()
            assert b.proc is not None
            broker_cpu0 = proc_cpu_s(b.proc.pid)
            try:
                t0 = time.time() - 11 * 10 - 60
                msgs = BA.payloads(1000, 11, 12, t0)
                opts = SimpleNamespace(protocol="5", no_orjson=True, full=False, receive_only=False,
                                       paho_path=False, agg_cpu=args.agg_cpu, pub_cpu=args.pub_cpu)
                res = [BA.ingest_broker(msgs, 1000, b.port, opts, t0) for _ in range(args.runs)]
                broker_us = (proc_cpu_s(b.proc.pid) - broker_cpu0) / (len(msgs) * args.runs) * 1e6
            finally:
                b.stop()
            print(f"mosquitto CPU (in + out to one subscriber, QoS 1, with the publisher's acks): "
                  f"{broker_us:.0f} us/msg, i.e. ~{1e6 / broker_us:,.0f} msg/s per core")
            per_msg = statistics.median(r["cpu_us"] for r in res) / 1e6
            rates = [r["rate"] for r in res]
            how = (f"end to end, MQTT 5, PUBACK after commit; {statistics.median(rates):.0f} msg/s "
                   f"on one core (runs {', '.join(f'{x:.0f}' for x in rates)})")
    # CPU per device and 10 s of fleet time
    shares = {"ingest (1 snapshot)": per_msg,
              "index.html + fleet.json (every 10 s)": parts["index"] / n,
              "device page (every 60 s)": parts["pages"] / n * 10 / 60,
              "analytics (every 60 s)": parts["analytics"] / n * 10 / 60,
              "remote write (every 30 s)": parts["remote"] / n * 10 / 30}
    total = sum(shares.values())
    print(f"fleet of {n} devices: render index+fleet.json {parts['index']:.3f} s, all pages {parts['pages']:.2f} s, "
          f"analytics {parts['analytics']:.2f} s, remote-write batch {parts['remote']:.3f} s "
          f"({parts['rw_bytes'] / 1e6:.2f} MB snappy, {parts['rw_raw'] / 1e6:.2f} MB raw, {parts['rw_bytes'] / n:.0f} B/device); "
          f"in-process ingest {parts['ingest_inproc'] * 1e6:.0f} us/msg; RSS {parts['rss_mib']:.0f} MiB")
    print(f"ingest cost used: {per_msg * 1e6:.0f} us/msg ({how})")
    for k, v in shares.items():
        print(f"  {k:40s} {v * 1e6:8.1f} us per device per 10 s ({v / total:5.1%})")
    print(f"devices at 10 s intervals per core: {10.0 / total:,.0f} (100 % of a core); "
          f"{0.5 * 10.0 / total:,.0f} at a 50 % planning ceiling; without remote write "
          f"{10.0 / (total - shares['remote write (every 30 s)']):,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
