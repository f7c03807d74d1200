#!/usr/bin/env python3
"""Push one content bundle to N in-process simulated devices; print the figures.

    taskset -c 1 .venv-test/bin/python tools/bench_content_push.py [--devices 50] [--runs 3]
        [--manuals FILE...] [--rate BYTES_PER_S]

It first builds the bundle from --manuals (default: ../shared/corpus/*.txt) with the
real model (``nic-fleet content build``'s code path) and reports the build time. Devices are
``tests/support/content_device.SimDevice``: real paho client, updater, downloader, verification
and index store against a real mosquitto and the bundle server on loopback; the embedding
model is faked with the real model's sha256 (devices only install, they do not embed).
Per run: time from publishing the announcements until every device reported ``applied``,
bytes served, then a second push of the same version (time, bytes served: expected 0).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nic_edge.core import ed25519  # noqa: E402
from nic_edge.core import bundle as bundle_file  # noqa: E402
from nic_edge.core.config import parse_config  # noqa: E402
from nic_edge.fleet import content as fleet_content  # noqa: E402
from nic_edge.fleet.content_server import BundleServer  # noqa: E402
from tests.support.broker import Broker, find_mosquitto  # noqa: E402
from tests.support.content_device import SimDevice  # noqa: E402


def cpu_info() -> str:
    from nic_edge.core.cpuinfo import cpu_banner

    return f"{cpu_banner()}; {os.cpu_count()} CPUs; Python {platform.python_version()}"


def build(manuals: list[Path], key: object, out: Path) -> float:
    from nic_edge.engine import bundle_build
    from nic_edge.engine.embedder import Embedder

    t0 = time.perf_counter()
    bundle_build.build(manuals, key, out, Embedder(threads=os.cpu_count() or 1, batch_size=8),
                       env={"SOURCE_DATE_EPOCH": "1767225600"})
    return time.perf_counter() - t0


def one_run(n: int, broker: Broker, server: BundleServer, bundle: Path, key: object, pub: Path,
            work: Path, rate: int, run: int) -> dict[str, float]:
    model = str(bundle_file.read_bundle(bundle, None).model_sha256)
    # Fresh ids per run: the broker still holds the previous run's retained announcements.
    devices = [SimDevice(f"r{run}-sim-{i:03d}", work / f"sim-{i:03d}", broker.client_settings(), pub,
                         model_sha=model, content={"rate_bytes_per_s": rate}).start() for i in range(n)]
    try:
        deadline = time.monotonic() + 60
        while any(d.publisher.status()["state"] != "connected" for d in devices) and time.monotonic() < deadline:
            time.sleep(0.05)
        cfg = parse_config({"mqtt": broker.client_settings()}, check_files=False)
        ids = [d.id for d in devices]
        url = f"{server.url}/{bundle.name}"
        figures = {}
        for label in ("first", "second"):
            served0 = server.bytes_served
            t0 = time.perf_counter()
            rc = fleet_content.push(cfg, bundle, ids, key, url, 600.0, False, out=lambda s: None)
            figures[f"{label}_s"] = time.perf_counter() - t0
            figures[f"{label}_bytes"] = server.bytes_served - served0
            if rc != 0:
                bad = [(d.id, d.updater.last_report) for d in devices
                       if not d.updater.last_report or d.updater.last_report["status"] != "applied"]
                raise SystemExit(f"{label} push: not all applied: {bad[:3]}")
        return figures
    finally:
        for d in devices:
            d.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--manuals", type=Path, nargs="*")
    ap.add_argument("--rate", type=int, default=0, help="per-device download cap, bytes/s (0 = none)")
    args = ap.parse_args()
    binary = find_mosquitto()
    if binary is None:
        raise SystemExit("mosquitto not installed")
    print(cpu_info())
    with tempfile.TemporaryDirectory(prefix="nic-bench-content-") as tmp:
        t = Path(tmp)
        ed25519.generate(t / "k")
        key, pub = ed25519.load_private(t / "k"), t / "k.pub"
        served = t / "served"
        served.mkdir()
        bundle = served / "content.nicb"
        manuals = args.manuals or sorted((ROOT.parent / "shared" / "corpus").glob("*.txt"))
        if not manuals:
            raise SystemExit("no manuals: pass --manuals or provide ../shared/corpus")
        secs = build(manuals, key, bundle)
        m = bundle_file.read_bundle(bundle, None).manifest
        print(f"content build: {len(manuals)} manual(s), {m['chunks']} chunks, {secs:.1f} s, "
              f"bundle {bundle.stat().st_size} bytes ({m['total_bytes']} bytes of index)")
        broker = Broker(t / "broker", binary)
        broker.start()
        server = BundleServer(served)
        server.start()
        try:
            results = [one_run(args.devices, broker, server, bundle, key, pub, t / f"run{i}", args.rate, i)
                       for i in range(args.runs)]
        finally:
            server.stop()
            broker.stop()
    for r in results:
        print(f"run: first push {r['first_s']:.2f} s, {r['first_bytes']} bytes served; "
              f"second push {r['second_s']:.2f} s, {r['second_bytes']} bytes served")
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(f"median of {len(results)}: {args.devices} devices all applied in {med['first_s']:.2f} s, "
          f"{int(med['first_bytes'])} bytes served ({med['first_bytes'] / args.devices:.0f} per device); "
          f"same version again: {med['second_s']:.2f} s, {int(med['second_bytes'])} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
