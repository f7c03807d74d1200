"""int8 embedding matrix: quantisation and cosine top-k with numpy.

Rows are L2-normalised float32 embeddings quantised per row: ``q = round(v / s)`` with
``s = max|v| / 127``, so each row uses the full int8 range (better than one global scale when
rows differ in peakiness). Cosine is ``(q . v_query) * s``. The matrix lives in a ``.npy`` file
mapped read-only; a query converts it block by block to float32 so the extra memory stays at
one block (``BLOCK_ROWS`` x dim x 4 bytes) however large the index grows; a block small
enough for L2 cache makes the int8->float32 conversion + dot about 1 ms for 6.7k rows.

Measured and rejected: one dequantised float32 copy of a small index with a single BLAS
product. Alone it is 2.5x faster (0.35 vs 0.86 ms, 6.7k rows), but inside an answer the query
embedding has just flushed the caches, and reading 10 MB of float32 from memory then costs
more than reading 2.6 MB of int8 (vector stage 1.7-2.0 ms vs 1.3 ms, docs/benchmarks/engine.md).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from nic_edge.engine.ingest.numbering import unit_first

BLOCK_ROWS = 512  # 512 x 384 x 4 B = 768 KiB: the block stays in L2 cache (2048 rows was 30x slower)


# What a heading means is its words, not its place in the outline. To "accidentally wiped some
# pictures of my kid yesterday, can I get them back?" the heading "10.2 Recovering deleted
# photos" is 0.57 in cosine, "Recovering deleted photos" 0.66: the number pushed it under the
# reader's heading match (reader.HEAD_LEAD_MIN). So a heading is embedded (alone, and before its
# chunk's text) without its outline number ("10.2", "4.", "A.1", "2-11.") or its "Chapter 3" /
# "Section IV:" label; an amount ("12 V outlet", "2.4 GHz band") keeps its figure. Citations
# still name the heading as printed. EMBED_TEXT names the rule in the index manifest: an index
# embedded by an older rule embeds again what the rule changes (indexer.py).
EMBED_TEXT = "outline-free-1"
_OUTLINE = re.compile(
    r"^\s*(?:(?i:chapter|section|part|appendix|step)\s+(?:[IVXLC]+|\d{1,3}|[A-Z])\b\s*[.:\-\u2013\u2014]?\s*"
    r"|(?:[A-Z]\.)?\d{1,3}(?:[.-]\d{1,3})*[.)]?\s+(?=[^\W\d]))")


def heading_meaning(heading: str) -> str:
    """``heading`` without its outline number or chapter label; itself when nothing would be
    left, or when the figure is an amount (its next word a unit)."""
    m = _OUTLINE.match(heading)
    rest = heading[m.end():].strip() if m else ""
    return rest if rest and not unit_first(rest) else heading


def embed_text(section: str | None, text: str) -> str:
    """What a chunk is embedded as: its heading's meaning, a newline, its text."""
    return f"{heading_meaning(section)}\n{text}" if section else text


def quantize(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 matrix, float32 per-row scales) of a float matrix (n, dim)."""
    mat = np.asarray(mat, dtype=np.float32)
    if mat.ndim != 2:
        raise ValueError("expected a 2-D matrix")
    peak = np.abs(mat).max(axis=1) if mat.shape[0] else np.zeros(0, np.float32)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(mat / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def embed_quantized(embed_many: Any, keys: Sequence[Any], texts: Sequence[str], into: dict,
                    slice_size: int = 512, progress: Any = None, label: str = "embedding") -> dict:
    """``into[key] = (int8 row, scale)`` for each text, embedded ``slice_size`` at a time (the
    progress granularity: ``progress(done, total, label)``); a slice done stays in ``into`` when
    a later one fails."""
    for a in range(0, len(keys), slice_size):
        part = keys[a:a + slice_size]
        q, s = quantize(np.asarray(embed_many(list(texts[a:a + slice_size])), dtype=np.float32))
        for i, k in enumerate(part):
            into[k] = (q[i], float(s[i]))
        if progress:
            progress(a + len(part), len(keys), label)
    return into


class VectorIndex:
    """Cosine search over an int8 matrix with per-row scales."""

    def __init__(self, mat: np.ndarray, scale: np.ndarray) -> None:
        if mat.ndim != 2 or mat.shape[0] != scale.shape[0]:
            raise ValueError("matrix and scales disagree")
        self.mat = mat
        self.scale = scale
        self._scratch: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.mat.shape[0])

    @property
    def dim(self) -> int:
        return int(self.mat.shape[1])

    def cosines(self, query: np.ndarray) -> np.ndarray:
        """Cosine of every row with the (normalised) query vector, float32 (n,)."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        n = self.n
        out = np.empty(n, dtype=np.float32)
        if self._scratch is None or self._scratch.shape[0] < min(BLOCK_ROWS, n):
            self._scratch = np.empty((min(BLOCK_ROWS, max(n, 1)), self.dim), dtype=np.float32)
        for a in range(0, n, BLOCK_ROWS):
            b = min(n, a + BLOCK_ROWS)
            block = self._scratch[: b - a]
            np.copyto(block, self.mat[a:b], casting="unsafe")
            np.dot(block, q, out=out[a:b])
        out *= self.scale
        return out

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Dequantised float32 rows (for tests and re-use across generations)."""
        return self.mat[idx].astype(np.float32) * self.scale[idx, None]
