#!/usr/bin/env python3
"""kill -9 a process that writes to the answer cache, N times; after each kill the cache must
open, every entry it returns must be a valid answer, and no get/put may fail.

    python3 tools/cache_crash_test.py [--kills 20] [--dir DIR] [--seed N]

A child process (this script with --child) opens a TieredCache on real LMDB and loops over
puts (answers of varied size, some compressible, some not), gets and fingerprint purges with a
small L2 budget so evictions run too. The parent kills it with SIGKILL at a random moment,
then opens the same cache in-process and checks it. Exit 0 when every round passes.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nic_edge.cache.tiered import TieredCache  # noqa: E402

QUESTIONS = [f"question number {i} about the carburetor?" for i in range(400)]
FINGERPRINTS = ["fp-a", "fp-b"]
ANSWER_KEYS = {"id", "question", "answer", "abstained", "reason", "confidence", "citations",
               "warnings", "cached", "latency_ms", "tier", "mode"}
CITATION_KEYS = {"source", "section", "page", "chunk_id", "snippet", "score"}


def make_answer(rng: random.Random, question: str) -> dict:
    abstained = rng.random() < 0.2
    n = rng.randint(0, 5)
    noisy = rng.random() < 0.3
    return {
        "id": f"id{rng.randrange(10**6)}", "question": question,
        "answer": None if abstained else "Adjust the needle valve. " * rng.randint(1, 40),
        "abstained": abstained, "reason": ("no_match" if abstained else None),
        "confidence": round(rng.random(), 3),
        "citations": [{"source": "ford.txt", "section": "Para 1-2", "page": rng.choice([None, 3]),
                       "chunk_id": f"ford.txt#{i}",
                       "snippet": os.urandom(rng.randint(10, 600)).hex() if noisy else "gas " * 90,
                       "score": rng.random()} for i in range(n)],
        "warnings": ["CAUTION: fuel"] * rng.randint(0, 2), "cached": None,
        "latency_ms": rng.random() * 50, "tier": "ultra_lite", "mode": "hybrid",
    }


def check_answer(a: object, question: str) -> str | None:
    """None when ``a`` is a valid cached answer for ``question``, else what is wrong."""
    if not isinstance(a, dict) or set(a) != ANSWER_KEYS:
        return f"bad keys: {sorted(a) if isinstance(a, dict) else type(a).__name__}"
    if a["question"] != question:
        return "answer belongs to another question"
    if (a["answer"] is None) != a["abstained"] or not isinstance(a["confidence"], float):
        return "answer/abstained/confidence inconsistent"
    if a["cached"] not in ("l1", "l2"):
        return f"cached={a['cached']!r}"
    for c in a["citations"]:
        if not isinstance(c, dict) or set(c) != CITATION_KEYS:
            return "bad citation"
    if not all(isinstance(w, str) for w in a["warnings"]):
        return "bad warnings"
    return None


def open_cache(d: Path) -> TieredCache:
    return TieredCache(d, l1_items=64, l1_bytes=256 << 10, l2_max_bytes=512 << 10,
                       l2_ttl_s=86400, compress_min_bytes=512)


def child(d: Path, seed: int) -> None:
    rng = random.Random(seed)
    cache = open_cache(d)
    print("ready", flush=True)
    while True:  # runs until SIGKILL
        q = rng.choice(QUESTIONS)
        fp = rng.choice(FINGERPRINTS)
        r = rng.random()
        if r < 0.6:
            cache.put(q, fp, make_answer(rng, q))
        elif r < 0.995:
            cache.get(q, fp)
        else:
            cache.purge_stale(rng.choice(FINGERPRINTS))


def check_round(d: Path, rng: random.Random) -> tuple[int, list[str]]:
    problems: list[str] = []
    cache = open_cache(d)
    stats = cache.stats()
    if stats["corruption_recoveries"]:
        problems.append(f"store was unusable after kill -9: {stats['last_event']}")
    found = 0
    for fp in FINGERPRINTS:
        for q in QUESTIONS:
            hit = cache.get(q, fp)
            if hit is None:
                continue
            found += 1
            answer, level = hit
            answer["cached"] = level
            why = check_answer(answer, q)
            if why:
                problems.append(f"{fp}/{q}: {why}")
    for q in rng.sample(QUESTIONS, 20):  # writes keep working
        cache.put(q, "fp-a", make_answer(rng, q))
        if cache.get(q, "fp-a") is None:
            problems.append(f"put then get failed for {q}")
    stats = cache.stats()
    if stats["l2_errors"] or not stats["l2_enabled"]:
        problems.append(f"L2 errors: {stats['l2_errors']}, enabled: {stats['l2_enabled']}")
    cache.close()
    return found, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--dir", type=Path, default=None, help="data dir (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-delay", type=float, default=1.0, help="longest run before a kill (s)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**9)
    if args.child:
        child(args.dir, seed)
        return 0
    rng = random.Random(seed)
    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="nic-cache-crash-")
        args.dir = Path(tmp.name)
    failures = 0
    started = time.monotonic()
    for i in range(args.kills):
        proc = subprocess.Popen([sys.executable, __file__, "--child", "--dir", str(args.dir),
                                 "--seed", str(rng.randrange(10**9))], stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip() != "ready":
            proc.kill()
            proc.wait()
            print(f"round {i + 1}: child failed to open the cache", file=sys.stderr)
            failures += 1
            continue
        time.sleep(rng.uniform(0.02, args.max_delay))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        found, problems = check_round(args.dir, rng)
        status = "ok" if not problems else "FAIL"
        print(f"round {i + 1:2d}/{args.kills}: killed pid {proc.pid} -> reopened, "
              f"{found} entries valid, {status}")
        for p in problems[:5]:
            print(f"   {p}", file=sys.stderr)
        failures += bool(problems)
    print(f"summary: {args.kills} kill -9 rounds, {failures} failed, seed {seed}, "
          f"{time.monotonic() - started:.1f}s")
    if tmp is not None:
        tmp.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
