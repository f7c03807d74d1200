#!/usr/bin/env python3
"""Out-of-manual check: generated questions asked of their own manual and of the others.

    python3 tools/eval_out_of_manual.py [--corpus ../shared/corpus] [--fit] [--lexical]
                                        [--style both|literal|rough] [--alphas 0.6,0.7] [--dump F]
                                        [--hidden 0.5]

Each corpus manual (public domain, ../shared/corpus/*.txt) is indexed on its own. Questions are
generated from it without looking at any evaluation set, in two styles (``--style both``, the
default, makes one set of each per manual):
  * literal: a section heading turned into a question ("How do I handle regulator
    replacement?"; the Ford manual's headings are already questions), or 3-5 content words of a
    sentence of the section in random order ("What about shackle rear bolts spring?"): people
    do not ask in the manual's word order, and a fit on in-order words learnt to reward
    literal phrase matches (independent sets got worse: MTRAG AUROC 0.881 vs 0.891);
  * rough: the same kinds, but half wrapped in a conversational frame ("Any tips on fuel
    leaks?", "My ... is acting up. What could be causing it?") and half given one stray word
    from elsewhere in the same manual -- real questions carry words the answering chunk lacks.
Answerable = asked of its own manual (target: a chunk of that section). Unanswerable = another
manual's questions plus generic off-topic questions (GENERIC below), asked of this manual; with
``--hidden F``, also a share F of the manual's own questions asked with their section hidden
from retrieval (``hidden``): questions about the product that its manual does not answer, the
hardest kind (a measurement; the shipped model is not fitted with them, docs/benchmarks/answers.md,
"Nineteenth session").

Prints, per retrieval mode, section R@5 and MRR@10 (plain BM25 without stemming/boost as the
baseline; ``--alphas`` adds score fusion at other BM25 weights), and at the shipped default
threshold the answer rate on answerable questions, the abstain rate on the others and the
confidence AUROC. ``--fit`` fits the logistic confidence model (leave-one-manual-out figures
first, then on everything) and prints constants to paste into nic_edge/engine/answer.py.
Questions are capped per manual (--per-manual) so one large manual does not dominate.
Embeddings are cached on disk (tools/evaluate.py CachedEmbedder, /tmp/nic_edge_emb_cache).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import add_index_args, auroc, build_engine, make_embedder  # noqa: E402
from nic_edge.engine import answer as ans  # noqa: E402
from nic_edge.engine import retrieval  # noqa: E402
from nic_edge.engine.bm25 import STOPWORDS, BM25Index, analyze, build_arrays, top_k  # noqa: E402
from nic_edge.engine.vectors import VectorIndex  # noqa: E402

GENERIC = """How do I reset my wifi router to factory settings?
What is the best recipe for chocolate chip cookies?
How do I pair bluetooth headphones with my phone?
What are the symptoms of the flu?
How do I file my taxes online?
Which programming language should I learn first?
How do I change the printer ink cartridge?
What is the capital of Australia?
How do I update the firmware on my smart TV?
How much should I tip at a restaurant?
How do I configure a VPN on Windows?
What is the dosage of ibuprofen for adults?
How do I clean a cast iron skillet?
How long should I boil an egg?
How do I set up a Kubernetes cluster?
What is the return policy for online orders?
How do I replace the battery in my laptop?
How do I descale my espresso machine?
What time zone is Tokyo in?
How do I install a ceiling fan?
How do I reset the password on my email account?
What is the warranty period for the dishwasher?
How do I calibrate the touchscreen on my tablet?
How do I train my dog to sit?
How often should I water a cactus?
How do I connect the drone controller?
What is the resolution of the security camera?
How do I clean the lint filter in the dryer?
Can I use a USB-C charger with my old phone?
How do I enable two factor authentication?""".splitlines()

_PREFIX = re.compile(r"^\s*(?:(?:Section|SECTION|CHAPTER|Chapter|Para)\s+[\dIVXL]+[.:]?|[\dA-Z]{0,3}[-.]?\d+[.:]|\d+\.)\s*")
_GENERIC_HEADINGS = {"general", "purpose and scope", "preventive maintenance and inspection", "description",
                     "introduction", "tabulated data", "removal", "installation", "inspection"}
TEMPLATES = ("How do I handle {h}?", "What does the manual say about {h}?", "{h} - what should I do?")
# How technicians phrase things, with words the manual may not use near the answer (or at all).
FRAMES = ("My {x} is acting up. What could be causing it?",
          "Quick question about {x}, what do I need to know?",
          "What's the usual procedure for {x}?", "Any tips on {x}?", "How often should I look at {x}?",
          "Is {x} something I can do myself?", "What should I watch out for with {x}?",
          "I'm having trouble with {x}. Where do I start?")


def _clean_heading(h: str) -> str:
    h = _PREFIX.sub("", h).strip(" .:-")
    h = re.sub(r"\(.*?\)", "", h).strip()
    return h.lower() if h.isupper() else h


def generate(eng, rng: random.Random, per_manual: int, rough: bool = True) -> list[tuple[str, str]]:
    """(question, target section) pairs from one indexed manual."""
    snap = eng.snapshot()
    by_section: dict[str, list[int]] = {}
    for i in range(snap.n):
        sec = snap.section(i)
        if sec:
            by_section.setdefault(sec, []).append(i)
    counts: dict[str, int] = {}
    for sec in by_section:
        counts[_clean_heading(sec).lower()] = counts.get(_clean_heading(sec).lower(), 0) + 1
    heading_qs, body_qs = [], []
    for sec, rows in by_section.items():
        h = _clean_heading(sec)
        if counts[h.lower()] > 1 or h.lower() in _GENERIC_HEADINGS or len(analyze(h)) < 2:
            continue
        if rough and not h.endswith("?") and rng.random() < 0.5:
            q = rng.choice(FRAMES).format(x=_lower_first(h))
        else:
            q = h if h.endswith("?") else rng.choice(TEMPLATES).format(h=h)
        heading_qs.append((q, sec))
        sents = [s for r in rows for s in re.split(r"(?<=[.!?])\s+", snap.text(r))]
        sents = [s for s in sents if len([w for w in re.findall(r"[A-Za-z]{4,}", s) if w.lower() not in STOPWORDS]) >= 6]
        if sents:
            words = [w for w in re.findall(r"[A-Za-z]{4,}", rng.choice(sents)) if w.lower() not in STOPWORDS]
            k = rng.randint(3, 5)
            phrase = " ".join(rng.sample(words, k)).lower()
            frame = rng.choice(FRAMES) if rough and rng.random() < 0.5 else "What about {x}?"
            body_qs.append((frame.format(x=phrase), sec))
    rng.shuffle(heading_qs)
    rng.shuffle(body_qs)
    half = per_manual // 2
    out = heading_qs[:half] + body_qs[:per_manual - half]
    return [(roughen(q, snap, rng), sec) for q, sec in out] if rough else out


def _lower_first(x: str) -> str:
    first = x.split(" ", 1)[0]
    return x if first.isupper() else x[0].lower() + x[1:]


def roughen(q: str, snap, rng: random.Random) -> str:
    """Make a generated question less literal, as real ones are (half of them got a
    conversational frame in ``generate``): half get one extra content word taken from a random
    other chunk of the same manual -- a word the manual knows but the answering chunk need not
    contain ("My car hesitates..." where the manual says "vehicle"). Answerable and unanswerable
    questions are roughened alike, so the fit learns how much a stray word costs instead of
    learning the frames."""
    if rng.random() < 0.5:
        words = [w for w in re.findall(r"[A-Za-z]{4,}", snap.text(rng.randrange(snap.n)))
                 if w.lower() not in STOPWORDS]
        if words:
            w = rng.choice(words).lower()
            body = q.rstrip("?")
            q = f"{body} ({w})?" if rng.random() < 0.5 else f"{w}: {_lower_first(body)}?"
    return q


class hidden:
    """``with hidden(rows):`` retrieval does not see those chunks (BM25 score 0, cosine -1): the
    index as if its manual lacked them, everything else (IDF, vectors of the rest) unchanged."""

    def __init__(self, rows: list[int]) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        self.saved = (BM25Index.scores, VectorIndex.cosines)

    def __enter__(self) -> "hidden":
        bm, cos, rows = *self.saved, self.rows
        if rows.size:
            BM25Index.scores = lambda idx, terms: _zeroed(bm(idx, terms), rows, 0.0)   # type: ignore[method-assign]
            VectorIndex.cosines = lambda idx, q: _zeroed(cos(idx, q), rows, -1.0)     # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        BM25Index.scores, VectorIndex.cosines = self.saved   # type: ignore[method-assign]


def _zeroed(a: np.ndarray, rows: np.ndarray, value: float) -> np.ndarray:
    out = a.copy()
    out[rows] = value
    return out


def plain_bm25(snap) -> BM25Index:
    tok = re.compile(r"[a-z0-9]+")
    plain = lambda t: [w for w in tok.findall(t.lower()) if w not in STOPWORDS]  # noqa: E731
    idx = BM25Index(build_arrays(plain(snap.text(i)) for i in range(snap.n)))
    idx.analyzer = plain
    return idx


def run(args: argparse.Namespace) -> int:
    corpus = Path(args.corpus)
    manuals = sorted(corpus.glob("*.txt"))
    if len(manuals) < 2:
        print(f"skip: need at least two manuals in {corpus}")
        return 0
    rng = random.Random(7)
    emb = None if args.lexical else make_embedder()
    tmp = tempfile.TemporaryDirectory()
    engines = {m.name: build_engine(Path(tmp.name) / m.stem, [m], embedder=emb) for m in manuals}
    styles = {"literal": (False,), "rough": (True,), "both": (False, True)}[args.style]
    # one random stream per manual (as tools/eval_loo.py): a change to one manual's chunks does
    # not re-draw the questions generated from the others
    questions = {}
    for name, eng in engines.items():
        own = random.Random(7)
        questions[name] = [qa for rough in styles for qa in generate(eng, own, args.per_manual, rough)]
    for name, qs in questions.items():
        for q, sec in qs[: args.show]:
            print(f"  [{name}] {q}  -> {sec}")
    rows: list[tuple[str, int, tuple, float]] = []  # (indexed manual, label, features, confidence)
    dump: list[dict] = []
    modes = [] if args.no_modes else ["plain", "bm25"] + (["vector", "rrf", "score"] if emb is not None else [])
    alpha0 = retrieval.ALPHA
    if emb is not None and args.alphas:
        modes += [f"score@{a}" for a in args.alphas.split(",")]
    stats = {m: [0.0, 0.0, 0, 0] for m in modes}
    for name, eng in engines.items():
        snap = eng.snapshot()
        plain = plain_bm25(snap)
        for q, sec in questions[name]:
            for mode in modes:
                if mode == "plain":
                    secs = [snap.section(int(r)) for r in top_k(plain.scores(plain.analyzer(q)), 10)]
                elif mode.startswith("score@"):
                    eng.fusion, retrieval.ALPHA = "score", float(mode[6:])
                    secs = eng.explain(q, 10)["sections"]
                    retrieval.ALPHA = alpha0
                else:
                    eng.fusion = mode
                    secs = eng.explain(q, 10)["sections"]
                rank = next((i for i, s in enumerate(secs) if s == sec), None)
                st = stats[mode]
                st[0] += rank is not None and rank < 5
                st[1] += 1.0 / (rank + 1) if rank is not None else 0.0
                st[2] += 1
                st[3] += rank == 0
        eng.fusion = args.fusion
        negs = [q for other, qs in questions.items() if other != name for q, _ in qs]
        rng.shuffle(negs)
        negs = negs[: args.per_manual * len(styles)] + GENERIC
        # The same manual's own questions with their section hidden: questions about the product
        # that its manual does not answer (the hardest unanswerable kind).
        own = list(questions[name])
        random.Random(11).shuffle(own)
        lacking = own[: int(args.hidden * len(own))]
        rows_of: dict[str, list[int]] = {}
        for i in range(snap.n):
            rows_of.setdefault(snap.section(i), []).append(i)
        for label, qs in ((1, questions[name]), (0, [(q, None) for q in negs]), (0, lacking)):
            for q, sec in qs:
                with hidden(rows_of.get(sec, []) if (label == 0 and sec) else []):
                    ex = eng.explain(q)
                y = label
                if label and args.target == "useful":
                    # Useful: the reader quoted the section the question was made from.
                    y = int(bool(ex["quoted_sections"]) and ex["quoted_sections"][0] == sec)
                rows.append((name, y, ex["features"] or (0.0,) * len(ans.FEATURES), ex["confidence"]))
                dump.append({"manual": name, "label": label, "useful": y, "question": q,
                             "features": rows[-1][2], "hidden": bool(label == 0 and sec)})
    print(f"generated: {sum(len(v) for v in questions.values())} answerable questions over {len(manuals)} "
          f"manuals, mode {next(iter(engines.values())).mode}")
    for mode, (r5, mrr, n, r1) in stats.items():
        print(f"{mode:7s} section R@1 {r1 / n:.3f}  R@5 {r5 / n:.3f}  MRR@10 {mrr / n:.3f}  (n={n})")
    if args.dump:
        Path(args.dump).write_text(json.dumps(dump), encoding="utf-8")
    report(rows, ans.DEFAULT_THRESHOLD, "shipped model")
    if args.fit:
        hybrid = emb is not None
        fixed = parse_fixed(args.fixed, hybrid)
        for held in engines:
            train = [r for r in rows if r[0] != held]
            w, b = fit(train, fixed=fixed)
            test = [(r[0], r[1], r[2], _sigmoid(b + float(np.dot(w, r[2])))) for r in rows if r[0] == held]
            report(test, 0.5, f"leave-one-out, held out {held}")
        w, b = fit(rows, fixed=fixed)
        report([(r[0], r[1], r[2], _sigmoid(b + float(np.dot(w, r[2])))) for r in rows], 0.5, "fitted on all")
        kind = "HYBRID" if hybrid else "LEXICAL"
        print(f"COEF_{kind} = {tuple(round(float(x), 3) for x in w)}\nBIAS_{kind} = {round(float(b), 3)}")
    tmp.cleanup()
    return 0


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def fit(rows, l2: float = 0.01, min_answer: float = 0.90,
        fixed: dict[int, float] | None = None) -> tuple[np.ndarray, float]:
    """Logistic regression (Newton/IRLS, L2), classes weighted equally; then the bias is shifted
    so that >= ``min_answer`` of answerable training questions clear 0.5: the operating point is
    the product's answer-rate target (>= 90 % of answerable questions answered). ``fixed``
    (feature index -> weight) holds those weights at the given values (the hand-set ones, which
    the generated questions cannot learn) and fits the others around them."""
    fixed = fixed or {}
    x_all = np.array([r[2] for r in rows], dtype=np.float64)
    y = np.array([r[1] for r in rows], dtype=np.float64)
    free = [i for i in range(x_all.shape[1]) if i not in fixed]
    offset = x_all[:, list(fixed)] @ np.array(list(fixed.values())) if fixed else np.zeros(len(y))
    x = x_all[:, free]
    xb = np.hstack([x, np.ones((len(x), 1))])
    sw = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    w = np.zeros(xb.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(xb @ w + offset)))
        g = xb.T @ (sw * (p - y)) + l2 * np.r_[w[:-1], 0]
        h = (xb * (sw * p * (1 - p))[:, None]).T @ xb + l2 * np.eye(len(w))
        w -= np.linalg.solve(h, g)
    z_pos = np.sort(x[y == 1] @ w[:-1] + offset[y == 1] + w[-1])
    cut = z_pos[int((1 - min_answer) * len(z_pos))]
    bias = w[-1] - min(cut, 0.0) + 1e-3
    full = np.zeros(x_all.shape[1])
    full[free] = w[:-1]
    for i, v in fixed.items():
        full[i] = v
    return full, float(bias)


def parse_fixed(text: str, hybrid: bool = True) -> dict[int, float]:
    """"cos_gap=10,q_closest=1" -> {feature index: weight}; "shipped" holds the hand-set ones
    at their shipped values (``HAND_SET``) of the hybrid or the lexical model."""
    out: dict[int, float] = {}
    shipped = ans.COEF_HYBRID if hybrid else ans.COEF_LEXICAL
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if part == "shipped":
            out.update({ans.FEATURES.index(n): shipped[ans.FEATURES.index(n)] for n in HAND_SET})
            continue
        name, _, value = part.partition("=")
        if name not in ans.FEATURES:
            raise SystemExit(f"--fixed: unknown feature {name!r} (one of {', '.join(ans.FEATURES)})")
        try:
            out[ans.FEATURES.index(name)] = float(value)
        except ValueError:
            raise SystemExit(f"--fixed: {part!r} needs a number after '='") from None
    return out


# The hybrid weights set by hand (answer.py explains each): the generated questions copy their
# words from the manual, so retrieval finds their section anyway and a fit cannot learn them.
HAND_SET = ("cos_gap", "q_closest")


def report(rows, threshold: float, title: str) -> None:
    pos = [r[3] for r in rows if r[1] == 1]
    neg = [r[3] for r in rows if r[1] == 0]
    ans_rate = sum(c >= threshold for c in pos) / max(len(pos), 1)
    abst = sum(c < threshold for c in neg) / max(len(neg), 1)
    print(f"[{title}] threshold {threshold:.2f}: answered {ans_rate:.1%} of {len(pos)} answerable, "
          f"abstained {abst:.1%} of {len(neg)} other-product/off-topic; AUROC {auroc(pos, neg):.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus"))
    ap.add_argument("--per-manual", type=int, default=240)
    ap.add_argument("--fusion", default="score")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--fixed", default="",
                    help="with --fit: hold these weights, e.g. 'cos_gap=10,q_closest=1', or 'shipped' for "
                         "the hand-set ones at their shipped values; the others are fitted around them")
    ap.add_argument("--lexical", action="store_true", help="no embedder (fits the lexical model)")
    ap.add_argument("--style", choices=("literal", "rough", "both"), default="both",
                    help="literal: headings/keywords as questions; rough: conversational frames and stray "
                         "words; both (default): one set of each per manual")
    ap.add_argument("--alphas", default="",
                    help="also rank with score fusion at these BM25 weights, e.g. 0.6,0.7")
    ap.add_argument("--no-modes", action="store_true",
                    help="skip the per-retrieval-mode section R@k (only the confidence rows and fit)")
    ap.add_argument("--target", choices=("useful", "answerable"), default="useful",
                    help="what a positive is: the reader quoted the question's own section (useful, the "
                         "default) or merely asked of its own manual (answerable)")
    ap.add_argument("--hidden", type=float, default=0.0,
                    help="share of each manual's own questions also asked with their section hidden, "
                         "as unanswerable (default 0)")
    ap.add_argument("--dump", help="write the feature rows (JSON) here")
    ap.add_argument("--show", type=int, default=0, help="print N generated questions per manual")
    add_index_args(ap)
    args = ap.parse_args(argv)
    args._apply_index_args(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
