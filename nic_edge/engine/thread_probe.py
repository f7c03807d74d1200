"""Measure which thread count embeds fastest on this box, per job (``nic-edge tier --measure``).

A question is timed as a 16-token text, an indexing job as 80-token chunks (what the indexer
embeds, INDEX_MAX_TOKENS), each at 1..min(CPUs, 4) interpreter threads, median of ``runs``
timed runs after a warm-up, round-robin so a burst of load hits every candidate alike. The
faster count wins; a tie (within 5 %) goes to fewer threads, which leaves cores to the rest
of the box. The result is what core/threads.py stores and reads back.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

from nic_edge.core.cpuinfo import cpu_model, int8_features

QUESTION = "How do I adjust the carburetor idle mixture screw on a cold engine?"
CHUNK = ("Remove the four cap screws holding the pump to the housing and lift the pump clear. "
         "Support the pump while the last screw is removed; it is heavy. Install the pump in the "
         "reverse order of removal and tighten the cap screws to 25 pound-feet, then check the "
         "drive belt tension and run the engine for five minutes while watching for leaks at "
         "the gasket and the hose clamps.")
TIE = 1.05


def _pick(medians: dict[int, float]) -> int:
    best = min(medians.values())
    return min(t for t, ms in medians.items() if ms <= best * TIE)


def measure(make_embedder: Callable[[int], Any], cpus: int | None = None, runs: int = 15) -> dict[str, Any]:
    """{"question", "index", "timings_ms", "cpus", "cpu_model", "int8", ...} for this box."""
    cpus = max(1, int(cpus or os.cpu_count() or 1))
    candidates = list(range(1, min(cpus, 4) + 1))
    embedders = {t: make_embedder(t) for t in candidates}
    samples: dict[str, dict[int, list[float]]] = {"question": {t: [] for t in candidates},
                                                  "index": {t: [] for t in candidates}}
    texts = {"question": QUESTION, "index": CHUNK}
    for e in embedders.values():
        e.embed(QUESTION)  # load + warm-up
        e.embed(CHUNK)
    for _ in range(runs):
        for job, text in texts.items():
            for t, e in embedders.items():
                t0 = time.perf_counter()
                e.embed(text)
                samples[job][t].append((time.perf_counter() - t0) * 1000.0)
    medians = {job: {t: statistics.median(v) for t, v in per.items()} for job, per in samples.items()}
    for e in embedders.values():
        e.unload()
    now = time.time()
    return {
        "question": _pick(medians["question"]), "index": _pick(medians["index"]),
        "timings_ms": {job: {str(t): round(ms, 3) for t, ms in per.items()} for job, per in medians.items()},
        "runs": runs, "cpus": cpus, "cpu_model": cpu_model(), "int8": int8_features(),
        "measured_at": now, "measured_at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    }
