#!/usr/bin/env python3
"""Telemetry micro-benchmarks (issue 6): record cost, percentile cost, rule evaluation, accuracy.

Pins the process to one core, repeats each measurement and prints medians, plus a baseline
measured in the same process so the figures can be compared across machines:

    python3 tools/bench_telemetry.py [--runs 7] [--cpu 0] [--markdown]

Targets: record <= 2 µs; p50/p95/p99 of 100,000 observations <= 1 ms; 10 rules <= 50 µs;
percentile error <= 2 % relative to numpy.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402  (maintainer tool: numpy for reference percentiles)

from nic_edge.core.sketch import LatencySketch  # noqa: E402
from nic_edge.telemetry.alerts import AlertEvaluator, Rule, load_rules  # noqa: E402
from nic_edge.telemetry.device_metrics import DeviceMetrics  # noqa: E402

N = 100_000


def median_of(runs: int, fn) -> float:
    return statistics.median(fn() for _ in range(runs))


def bench_record(values: list[float], runs: int) -> dict[str, float]:
    def sketch_add() -> float:
        sk = LatencySketch()
        add = sk.add
        t = time.perf_counter()
        for v in values:
            add(v)
        return (time.perf_counter() - t) / len(values) * 1e6

    def registry_observe() -> float:
        m = DeviceMetrics()
        obs = m.observe_stage
        t = time.perf_counter()
        for v in values:
            obs("embed", v)
        return (time.perf_counter() - t) / len(values) * 1e6

    def baseline_append() -> float:
        out: list[float] = []
        app = out.append
        t = time.perf_counter()
        for v in values:
            app(v)
        return (time.perf_counter() - t) / len(values) * 1e6

    return {"sketch_add_us": median_of(runs, sketch_add),
            "registry_observe_us": median_of(runs, registry_observe),
            "baseline_list_append_us": median_of(runs, baseline_append)}


def bench_percentiles(values: list[float], runs: int) -> dict[str, float]:
    sk = LatencySketch()
    for v in values:
        sk.add(v)
    arr = np.asarray(values)

    def cold() -> float:
        sk._keys = None  # as after an add that created a new bucket: sort again
        t = time.perf_counter()
        sk.percentiles()
        return (time.perf_counter() - t) * 1e3

    def warm() -> float:
        t = time.perf_counter()
        sk.percentiles()
        return (time.perf_counter() - t) * 1e3

    def numpy_ref() -> float:
        t = time.perf_counter()
        np.percentile(arr, [50, 95, 99])
        return (time.perf_counter() - t) * 1e3

    return {"percentiles_cold_ms": median_of(runs * 5, cold), "percentiles_warm_ms": median_of(runs * 5, warm),
            "numpy_percentile_ms": median_of(runs, numpy_ref), "buckets": float(len(sk.bins))}


def bench_rules(runs: int) -> dict[str, float]:
    rules = load_rules(None, "lite")
    extra = [Rule(name=f"extra_{i}", metric="rss_mib", op=">", threshold=150.0, for_s=10.0) for i in range(2)]
    rules = (rules + extra)[:10]
    ev = AlertEvaluator(rules, tier="lite")
    quiet = {"answer_latency_p95_ms": 300.0, "memory_budget_ratio": 0.5, "lexical_mode": 0.0,
             "cache_hit_rate": 0.4, "error_rate": 0.0, "cpu_temp_c": 55.0, "throttled_now": 0.0,
             "disk_free_mib": 5000.0, "rss_mib": 90.0}
    busy = dict(quiet, cpu_temp_c=85.0, rss_mib=170.0, lexical_mode=1.0)
    loops = 20_000

    def timed(values: dict) -> float:
        evaluate = ev.evaluate
        t = time.perf_counter()
        for _ in range(loops):
            evaluate(values)
        return (time.perf_counter() - t) / loops * 1e6

    return {"rules": float(len(rules)), "evaluate_quiet_us": median_of(runs, lambda: timed(quiet)),
            "evaluate_firing_us": median_of(runs, lambda: timed(busy))}


def accuracy() -> dict[str, float]:
    rng = np.random.default_rng(7)
    data = {
        "lognormal": rng.lognormal(-3.0, 1.0, N),
        "uniform": rng.uniform(0.001, 2.0, N),
        "bimodal": np.concatenate([np.abs(rng.normal(0.02, 0.003, 70_000)) + 1e-4, rng.normal(0.5, 0.05, 30_000)]),
        "pareto": (rng.pareto(1.5, N) + 1) * 0.01,
    }
    out = {}
    for name, arr in data.items():
        sk = LatencySketch()
        for v in arr.tolist():
            sk.add(v)
        got = sk.quantiles((0.5, 0.95, 0.99))
        want = np.percentile(arr, [50, 95, 99])
        out[name] = max(abs(g - w) / w for g, w in zip(got, want)) * 100
    return out


def cpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cpu", type=int, default=0, help="core to pin to")
    args = ap.parse_args()
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    values = np.random.default_rng(1).lognormal(-4.0, 1.2, N).tolist()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cpus, Python {platform.python_version()}, pinned to cpu {args.cpu}")
    print(f"runs: {args.runs} (medians)")
    rec = bench_record(values, args.runs)
    print(f"record one observation: sketch.add {rec['sketch_add_us']:.3f} µs, "
          f"DeviceMetrics.observe_stage {rec['registry_observe_us']:.3f} µs "
          f"(baseline list.append {rec['baseline_list_append_us']:.3f} µs; "
          f"ratio {rec['sketch_add_us'] / rec['baseline_list_append_us']:.1f}x)  target <= 2 µs")
    pct = bench_percentiles(values, args.runs)
    print(f"p50/p95/p99 of {N:,} observations ({pct['buckets']:.0f} buckets): cold {pct['percentiles_cold_ms']:.4f} ms, "
          f"warm {pct['percentiles_warm_ms']:.4f} ms (numpy.percentile on the raw array "
          f"{pct['numpy_percentile_ms']:.3f} ms)  target <= 1 ms")
    rules = bench_rules(args.runs)
    print(f"evaluate {rules['rules']:.0f} rules: quiet {rules['evaluate_quiet_us']:.2f} µs, "
          f"some firing {rules['evaluate_firing_us']:.2f} µs  target <= 50 µs")
    acc = accuracy()
    print("max relative error of p50/p95/p99 vs numpy: " + ", ".join(f"{k} {v:.3f} %" for k, v in acc.items())
          + "  target <= 2 %")


if __name__ == "__main__":
    main()
