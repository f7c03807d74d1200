"""Pages set in two (or three) text columns, read column by column.

pypdf's plain extraction follows the PDF's content stream. Many generators write a column page
column by column, and then it reads well; others write it line by line across the page, and
then every extracted line is half of one column's line glued to half of the other's ("Remove
the filter cover by Unplug the unit first. Loosen"). Nothing in the plain text says which.

So the page is also extracted in pypdf's layout mode, a character grid where each text run sits
at its position on the page, and that grid is searched for a **gutter**: at least ``GUTTER``
character columns, in the middle half of the page, that are blank on every row of a run of
consecutive rows. Such a run is a column block when it holds at least ``MIN_ROWS`` rows with
text on both sides, the longer lines on each side (the 90th percentile) are at least ``COLUMN``
of the page's width long (a column of text, not margin tags such as "[Function]"), and its left side
is *wrapped prose*, not labels: of its lines that start no list item or table row ("1. ",
"- ", "| "), at least ``WRAPPED`` start with a lower-case word, as the rest of a sentence
wrapped at a column's edge does. A table of labels and values
("Max      70 min", "E1   Door open", "Robot does not charge   See page 30") has a blank band
too, but each label starts with a capital or a digit, so it stays row by row, which is how a
table reads. Rows that cross the gutter (a heading or paragraph across the page) end a block
and are read where they stand; so are rows above the block's first two-sided row (a title or
page header) and rows below a vertical gap of ``GAP_ROWS`` blank rows after its last one (a
footer).

A page with no column block keeps its plain extraction, byte for byte; a page with one is read
from the grid: rows above the block, the left column top to bottom, the right column (itself
searched again, for a third column), then the rows below. Runs of spaces the grid used for
position become one space and blank rows are dropped, as in plain extraction. A table whose
cells wrap on both sides looks like two columns and is read column by column; row by row it
reads no better. A grid wider or taller than ``MAX_GRID`` (text placed far off the page, or set
at a fraction of a point) is no page's layout: it is left to the plain extraction.
"""

from __future__ import annotations

import re

GUTTER = 2          # blank character columns between two columns, at least
MIN_ROWS = 6        # rows with text on both sides of the gutter, at least
MIDDLE = (0.25, 0.75)   # where a gutter may sit, as shares of the grid's width
COLUMN = 0.15       # each side's long lines (90th percentile) at least this share of the width
WRAPPED = 0.3       # share of the left side's lines that a lower-case word continues, at least
GAP_ROWS = 3        # blank grid rows that set a footer apart from the columns above it
DEPTH = 2           # a column may be split once more (three-column pages)
MAX_GRID = 600      # rows or characters: a grid larger than any real page's is not searched
_ITEM = re.compile(r"^(?:\d{1,3}[.)]\s|[-*\u2022\u25aa\u2013]\s|\|)")   # a step, a bullet, a table row


def _ink(row: str, width: int) -> bytearray:
    mask = bytearray(width)
    for i, ch in enumerate(row[:width]):
        if not ch.isspace():
            mask[i] = 1
    return mask


def _gutter(ink: bytearray, width: int) -> tuple[int, int] | None:
    """(start, end) of the widest blank run of at least GUTTER columns inside the middle half,
    the one nearest the centre on a tie; None without one."""
    lo, hi = int(width * MIDDLE[0]), int(width * MIDDLE[1])
    best: tuple[int, int] | None = None
    key = (0, 0.0)
    i = lo
    while i < hi:
        if ink[i]:
            i += 1
            continue
        j = i
        while j < width and not ink[j]:
            j += 1
        start = i
        while start > 0 and not ink[start - 1]:
            start -= 1
        if j - start >= GUTTER:
            k = (j - start, -abs((start + j) / 2 - width / 2))
            if k > key:
                best, key = (start, j), k
        i = j + 1
    return best


def _accepted(rows: list[str], gutter: tuple[int, int], width: int) -> bool:
    """At least MIN_ROWS rows with text on both sides; on each side the 90th percentile of those
    rows' line lengths at least COLUMN of the width; the left side wrapped prose: of its lines
    that start no list item or table row, at least WRAPPED start with a lower-case word."""
    start, stop = gutter
    both = [r for r in rows if r[:start].strip() and r[stop:].strip()]
    if len(both) < MIN_ROWS:
        return False
    for side in ([r[:start] for r in both], [r[stop:] for r in both]):
        lengths = sorted(len(s.strip()) for s in side)
        if lengths[(9 * len(lengths)) // 10] < COLUMN * width:   # a column's long lines, not tags
            return False
    lefts = [r[:start].strip() for r in rows if r[:start].strip()]
    starts = [line for line in lefts[1:] if not _ITEM.match(line)]   # a list item may follow anything
    return len(starts) > 0 and sum(line[0].islower() for line in starts) >= WRAPPED * len(starts)


def _one_line(row: str) -> str:
    return " ".join(row.split())


def _blocks(rows: list[str], width: int) -> list[tuple[int, int, tuple[int, int]]]:
    """(first row, end row, gutter) of each column block, top to bottom."""
    found = []
    i, n = 0, len(rows)
    while i < n:
        if not rows[i].strip():
            i += 1
            continue
        ink = _ink(rows[i], width)
        if _gutter(ink, width) is None:
            i += 1
            continue
        j = i + 1
        while j < n:
            merged = bytearray(a | b for a, b in zip(ink, _ink(rows[j], width)))
            if _gutter(merged, width) is None:
                break
            ink, j = merged, j + 1
        gutter = _gutter(ink, width)
        if gutter is not None and _accepted(rows[i:j], gutter, width):
            found.append(_trimmed(rows, i, j, gutter))
        i = j  # a rejected run's rows are read where they stand (one pass: pages stay linear)
    return found


def _trimmed(rows: list[str], i: int, j: int, gutter: tuple[int, int]) -> tuple[int, int, tuple[int, int]]:
    """The block from its first row with text on both sides (a page header or a title above
    the columns reads first, where it stands), to its end or to the first row after a vertical
    gap of GAP_ROWS blank rows below its last two-sided row (a footer under the columns)."""
    start, stop = gutter
    both = [k for k in range(i, j) if rows[k][:start].strip() and rows[k][stop:].strip()]
    end, blank = j, 0
    for k in range(both[-1] + 1, j):
        blank = blank + 1 if not rows[k].strip() else 0
        if blank >= GAP_ROWS:
            end = k + 1
            break
    return both[0], end, gutter


def _read(rows: list[str], depth: int) -> tuple[list[str], bool]:
    """(lines in reading order, whether any column block was found)."""
    width = max((len(r.rstrip()) for r in rows), default=0)
    blocks = _blocks(rows, width) if depth > 0 and width >= 2 * GUTTER + 2 else []
    if not blocks:
        return [line for line in map(_one_line, rows) if line], False
    out: list[str] = []
    at = 0
    for first, end, (start, stop) in blocks:
        out.extend(line for line in map(_one_line, rows[at:first]) if line)
        for side in ([r[:start] for r in rows[first:end]], [r[stop:] for r in rows[first:end]]):
            lines, _ = _read(_dedent(side), depth - 1)
            out.extend(lines)
        at = end
    out.extend(line for line in map(_one_line, rows[at:]) if line)
    return out, True


def _dedent(rows: list[str]) -> list[str]:
    cut = min((len(r) - len(r.lstrip()) for r in rows if r.strip()), default=0)
    return [r[cut:] for r in rows]


def column_text(layout: str) -> str | None:
    """The page read column by column, from pypdf's layout-mode text; None when the page has
    no column block (the caller keeps its plain extraction)."""
    rows = layout.expandtabs().split("\n")
    if len(rows) > MAX_GRID or max(map(len, rows)) > MAX_GRID:
        return None
    lines, found = _read(rows, DEPTH)
    return "\n".join(lines) if found else None
