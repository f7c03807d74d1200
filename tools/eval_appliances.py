#!/usr/bin/env python3
"""Consumer-appliance check: three short manuals of another kind than the visible sets, asked as
their owners ask.

    python3 tools/eval_appliances.py [--lexical] [--threshold 0.3] [--show]

``tools/data/appliances/`` holds a television, a washing-machine and a Wi-Fi router manual
(Markdown, written for this check: troubleshooting entries that name opposite symptoms, error-code and
specification tables, a FAQ, menu paths, units) and ``questions.jsonl``: per question the
manual, the sections whose text answers it (``sections``; null when the manual does not answer
it) and a phrase the answer must contain (``contains``). Each manual is indexed alone with the
real engine (int8 model unless ``--lexical``; tier ``standard``) and asked every question of it
with the threshold at 0, so one run scores any threshold.

At ``--threshold`` (default 0.30, the calibration's floor) a question is: **right** (answered;
the first quote's section is one of ``sections`` and the answer contains the phrase),
**wrong-confident** (answered, not right; or answered when the manual has no answer),
**missed** (an answerable question abstained), or **refused** (a question the manual does not
answer, abstained). Printed per manual and in total, with the wrong-confident share of the
answered questions, and each question's outcome with ``--show``. Also printed: how well the
confidence ranks the right answers above the rest (AUROC over all questions, as if nothing were
abstained: "right" then means the first quote is right).

Not a held-out set: the developers wrote the manuals and the questions (tenth session, after
looking at how the engine failed on them), so a change tuned to pass it proves nothing; it is a
regression check for the failure kinds it names and a second kind of manual beside the visible
sets. Manuals and questions are original text (no copyright), small enough for the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import answer_engine as ae  # noqa: E402
from answer_metrics import auroc  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "appliances"
OUTCOMES = ("right", "wrong-confident", "missed", "refused")


@dataclass
class Outcome:
    manual: str
    question: str
    confidence: float
    section: str | None
    answer: str
    right: bool          # the quote would be right if answered (sections and phrase match)
    answerable: bool

    def at(self, threshold: float) -> str:
        answered = self.confidence >= threshold and bool(self.answer)
        if not answered:
            return "missed" if self.answerable else "refused"
        return "right" if self.right else "wrong-confident"


def load(path: Path = DATA / "questions.jsonl") -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def judge(item: dict, answer: dict) -> Outcome:
    quotes = answer.get("quotes") or []
    section = answer["citations"][quotes[0]["citation"]]["section"] if quotes else None
    text = answer.get("answer") or ""
    want = item.get("sections")
    right = bool(want) and section in want and (not item.get("contains") or item["contains"] in text)
    return Outcome(item["manual"], item["question"], float(answer.get("confidence") or 0.0), section,
                   text, right, bool(want))


def run(items: list[dict], embedder: object | None, data: Path = DATA) -> list[Outcome]:
    out: list[Outcome] = []
    for manual in dict.fromkeys(it["manual"] for it in items):
        eng = ae.open_engine([data / manual], embedder)
        ae.force_threshold(eng, 0.0)
        for it in (x for x in items if x["manual"] == manual):
            out.append(judge(it, eng.ask(it["question"])))
        eng.snapshot().close()
    return out


def tally(outcomes: list[Outcome], threshold: float) -> dict[str, float]:
    counts = {k: 0 for k in OUTCOMES}
    for o in outcomes:
        counts[o.at(threshold)] += 1
    answered = counts["right"] + counts["wrong-confident"]
    return {**counts, "n": len(outcomes), "answered": answered,
            "wrong_share": counts["wrong-confident"] / answered if answered else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lexical", action="store_true", help="no embedder (BM25-only engine)")
    ap.add_argument("--threshold", type=float, default=0.30, help="abstain threshold to score at (0..1)")
    ap.add_argument("--show", action="store_true", help="print every question's outcome")
    ap.add_argument("--data", type=Path, default=DATA,
                    help="folder with the manuals and questions.jsonl (default: tools/data/appliances)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.threshold <= 1.0:
        print(f"error: --threshold must lie in 0..1, got {args.threshold}", file=sys.stderr)
        return 2
    emb = None
    if not args.lexical:
        from evaluate import make_embedder
        emb = make_embedder()
    if not (args.data / "questions.jsonl").is_file():
        print(f"error: {args.data / 'questions.jsonl'} not found", file=sys.stderr)
        return 2
    outcomes = run(load(args.data / "questions.jsonl"), emb, args.data)
    print(f"machine: {ae.cpu_info()}; mode {'lexical' if emb is None else 'hybrid'}; "
          f"threshold {args.threshold:.2f}")
    for manual in [*dict.fromkeys(o.manual for o in outcomes), None]:
        part = [o for o in outcomes if manual is None or o.manual == manual]
        t = tally(part, args.threshold)
        print(f"{manual or 'total':18s} n {t['n']:3d}  right {t['right']:3d}  wrong-confident "
              f"{t['wrong-confident']:2d} ({100 * t['wrong_share']:.0f} % of {t['answered']} answered)  "
              f"missed {t['missed']:2d}  refused {t['refused']:2d}")
    right = [o.confidence for o in outcomes if o.right]
    rest = [o.confidence for o in outcomes if not o.right]
    print(f"confidence: AUROC right vs the rest {auroc(right, rest):.3f} "
          f"(all {len(outcomes)} questions, {len(right)} right when nothing is abstained)")
    if args.show:
        for o in outcomes:
            print(f"  {o.at(args.threshold):15s} {o.confidence:.3f}  {o.question}  -> {o.section}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
