"""Hybrid retrieval: BM25 + cosine over int8 embeddings, fused.

Two fusions are implemented and were compared (tools/evaluate.py, docs/benchmarks/engine.md):

* ``rrf``: reciprocal-rank fusion, ``sum 1/(RRF_K + rank)`` over the two rankings.
* ``score``: calibrated score fusion. BM25 is divided by the best BM25 score of the query and
  cosine is min-max scaled over the candidate pool, so both live in 0..1 for *this* query, then
  ``ALPHA * bm25 + (1 - ALPHA) * cosine``.

``DEFAULT_FUSION`` and ``ALPHA`` were chosen on questions generated from the public-domain
corpus manuals (tools/eval_out_of_manual.py --alphas), not on the evaluation sets; see the
benchmark page for the numbers on every set. Score fusion won because the vector side is much
weaker than BM25 on manuals (section R@5 ~0.70 vs ~0.90): RRF gives the weak ranking an equal
vote and lost ~9 points of R@5 there, while score fusion with BM25 weighted 0.75 lets cosine
break BM25's near-ties and beat both single rankers (it also keeps the score gaps that the
confidence's margin feature reads). On MTRAG score fusion is also ahead (R@5 0.930 vs 0.919).

Both signals are computed for every chunk (one posting walk, one matrix-vector product), so the
pool is the union of each side's top ``POOL`` and both scores are known for every member.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from nic_edge.engine.bm25 import BM25Index, top_k
from nic_edge.engine.vectors import VectorIndex

RRF_K = 60
ALPHA = 0.75
POOL = 50
DEFAULT_FUSION = "score"
FUSIONS = ("rrf", "score", "bm25", "vector")

Timing = Callable[[str, float], None]


@dataclass
class Hit:
    row: int
    score: float          # fused score (the ranking key)
    bm25: float
    cosine: float | None


@dataclass
class Retrieval:
    hits: list[Hit]
    terms: list[str]
    bm25_top: float       # best BM25 score over the whole index
    bm25_rank: dict[int, int]   # row -> rank in each side's top POOL, inserted best first
    vec_rank: dict[int, int]
    cosines: np.ndarray | None = None   # every chunk's cosine to the question (hybrid), for the reader
    qvec: np.ndarray | None = None      # the question's vector (hybrid): the reader matches headings with it
    swapped: frozenset[str] = frozenset()  # terms put in for words the index lacks (synonyms.py)
    groups: Any = None    # the word groups the question was read with (synonyms.Groups.table), or None


def _ranks(order: np.ndarray) -> dict[int, int]:
    return {int(r): i for i, r in enumerate(order)}


def retrieve(bm25: BM25Index, terms: Sequence[str], k: int, vectors: VectorIndex | None = None,
             qvec: np.ndarray | None = None, fusion: str = DEFAULT_FUSION, alpha: float | None = None,
             timing: Timing | None = None) -> Retrieval:
    """Top ``k`` chunks for analysed query ``terms`` and optional query vector ``qvec``."""
    import time

    alpha = ALPHA if alpha is None else alpha
    clock = time.perf_counter
    t0 = clock()
    bm = bm25.scores(terms)
    bm_order = top_k(bm, POOL)
    bm_order = bm_order[bm[bm_order] > 0]
    t1 = clock()
    if timing:
        timing("bm25", t1 - t0)
    cos: np.ndarray | None = None
    vec_order = np.zeros(0, dtype=np.int64)
    use_vec = vectors is not None and qvec is not None and fusion != "bm25"
    if use_vec:
        cos = vectors.cosines(qvec)
        vec_order = top_k(cos, POOL)
        t2 = clock()
        if timing:
            timing("vector", t2 - t1)
        t1 = t2
    bm_top = float(bm[bm_order[0]]) if bm_order.size else 0.0
    bm_rank, vec_rank = _ranks(bm_order), _ranks(vec_order)
    if not use_vec or fusion == "bm25":
        rows = bm_order[:k]
        hits = [Hit(int(r), float(bm[r]), float(bm[r]), None) for r in rows]
        return Retrieval(hits, list(terms), bm_top, bm_rank, vec_rank)
    assert cos is not None
    if fusion == "vector":
        rows = vec_order[:k]
        hits = [Hit(int(r), float(cos[r]), float(bm[r]), float(cos[r])) for r in rows]
        return Retrieval(hits, list(terms), bm_top, bm_rank, vec_rank, cos, qvec)
    pool = np.union1d(bm_order, vec_order)
    if fusion == "rrf":
        miss = POOL + RRF_K  # a chunk outside a side's pool gets (almost) nothing from it
        fused = np.array([1.0 / (RRF_K + 1 + bm_rank.get(int(r), miss))
                          + 1.0 / (RRF_K + 1 + vec_rank.get(int(r), miss)) for r in pool])
    elif fusion == "score":
        b = bm[pool] / bm_top if bm_top > 0 else np.zeros(pool.shape[0], np.float32)
        c = cos[pool]
        lo, hi = float(c.min()), float(c.max())
        cn = (c - lo) / (hi - lo) if hi > lo else np.ones_like(c)
        fused = alpha * b + (1.0 - alpha) * cn
    else:
        raise ValueError(f"unknown fusion {fusion!r}; use one of {FUSIONS}")
    order = np.argsort(-fused, kind="stable")[:k]
    hits = [Hit(int(pool[i]), float(fused[i]), float(bm[pool[i]]), float(cos[pool[i]])) for i in order]
    if timing:
        timing("fuse", clock() - t1)
    return Retrieval(hits, list(terms), bm_top, bm_rank, vec_rank, cos, qvec)
