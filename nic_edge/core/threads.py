"""Thread counts per job: question embedding and indexing (DESIGN: chosen by measurement).

A question is one short sequence (~16 tokens): splitting so little work across threads costs
more in hand-offs than it gains, and on a box whose cores are busy (HTTP, telemetry, other
processes) it waits for a second core. Measured on every box so far: a question embeds
fastest on 1 thread (loaded 2-vCPU EPYC with VNNI: 1.61 ms on 1 thread, 4.75 ms on 2;
docs/benchmarks/threads.md). Indexing embeds thousands of chunks with nothing else waiting,
so it may use every core. A profile's ``threads`` / ``index_threads`` fix a count (> 0);
0 means "by measurement": the figures ``nic-edge tier --measure`` stored for this box
(``<data>/threads.json``), else the measured defaults above (1 for questions, all CPUs for
indexing). Start-up and a live tier switch both go through :func:`thread_counts`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nic_edge.core.cpuinfo import cpu_model

FILE_NAME = "threads.json"
DEFAULT_QUESTION_THREADS = 1


@dataclass(frozen=True)
class ThreadCounts:
    question: int
    index: int
    source: str                     # "profile" | "measured" | "default" (per job, see reasons)
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (systemd CPUAffinity=, taskset, a
    container's cpuset), else every CPU the machine has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_counts(profile: Any, cpus: int | None = None, measured: dict[str, Any] | None = None
                  ) -> ThreadCounts:
    """The counts for ``profile`` on a box with ``cpus`` CPUs (``measured``: load_measured).
    Never more than the CPUs this process may use: two threads pinned to one core embed the
    bench corpus ~1.5x slower than one (docs/benchmarks/threads.md)."""
    box = max(1, int(cpus or os.cpu_count() or 1))
    cpus = min(box, usable_cpus())
    pinned = f" this process may use, of {box}" if cpus < box else ""
    reasons: list[str] = []
    sources: set[str] = set()

    def pick(job: str, fixed: int, default: int, why_default: str) -> int:
        if fixed > 0:
            sources.add("profile")
            reasons.append(f"{job}: {fixed} (tier profile)")
            return min(fixed, cpus)
        if measured and int(measured.get(job, 0)) > 0:
            sources.add("measured")
            n = min(int(measured[job]), cpus)
            reasons.append(f"{job}: {n} (measured on this box {measured.get('measured_at_iso', '')})".rstrip())
            return n
        sources.add("default")
        reasons.append(f"{job}: {default} ({why_default})")
        return default

    q = pick("question", int(getattr(profile, "threads", 0)), DEFAULT_QUESTION_THREADS,
             "measured default: a question embeds fastest on one thread")
    i = pick("index", int(getattr(profile, "index_threads", 0)), cpus,
             f"all CPUs{pinned}: indexing has them to itself")
    return ThreadCounts(q, i, "+".join(sorted(sources)), reasons)


def load_measured(data_dir: Path | str, cpus: int | None = None) -> dict[str, Any] | None:
    """The stored measurement, if it was taken on this CPU model with this CPU count."""
    try:
        data = json.loads((Path(data_dir) / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if data.get("cpus") != (cpus or os.cpu_count()) or data.get("cpu_model") != cpu_model():
        return None  # another box (an SD card moved) or a changed CPU set: not ours
    return data


def save_measured(data_dir: Path | str, result: dict[str, Any]) -> Path:
    from nic_edge.core.storage import atomic_write_bytes

    path = Path(data_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(result, indent=1).encode("utf-8"))
    return path
