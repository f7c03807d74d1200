"""Which sections the reader reads, and how their headings look to the question in meaning.

Retrieval ranks chunks; the reader (reader.py) reads the sections behind the top fused hits,
plus those of the best vector hits fusion left out: a paraphrase that shares few words with the
manual can be ranked low by fusion's BM25 weight yet be the closest in meaning. Each candidate
section's heading is compared with the question through the int8 heading vectors stored with
the index (format 4): manuals answer under the heading that names the question.
"""

from __future__ import annotations

import numpy as np

from nic_edge.engine.retrieval import Hit, Retrieval
from nic_edge.engine.sections import SectionText
from nic_edge.engine.store import Snapshot

SECTION_HITS = 5          # sections behind at most this many top hits are read
VECTOR_EXTRA = 2          # also read the sections of the best cosine hits fusion left out


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
