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
footer). A centred title block can share a gap with the first rows of the columns by chance;
when such a run is rejected, the search starts again from the earliest of its rows that still
share a gutter with the row that ended it.

A page with no column block keeps its plain extraction, byte for byte. So does a page whose
plain extraction already reads its columns one after the other, left first: its lines do not
run a left column's line into the right one's, and the left column starts first. That is how
most real PDFs are written (a regulator's three-column notice, TeX's two-column index pages, a
word processor's two-column report: every column page of the real PDFs in
docs/benchmarks/ingest.md), and the stream's order is the author's; the grid is coarser, as
where a justified line's wide spaces push its end into the next column, or where a column
splits into two short ones that are too few rows to be found. Any other page with a column
block is read from the grid: rows above the block, the left column top to bottom, the right
column (itself searched again, for a third column), then the rows below. Runs of spaces the
grid used for position become one space and blank rows are dropped, as in plain extraction. A table whose
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
GLUED = 1 / 3       # share of two-sided rows glued in the plain extraction that calls for columns
GLUE_SAMPLE = 60    # two-sided rows checked against the plain extraction, at most
GLUE_CHARS = 8      # characters on each side (spaces aside) for a row to be checked
_ITEM = re.compile(r"^(?:\d{1,3}[.)]\s|[-*\u2022\u25aa\u2013]\s|\|)")   # a step, a bullet, a table row
Block = tuple[int, int, tuple[int, int]]   # first row, end row, (gutter start, gutter end)


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


def _mask(row: str, width: int) -> int:
    """The row's ink as bits (bit i: character column i is not blank)."""
    return int("".join("0" if ch.isspace() else "1" for ch in reversed(row[:width])) or "0", 2)


def _has_gutter(mask: int, width: int) -> bool:
    """Whether _gutter finds one in the ink ``mask``: two adjacent blank columns, one of them
    inside the middle half (bit arithmetic: runs are merged row by row, many times a page)."""
    lo, hi = int(width * MIDDLE[0]), int(width * MIDDLE[1])
    blank = ~mask & ((1 << width) - 1)
    pairs = blank & (blank >> 1)            # bit p: columns p and p+1 both blank
    first = max(lo - 1, 0)
    return bool((pairs >> first) & ((1 << (hi - first)) - 1))


def _blocks(rows: list[str], width: int) -> list[Block]:
    """(first row, end row, gutter) of each column block, top to bottom.

    A run of rows that share a gutter grows from its first row until a row closes the gutter.
    When the run is no column block (a centred title and author line above the columns share
    a gap by chance, and the first column rows join them), the search starts again at the
    earliest row from which the rows up to the closing row still share a gutter, so the top
    rows of the columns are not lost to the rejected run. Those restarts re-read at most
    ``len(rows)`` rows in all, which keeps a hostile page's search linear."""
    found = []
    masks = [_mask(r, width) for r in rows]
    i, n, budget = 0, len(rows), len(rows)
    while i < n:
        if not masks[i] or not _has_gutter(masks[i], width):
            i += 1
            continue
        ink, j = masks[i], i + 1
        while j < n and _has_gutter(ink | masks[j], width):
            ink, j = ink | masks[j], j + 1
        gutter = _gutter(bytearray((ink >> c) & 1 for c in range(width)), width)
        if gutter is not None and _accepted(rows[i:j], gutter, width):
            found.append(_trimmed(rows, i, j, gutter))
            i = j
            continue
        k, back = j, masks[j] if j < n else 0   # a rejected run: back up from its closing row
        while k - 1 > i and budget > 0 and _has_gutter(back | masks[k - 1], width):
            back, k, budget = back | masks[k - 1], k - 1, budget - 1
        i = k  # rows before k are read where they stand (one pass: pages stay linear)
    return found


def _trimmed(rows: list[str], i: int, j: int, gutter: tuple[int, int]) -> Block:
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


def _read(rows: list[str], depth: int, blocks: list[Block] | None = None) -> tuple[list[str], bool]:
    """(lines in reading order, whether any column block was found)."""
    width = max((len(r.rstrip()) for r in rows), default=0)
    if blocks is None:
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


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _plain_reads_columns(rows: list[str], blocks: list[Block], plain: str) -> bool:
    """Whether the plain extraction already reads the columns one after the other, left first
    (spaces ignored throughout):

    * fewer than ``GLUED`` of the blocks' rows with text of ``GLUE_CHARS`` or more on both sides
      (up to ``GLUE_SAMPLE`` of them, evenly spread) have their left and right parts run into
      each other within one plain line (either way round: pypdf orders a line's pieces by the
      baselines it meets, which a title in the other column shifts);
    * the first block's left side, read as a column, starts before its right side does (the
      first line of ``GLUE_CHARS`` or more of each)."""
    pairs = [(a, b) for first, end, (start, stop) in blocks for r in rows[first:end]
             for a, b in [(_squeezed(r[:start]), _squeezed(r[stop:]))]
             if len(a) >= GLUE_CHARS and len(b) >= GLUE_CHARS]
    if len(pairs) > GLUE_SAMPLE:
        pairs = [pairs[k * len(pairs) // GLUE_SAMPLE] for k in range(GLUE_SAMPLE)]
    if not pairs:   # nothing to judge by: the grid, as before ingest-4
        return False
    flat = "\n".join(_squeezed(line) for line in plain.split("\n"))
    if sum(1 for left, right in pairs if left + right in flat or right + left in flat) >= GLUED * len(pairs):
        return False
    first, end, (start, stop) = blocks[0]
    heads = []
    for side in ([r[:start] for r in rows[first:end]], [r[stop:] for r in rows[first:end]]):
        lines, _ = _read(_dedent(side), DEPTH - 1)
        heads.append(next((key for key in map(_squeezed, lines) if len(key) >= GLUE_CHARS), ""))
    at_left, at_right = (flat.find(h) if h else -1 for h in heads)
    return not (0 <= at_right < at_left)


def _dedent(rows: list[str]) -> list[str]:
    cut = min((len(r) - len(r.lstrip()) for r in rows if r.strip()), default=0)
    return [r[cut:] for r in rows]


def column_text(layout: str, plain: str | None = None) -> str | None:
    """The page read column by column, from pypdf's layout-mode text; None when the page has
    no column block, or when its ``plain`` extraction (if given) already reads the columns one
    after the other, left first (the caller keeps it)."""
    rows = layout.expandtabs().split("\n")
    if len(rows) > MAX_GRID or max(map(len, rows)) > MAX_GRID:
        return None
    width = max((len(r.rstrip()) for r in rows), default=0)
    blocks = _blocks(rows, width) if width >= 2 * GUTTER + 2 else []
    if not blocks or (plain is not None and _plain_reads_columns(rows, blocks, plain)):
        return None
    lines, _ = _read(rows, DEPTH, blocks)
    return "\n".join(lines)
