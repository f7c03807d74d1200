"""The paragraph openings a box that reranks stores with its index (format 5, rerank.py).

Rerank weighs a close candidate window by the meaning of its opening: the first words of the
paragraph it starts in. That text depends on the manual, not on the question, so the indexer
embeds every paragraph opening of every section once (as the reader reads the section: a long
one as windows of ``reader.SECTION_ROWS`` rows around a hit) and an answer looks them up.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from nic_edge.engine.rerank import opening_texts
from nic_edge.engine.sections import section_rows, section_text
from nic_edge.engine.vectors import embed_quantized
from nic_edge.errors import MissingDependencyError, ModelError

log = logging.getLogger(__name__)

SLICE = 512   # openings per embed_many call (progress granularity)


class RowsView:
    """Rows of a generation being written (``chunk_id``, ``file``, ``source``, ``section``,
    ``ordinal``, ``text`` each), read the way sections.py reads a snapshot's."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self.rows, self.n = rows, len(rows)

    def file(self, i: int) -> str:
        return self.rows[i].file

    def source(self, i: int) -> str:
        return self.rows[i].source

    def section(self, i: int) -> str | None:
        return self.rows[i].section

    def ordinal(self, i: int) -> int:
        return self.rows[i].ordinal

    def text(self, i: int) -> str:
        return self.rows[i].text


def section_texts(rows: Sequence[Any]) -> Iterator[str]:
    """Each section's text as the reader reads it around any of its rows, each distinct window
    of rows once."""
    from nic_edge.engine.reader import SECTION_ROWS
    view = RowsView(rows)
    seen: set[tuple[int, int]] = set()
    for r in range(view.n):
        span = section_rows(view, r, SECTION_ROWS)  # type: ignore[arg-type]
        if span not in seen:
            seen.add(span)
            yield section_text(view, r, SECTION_ROWS).text  # type: ignore[arg-type]


def opening_vectors(snap: Any, rows: Sequence[Any], embedder: Any,
                    progress: Callable[[int, int, str], None] | None = None
                    ) -> dict[int, tuple[np.ndarray, float]]:
    """snapshot.opening_key -> (int8 vector, scale) for every paragraph opening of ``rows``' sections.
    The previous generation's (``snap``, same model) are kept; only new openings are embedded.
    A model failing here stores none: answers then embed their candidates' openings."""
    texts = opening_texts(section_texts(rows))
    out: dict[int, tuple[np.ndarray, float]] = {}
    if snap is not None:
        for k, t in texts.items():
            got = snap.opening_entry(t)
            if got is not None:
                out[k] = got
    todo = [k for k in texts if k not in out]
    try:
        embed_quantized(embedder.embed_many, todo, [texts[k] for k in todo], out, SLICE, progress,
                        "embedding paragraph openings")
    except (MissingDependencyError, ModelError) as exc:
        log.warning("paragraph openings not embedded: %s", exc)
        return {}
    return out
