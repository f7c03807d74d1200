"""The question's words as the reader weighs them (reader.py).

IDF-weighted coverage of the question's content words; a word whose group-mate of the word list
(synonyms.py) a text uses instead counts a share of its weight; whether a line only restates the
question; and the most any window of a text can score for coverage, new content and length
(``Scorer.bound``: a section that cannot come within reach is never cut into units). The
weights are the reader's constants, passed in when a question is read, so switching one in the
reader (tests, ``tools/bench_engine.py reader --switch``) switches it here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from nic_edge.engine.bm25 import analyze
from nic_edge.engine.units import Unit


@dataclass(frozen=True)
class Weights:
    mate_credit: float    # reader.MATE_CREDIT: a question word's share for its list group-mate
    content: float        # reader.CONTENT_WEIGHT: a window full of new content words against none
    new_terms_full: int   # reader.NEW_TERMS_FULL: new content words that make a window "full"
    length: float         # reader.LENGTH_WEIGHT: a window of the target length against an empty one
    restate_cov: float    # reader.RESTATE_COV / RESTATE_NEW: a line holding this share of the
    restate_new: float    # question's IDF mass, with at most this share of new words, restates it


class Scorer:
    def __init__(self, q_terms: Sequence[str], idf: dict[str, float], groups: Any, w: Weights) -> None:
        self.w = w
        self.q = frozenset(q_terms)
        self.idf = idf
        self.mates: dict[str, frozenset[str]] = {
            t: frozenset(groups.get(t, ())) for t in self.q if groups.get(t)} if groups and w.mate_credit else {}
        self.any_mate: frozenset[str] = frozenset().union(*self.mates.values()) if self.mates else frozenset()
        self.total = sum(idf[t] for t in self.q) or 1.0

    def cov(self, terms: frozenset[str] | set[str]) -> float:
        return sum(self.idf[t] for t in self.q & terms) / self.total

    def bound(self, text: str, heading_terms: frozenset[str], target: int) -> float:
        """The most a window of ``text`` scores for coverage, new content and length: the question's
        words in it and its heading, the other words it has, its length (``reader._best_window``)."""
        w = self.w
        have = set(analyze(text))
        full = self.q & (have | heading_terms)
        half = sum(self.idf[t] for t, m in self.mates.items() if t not in full and not m.isdisjoint(have))
        return (sum(self.idf[t] for t in full) + w.mate_credit * half) / self.total \
            + w.content * min(1.0, len(have - self.q) / w.new_terms_full) \
            + w.length * min(1.0, len(text.split()) / target)

    def restates(self, u: Unit) -> bool:
        """A question line, or a line that holds much of the question and little else."""
        if u.question:
            return True
        if not u.terms:
            return False
        new = len(u.terms - self.q)
        return self.cov(u.terms) >= self.w.restate_cov and new <= max(1, self.w.restate_new * len(u.terms))
