#!/usr/bin/env python3
"""Answer quality and abstention of the real engine, against two BM25 baselines.

    python3 tools/eval_answers.py [--sets ford,nic_qa,mtragun|PATH] [--json] [--lexical]
                                  [--examples N] [--no-cache] [--ford-limit N] [--dump FILE]
                                  [--ranks 1,0.75,0.5,0] [--signals]

Per set (tools/answer_sets.py) the corpus is indexed with the real engine (int8 TFLite
embedder, tier ``standard`` defaults; indexes cached, tools/answer_engine.py) and every question
is asked through Engine.ask, uncached, with the abstain threshold forced to 0 so that every
question gets quotes and a confidence; answers at the shipped threshold (or any other) are then
worked out offline from the recorded confidences.

Quality, over in-scope questions whose gold has >= 4 words and is not a bare menu path (a
question with several gold passages is scored against the one it matches best):
answered %; mean gold-token recall, token F1 and exact containment (normalised gold inside the
answer) over answered questions; median answer vs gold words; first citation relevant (qrels,
expected paragraph, the Ford heading's section); useful % (answered, recall >= 0.5, answer words
<= 3 x gold + 40, share of all scored questions); wrong-confident % (answered, recall < 0.2,
share of answered). Baselines, always answering: (a) the whole top BM25 section, (b) the best
1-3 sentence window of the top 3 BM25 sections by question IDF coverage.
Abstention: answered % in scope, abstained % of the set's own out-of-scope questions and of the
questions of the sets of another domain (asked of this set's index; Ford and nic_qa are both
vehicle manuals, so they are not asked of each other) and of 30 bundled off-topic questions
(tools/data/off_topic_eval.txt), useful/wrong-confident, at the shipped
threshold and swept over 0.3..0.9; AUROC of confidence useful vs not-useful answers, and in- vs
out-of-scope. Every quote is checked to be verbatim in its cited section (violations listed).

``--ranks`` adds, per set, retrieval alone: the first relevant chunk's rank (the set's own
relevance rule) under score fusion at each given BM25 weight (1 = BM25 only, 0 = vectors only),
as R@1, R@5 and MRR@10 over the in-scope questions. The shipped weight (retrieval.ALPHA) was
chosen on generated questions; this shows how people's questions rank.

``--signals`` adds, per set, over the questions answered at threshold 0: each confidence
feature's AUROC useful-vs-not on its own (and the confidence's), and the useful share when the
reader's quote does or does not come from the section holding the index's closest chunk in
meaning. A candidate confidence signal is worth fitting only if it separates on every set.
Both live in tools/answer_diagnostics.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import answer_engine as ae  # noqa: E402
import answer_metrics as am  # noqa: E402
from answer_diagnostics import (feature_signals, rank_report, render_ranks, render_signals,  # noqa: E402
                                signal_report)
from answer_sets import BUNDLED_BEIR, AnswerSet, Item, SetUnavailable, beir_folder, load_off_topic, load_set  # noqa: E402

SYSTEMS = ("ours", "bm25_section", "bm25_window")
NAMED = ("ford", "nic_qa", "mtragun")
SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class Scored:
    """One system's answer to one in-scope question."""
    answered: bool
    conf: float
    words: int
    gold_words: int
    recall: float
    f1: float
    contains: bool
    relevant: bool | None   # None: the set has no relevance label for this question


@dataclass
class SetRun:
    aset: AnswerSet
    threshold: float
    scored: dict[str, list[Scored]] = field(default_factory=lambda: {s: [] for s in SYSTEMS})
    skipped: dict[str, int] = field(default_factory=dict)
    own_oos: list[tuple[bool, float]] = field(default_factory=list)      # (answered at 0, conf)
    foreign_oos: list[tuple[bool, float]] = field(default_factory=list)
    off_topic: list[tuple[bool, float]] = field(default_factory=list)
    checked: int = 0
    details: list[dict] = field(default_factory=list)   # per in-scope question, for --dump
    signals: list[tuple[bool, dict[str, float]]] = field(default_factory=list)  # answered ones: (useful, signals)
    violations: list[dict] = field(default_factory=list)


def answer_text(a: dict) -> str:
    """What the technician reads: the quotes' texts joined, else ``answer``."""
    if a.get("quotes"):
        return "\n\n".join(q.get("text", "") for q in a["quotes"])
    return a.get("answer") or ""


def score(item: Item, text: str, answered: bool, conf: float, relevant: bool | None) -> Scored:
    best = max(item.golds, key=lambda g: (am.recall(text, g), am.f1(text, g)))
    rec = am.recall(text, best) if answered else 0.0
    return Scored(answered, conf, am.n_words(text) if answered else 0, am.n_words(best), rec,
                  am.f1(text, best) if answered else 0.0, answered and am.contains(text, best), relevant)


def _relevance(run: SetRun, item: Item, snap: Any, row: int | None) -> bool | None:
    if not item.relevant:
        return None
    if row is None:
        return False
    return run.aset.relevance(item, snap.source(row), snap.section(row), snap.text(row))


def _ask(eng: Any, run: SetRun, rows: dict[str, int], qid: str, question: str) -> dict:
    a = eng.ask(question, qid=qid)
    run.checked += 1
    run.violations.extend(ae.verbatim_violations(eng.snapshot(), a, rows))
    return a


def run_set(aset: AnswerSet, eng: Any, foreign: list[Item], off_topic: list[Item],
            signals: bool = False) -> SetRun:
    snap = eng.snapshot()
    rows = ae.row_index(snap)
    run = SetRun(aset, ae.force_threshold(eng, 0.0))
    for item in aset.in_scope:
        golds = [g for g in item.golds if am.skip_gold(g) is None]
        if not golds:
            why = am.skip_gold(item.golds[0]) if item.golds else "no_gold"
            run.skipped[why or "?"] = run.skipped.get(why or "?", 0) + 1
            continue
        item = Item(item.qid, item.question, golds, item.relevant)
        a = _ask(eng, run, rows, item.qid, item.question)
        answered = not a["abstained"]
        cits = a.get("citations") or []
        row = rows.get(cits[0]["chunk_id"]) if answered and cits else None
        run.scored["ours"].append(score(item, answer_text(a), answered, float(a["confidence"]),
                                        _relevance(run, item, snap, row) if answered else None))
        for name, fn in (("bm25_section", ae.baseline_whole_section), ("bm25_window", ae.baseline_best_window)):
            text, brow = fn(snap, item.question)
            run.scored[name].append(score(item, text, True, 1.0, _relevance(run, item, snap, brow)))
        s = run.scored["ours"][-1]
        if signals and answered:
            run.signals.append((am.useful(True, s.recall, s.words, s.gold_words),
                                feature_signals(eng, item.question, s.conf)))
        run.details.append({
            "set": aset.name, "id": item.qid, "question": item.question, "answered_at_0": answered,
            "confidence": s.conf, "answer": answer_text(a), "recall": round(s.recall, 3),
            "f1": round(s.f1, 3), "useful": am.useful(answered, s.recall, s.words, s.gold_words),
            "first_citation": cits[0].get("section") if cits else None, "relevant": s.relevant,
            # each quote's words and citation index: how long, and from how many sections
            "quotes": [[am.n_words(q["text"]), q["citation"]] for q in a.get("quotes") or []],
            "gold": max(golds, key=lambda g: am.recall(answer_text(a), g)),
            "baseline_recall": {n: round(run.scored[n][-1].recall, 3) for n in SYSTEMS[1:]}})
    for item in aset.out_scope:
        a = _ask(eng, run, rows, item.qid, item.question)
        run.own_oos.append((not a["abstained"], float(a["confidence"])))
    for group, items in ((run.foreign_oos, foreign), (run.off_topic, off_topic)):
        for item in items:
            a = _ask(eng, run, rows, item.qid, item.question)
            group.append((not a["abstained"], float(a["confidence"])))
    return run


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def quality(items: list[Scored], threshold: float) -> dict:
    ans = [s for s in items if s.answered and s.conf >= threshold]
    rel = [s.relevant for s in ans if s.relevant is not None]
    return {
        "n": len(items), "answered": am.share([s in ans for s in items]),
        "recall": _mean([s.recall for s in ans]), "f1": _mean([s.f1 for s in ans]),
        "containment": am.share([s.contains for s in ans]),
        "median_words": am.median_or_nan(s.words for s in ans),
        "median_gold_words": am.median_or_nan(s.gold_words for s in items),
        "first_citation_relevant": am.share(rel), "n_relevance": len(rel),
        "useful": am.share([s in ans and am.useful(True, s.recall, s.words, s.gold_words) for s in items]),
        "wrong_confident": am.share([am.wrong_confident(True, s.recall) for s in ans]),
    }


def abstention(run: SetRun, threshold: float) -> dict:
    q = quality(run.scored["ours"], threshold)
    return {"threshold": threshold, "answered_in_scope": q["answered"],
            "abstained_own_oos": am.share([not (a and c >= threshold) for a, c in run.own_oos]),
            "abstained_foreign_oos": am.share([not (a and c >= threshold) for a, c in run.foreign_oos]),
            "abstained_off_topic": am.share([not (a and c >= threshold) for a, c in run.off_topic]),
            "useful": q["useful"], "wrong_confident": q["wrong_confident"]}


def summarize(run: SetRun, examples: int) -> dict:
    ours = run.scored["ours"]
    produced = [s for s in ours if s.answered]
    is_useful = [am.useful(True, s.recall, s.words, s.gold_words) for s in produced]
    oos = [c for _, c in run.own_oos + run.foreign_oos + run.off_topic]
    return {
        "corpus": [str(p) for p in run.aset.corpus], "notes": run.aset.notes,
        "in_scope": len(run.aset.in_scope), "scored": len(ours), "skipped": run.skipped,
        "own_out_of_scope": len(run.own_oos), "foreign_out_of_scope": len(run.foreign_oos),
        "off_topic": len(run.off_topic),
        "threshold": run.threshold,
        "systems": {"ours": quality(ours, run.threshold),
                    **{s: quality(run.scored[s], 0.0) for s in SYSTEMS[1:]}},
        "abstention": {
            "at_threshold": abstention(run, run.threshold),
            "sweep": [abstention(run, t) for t in SWEEP],
            "auroc_useful": am.auroc([s.conf for s, u in zip(produced, is_useful) if u],
                                     [s.conf for s, u in zip(produced, is_useful) if not u]),
            "auroc_scope": am.auroc([s.conf for s in ours], oos),
        },
        "verbatim": {"checked_answers": run.checked, "violations": len(run.violations),
                     "examples": run.violations[:examples]},
        **({"signals": signal_report(run.signals)} if run.signals else {}),
    }


def render(name: str, r: dict) -> str:
    sy = r["systems"]
    out = [f"== {name}: {r['scored']} scored of {r['in_scope']} in scope "
           f"(skipped {r['skipped'] or 'none'}); out of scope: {r['own_out_of_scope']} own, "
           f"{r['foreign_out_of_scope']} from other domains, {r['off_topic']} off-topic; threshold in use {r['threshold']:.2f} (the index's calibrated one, else the default)"]
    out += [f"   note: {n}" for n in r["notes"]]
    out.append(f"{'':28s}{'ours':>10s}{'(a) section':>13s}{'(b) window':>12s}")
    rows = [("answered", "answered", True), ("gold-token recall (answered)", "recall", True),
            ("token F1 (answered)", "f1", True), ("exact containment", "containment", True),
            ("median answer words", "median_words", False), ("median gold words", "median_gold_words", False),
            ("first citation relevant", "first_citation_relevant", True), ("USEFUL", "useful", True),
            ("wrong-confident / answered", "wrong_confident", True)]
    for label, key, pct in rows:
        out.append(f"{label:28s}" + "".join(f"{am.fmt(sy[s][key], pct):>{w}s}"
                                             for s, w in zip(SYSTEMS, (10, 13, 12))))
    ab = r["abstention"]
    out.append(f"abstention: AUROC useful-vs-not {am.fmt(ab['auroc_useful'], False)[:5]}, "
               f"in-vs-out of scope {am.fmt(ab['auroc_scope'], False)[:5]}")
    out.append(f"{'threshold':>10s}{'answered':>10s}{'abst own':>10s}{'abst other':>11s}{'abst offtop':>12s}"
               f"{'useful':>9s}{'wrong/ans':>10s}")
    for row in [ab["at_threshold"]] + ab["sweep"]:
        out.append(f"{row['threshold']:>10.2f}" + "".join(
            f"{am.fmt(row[k]):>{w}s}" for k, w in (("answered_in_scope", 10), ("abstained_own_oos", 10),
                                               ("abstained_foreign_oos", 11), ("abstained_off_topic", 12),
                                               ("useful", 9),
                                               ("wrong_confident", 10))))
    v = r["verbatim"]
    out.append(f"verbatim: {v['violations']} quote(s) not verbatim in their cited section, "
               f"over {v['checked_answers']} answers")
    out += [f"   {e['id']}: {e['why']}: {str(e['quote'])[:100]!r}" for e in v["examples"]]
    return "\n".join(out)


def evaluate(set_names: list[str], lexical: bool = False, cache: bool = True, examples: int = 5,
             ford_limit: int | None = None, log: Any = print, dump: Path | None = None,
             alphas: list[float] | None = None, signals: bool = False) -> dict:
    from evaluate import make_embedder

    emb = None if lexical else make_embedder()
    sets: dict[str, AnswerSet] = {}
    report: dict[str, Any] = {"machine": {"cpu": ae.cpu_info(), "python": sys.version.split()[0],
                                          "model_sha256": getattr(emb, "model_sha256", None),
                                          "engine_code": ae.code_version()},
                              "sets": {}, "unavailable": {}}
    for name in set_names:
        try:
            sets[name] = load_set(name, ford_limit)
        except SetUnavailable as exc:
            report["unavailable"][name] = str(exc)
            log(f"skip {name}: {exc}")
    off_topic = load_off_topic()
    for name, aset in sets.items():
        foreign = [it for s in sets.values() if s.domain != aset.domain for it in s.in_scope]
        eng = ae.open_engine(aset.corpus, emb, cache)
        run = run_set(aset, eng, foreign, off_topic, signals)
        report["sets"][name] = summarize(run, examples)
        report["sets"][name]["mode"] = eng.mode
        if alphas:
            report["sets"][name]["ranks"] = rank_report(aset, eng, alphas)
        if dump is not None:
            with dump.open("a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in run.details)
        eng.snapshot().close()
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default="ford,nic_qa,mtragun",
                    help="comma list of ford, nic_qa, mtragun, the bundled blind sets (heldout_camera, "
                         "heldout_heatpump, heldout_soundbar, heldout_mower, heldout_tv, heldout_phone, "
                         "heldout_printer, heldout_vacuum) or BEIR folders (default: the first three)")
    ap.add_argument("--json", action="store_true", help="print one JSON report instead of tables")
    ap.add_argument("--lexical", action="store_true", help="no embedder (BM25-only engine)")
    ap.add_argument("--no-cache", action="store_true", help="re-index even when a cached index matches")
    ap.add_argument("--examples", type=int, default=5, help="verbatim violations listed per set")
    ap.add_argument("--ford-limit", type=int, default=None, help="only the first N Ford questions")
    ap.add_argument("--dump", type=Path, help="append one JSON line per scored question (answer, recall, "
                    "useful, first citation, gold) to this file, for looking at failures")
    ap.add_argument("--ranks", default="", metavar="WEIGHTS",
                    help="also rank each set's questions by retrieval alone at these BM25 weights of score "
                         "fusion, e.g. 1,0.75,0.5,0 (R@1, R@5, MRR@10)")
    ap.add_argument("--signals", action="store_true",
                    help="also report how well each confidence feature alone tells useful answers from "
                         "the rest (AUROC per set), for looking for new confidence signals")
    args = ap.parse_args(argv)
    try:
        alphas = [float(a) for a in args.ranks.split(",") if a.strip()]
    except ValueError:
        print(f"error: --ranks wants comma-separated numbers in 0..1, got {args.ranks!r}", file=sys.stderr)
        return 2
    if any(not 0.0 <= a <= 1.0 for a in alphas):
        print(f"error: --ranks weights must lie in 0..1, got {args.ranks!r}", file=sys.stderr)
        return 2
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [n for n in names if n not in NAMED and beir_folder(n) is None]
    if unknown or not names:
        print(f"error: unknown set(s) {', '.join(unknown) or '(none given)'}: use "
              f"{', '.join(NAMED + BUNDLED_BEIR)} or a BEIR folder", file=sys.stderr)
        return 2
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    if args.dump is not None:
        args.dump.write_text("", encoding="utf-8")
    rep = evaluate(names, args.lexical, not args.no_cache, args.examples, args.ford_limit, log, args.dump,
                   alphas, args.signals)
    if args.json:
        print(json.dumps(rep, indent=1, default=str))
        return 0
    m = rep["machine"]
    print(f"machine: {m['cpu']}; Python {m['python']}\nmodel sha256: {m['model_sha256']}; "
          f"engine code {m['engine_code']}")
    for name, r in rep["sets"].items():
        print(f"\n[{r['mode']}]")
        print(render(name, r))
        if r.get("ranks"):
            print(render_ranks(name, r["ranks"]))
        if r.get("signals"):
            print(render_signals(name, r["signals"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
