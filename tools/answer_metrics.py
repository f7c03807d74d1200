"""Answer-quality metrics shared by tools/eval_answers.py and its tests (no engine, no numpy).

Tokens for recall/F1 are lowercase alphanumeric words with the engine's stopwords removed (no
stemming: "adjust" and "adjusted" are different words to a reader checking an answer). A word
broken by an OCR line-end hyphen ("approxi- mately") is joined first, in answers and gold alike.
The honesty rule of the Ford set (a rephrasing shares no run of 3 consecutive content words with
its heading) compares stemmed content words, the stricter reading.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from statistics import median
from typing import Iterable, Sequence

from nic_edge.engine.bm25 import STOPWORDS, stem

_WORD = re.compile(r"[a-z0-9]+")
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])- +(?=[a-z])")
_WS = re.compile(r"\s+")
# "Settings > General > Language", "Menu → Picture → Mode": a path, not an answer.
_MENU_SEP = re.compile(r"\s*(?:>|→|»|->)\s*")

USEFUL_RECALL = 0.5
WRONG_RECALL = 0.2
MIN_GOLD_WORDS = 4


def normalize(text: str) -> str:
    """Lowercase, OCR hyphen breaks joined, whitespace runs made one space."""
    return _WS.sub(" ", _HYPHEN_BREAK.sub("", (text or "").lower())).strip()


def tokens(text: str) -> list[str]:
    """Content words: lowercase alphanumeric runs, stopwords removed."""
    return [w for w in _WORD.findall(normalize(text)) if w not in STOPWORDS]


def n_words(text: str) -> int:
    return len((text or "").split())


def recall(answer: str, gold: str) -> float:
    """Share of the gold's content-word occurrences found in the answer (multiset)."""
    g = Counter(tokens(gold))
    if not g:
        return 0.0
    a = Counter(tokens(answer))
    return sum(min(c, a[w]) for w, c in g.items()) / sum(g.values())


def f1(answer: str, gold: str) -> float:
    g, a = Counter(tokens(gold)), Counter(tokens(answer))
    common = sum((g & a).values())
    if not common:
        return 0.0
    p, r = common / sum(a.values()), common / sum(g.values())
    return 2 * p * r / (p + r)


def contains(answer: str, gold: str) -> bool:
    """The normalised gold appears inside the normalised answer (punctuation kept)."""
    g = normalize(gold)
    return bool(g) and g in normalize(answer)


def useful(answered: bool, rec: float, answer_words: int, gold_words: int) -> bool:
    """Answered, at least half of the gold's words, and not bloated (<= 3 x gold + 40 words)."""
    return answered and rec >= USEFUL_RECALL and answer_words <= 3 * gold_words + 40


def wrong_confident(answered: bool, rec: float) -> bool:
    return answered and rec < WRONG_RECALL


def skip_gold(gold: str) -> str | None:
    """Why a gold answer is not scored (None = scored): too short, or a bare menu path."""
    g = (gold or "").strip()
    if n_words(g) < MIN_GOLD_WORDS:
        return "short"
    parts = [p for p in _MENU_SEP.split(g) if p]
    if len(parts) >= 2 and all(n_words(p) <= 4 for p in parts):
        return "menu_path"
    return None


def auroc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """P(score of a positive > score of a negative), ties half; nan when a side is empty."""
    if not pos or not neg:
        return float("nan")
    order = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    # Rank-sum form (O(n log n)); tied scores share their mean rank.
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j < len(order) and order[j][0] == order[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum += mean_rank * sum(lab for _, lab in order[i:j])
        i = j
    n_pos, n_neg = len(pos), len(neg)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def content_runs(text: str, n: int = 3) -> set[tuple[str, ...]]:
    # the words as written, stemmed: the honesty rule does not move with the engine's analysis
    # (bm25.ANALYZER units-v2 makes "4K" two terms; "4K 120Hz" is not three words copied)
    terms = [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return {tuple(terms[i:i + n]) for i in range(len(terms) - n + 1)}


def shared_run(heading: str, question: str, n: int = 3) -> tuple[str, ...] | None:
    """A run of ``n`` consecutive content words (stemmed) of ``heading`` that also stands
    consecutively in ``question``, or None: the Ford set's honesty rule."""
    common = content_runs(heading, n) & content_runs(question, n)
    return min(common) if common else None


def median_or_nan(xs: Iterable[float]) -> float:
    xs = list(xs)
    return float(median(xs)) if xs else float("nan")


def share(xs: Sequence[bool]) -> float:
    """The share of true values; nan for none."""
    return sum(xs) / len(xs) if xs else float("nan")


def fmt(x: object, pct: bool = True) -> str:
    """A share as "72.4%" (or a number as is); "-" for None and nan."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:5.1f}%" if pct else f"{x:g}"
