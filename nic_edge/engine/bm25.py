"""BM25 over an inverted index held in flat numpy arrays (CSR postings).

Text analysis: lowercase ``[a-z0-9]`` runs, English stopwords dropped, a light suffix-stripping
stemmer (Porter-lite: plural/-ing/-ed/-ation/-e) so "rotate"/"rotating"/"rotation" meet; a figure
written against its unit ("45W", "2.4GHz", "16GB") is the figure and the unit, as when written
apart ("45 W"): manuals and askers write both (``ANALYZER`` units-v2). The section/title of a
chunk counts ``TITLE_BOOST`` times (field boosting without a second index).

Postings are stored as ``ptr`` (int64, V+1), ``doc`` (int32) and ``w`` (float32), where ``w``
is the precomputed BM25 term-frequency part ``tf*(k1+1)/(tf+k1*(1-b+b*dl/avgdl))``; a query then
costs one ``scores[doc] += idf*w`` slice per query term. Docs are unique within a posting list,
so fancy-index ``+=`` is exact (no ``np.add.at`` needed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

K1 = 1.2
B = 0.75
TITLE_BOOST = 2  # section words count twice: headings name what a chunk is about

# The analysis's name, recorded with each index generation: an index analysed by another is
# re-analysed by the next `nic-edge index` (indexer.py; its vectors are kept).
# units-v2: a figure and its unit symbol written together are two terms, as written apart.
ANALYZER = "alnum-stop-stemlite-units-v2"
# Unit symbols that follow a figure ("5 V", "45W", "2.4GHz", "120fps"); also what textquality
# and ingest's numbering take for a unit after a number.
UNIT_SYMBOLS = frozenset("""
v mv kv w kw mw hz khz mhz ghz a ma mah ah k mm cm m km in ft yd mi kg g mg lb lbs oz psi pa kpa
mpa bar nm rpm mph kmh db ms s h hr min l ml qt gal gb mb tb kb fps p x c f
wh kwh mwh vdc vac va kva hp dpi ppm ipm gpm gph cc cu sq pt pts qts lm lx cal ibs
""".split())
# Lowercase alnum runs, except that a figure against its unit symbol ("45w") is two runs, the
# figure and the unit ("45", "w"), as "45 W" is: the figure ends where a unit symbol follows it
# and ends the run. Other letters after digits ("1st", "3am", "11ac", "0x1f") stay one run.
_UNIT_ALT = "|".join(sorted(UNIT_SYMBOLS, key=lambda u: (-len(u), u)))
_TOKEN = re.compile(r"[a-z][a-z0-9]*|\d+(?=[a-z])(?=(?:" + _UNIT_ALT + r")(?![a-z0-9]))|[0-9][a-z0-9]*")

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren as at be because been before being
below between both but by can cannot could couldn did didn do does doesn doing don down during each
few for from further had hadn has hasn have haven having he her here hers herself him himself his
how i if in into is isn it its itself just let me more most mustn my myself no nor not of off on
once only or other ought our ours ourselves out over own same shan she should shouldn so some such
than that the their theirs them themselves then there these they this those through to too under
until up very was wasn we were weren what when where which while who whom why will with won
wouldn you your yours yourself yourselves ll re ve s t d m also may might must shall would
""".split())

_STEM_CACHE: dict[str, str] = {}
_STEM_CACHE_LIMIT = 100_000


def _stem_uncached(w: str) -> str:
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suf in ("ingly", "edly", "ing", "ed", "ly"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # stopped -> stop
            break
    if w.endswith("ation") and len(w) > 7:
        w = w[:-5] + "ate"
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]  # change/changing/changed all end as "chang"
    return w


def stem(word: str) -> str:
    s = _STEM_CACHE.get(word)
    if s is None:
        s = _stem_uncached(word)
        if len(_STEM_CACHE) >= _STEM_CACHE_LIMIT:
            _STEM_CACHE.clear()
        _STEM_CACHE[word] = s
    return s


def analyze(text: str) -> list[str]:
    """Index terms of ``text``: lowercase alnum runs, no stopwords, stemmed."""
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


def analyze_at(text: str) -> list[tuple[int, str]]:
    """``analyze`` with each term's character offset in ``text``."""
    return [(m.start(), stem(m.group())) for m in _TOKEN.finditer(text.lower()) if m.group() not in STOPWORDS]


def chunk_terms(section: str | None, text: str) -> list[str]:
    """Terms of a chunk with the section heading boosted."""
    terms = analyze(text)
    if section:
        terms.extend(analyze(section) * TITLE_BOOST)
    return terms


@dataclass
class BM25Arrays:
    """The arrays a BM25 index is made of (what the store writes and maps back)."""
    terms: list[str]
    ptr: np.ndarray      # int64 (V+1,)
    doc: np.ndarray      # int32 (P,)
    w: np.ndarray        # float32 (P,)
    df: np.ndarray       # int32 (V,)
    doc_len: np.ndarray  # int32 (N,)


def build_arrays(docs: Iterable[Sequence[str]], k1: float = K1, b: float = B) -> BM25Arrays:
    """Inverted index of tokenised docs (one list of terms per doc)."""
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    tfs: list[int] = []
    lens: list[int] = []
    for d, terms in enumerate(docs):
        counts: dict[int, int] = {}
        for t in terms:
            tid = vocab.setdefault(t, len(vocab))
            counts[tid] = counts.get(tid, 0) + 1
        lens.append(len(terms))
        rows.extend(counts.keys())
        cols.extend([d] * len(counts))
        tfs.extend(counts.values())
    n_docs, n_terms = len(lens), len(vocab)
    doc_len = np.asarray(lens, dtype=np.int32)
    term_ids = np.asarray(rows, dtype=np.int64)
    docs_arr = np.asarray(cols, dtype=np.int32)
    tf = np.asarray(tfs, dtype=np.float32)
    order = np.argsort(term_ids, kind="stable")  # stable keeps doc ids ascending per term
    term_ids, docs_arr, tf = term_ids[order], docs_arr[order], tf[order]
    df = np.bincount(term_ids, minlength=n_terms).astype(np.int32)
    ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=ptr[1:])
    avgdl = float(doc_len.mean()) if n_docs else 1.0
    norm = k1 * (1.0 - b + b * doc_len[docs_arr].astype(np.float32) / max(avgdl, 1e-9))
    w = (tf * (k1 + 1.0) / (tf + norm)).astype(np.float32)
    return BM25Arrays(list(vocab.keys()), ptr, docs_arr, w, df, doc_len)


class BM25Index:
    """Query side of BM25 over (possibly memory-mapped) arrays."""

    def __init__(self, arrays: BM25Arrays, k1: float = K1) -> None:
        self.k1 = k1
        self.ptr, self.doc, self.w = arrays.ptr, arrays.doc, arrays.w
        self.df = arrays.df
        self.n_docs = int(arrays.doc_len.shape[0])
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(arrays.terms)}
        n = max(self.n_docs, 1)
        df = self.df.astype(np.float64)
        # Lucene's non-negative idf: rare terms high, terms in every doc near zero.
        self.idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.max_idf = float(math.log(1.0 + (n + 0.5) / 0.5))  # idf of an unseen term

    def term_ids(self, terms: Sequence[str]) -> tuple[list[int], list[int]]:
        """(ids, query counts) of known terms, first-seen order."""
        counts: dict[int, int] = {}
        for t in terms:
            tid = self.vocab.get(t)
            if tid is not None:
                counts[tid] = counts.get(tid, 0) + 1
        return list(counts.keys()), list(counts.values())

    def term_idf(self, term: str) -> float:
        tid = self.vocab.get(term)
        return self.max_idf if tid is None else float(self.idf[tid])

    def everywhere(self, terms: Sequence[str], share: float, min_docs: int) -> frozenset[str]:
        """Those of ``terms`` found in more than ``share`` of the docs (none in an index of fewer
        than ``min_docs``): the words naming what the whole manual is about ("TV" in a TV's)."""
        if self.n_docs < min_docs:
            return frozenset()
        return frozenset(t for t in terms if t in self.vocab and self.df[self.vocab[t]] > share * self.n_docs)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every doc (float32, N)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        ids, qtf = self.term_ids(terms)
        for tid, c in zip(ids, qtf):
            a, b = int(self.ptr[tid]), int(self.ptr[tid + 1])
            out[self.doc[a:b]] += (self.idf[tid] * c) * self.w[a:b]
        return out

    def max_score(self, terms: Sequence[str]) -> float:
        """Upper bound of a doc's score for these terms (every term present, tf large)."""
        total = 0.0
        for t in terms:
            total += self.term_idf(t) * (self.k1 + 1.0)
        return total

    def docs_with(self, term: str) -> np.ndarray:
        """Ids of the docs holding ``term``, ascending (empty when the index lacks it)."""
        tid = self.vocab.get(term)
        if tid is None:
            return self.doc[:0]
        return self.doc[int(self.ptr[tid]):int(self.ptr[tid + 1])]

    def doc_has(self, doc_id: int, terms: Sequence[str]) -> list[bool]:
        """Whether each term occurs in doc ``doc_id`` (binary search in its posting list)."""
        out = []
        for t in terms:
            tid = self.vocab.get(t)
            if tid is None:
                out.append(False)
                continue
            a, b = int(self.ptr[tid]), int(self.ptr[tid + 1])
            seg = self.doc[a:b]
            i = int(np.searchsorted(seg, doc_id))
            out.append(i < seg.shape[0] and int(seg[i]) == doc_id)
        return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    n = scores.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, n)
    idx = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    return idx[np.argsort(-scores[idx], kind="stable")]
