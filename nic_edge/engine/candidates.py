"""Which sections the reader reads, and how their headings look to the question in meaning.

Retrieval ranks chunks; the reader (reader.py) reads the sections behind the top fused hits,
plus those of the best vector hits fusion left out: a paraphrase that shares few words with the
manual can be ranked low by fusion's BM25 weight yet be the closest in meaning. Each candidate
section's heading is compared with the question through the int8 heading vectors stored with
the index (format 4): manuals answer under the heading that names the question.
"""

from __future__ import annotations

import numpy as np

from nic_edge.engine.answer import QUESTION_FILLER
from nic_edge.engine.polarity import clash
from nic_edge.engine.retrieval import Hit, Retrieval
from nic_edge.engine.sections import SectionText, section_text
from nic_edge.engine.store import Snapshot

SECTION_HITS = 5          # sections behind at most this many top hits are read
VECTOR_EXTRA = 2          # also read the sections of the best cosine hits fusion left out

Key = tuple[str, "str | None", int]   # a candidate section: (source, heading, first row)


def candidate_hits(ret: Retrieval) -> list[Hit]:
    """The top fused hits, plus the best vector hits they miss: a paraphrase that shares few
    words with the manual can be ranked low by fusion's BM25 weight yet be the closest meaning."""
    hits = list(ret.hits[:SECTION_HITS])
    if VECTOR_EXTRA and ret.cosines is not None and ret.cosines.size:
        have = {h.row for h in hits}
        extra = np.argpartition(-ret.cosines, min(VECTOR_EXTRA + len(have), ret.cosines.size - 1))
        best = sorted(extra[:VECTOR_EXTRA + len(have)].tolist(), key=lambda r: -ret.cosines[r])
        for r in [r for r in best if r not in have][:VECTOR_EXTRA]:
            hits.append(Hit(int(r), 0.0, 0.0, float(ret.cosines[r])))
    return hits


def heading_cosines(snap: Snapshot, ret: Retrieval, sections: list[SectionText]) -> list[float]:
    """Cosine of each candidate section's heading to the question ([] when lexical, or when no
    candidate has a heading). Manuals answer under the heading that names the question; a
    paraphrase ("What does the gearbox do?") shares no word with it ("What is the function of
    the Transmission?") but is close in meaning."""
    hv = snap.heading_vectors
    if hv is None or ret.qvec is None:
        return []
    q = np.asarray(ret.qvec, dtype=np.float32).reshape(-1)
    ids = [snap.section_id(st.rows[0]) for st in sections]
    if all(i < 0 for i in ids):
        return []
    return [float(hv.mat[i].astype(np.float32) @ q) * float(hv.scale[i]) if i >= 0 else 0.0 for i in ids]


def priors(snap: Snapshot, ret: Retrieval, question: str, rows: int, cosine_weight: float, heading_weight: float,
           polarity_weight: float, head_lead_min: float
           ) -> tuple[list[tuple[float, int, Hit, SectionText]], dict[Key, float], dict[Key, float]]:
    """Retrieval's view of each candidate section (read as a window of ``rows`` rows), before its
    text is: (prior, rank, hit, section) best first -- the hit's fused score against the top
    hit, its rank, its best chunk's cosine against the best, its heading's against the best
    heading, a heading that says the opposite of the question; what its meaning costs it
    (<= 0, by key); and the sections whose heading names the question (heading cosine, by key)."""
    top = ret.hits[0].score or 1.0
    cos_top = max((h.cosine or 0.0) for h in ret.hits[:SECTION_HITS])
    prior: list[tuple[float, int, Hit, SectionText]] = []
    seen: set[Key] = set()
    meaning: dict[Key, float] = {}
    for rank, hit in enumerate(candidate_hits(ret)):
        st = section_text(snap, hit.row, rows)
        key = (st.source, st.section, st.rows[0])
        if key in seen:
            continue
        seen.add(key)
        p = 0.35 * (hit.score / top) - 0.03 * rank
        if hit.cosine is not None and cos_top > 0:
            # The section's best-matching chunk speaks for it (the hit may be a later chunk).
            sec_cos = max(float(ret.cosines[r]) for r in st.rows) if ret.cosines is not None else hit.cosine
            pen = cosine_weight * (sec_cos - cos_top)
            p += pen
            meaning[key] = min(0.0, pen)   # what the section's meaning costs it (reader.AMOUNT_WAIVER)
        if question and st.section:
            # A symptom heading that says the opposite of the question ("No picture, but sound
            # is present" for "I have picture but no sound") is the wrong entry, however alike.
            p -= polarity_weight * clash(question, st.section, QUESTION_FILLER)
        prior.append((p, rank, hit, st))
    heads = heading_cosines(snap, ret, [st for _, _, _, st in prior])
    lead: dict[Key, float] = {}
    if heads:
        best_head = max(heads)
        # A section without a heading (text before a manual's first heading, a record without a
        # title) has no heading to match: that is no evidence against it. It is not penalised
        # for it, and never counts as heading-backed.
        heads = [best_head if st.section is None else h for (_, _, _, st), h in zip(prior, heads)]
        pens = [heading_weight * (h - best_head) for h in heads]
        prior = [(p + pen, r, hit, st) for (p, r, hit, st), pen in zip(prior, pens)]
        for (_, _, _, st), pen in zip(prior, pens):
            k = (st.source, st.section, st.rows[0])
            meaning[k] = meaning.get(k, 0.0) + pen
        lead = {(st.source, st.section, st.rows[0]): h for (_, _, _, st), h in zip(prior, heads)
                if h >= best_head and h >= head_lead_min and st.section is not None}
    prior.sort(key=lambda x: -x[0])
    return prior, meaning, lead
