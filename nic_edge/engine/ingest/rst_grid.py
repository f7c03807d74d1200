"""reStructuredText grid tables, read cell by cell (ingest-12; cells spanning rows, ingest-13).

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
``+===+`` border are the header. A border that is broken by a cell spanning rows (spaces or
the cell's text in it, or "|" at its ends) ends the cells it rules off; the cell that spans it goes on and stands
beside each row it spans (tablegrid.py lays it out in each of them, as docutils draws it: a
spec sheet's "Power" beside both its "Voltage" and its "Current" row). Before ingest-13 the
rows it parted were read as one.
"""

from __future__ import annotations

import re

GRID_BORDER = re.compile(r"^\s*\+[-=+:]+\+\s*$")
# a border broken by cells that span rows: walls or spaces where a cell goes on
_PARTIAL_BORDER = re.compile(r"^\s*[+|][-=+| ]*[-=][-=+| ]*[+|]\s*$")
_RULE = frozenset("-=:")
MAX_COLUMNS = 64   # a border with more "+" marks is read as text (no manual's table is wider)


def grid_table(lines: list[str], start: int) -> tuple[list[list[tuple[str, int, int]]], int, int]:
    """The grid table whose top border is ``lines[start]``: its rows, each a list of (text,
    columns spanned, rows spanned) by first column, the number of header rows, and the index
    after the table. No rows when the lines from ``start`` to that index are no table (a border
    with no row under it, more than ``MAX_COLUMNS`` columns): they are read as lines of text,
    and no border among them is tried again (a page of 100,000 borders would be read 100,000
    times)."""
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
    grid = _Grid(cols)
    head = 0
    idx = start + 1
    while idx < end:
        line = lines[idx].replace("\t", "    ").rstrip()
        if GRID_BORDER.match(line):
            if grid.cells:
                grid.close(list(grid.cells))
                if "=" in line and not head:
                    head = grid.row
            idx += 1
            continue
        if len(line) < cols[-1]:
            break
        # a row's line, or a row border broken by cells that span it ("+-----+ span rows. |"):
        # the cells it rules off end here, the others go on into the next row
        grid.add_line(line)
        idx += 1
    rows = [[cell for _, cell in sorted(row)] for row in grid.rows]
    return rows, head, idx if rows else end


class _Grid:
    """The cells of a grid table as its lines are read: each open cell (by its first column)
    collects its lines until a border rules it off; a cell then stands in the row it began in,
    spanning the rows read since."""

    def __init__(self, cols: list[int]) -> None:
        self.cols = cols
        self.cells: dict[int, list[str]] = {}   # open cells: first column -> text lines
        self.spans: dict[int, int] = {}         # first column -> columns spanned
        self.begun: dict[int, int] = {}         # first column -> the row it began in
        self.row = 0                            # the row being read
        self.rows: list[list[tuple[int, tuple[str, int, int]]]] = []

    def close(self, firsts: list[int]) -> None:
        """End these cells; when any ended, the next line begins a new row."""
        for k in firsts:
            r0 = self.begun.pop(k)
            while len(self.rows) <= r0:
                self.rows.append([])
            text = " ".join(x for x in self.cells.pop(k) if x)
            self.rows[r0].append((k, (text, self.spans.pop(k), self.row - r0 + 1)))
        if firsts:
            self.row += 1

    def add_line(self, line: str) -> None:
        """One line of the table: the text between walls that stand at column boundaries ("|"
        or "+" where a border has "+"; a boundary with no wall is inside a cell that spans it)
        goes to its cell, and a run of dashes between two "+" rules off the cell above it."""
        cols, first = self.cols, 0
        ruled: list[int] = []
        for k in range(1, len(cols)):
            if k < len(cols) - 1 and (cols[k] >= len(line) or line[cols[k]] not in "|+"):
                continue   # no wall here: the cell goes on into the next column
            raw = line[cols[first] + 1:cols[k]]
            if raw and set(raw) <= _RULE and line[cols[first]] == "+" and line[cols[k]:cols[k] + 1] == "+":
                if first in self.cells:
                    ruled.append(first)
                first = k
                continue
            text = raw.strip()
            if text.startswith("| ") or text == "|":
                text = text[1:].strip()   # a line block inside the cell
            if first not in self.cells:
                self.begun[first] = self.row
            self.cells.setdefault(first, []).append(text)
            self.spans[first] = max(self.spans.get(first, 1), k - first)
            first = k
        self.close(ruled)
