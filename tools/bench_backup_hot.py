#!/usr/bin/env python3
"""Hot backup under HTTP load, then restore and compare (issue 20's "must show").

    taskset -c 1 .venv-test/bin/python tools/bench_backup_hot.py [--load-s 30] [--backup-at-s 5]
                                                                  [--threads 4] [--runs 3]

Each run: index the bundled manual, start a real ``nic-edge serve`` with MQTT (a real mosquitto on
a free loopback port) and ``--threads`` closed-loop HTTP clients POSTing /api/ask for
``--load-s`` seconds; ``nic-edge backup`` runs as its own process ``--backup-at-s`` into the
load. Then the box is stopped, the backup restored into a fresh data dir, ``nic-edge manuals
--json`` and the answers to 50 questions compared, and ``serve`` started on the restored dir to
check that its first new metrics ``seq`` is the backup's last + 1. Prints each run's figures
and the medians. The scenario is tests/support/hot_backup.py (the test runs a short version).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.broker import Broker, find_mosquitto  # noqa: E402
from tests.support.hot_backup import run  # noqa: E402


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
        flags = next((ln.split(":", 1)[1].split() for ln in out.splitlines() if ln.startswith("Flags")), [])
    except (OSError, subprocess.CalledProcessError):
        model, flags = platform.processor() or "?", []
    int8 = [f for f in ("avx512_vnni", "avx_vnni", "asimddp") if f in flags] or ["none"]
    return (f"{model}, {os.cpu_count()} CPUs, int8 features: {','.join(int8)}, affinity {sorted(os.sched_getaffinity(0))}, "
            f"Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--load-s", type=float, default=30.0)
    ap.add_argument("--backup-at-s", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    binary = find_mosquitto()
    if binary is None:
        print("mosquitto not installed", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="nic-bench-backup-") as tmp:
            broker = Broker(Path(tmp) / "broker", binary)
            broker.start()
            try:
                r = run(Path(tmp) / "run", broker, args.load_s, args.backup_at_s, args.threads)
            finally:
                broker.stop()
        print(f"run {i + 1}: {json.dumps(r, sort_keys=True)}", flush=True)
        results.append(r)
    keys = ("requests_ok", "failures", "backup_s", "backup_bytes", "p50_ms_outside", "p95_ms_outside",
            "p50_ms_during", "p95_ms_during", "answers_equal", "answers_from_restored_l2")
    med = {k: statistics.median(r[k] for r in results if r[k] is not None) for k in keys}
    print("median: " + json.dumps(med, sort_keys=True))
    ok = all(r["failures"] == 0 and r["manuals_equal"] and r["answers_equal"] == r["questions"]
             and r["first_seq_after_restore"] == r["backup_last_seq"] + 1 for r in results)
    print("all runs: no failed request, same manuals, same 50 answers, seq continues: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
