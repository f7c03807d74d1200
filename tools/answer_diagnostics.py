"""Diagnostics beside the answer evaluation (tools/eval_answers.py ``--ranks`` and ``--signals``):
what retrieval alone ranks, and what each confidence feature alone tells.

* ``rank_report``: R@1, R@5 and MRR@10 of each set's first relevant chunk under score fusion at
  several BM25 weights (1 = BM25 only, 0 = vectors only), retrieval only, no reader.
* ``feature_signals`` / ``signal_report``: per answered question the confidence model's
  features (Engine.explain), its confidence, and whether the quote's section holds the index's
  closest chunk in meaning; over a set, each one's AUROC useful-vs-not and the useful share
  with and without that closest-section agreement.
"""

from __future__ import annotations

import math
from typing import Any

import answer_metrics as am
from answer_sets import AnswerSet


def feature_signals(eng: Any, question: str, conf: float) -> dict[str, float]:
    """The confidence model's features of an answer (Engine.explain), its confidence, and
    whether the quoted section holds the index's closest chunk in meaning (``closest``)."""
    from nic_edge.engine.answer import FEATURES

    ex = eng.explain(question)
    sig = dict(zip(FEATURES, ex["features"] or (0.0,) * len(FEATURES)))
    sig["closest"] = float(bool(ex.get("quoted_closest")))
    sig["confidence"] = conf
    return sig


def signal_report(rows: list[tuple[bool, dict[str, float]]]) -> dict:
    """Over the answered questions (threshold 0): each signal's AUROC useful-vs-not (0.5 = no
    better than chance; below 0.5 it points the other way), and the useful share with and
    without the reader's quote in the section closest in meaning."""
    names = list(rows[0][1]) if rows else []
    out: dict[str, Any] = {"n": len(rows), "useful": sum(u for u, _ in rows), "auroc": {
        k: am.auroc([s[k] for u, s in rows if u], [s[k] for u, s in rows if not u]) for k in names}}
    for label, want in (("closest", 1.0), ("not_closest", 0.0)):
        part = [u for u, s in rows if s.get("closest") == want]
        out[label] = {"n": len(part), "useful": am.share(part)}
    return out


def render_signals(name: str, sig: dict) -> str:
    out = [f"signals ({name}): AUROC useful-vs-not over {sig['n']} answered ({sig['useful']} useful)"]
    out += [f"  {k:12s} {'-' if math.isnan(v) else f'{v:.3f}'}" for k, v in sig["auroc"].items()]
    out.append(f"  useful when the quote's section holds the closest chunk in meaning: "
               f"{am.fmt(sig['closest']['useful'])} of {sig['closest']['n']}; otherwise "
               f"{am.fmt(sig['not_closest']['useful'])} of {sig['not_closest']['n']}")
    return "\n".join(out)


def rank_report(aset: AnswerSet, eng: Any, alphas: list[float], depth: int = 10) -> dict[str, dict]:
    """R@1, R@5 and MRR@``depth`` of the first relevant chunk under score fusion at each BM25
    weight in ``alphas``, over the set's in-scope questions (retrieval only, no reader)."""
    from nic_edge.engine.retrieval import retrieve

    ranks: dict[float, list[int]] = {a: [] for a in alphas}
    for it in aset.in_scope:
        snap, ret, _mode = eng._run(it.question, depth)
        if ret is None:
            continue
        for a in alphas:
            r2 = retrieve(snap.bm25, ret.terms, depth, snap.vectors, ret.qvec, fusion="score", alpha=a) \
                if ret.qvec is not None else ret
            rk = next((i for i, h in enumerate(r2.hits)
                       if aset.relevance(it, snap.source(h.row), snap.section(h.row), snap.text(h.row))), None)
            ranks[a].append(depth if rk is None else rk)
    out = {}
    for a, rs in ranks.items():
        n = len(rs) or 1
        out[f"{a:g}"] = {"n": len(rs), "r1": sum(r < 1 for r in rs) / n, "r5": sum(r < 5 for r in rs) / n,
                         "mrr": sum(1.0 / (r + 1) for r in rs if r < depth) / n}
    return out


def render_ranks(name: str, rows: dict[str, dict]) -> str:
    out = [f"== {name}: retrieval alone, first relevant chunk (BM25 weight 1 = BM25 only, 0 = vectors only)",
           f"{'weight':>7s} {'R@1':>7s} {'R@5':>7s} {'MRR@10':>7s}"]
    out += [f"{a:>7s} {am.fmt(r['r1']):>7s} {am.fmt(r['r5']):>7s} {r['mrr']:7.3f}" for a, r in rows.items()]
    return "\n".join(out)
