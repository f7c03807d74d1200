"""reStructuredText grid tables, read cell by cell (ingest-12).

A grid table draws its cells with ``+---+`` borders and ``|`` walls, and a cell's text may run
over several lines::

    +------------+------------------------------+
    | *mode*     | Contents of *params*         |
    +============+==============================+
    | CAN.MASK16 | Two 16 bit id/mask pairs.    |
    |            | The first pair accepts ...   |
    +------------+------------------------------+

Read line by line, each line was a row of its own (the second line of a cell a row with an
empty key), and a line opening with "|*mode* |" was taken for a substitution reference. Here the
columns are where the borders' "+" marks stand (all of them: a header may span columns that
the rows below divide); a row's lines are joined cell by cell, a
cell with no wall at a column boundary spans into the next column, and the rows above a
``+===+`` border are the header. A border that is broken by a cell spanning rows (spaces in
it, or "|" at its ends) does not end the row: the rows it parts are read as one.
"""

from __future__ import annotations

import re

GRID_BORDER = re.compile(r"^\s*\+[-=+:]+\+\s*$")
# a border broken by cells that span rows: walls or spaces where a cell goes on
_PARTIAL_BORDER = re.compile(r"^\s*[+|][-=+| ]*[-=][-=+| ]*[+|]\s*$")
MAX_COLUMNS = 64   # a border with more "+" marks is read as text (no manual's table is wider)


def grid_table(lines: list[str], start: int) -> tuple[list[list[tuple[str, int]]], int, int]:
    """The grid table whose top border is ``lines[start]``: its rows, each a list of (text,
    columns spanned), the number of header rows, and the index after the table. No rows when
    the lines from ``start`` to that index are no table (a border with no row under it, more
    than ``MAX_COLUMNS`` columns): they are read as lines of text, and no border among them is
    tried again (a page of 100,000 borders would be read 100,000 times)."""
    end = start + 1   # the table's lines: each opens with a wall or a border's "+"
    while end < len(lines) and lines[end].lstrip()[:1] in ("|", "+"):
        end += 1
    # the columns: every "+" of its borders (a header may span columns the rows below divide)
    marks: set[int] = set()
    for k in range(start, end):
        line = lines[k].replace("\t", "    ").rstrip()
        if GRID_BORDER.match(line) or _PARTIAL_BORDER.match(line):
            marks.update(m.start() for m in re.finditer(r"\+", line))
            if len(marks) > MAX_COLUMNS + 1:
                return [], 0, end
    cols = sorted(marks)
    if len(cols) < 2:
        return [], 0, end
    rows: list[list[tuple[str, int]]] = []
    head = 0
    cells: dict[int, list[str]] = {}   # the open row: first column -> its text lines
    spans: dict[int, int] = {}         # first column -> columns spanned
    idx = start + 1
    while idx < end:
        line = lines[idx].replace("\t", "    ").rstrip()
        if GRID_BORDER.match(line):
            if cells:
                rows.append([(" ".join(x for x in cells[k] if x), spans[k]) for k in sorted(cells)])
                if "=" in line and not head:
                    head = len(rows)
            cells, spans = {}, {}
            idx += 1
            continue
        if _PARTIAL_BORDER.match(line) and any(c < len(line) and line[c] == "+" for c in cols):
            idx += 1     # a row border broken by a cell that spans it: the row goes on
            continue
        if not line.strip().startswith("|") or len(line) < cols[-1]:
            break
        _row_line(line, cols, cells, spans)
        idx += 1
    return rows, head, idx if rows else end


def _row_line(line: str, cols: list[int], cells: dict[int, list[str]], spans: dict[int, int]) -> None:
    """Add one line of a row to its cells: the text between walls that stand at column
    boundaries ("|" where the top border has "+"); a boundary with no wall is inside a cell
    that spans it."""
    first = 0
    for k in range(1, len(cols)):
        if k < len(cols) - 1 and (cols[k] >= len(line) or line[cols[k]] != "|"):
            continue   # no wall here: the cell goes on into the next column
        text = line[cols[first] + 1:cols[k]].strip()
        if text.startswith("| ") or text == "|":
            text = text[1:].strip()   # a line block inside the cell
        cells.setdefault(first, []).append(text)
        spans[first] = max(spans.get(first, 1), k - first)
        first = k
