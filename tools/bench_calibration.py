#!/usr/bin/env python3
"""What per-index calibration (issue 16) costs when indexing the bench corpus.

    taskset -c 1 python3 tools/bench_calibration.py --data-dir /tmp/bench-cal [--runs 3]

Indexes ../shared/bench/nic_chunks.jsonl twice into fresh dirs with the real int8 model, one
thread: once without calibration (the Indexer with no calibrate hook), once as `nic-edge index`
does (Engine.index_paths, calibration before the switch). Then calibrates the finished
generation ``--runs`` more times and prints the median calibration time and its share of
indexing. Data missing -> a clear message and exit 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import BENCH, _engine  # noqa: E402


def cpu() -> str:
    model, flags = "unknown", set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    int8 = [f for f in ("avx512_vnni", "avx_vnni", "asimddp") if f in flags] or ["none"]
    return f"{model}; int8 features: {', '.join(int8)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="scratch dir (emptied)")
    ap.add_argument("--runs", type=int, default=3, help="extra calibration-only runs")
    ap.add_argument("--tier", default="ultra_lite")
    args = ap.parse_args()
    corpus = BENCH / "nic_chunks.jsonl"
    if not corpus.is_file():
        print(f"skip: {corpus} not found (the bench data is local only)")
        return 0
    from nic_edge.engine.indexer import Indexer
    from nic_edge.engine.store import IndexStore

    root = Path(args.data_dir)
    shutil.rmtree(root, ignore_errors=True)
    eng = _engine(root / "calibrated", tier=args.tier)
    eng.embedder.embed("warm up")
    t0 = time.perf_counter()
    # the same index as the engine writes (with the paragraph openings when its tier reranks)
    plain = Indexer(IndexStore(root / "plain" / "index"), lambda: eng.embedder, calibrate=None,
                    openings=eng.rerank)
    rep = plain.index_paths([corpus])
    t_plain = time.perf_counter() - t0
    print(f"without calibration: {t_plain:.1f} s ({rep.chunks_total} chunks)", flush=True)
    t0 = time.perf_counter()
    rep = eng.index_paths([corpus])
    t_cal = time.perf_counter() - t0
    rec = rep.calibration or {}
    if rep.skipped:   # e.g. the tier's memory budget refuses the file (engine/capacity.py)
        print("the engine skipped: " + "; ".join(f"{p}: {why}" for p, why in rep.skipped))
        print(f"no calibration to measure on tier {args.tier}")
        return 0
    print(f"with calibration:    {t_cal:.1f} s (calibration itself {rec.get('seconds')} s)", flush=True)
    snap = eng.snapshot()
    times = [float(rec.get("seconds") or 0.0)]
    for _ in range(args.runs):
        times.append(float(eng._calibrate(snap)["seconds"]))
    med = statistics.median(times)
    print(f"calibration: median {med:.1f} s over {len(times)} runs ({', '.join(f'{t:.1f}' for t in times)}); "
          f"{100 * med / t_plain:.1f} % of indexing without it; end-to-end difference "
          f"{100 * (t_cal - t_plain) / t_plain:+.1f} %")
    print("record:", json.dumps({k: v for k, v in rec.items() if k != "created_at"}))
    print(f"machine: {cpu()}; tier {args.tier}, 1 thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
