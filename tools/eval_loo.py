#!/usr/bin/env python3
"""Leave-one-manual-out check of per-index calibration (issue 16's must-show).

    python3 tools/eval_loo.py [--shared ../shared] [--cache /tmp/nic_edge_loo] [--lexical]
                              [--per-manual 40] [--ford-set FILE.jsonl] [--json OUT]
                              [--beir heldout_camera,heldout_heatpump]

For each visible source -- the three public-domain corpus manuals (the Ford one is the same file
as the bundled sample manual), MTRAG-UN's cloud corpus and nic_qa's vehicle manual -- the source
is indexed ALONE (real int8 model, real engine, calibrated by `nic-edge index`'s own code), then
asked:
  * its own answerable questions: MTRAG ANSWERABLE + PARTIAL queries, nic_qa positive cases, and
    for the corpus manuals questions generated from their headings and sentences by
    tools/eval_out_of_manual.py (another generator than the calibration's, so the check is not
    the calibration grading itself); ``--ford-set`` adds a JSONL set of Ford questions
    ({"question"} or BEIR {"text"} per line);
  * its own refusals where the set has them (MTRAG UNANSWERABLE, nic_qa hard refusals);
  * every question of the OTHER sources, which the held-out index should abstain on.
``--beir`` adds BEIR folders (or the bundled sets of tools/data by name) as sources of their
own: ANSWERABLE / PARTIAL queries are their own questions, UNANSWERABLE their refusals.
Each question is answered once with the threshold at 0 (what the calibration does too), so
the same run scores the calibrated threshold and the shipped default 0.5. Also printed: the
in-scope vs out-of-scope AUROC of the confidence (own answerable vs other sources). The
useful-vs-not AUROC and wrong-confident rate need gold answers: that is tools/evaluate.py's
answer-quality report, not this script.

Indexes are cached under --cache (reused while the file and index format are unchanged) and
embeddings under tools/evaluate.py's embedding cache, so re-runs take seconds per source.
Missing ../shared -> a clear message and exit 0 (the evaluation data is never shipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from answer_sets import beir_folder  # noqa: E402
from evaluate import auroc, make_embedder  # noqa: E402

DEFAULT = 0.5


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def _beir(folder: Path) -> dict:
    qs = _jsonl(folder / "queries.jsonl")
    lab = lambda q: q.get("metadata", {}).get("answerability", "ANSWERABLE")  # noqa: E731
    return {"paths": [folder / "corpus.jsonl"], "generate": False,
            "answerable": [q["text"] for q in qs if lab(q) in ("ANSWERABLE", "PARTIAL")],
            "refusals": [q["text"] for q in qs if lab(q) == "UNANSWERABLE"]}


def sources(shared: Path, ford_set: Path | None, beir: tuple[Path, ...] = ()) -> dict[str, dict]:
    """name -> {"paths", "answerable", "refusals", "generate"}."""
    out: dict[str, dict] = {}
    for manual in sorted((shared / "corpus").glob("*.txt")):
        out[manual.stem] = {"paths": [manual], "answerable": [], "refusals": [], "generate": True}
    ford = next((k for k in out if k.startswith("ford")), None)
    if ford and ford_set is not None and ford_set.is_file():
        # The Ford set (rephrased by hand, tools/data/ford_qa.jsonl) replaces generated questions.
        out[ford].update(answerable=[r.get("question") or r.get("text") for r in _jsonl(ford_set)],
                         generate=False)
    mtrag = shared / "eval" / "mtragun_cloud"
    if (mtrag / "corpus.jsonl").is_file():
        out["mtragun_cloud"] = _beir(mtrag)
    nic = shared / "eval" / "nic_qa"
    if (nic / "vehicle_manual.txt").is_file():
        d = json.loads((nic / "nic_qa_dataset.json").read_text("utf-8"))
        out["nic_qa"] = {"paths": [nic / "vehicle_manual.txt"], "generate": False,
                         "answerable": [c["query"] for c in d.get("positive_cases", [])],
                         "refusals": [c["query"] for c in d.get("hard_refusal_cases", [])]}
    for folder in beir:
        out[folder.name] = _beir(folder)
    return out


def build(name: str, spec: dict, cache: Path, emb: object | None, target: float = 0.80):
    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine import calibrate as calib
    from nic_edge.engine.engine import Engine

    prof = load_profiles()["standard"]
    # One data dir per source *and* its files' paths: indexing a cached dir adds what it lacks, so
    # the same set read from another checkout would be indexed twice over.
    where = hashlib.sha256("\0".join(str(Path(p).resolve()) for p in spec["paths"]).encode()).hexdigest()[:8]
    cache = cache / f"{name}-{where}"
    eng = Engine(cache, prof, EngineConfig(target_abstain=target), emb, fusion="score")
    rep = eng.index_paths(spec["paths"])
    snap = eng.snapshot()
    # Re-calibrate with the code (and --target) as it is now: a cached index may carry an older record.
    rec = rep.calibration if rep.calibration is not None and target == 0.80 else eng._calibrate(snap)
    probe = Engine(cache, prof, calib.ProbeConfig(EngineConfig()), emb, fusion="score")
    return eng, probe, rec


def rate(scores: list[float], t: float, answered: bool) -> tuple[float, int]:
    from nic_edge.engine.calibrate import share_answered

    if not scores:
        return float("nan"), 0
    a = share_answered(scores, t)
    return (a if answered else 1.0 - a), len(scores)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--cache", default="/tmp/nic_edge_loo", help="index cache dir (one data dir per source)")
    ap.add_argument("--lexical", action="store_true", help="no model (BM25 only)")
    ap.add_argument("--per-manual", type=int, default=40, help="generated questions per corpus manual and style")
    ap.add_argument("--ford-set", default=str(Path(__file__).resolve().parent / "data" / "ford_qa.jsonl"),
                    help="JSONL of Ford questions (default: the hand-rephrased Ford set, when present)")
    ap.add_argument("--json", default=None, help="write per-source figures here")
    ap.add_argument("--target", type=float, default=0.80, help="engine.target_abstain to calibrate with")
    ap.add_argument("--beir", default="", metavar="SETS",
                    help="comma list of BEIR folders or bundled sets (heldout_camera, heldout_heatpump, "
                         "heldout_soundbar, heldout_mower, heldout_tv, heldout_phone, heldout_printer, "
                         "heldout_vacuum) to add as sources")
    args = ap.parse_args()
    names = [n for n in (x.strip() for x in args.beir.split(",")) if n]
    folders = [beir_folder(n) for n in names]
    missing = [n for n, f in zip(names, folders) if f is None or not (f / "queries.jsonl").is_file()]
    if missing:
        print(f"error: no BEIR set at {', '.join(missing)}", file=sys.stderr)
        return 2
    beir = tuple(f for f in folders if f is not None)
    shared = Path(args.shared)
    if not (shared / "corpus").is_dir():
        print(f"skip: {shared} not found (the evaluation data is local only)")
        return 0
    from eval_out_of_manual import generate
    from nic_edge.engine.calibrate import NEVER, score
    from nic_edge.engine.questions import Pool, load_pool

    srcs = sources(shared, Path(args.ford_set), beir)
    emb = None if args.lexical else make_embedder(threads=1)
    cache = Path(args.cache) / ("lexical" if args.lexical else "hybrid")
    built = {}
    for name, spec in srcs.items():
        print(f"indexing {name} ...", file=sys.stderr, flush=True)
        built[name] = build(name, spec, cache, emb, args.target)
        if spec["generate"]:
            rng = random.Random(7)
            eng = built[name][0]
            spec["answerable"] += [q for rough in (False, True)
                                   for q, _ in generate(eng, rng, args.per_manual, rough)]
    pool = load_pool()
    results = {}
    for name, (eng, probe, rec) in built.items():
        mode = eng.mode
        m = (rec.get("modes") or {}).get(mode, {})
        t = float(m.get("threshold", DEFAULT))
        ask = lambda q: score(probe.ask(q))  # noqa: E731
        own = [ask(q) for q in srcs[name]["answerable"]]
        refusals = [ask(q) for q in srcs[name]["refusals"]]
        others = {o: [ask(q) for q in spec["answerable"] + spec["refusals"]]
                  for o, spec in srcs.items() if o != name}
        # The bundled pool holds questions generated from the corpus manuals: when source O's
        # questions test the held-out index, the threshold they meet is calibrated WITHOUT O's
        # pool questions (leave-two-out), so the pool never grades itself.
        t_for = {}
        for o, spec in srcs.items():
            fname = spec["paths"][0].name
            if o != name and any(n == fname for n, _, _ in pool.manuals):
                held = Pool(pool.questions, pool.parts, [x for x in pool.manuals if x[0] != fname])
                t_for[o] = float(eng._calibrate(eng.snapshot(), held)["modes"][mode]["threshold"])
        honest = [x for o, v in others.items() for x in v if x == NEVER or x < t_for.get(o, t)]
        every_other = [s for v in others.values() for s in v]
        results[name] = {
            "others_abstained_l2o": (len(honest) / len(every_other), len(every_other)),
            "thresholds_l2o": t_for,
            "chunks": eng.snapshot().n, "mode": mode, "status": rec.get("status"), "threshold": t,
            "expected_answered": m.get("expected_answered"), "expected_abstained": m.get("expected_abstained"),
            "calibration_s": rec.get("seconds"),
            "own_answered": rate(own, t, True), "others_abstained": rate(every_other, t, False),
            "refusals_abstained": rate(refusals, t, False),
            "own_answered@0.5": rate(own, DEFAULT, True), "others_abstained@0.5": rate(every_other, DEFAULT, False),
            "by_source_abstained": {o: rate(v, t_for.get(o, t), False)[0] for o, v in others.items()},
            "auroc_in_vs_out": auroc([max(0.0, s) for s in own], [max(0.0, s) for s in every_other])}
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


def _pct(x: tuple[float, int]) -> str:
    v, n = x
    return "   -      " if n == 0 else f"{100 * v:5.1f} % ({n:>3})"


def print_table(results: dict[str, dict]) -> None:
    print(f"{'held out':<26} {'chunks':>6} {'mode':<7} {'calibration':<11} {'thr':>5}  "
          f"{'own answered':<14} {'others (l2o)':<14} {'others abst.':<14} {'refusals abst.':<14} "
          f"{'@0.5 own ans.':<14} {'@0.5 others':<14} {'AUROC':>5}  expected ans/abst")
    for name, r in results.items():
        exp = (f"{100 * r['expected_answered']:.0f}/{100 * r['expected_abstained']:.0f} %"
               if r["expected_answered"] is not None else "-")
        print(f"{name[:26]:<26} {r['chunks']:>6} {r['mode']:<7} {str(r['status']):<11} {r['threshold']:>5.2f}  "
              f"{_pct(r['own_answered']):<14} {_pct(r['others_abstained_l2o']):<14} "
              f"{_pct(r['others_abstained']):<14} {_pct(r['refusals_abstained']):<14} "
              f"{_pct(r['own_answered@0.5']):<14} {_pct(r['others_abstained@0.5']):<14} "
              f"{r['auroc_in_vs_out']:>5.3f}  {exp}")
    print("\nothers (l2o): each other source's questions at the threshold calibrated without that\n"
          "source's pool questions; others abst.: all at the deployed threshold. By source (l2o):")
    for name, r in results.items():
        parts = ", ".join(f"{o} {100 * v:.0f} %" + (f" @{r['thresholds_l2o'][o]:.2f}" if o in r["thresholds_l2o"] else "")
                          for o, v in r["by_source_abstained"].items())
        print(f"  {name}: {parts}")


if __name__ == "__main__":
    sys.exit(main())
