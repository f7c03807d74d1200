#!/usr/bin/env python3
"""Engine benchmarks on ../shared/bench (6,610 chunks, 162 questions).

    python3 tools/bench_engine.py index   --data-dir DIR   # time indexing nic_chunks.jsonl
    python3 tools/bench_engine.py latency --data-dir DIR [--runs 5]
    python3 tools/bench_engine.py cold    --data-dir DIR   # fresh process: imports + model + 1 answer
    python3 tools/bench_engine.py memory  --data-dir DIR   # peak RSS answering all questions, ultra_lite
    python3 tools/bench_engine.py clip    --data-dir DIR [--lengths 128,96,80,64] [--sample 300]
                                  # ms per chunk embedding, by how many tokens chunks are cut to
    python3 tools/bench_engine.py reader  --data-dir DIR --tier lite [--runs 5] [--switch NAME]
                                  # the reader with and without reader.BOUND_PRUNE (or another
                                  # of its switches: --switch SENTENCE_COVER_WAIVER, or another
                                  # engine module's: --switch rerank.CHUNKS), alternated

Latency: pinned to one core, model warmed, no cache; prints medians over runs of p50/p95 of
``latency_ms`` (hybrid), the per-stage medians, and the lexical run in the same process as the
baseline ratio. Data missing -> a clear message and exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


def _engine(data_dir: Path, tier: str = "ultra_lite", threads: int = 1):
    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine.embedder import Embedder
    from nic_edge.engine.engine import Engine

    prof = load_profiles()[tier]
    # NIC_EDGE_MODEL_DIR: benchmark a copy of the model (see tools/evaluate.py).
    model_dir = Path(os.environ["NIC_EDGE_MODEL_DIR"]) if os.environ.get("NIC_EDGE_MODEL_DIR") else None
    emb = Embedder(model_dir=model_dir, threads=threads, batch_size=prof.batch_size)
    if int(emb.manifest.get("batch", 0) or 0) == 1:
        emb.batch_size = 1  # a batch-1 export cannot take stacked inputs
    return Engine(data_dir, prof, EngineConfig(), emb)


def _questions() -> list[dict]:
    return [json.loads(line) for line in (BENCH / "questions.jsonl").open(encoding="utf-8")]


def cmd_index(args: argparse.Namespace) -> None:
    eng = _engine(Path(args.data_dir), tier=args.tier, threads=args.threads)
    t0 = time.perf_counter()
    last = [0.0]
    ends: dict[str, float] = {}   # stage label -> time of its last progress report

    def progress(done: int, total: int, label: str) -> None:
        now = time.perf_counter()
        ends[label] = now
        if now - last[0] > 10:
            last[0] = now
            print(f"  {label} {done}/{total} after {now - t0:.0f} s", file=sys.stderr)

    rep = eng.index_paths([BENCH / "nic_chunks.jsonl"], progress=progress)
    total = time.perf_counter() - t0
    print(f"index: {rep}\nindexing took {total:.1f} s (tier {args.tier}, {args.threads} thread(s))")
    # where the time went: each stage from the previous stage's last report to its own last one
    # (the chunk vectors and, on a box that reranks, the paragraph openings dominate; their
    # cost is the CPU's int8 speed: docs/BENCHMARKS.md)
    prev, parts = 0.0, []
    for label, end in sorted(ends.items(), key=lambda kv: kv[1]):
        parts.append(f"{label} {end - t0 - prev:.1f} s")
        prev = end - t0
    parts.append(f"the rest {total - prev:.1f} s")
    print("stages (approximate): " + ", ".join(parts))


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def cmd_latency(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    stages: dict[str, list[float]] = {}
    eng = _engine(Path(args.data_dir), tier=args.tier, threads=args.threads)
    print(f"tier {args.tier}: top_k {eng.top_k}, rerank {'on' if eng.rerank else 'off'} (engine/rerank.py)")
    eng.on_timing = lambda stage, s: stages.setdefault(stage, []).append(s * 1000)
    qs = _questions()
    if args.only == "amount":   # the questions that ask an amount of a named kind (reader.AMOUNT_WAIVER's path)
        from nic_edge.engine.quantity import amount_asked
        qs = [q for q in qs if (asked := amount_asked(q["question"])) is not None and asked.dims]
        print(f"only the {len(qs)} questions that ask an amount of a named kind")
    eng.ask("warm up the model")
    results = {}
    for mode in ("hybrid", "lexical"):
        eng.set_lexical_only(mode == "lexical")
        p50s, p95s, modes = [], [], set()
        stages.clear()
        for _ in range(args.runs):
            lat = []
            for q in qs:
                a = eng.ask(q["question"], qid=q["id"])
                lat.append(a["latency_ms"])
                modes.add(a["mode"])
            p50s.append(_pct(lat, 0.5))
            p95s.append(_pct(lat, 0.95))
        results[mode] = (statistics.median(p50s), statistics.median(p95s))
        stage_txt = ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in sorted(stages.items()))
        print(f"{mode:7s} p50 {results[mode][0]:.2f} ms  p95 {results[mode][1]:.2f} ms  "
              f"(median of {args.runs} runs x {len(qs)} questions; answer modes {sorted(modes)})\n"
              f"        stage medians ms: {stage_txt}")
    print(f"hybrid/lexical p50 ratio {results['hybrid'][0] / results['lexical'][0]:.1f}x")


def cmd_components(args: argparse.Namespace) -> None:
    """Hybrid cost by parts when no hybrid index of the bench set exists (embedding 6.7k chunks
    takes long with the current model): lexical answers on the real index + the real model's
    query embedding + an int8 cosine scan over a matrix of the index's size."""
    import numpy as np

    from nic_edge.engine.vectors import VectorIndex, quantize

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    eng = _engine(Path(args.data_dir), tier=args.tier, threads=args.threads)
    qs = _questions()
    eng.set_lexical_only(True)
    lex = [eng.ask(q["question"])["latency_ms"] for q in qs for _ in range(args.runs)]
    emb = eng.embedder
    emb.embed("warm up")
    t_emb = []
    for q in qs:
        t0 = time.perf_counter()
        emb.embed(q["question"])
        t_emb.append((time.perf_counter() - t0) * 1000)
    n = eng.status()["index"]["chunks"]
    rng = np.random.default_rng(0)
    m = rng.normal(size=(n, emb.dim)).astype(np.float32)
    vi = VectorIndex(*quantize(m / np.linalg.norm(m, axis=1, keepdims=True)))
    t_vec = []
    for q in m[:200]:
        t0 = time.perf_counter()
        vi.cosines(q)
        t_vec.append((time.perf_counter() - t0) * 1000)
    print(f"lexical answer p50 {_pct(lex, .5):.2f} p95 {_pct(lex, .95):.2f} ms; query embed p50 "
          f"{_pct(t_emb, .5):.2f} p95 {_pct(t_emb, .95):.2f} ms; int8 cosine scan of {n} rows p50 "
          f"{_pct(t_vec, .5):.2f} ms; hybrid estimate p50 ~{_pct(lex, .5) + _pct(t_emb, .5) + _pct(t_vec, .5):.1f} ms")


def cmd_cold(args: argparse.Namespace) -> None:
    code = (
        "import time,sys; t0=time.perf_counter(); sys.path.insert(0,%r)\n"
        "from tools.bench_engine import _engine\n"
        "from pathlib import Path\n"
        "e=_engine(Path(%r)); a=e.ask('How do I check the engine oil level?')\n"
        "print(round((time.perf_counter()-t0)*1000,1), a['mode'], a['latency_ms'])"
    ) % (str(Path(__file__).resolve().parents[1]), args.data_dir)
    outs = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        wall = (time.perf_counter() - t0) * 1000
        inproc, mode, first = out.stdout.split()
        outs.append((wall, float(inproc), mode, float(first)))
    print("cold start (fresh process, first answer incl. model load): median wall "
          f"{statistics.median(o[0] for o in outs):.0f} ms (process start to exit), in-process "
          f"{statistics.median(o[1] for o in outs):.0f} ms (imports+load+answer), first latency_ms "
          f"{statistics.median(o[3] for o in outs):.0f}, mode {outs[0][2]}")


def cmd_memory(args: argparse.Namespace) -> None:
    cli = [sys.executable, "-m", "nic_edge.cli.edge", "ask", "--jsonl", "--data-dir", args.data_dir]
    env = dict(os.environ, NIC_EDGE_TIER="ultra_lite")
    qs = "".join(json.dumps({"id": q["id"], "question": q["question"]}) + "\n" for q in _questions())
    try:
        import importlib.util
        use_cli = importlib.util.find_spec("nic_edge.cli.edge") is not None
    except ImportError:
        use_cli = False
    if not use_cli:
        code = ("import sys,json,resource; sys.path.insert(0,%r)\n"
                "from tools.bench_engine import _engine\nfrom pathlib import Path\n"
                "e=_engine(Path(%r))\n"
                "for l in sys.stdin: q=json.loads(l); print(json.dumps(e.ask(q['question'], qid=q['id'])))\n"
                ) % (str(Path(__file__).resolve().parents[1]), args.data_dir)
        cli = [sys.executable, "-c", code]
    proc = subprocess.run(cli, input=qs, capture_output=True, text=True, env=env)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    modes = sorted({a.get("mode") for a in lines})
    print(f"peak RSS {usage.ru_maxrss / 1024:.1f} MiB answering {len(lines)} questions via "
          f"{'nic-edge ask --jsonl' if use_cli else 'an Engine loop (CLI not present)'}; modes {modes}; exit {proc.returncode}")


def cmd_clip(args: argparse.Namespace) -> None:
    """What indexing costs per chunk when chunks are embedded from their first N tokens
    (``indexer.INDEX_MAX_TOKENS``): the same random bench chunks at each length, round-robin,
    median of ``--runs``; ratio against the first length (the baseline)."""
    import random

    from nic_edge.engine.indexer import INDEX_MAX_TOKENS, clip_tokens

    emb = _engine(Path(args.data_dir), tier=args.tier, threads=args.threads).embedder
    emb.load()
    rows = [json.loads(line)["text"] for line in (BENCH / "nic_chunks.jsonl").open(encoding="utf-8")]
    texts = random.Random(1).sample(rows, min(args.sample, len(rows)))
    lengths = [int(x) for x in args.lengths.split(",")]
    clipped = {n: [clip_tokens(t, emb.tokenizer, n) for t in texts] for n in lengths}
    emb.embed_many(clipped[lengths[0]][:20])  # warm-up
    times: dict[int, list[float]] = {n: [] for n in lengths}
    for _ in range(args.runs):
        for n in lengths:
            t0 = time.perf_counter()
            emb.embed_many(clipped[n])
            times[n].append((time.perf_counter() - t0) / len(texts) * 1000)
    base = statistics.median(times[lengths[0]])
    print(f"{len(texts)} bench chunks, {args.threads} thread(s), median of {args.runs} runs; "
          f"shipped INDEX_MAX_TOKENS = {INDEX_MAX_TOKENS}")
    for n in lengths:
        med = statistics.median(times[n])
        print(f"  first {n:3d} tokens: {med:6.2f} ms per chunk  ({med / base:.2f}x of {lengths[0]})")


def cmd_reader(args: argparse.Namespace) -> None:
    """The reader with one of its switches (``reader.BOUND_PRUNE``, or ``--switch NAME``: a
    weight is off at 0) on and off in one process, alternated run by run: sections cut into units
    per answer, the read stage's and the answer's p50 (medians over runs), the ratio against off
    (the baseline), and whether every answer is the same."""
    import importlib

    from nic_edge.engine import reader

    name = args.switch
    where, _, attr = name.rpartition(".")   # "rerank.CHUNKS": a switch of another engine module
    try:
        owner = importlib.import_module(f"nic_edge.engine.{where}") if where else reader
    except ImportError:
        raise SystemExit(f"no engine module {where!r}") from None
    if not hasattr(owner, attr) or not isinstance(getattr(owner, attr), (bool, int, float)):
        raise SystemExit(f"{where or 'reader'} has no switch or weight {attr!r}")
    shipped = getattr(owner, attr)
    values = {False: type(shipped)(0), True: shipped}
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    eng = _engine(Path(args.data_dir), tier=args.tier, threads=args.threads)
    if eng.rerank and name == "BOUND_PRUNE":
        print(f"tier {args.tier} reranks: BOUND_PRUNE applies only without rerank (--tier lite or ultra_lite)")
        return
    stages: list[float] = []
    eng.on_timing = lambda stage, s: stages.append(s * 1000) if stage == "read" else None
    cut = [0]
    real = reader.section_units

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        cut[0] += 1
        return real(*a, **k)

    reader.section_units = counting
    qs = _questions()
    eng.ask("warm up the model")
    for mode in ("hybrid", "lexical"):
        eng.set_lexical_only(mode == "lexical")
        res: dict[bool, dict[str, list[float]]] = {p: {"read": [], "answer": [], "cut": []} for p in (False, True)}
        answers: dict[bool, list[tuple]] = {}
        for run in range(args.runs):
            for prune in ((False, True) if run % 2 == 0 else (True, False)):
                setattr(owner, attr, values[prune])
                stages.clear()
                cut[0] = 0
                lat, outs = [], []
                for q in qs:
                    a = eng.ask(q["question"], qid=q["id"])
                    lat.append(a["latency_ms"])
                    outs.append((a["answer"], a["confidence"], a["abstained"]))
                answers[prune] = outs
                res[prune]["read"].append(_pct(stages, 0.5))
                res[prune]["answer"].append(_pct(lat, 0.5))
                res[prune]["cut"].append(cut[0] / len(qs))
        same = sum(a == b for a, b in zip(answers[False], answers[True]))
        print(f"tier {args.tier}, {mode}, {len(qs)} questions, median of {args.runs} runs each, alternated")
        for prune in (False, True):
            r = res[prune]
            print(f"  {name} {'on ' if prune else 'off'}: sections cut "
                  f"{statistics.median(r['cut']):.2f} per answer, read p50 {statistics.median(r['read']):.2f} ms, "
                  f"answer p50 {statistics.median(r['answer']):.2f} ms")
        on, off = res[True], res[False]
        print(f"  on/off: sections {statistics.median(on['cut']) / statistics.median(off['cut']):.2f}x, read "
              f"{statistics.median(on['read']) / statistics.median(off['read']):.2f}x, answer "
              f"{statistics.median(on['answer']) / statistics.median(off['answer']):.2f}x; "
              f"answers the same: {same}/{len(qs)}")
    reader.section_units = real
    setattr(owner, attr, shipped)
    if name != "BOUND_PRUNE":
        return
    # The index's calibration (issue 16) asks its generated questions through the same answer path.
    eng.set_lexical_only(False)
    snap = eng.snapshot()
    took: dict[bool, list[float]] = {False: [], True: []}
    recs: dict[bool, dict] = {}
    for run in range(2):
        for prune in ((False, True) if run % 2 == 0 else (True, False)):
            reader.BOUND_PRUNE = prune
            t0 = time.perf_counter()
            rec = eng._calibrate(snap)
            took[prune].append(time.perf_counter() - t0)
            recs[prune] = {k: v for k, v in rec.items() if k not in ("created_at", "seconds")}
    reader.BOUND_PRUNE = True
    off, on = statistics.median(took[False]), statistics.median(took[True])
    print(f"  calibration of this index: off {off:.1f} s, on {on:.1f} s ({on / off:.2f}x), "
          f"the same thresholds: {recs[False] == recs[True]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["index", "latency", "components", "cold", "memory", "clip", "reader"])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tier", default="ultra_lite")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lengths", default="128,96,80,64", help="clip: token lengths, first = baseline")
    ap.add_argument("--sample", type=int, default=300, help="clip: how many bench chunks")
    ap.add_argument("--switch", default="BOUND_PRUNE",
                    help="reader: the reader's switch or weight to turn off (0) and on (as shipped); "
                         "MODULE.NAME for another engine module's (rerank.CHUNKS)")
    ap.add_argument("--only", choices=["all", "amount"], default="all",
                    help="latency: all bench questions, or only those asking an amount of a named kind")
    args = ap.parse_args(argv)
    # Every figure depends on the CPU: print its model and int8 dot-product features.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.cpuinfo import cpu_banner  # noqa: E402
    print(cpu_banner(), flush=True)
    if not (BENCH / "nic_chunks.jsonl").is_file():
        print(f"skip: benchmark data not found under {BENCH}")
        return 0
    {"index": cmd_index, "latency": cmd_latency, "components": cmd_components, "cold": cmd_cold,
     "memory": cmd_memory, "clip": cmd_clip, "reader": cmd_reader}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
