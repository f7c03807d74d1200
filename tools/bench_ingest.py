#!/usr/bin/env python3
"""Ingest + chunk timing: median of several runs per file.

Usage: python3 tools/bench_ingest.py [--runs N] FILE...
Baseline in the same process: reading the file and splitting it into words (a floor no
ingest can beat), so the printed ratio says how much the cleanup/structure/chunking costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nic_edge.engine.ingest import load_file  # noqa: E402


def _median(fn, runs: int, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    # CPU seconds too: on a shared or busy box wall time mostly measures the neighbours.
    print(f"{'file':34s} {'KiB':>7s} {'chunks':>7s} {'ingest s':>9s} {'cpu s':>7s} "
          f"{'baseline s':>10s} {'ratio':>6s}")
    for path in args.files:
        result = load_file(path)  # warm-up (imports, regex compilation)
        ingest = _median(lambda p=path: load_file(p), args.runs)
        cpu = _median(lambda p=path: load_file(p), args.runs, time.process_time)
        base = _median(lambda p=path: p.read_text(errors="replace").split(), args.runs)
        print(f"{path.name[:34]:34s} {path.stat().st_size / 1024:7.0f} {result.chunk_count:7d} "
              f"{ingest:9.3f} {cpu:7.3f} {base:10.4f} {ingest / base:6.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
