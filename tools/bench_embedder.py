#!/usr/bin/env python3
"""Benchmark the shipped int8 embedder: latency, peak RSS, A/B vs other builds, per runtime.

Each runtime is measured in its own fresh subprocess pinned to one core, one interpreter
thread: ai_edge_litert with this python, tflite_runtime with --tflite-python (default
/work/venv-tflite/bin/python, PYTHONPATH set to the repo). Peak RSS (ru_maxrss) comes from
yet another fresh process that only loads the model and embeds a question and a chunk.
Comparison builds (--fp32, --compare; e.g. the previous model from git) run in the same process
as the shipped one, one invoke each in turn (round robin), so machine load hits all alike;
the load average is printed since this VM is shared.

  python3 tools/bench_embedder.py [--fp32 /tmp/minilm_fp32.tflite] [--compare old=/tmp/old.tflite]
                                  [--runs 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("Before starting any maintenance procedure, read all WARNINGS and CAUTIONS in Chapter 1. "
        "Make sure the vehicle is parked on level ground, the parking brake is set, and the wheels are "
        "chocked. Open the hood and locate the coolant reservoir (see Figure 3-4). If the engine has been "
        "running, wait at least 30 minutes: the system is pressurised and hot coolant can cause severe "
        "burns. Remove the cap slowly, a quarter turn at a time, to release the pressure. Check the level "
        "against the COLD FULL mark; top up with a 50/50 mixture of ethylene glycol and distilled water. ")
QUESTION = "How do I check the coolant level when the engine is hot?"


def _pin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _median_ms(fn, runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _model_dir(model: Path, tmp: Path) -> Path:
    """A model directory (manifest + vocab) for another .tflite, to load it with Embedder."""
    from nic_edge.engine.embedder import _sha256, default_model_dir

    src = default_model_dir()
    manifest = json.loads((src / "manifest.json").read_text())
    (tmp / "model.tflite").symlink_to(model.resolve())
    shutil.copy(src / "vocab.txt", tmp / "vocab.txt")
    manifest.update(file="model.tflite", sha256=_sha256(model), bytes=model.stat().st_size)
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    return tmp


def _round_robin(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 5) -> dict[str, float]:
    """Median ms of each fn, calling them in turn so that load changes hit all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def worker(runs: int, others: dict[str, Path]) -> dict:
    """Latency figures for the runtime this process resolves (NIC_EDGE_TFLITE or default)."""
    import numpy as np

    from nic_edge.engine.embedder import Embedder
    from nic_edge.errors import MissingDependencyError, ModelError

    _pin()
    emb = Embedder(threads=1)
    tok = emb.tokenizer
    words = tok.tokenize_ids(TEXT * 3)
    q16 = [tok.cls_id, *words[:14], tok.sep_id]
    q15, q17 = q16[:14] + q16[-1:], [tok.cls_id, *words[:15], tok.sep_id]
    c128 = [tok.cls_id, *words[:126], tok.sep_id]
    chunk_text = " ".join(TEXT.split()[:90])
    res: dict = {"python": sys.version.split()[0], "numpy": np.__version__, "loadavg_start": os.getloadavg()[0]}
    t0 = time.perf_counter()
    emb.load()
    res.update(runtime=emb.runtime_name, load_s=round(time.perf_counter() - t0, 3))
    models = {"shipped": emb}
    tmps = []
    for name, path in others.items():
        tmps.append(tempfile.TemporaryDirectory())
        models[name] = Embedder(model_dir=_model_dir(path, Path(tmps[-1].name)), threads=1)
        try:
            models[name].load()
        except (MissingDependencyError, ModelError) as exc:  # a build this runtime cannot load: reported
            res[f"{name}_error"] = str(exc)[:200]
            del models[name]
    # Separate Embedders per length, so the shapes stay put and only invoke time is measured.
    for label, seq in (("q16", q16), ("c128", c128)):
        fns = {}
        for name, model in models.items():
            e = model if label == "q16" else Embedder(model_dir=model.model_dir, threads=1)
            fns[name] = lambda e=e, seq=seq: e.embed_ids([seq])
        for name, ms in _round_robin(fns, runs).items():
            res[f"{label}_ms" if name == "shipped" else f"{name}_{label}_ms"] = ms
    for name in models:
        if name != "shipped":
            for label in ("q16", "c128"):
                res[f"shipped_over_{name}_{label}"] = res[f"{label}_ms"] / res[f"{name}_{label}_ms"]
    flip = iter(range(10**9))
    # A real question stream changes length every call: resize + re-plan cost included.
    res["question_resize_each_call_ms"] = _median_ms(lambda: emb.embed_ids([q15 if next(flip) % 2 else q17]), runs)
    res["question_end_to_end_ms"] = _median_ms(lambda: emb.embed(QUESTION), runs)
    tok._word_cache.clear()
    res["tokenize_128_cold_ms"] = _median_ms(lambda: (tok._word_cache.clear(), tok.encode(TEXT))[1], runs)
    res["tokenize_128_ms"] = _median_ms(lambda: tok.encode(TEXT), runs)
    res["tokenize_128_tokens"] = len(tok.encode(TEXT))
    res["chunk_words_tokens"] = tok.count(chunk_text)
    # embed_many on 24 chunks of mixed length (24..200 tokens): sorted (shipped) vs input order.
    seqs = [[tok.cls_id, *words[: 22 + (i * 37) % 178], tok.sep_id] for i in range(24)]

    def exact_sorted() -> None:
        for s in sorted(seqs, key=len):
            emb.embed_ids([s])

    def exact_unsorted() -> None:
        for s in seqs:
            emb.embed_ids([s])

    for name, fn in (("exact_sorted", exact_sorted), ("exact_unsorted", exact_unsorted)):
        res[f"many24_{name}_ms"] = _median_ms(fn, 5, warmup=1)
    res["loadavg_end"] = os.getloadavg()[0]
    for tmp in tmps:
        tmp.cleanup()
    return res


def rss_worker() -> dict:
    import resource

    from nic_edge.engine.embedder import Embedder

    _pin()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    emb = Embedder(threads=1)
    emb.embed(QUESTION)
    emb.embed(TEXT)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_after_imports_mib": round(base / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
            "runtime": emb.runtime_name}


def _spawn(python: str, runtime: str, args: list[str]) -> dict | None:
    env = dict(os.environ, NIC_EDGE_TFLITE=runtime, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([python, __file__, *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"[{runtime}] failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--fp32", type=Path, help="fp32 .tflite from tools/export_model.py --fp32")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                    help="another .tflite to A/B against (e.g. the previous model); repeatable")
    ap.add_argument("--tflite-python", default="/work/venv-tflite/bin/python")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rss-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True, file=sys.stderr if (args.worker or args.rss_worker or args.json) else sys.stdout)
    others = dict(item.split("=", 1) for item in args.compare)
    others = {name: Path(path) for name, path in others.items()}
    if args.fp32 is not None and args.fp32.is_file():
        others["fp32"] = args.fp32
    if args.worker:
        print(json.dumps(worker(args.runs, others)))
        return 0
    if args.rss_worker:
        print(json.dumps(rss_worker()))
        return 0
    if args.fp32 is None or not args.fp32.is_file():
        print("no fp32 build given (--fp32 PATH): int8/fp32 ratio skipped", file=sys.stderr)
    results = {}
    for runtime, python in (("ai_edge_litert", sys.executable), ("tflite_runtime", args.tflite_python)):
        if not Path(python).exists():
            print(f"[{runtime}] {python} not found: skipped", file=sys.stderr)
            continue
        extra = [arg for name, path in others.items() for arg in ("--compare", f"{name}={path}")]
        lat = _spawn(python, runtime, ["--worker", "--runs", str(args.runs), *extra])
        rss = _spawn(python, runtime, ["--rss-worker"])
        if lat and rss:
            lat.update(rss)
            results[runtime] = lat
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for runtime, r in results.items():
        print(f"== {runtime} (python {r['python']}, numpy {r['numpy']})")
        for key, val in r.items():
            if key not in ("python", "numpy", "runtime"):
                print(f"  {key:28s} {val:.2f}" if isinstance(val, float) else f"  {key:28s} {val}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
