"""Tables whose cells span rows or columns, laid out as they are drawn (ingest-11).

HTML (``rowspan``/``colspan``), Word (``w:vMerge``/``w:gridSpan``) and OpenDocument
(``table:number-rows-spanned``/``-columns-spanned``) tables merge cells: a spec sheet's "Power"
spans its "Voltage" and "Current" rows, a heading spans the columns it names. Read cell by cell,
the rows under a merged cell lose a cell and every later cell stands under the wrong column
name ("| Current | 3A |" under "| Group | Item | Value |"). ``grid`` repeats a cell that spans
rows in each of them and follows one that spans columns with empty cells, so every row reads
on its own ("| Power | Current | 3A |"); ``pipe_rows`` writes them, a header of several rows of
header cells as one row of column names ("Power Voltage", "Power Current").
"""

from __future__ import annotations

# A cell's span as read (HTML caps colspan at 1000 and rowspan at 65534; a row key spans a few
# rows and a heading a few columns): beyond these, a page could multiply its text many times.
MAX_COLSPAN = 16
MAX_ROWSPAN = 1000
MAX_HEADER_ROWS = 3   # more leading rows of header cells are a table of them, headed by its first
Cell = tuple[str, bool, int, int]   # text, is a header cell (<th>), rows and columns spanned


def span(value: str | None, cap: int, zero_is_cap: bool = False) -> int:
    """A span as written ("2", " 3 ", "2px"): 1 unless a number of at least 1, at most ``cap``;
    "0" is ``cap`` when ``zero_is_cap`` (HTML's rowspan="0": to the table's end)."""
    value = (value or "").strip()
    digits = value[:len(value) - len(value.lstrip("0123456789"))][:6]
    if not digits:
        return 1
    n = int(digits)
    return cap if n == 0 and zero_is_cap else max(1, min(n, cap))


def grid(rows: list[list[Cell]]) -> list[list[tuple[str, bool, str]]]:
    """The table's rows with their spans laid out, as a browser or word processor draws them: a
    cell spanning rows is repeated in each (the model name a row of figures belongs to), one
    spanning columns is followed by empty cells, so every row's cells stand under their column
    names (a row of one such cell, a group's title across the table, is that cell alone). Each
    cell is (text, is a header cell, its name in a header of several rows: "Power" over
    "Voltage" and "Current" names both). Repeated text is bounded by the table's own text, so
    spans cannot multiply a page's size."""
    budget = sum(len(cell[0]) + 3 for row in rows for cell in row)
    out: list[list[tuple[str, bool, str]]] = []
    below: dict[int, tuple[str, bool, int]] = {}   # column -> text, is <th>, rows still spanned

    def carry(col: int) -> tuple[str, bool, str]:
        nonlocal budget
        text, th, left = below.pop(col)
        if left > 1:
            below[col] = (text, th, left - 1)
        if len(text) + 3 > budget:
            text = ""
        budget -= len(text) + 3
        return text, th, text

    for row in rows:
        laid: list[tuple[str, bool, str]] = []
        if len(row) == 1 and row[0][3] > 1 and row[0][2] == 1 and not below:
            out.append([row[0][:2] + (row[0][0],)])   # one cell across the table: a group's title
            continue
        for text, th, down, across in row:
            while len(laid) in below:
                laid.append(carry(len(laid)))
            for k in range(across):
                name = text if th else ""
                if k:
                    if budget < len(name) + 3:
                        break
                    budget -= len(name) + 3
                if down > 1:
                    below[len(laid)] = (name if k else text, th, down - 1)
                laid.append(("" if k else text, th, name if k else text))
        for col in sorted(c for c in below if c >= len(laid)):
            while len(laid) < col:
                laid.append(("", False, ""))
            laid.append(carry(col))
        out.append(laid)
    return out


def pipe_rows(rows: list[list[Cell]]) -> list[str]:
    """The table's rows laid out (``grid``) as "| a | b |" lines. A first row of header cells
    is followed by a Markdown rule, and a header of two to
    ``MAX_HEADER_ROWS`` such rows above other rows is one row naming each column top to bottom.
    A row with no text of its own (only cells spanned from above, or none) is left out."""
    laid = [row for row, cells in zip(grid(rows), rows) if any(cell[0] for cell in cells)]
    lines: list[str] = []
    head = 0   # header rows: the leading rows of header cells
    while head < len(laid) and all(th for _, th, _ in laid[head]):
        head += 1
    if 1 < head <= MAX_HEADER_ROWS and head < len(laid):
        width = max(len(row) for row in laid[:head])
        names = [[row[c][2] for row in laid[:head] if c < len(row) and row[c][2]] for c in range(width)]
        lines.append("| " + " | ".join(" ".join(dict.fromkeys(n)) for n in names) + " |")
        lines.append("|" + "---|" * width)
        laid, head = laid[head:], 0
    for k, row in enumerate(laid):
        lines.append("| " + " | ".join(t for t, _, _ in row) + " |")
        if not k and head:
            lines.append("|" + "---|" * len(row))
    return lines
