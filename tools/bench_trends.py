#!/usr/bin/env python3
"""Cost of the overview's 24 h fleet trends (fleet/aggregator/trends.py) and of one overview
render, for N simulated devices with 24 h of history (one snapshot per 5 minutes each).

    python3 tools/bench_trends.py [--devices 300] [--runs 5]

The trends run at the analytics cadence (every minute or more), not every render. Prints the
median of --runs runs, with the CPU model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nic_edge.fleet.aggregator.ingest import Ingestor  # noqa: E402
from nic_edge.fleet.aggregator.render import Renderer  # noqa: E402
from nic_edge.fleet.aggregator.series import SeriesStore  # noqa: E402
from nic_edge.fleet.aggregator.state import FleetState  # noqa: E402
from nic_edge.fleet.aggregator.trends import fleet_trends  # noqa: E402
from tools.answer_engine import cpu_info  # noqa: E402
from tools.device_sim import SimDevice  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    now = time.time()
    clock = [now - 86400.0]
    with tempfile.TemporaryDirectory() as tmp:
        state = FleetState(SeriesStore(Path(tmp) / "state"), clock=lambda: clock[0])
        ing = Ingestor(state)
        devs = [SimDevice(f"dev-{i:04d}", seed=i) for i in range(args.devices)]
        t0 = time.perf_counter()
        t = now - 86400.0
        while t < now:
            clock[0] = t
            for d in devs:
                ing.handle(f"nic/{d.device}/metrics", d.metrics_payload(t))
            state.flush()
            t += 300.0
        clock[0] = now
        print(f"fed {args.devices} devices x 288 snapshots in {time.perf_counter() - t0:.1f} s")
        renderer = Renderer(state, Path(tmp) / "out")
        ids = list(state.devices)
        events = {d: [] for d in ids}
        trend_s, render_s = [], []
        for _ in range(args.runs):
            t1 = time.perf_counter()
            renderer.trends = fleet_trends(state.store, ids, events, now)
            trend_s.append(time.perf_counter() - t1)
            t1 = time.perf_counter()
            rows, fleet, _ = renderer.model(now)
            renderer.index_html(rows, fleet, now)
            render_s.append(time.perf_counter() - t1)
        state.store.close()
    print(f"machine: {cpu_info()}")
    print(f"fleet_trends, {args.devices} devices, 24 h: median {statistics.median(trend_s) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{x * 1000:.0f}' for x in trend_s)})")
    print(f"overview model + index.html: median {statistics.median(render_s) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
