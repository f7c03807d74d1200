"""A chunk's whole section, rebuilt from the index: what the reader quotes and citations name.

Chunks never cross a section, rows of one source are stored in reading order, and consecutive
chunks of a section repeat the last sentence or two of their predecessor (ingest/chunking.py).
So a section is the run of rows around a chunk with the same source and section heading, and its
text is those chunks glued at their overlap. The glue is exact for the repeated text; where two
chunks do not overlap the text between them was whitespace, and a newline stands for it (quotes
are compared after whitespace normalisation, DESIGN.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nic_edge.engine.store import Snapshot

_WS = re.compile(r"\s+")
MAX_SECTION_ROWS = 24   # a section longer than this is read as a window of rows around the hit
PROBE_CHARS = 24        # prefix of the next chunk searched for in the previous one
MIN_OVERLAP = 8         # shorter shared text is coincidence, not a repeated sentence


@dataclass(frozen=True)
class SectionText:
    source: str
    section: str | None
    rows: tuple[int, ...]          # the rows glued, in reading order
    text: str
    starts: tuple[int, ...]        # offset in ``text`` where each row's new text begins

    def row_at(self, offset: int) -> int:
        """The row whose text holds ``offset`` (the chunk to cite for a quote starting there)."""
        best = self.rows[0]
        for row, start in zip(self.rows, self.starts):
            if start > offset:
                break
            best = row
        return best


def normalize_ws(text: str) -> str:
    """Whitespace runs become one space (the contract's whitespace normalisation)."""
    return _WS.sub(" ", text).strip()


def _overlap(prev: str, nxt: str) -> int:
    """Length of the longest suffix of ``prev`` that is a prefix of ``nxt`` (0 when none).

    Chunks repeat whole sentences, so an overlap starts at the start of ``prev`` or after
    whitespace; that keeps a stray letter from counting as an overlap."""
    probe = nxt[:PROBE_CHARS]
    if not probe:
        return 0
    pos = prev.find(probe, max(0, len(prev) - len(nxt)))
    while pos >= 0:
        if (pos == 0 or prev[pos - 1].isspace()) and nxt.startswith(prev[pos:]):
            return len(prev) - pos
        pos = prev.find(probe, pos + 1)
    # An overlap shorter than the probe (a short last sentence): try the tail directly.
    for pos in range(max(1, len(prev) - len(probe) + 1), len(prev) - MIN_OVERLAP + 1):
        if prev[pos - 1].isspace() and not prev[pos].isspace() and nxt.startswith(prev[pos:]):
            return len(prev) - pos
    return 0


def section_rows(snap: Snapshot, row: int, limit: int = MAX_SECTION_ROWS) -> tuple[int, int]:
    """(first, last) rows of ``row``'s section, at most ``limit`` rows centred on ``row``."""
    key = (snap.file(row), snap.source(row), snap.section(row))

    def same(r: int, step: int) -> bool:
        return (snap.file(r), snap.source(r), snap.section(r)) == key \
            and snap.ordinal(r) == snap.ordinal(r - step) + step

    half = limit // 2
    a = row
    while a > 0 and row - a < half and same(a - 1, -1):
        a -= 1
    b = row
    while b + 1 < snap.n and b - a + 1 < limit and same(b + 1, 1):
        b += 1
    return a, b


def section_text(snap: Snapshot, row: int, limit: int = MAX_SECTION_ROWS) -> SectionText:
    """The text of ``row``'s section (or of a window of it), overlaps removed."""
    a, b = section_rows(snap, row, limit)
    parts: list[str] = []
    starts: list[int] = []
    size = 0
    prev = ""
    for r in range(a, b + 1):
        t = snap.text(r)
        k = _overlap(prev, t) if prev else 0
        if prev and k == 0:
            parts.append("\n")
            size += 1
        starts.append(size)
        piece = t[k:]
        parts.append(piece)
        size += len(piece)
        prev = t
    return SectionText(snap.source(row), snap.section(row), tuple(range(a, b + 1)),
                       "".join(parts), tuple(starts))
