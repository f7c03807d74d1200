#!/usr/bin/env python3
"""Thread counts per job, and `full` vs `ultra_lite` answer latency on the same box (issue 17).

    python3 tools/bench_threads.py [--runs 7] [--questions 40] [--manual FILE]

1. Embedding: median ms of a 16-token question and an 80-token chunk at 1..min(CPUs, 4)
   interpreter threads (round-robin, median of --runs passes of 20 calls each).
2. Answers: the bundled sample manual indexed once; then each tier's engine, built with the
   thread counts start-up gives it (core.threads.thread_counts), asks the same questions;
   p50 of latency_ms per tier (median over --runs passes) and the ratio full / ultra_lite
   (target <= 1.15: the full tier must not answer slower than the smallest one).
The CPU model and int8 features print first: every figure depends on them. Not pinned by
default (the point is a box whose cores are shared); add `taskset -c 1` to pin.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nic_edge.core.config import EngineConfig  # noqa: E402
from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
from nic_edge.core.resources import data_file  # noqa: E402
from nic_edge.core.threads import thread_counts  # noqa: E402
from nic_edge.core.tiers import load_profiles  # noqa: E402
from nic_edge.engine.embedder import Embedder  # noqa: E402
from nic_edge.engine.engine import Engine  # noqa: E402
from nic_edge.engine.thread_probe import CHUNK, QUESTION  # noqa: E402
from bench_tier_flip import QUESTIONS as FORD_QUESTIONS  # noqa: E402  (tools/ is sys.path[0])

# The tier-flip benchmark's Ford questions, plus a few more.
QUESTIONS = FORD_QUESTIONS + [
    "How is the Ford magneto charged?", "What should be done when the car is laid up for winter?",
    "How do I grind the valves?", "How are the brakes adjusted?", "What does a lean mixture do?",
    "How is the fan belt tightened?", "Where is the oil drained from?", "How do I replace a broken spring?",
]


def embed_table(runs: int) -> None:
    cands = list(range(1, min(os.cpu_count() or 1, 4) + 1))
    embs = {t: Embedder(threads=t) for t in cands}
    for e in embs.values():
        e.embed(QUESTION)
        e.embed(CHUNK)
    ms: dict[tuple[str, int], list[float]] = {}
    for _ in range(runs):
        for job, text in (("question 16 tok", QUESTION), ("chunk 80 tok", CHUNK)):
            for t, e in embs.items():
                t0 = time.perf_counter()
                for _ in range(20):
                    e.embed(text)
                ms.setdefault((job, t), []).append((time.perf_counter() - t0) * 1000 / 20)
    print("embedding, median ms per call:")
    for job in ("question 16 tok", "chunk 80 tok"):
        print(f"  {job:<16}" + "".join(f"  {t} thr {statistics.median(ms[(job, t)]):7.2f}" for t in cands))


def answer_ratio(runs: int, n_questions: int, manual: Path) -> None:
    profiles = load_profiles()
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        setup = Engine(Path(tmp), profiles["full"], EngineConfig(), Embedder())
        print(f"indexed: {setup.index_paths([manual])}")
        engines = {}
        for tier in ("ultra_lite", "full"):
            counts = thread_counts(profiles[tier])
            engines[tier] = Engine(Path(tmp), profiles[tier], EngineConfig(), Embedder(threads=counts.question),
                                   threads=counts)
            engines[tier].ask("warm up")
            print(f"  {tier}: question threads {counts.question}, index threads {counts.index} ({counts.source})")
        qs = (QUESTIONS * (1 + n_questions // len(QUESTIONS)))[:n_questions]
        p50s: dict[str, list[float]] = {t: [] for t in engines}
        for _ in range(runs):
            for tier, eng in engines.items():  # alternate tiers so load bursts hit both
                lat = [eng.ask(q)["latency_ms"] for q in qs]
                p50s[tier].append(statistics.median(lat))
        med = {t: statistics.median(v) for t, v in p50s.items()}
        for t, v in med.items():
            print(f"  {t:<10} answer p50 {v:7.2f} ms (median of {runs} passes x {len(qs)} questions)")
        print(f"ratio full / ultra_lite p50: {med['full'] / med['ultra_lite']:.3f} (target <= 1.15)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--manual", type=Path, default=data_file("ford_model_t_manual_1919.txt"))
    args = ap.parse_args()
    print(cpu_banner())
    print(f"affinity: CPUs {sorted(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.2f}")
    embed_table(args.runs)
    answer_ratio(args.runs, args.questions, args.manual)
    return 0


if __name__ == "__main__":
    sys.exit(main())
