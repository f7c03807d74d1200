"""AsciiDoc tables (``|===``, ``,===`` CSV, ``:===`` DSV, ``!===`` inside a cell) read one row a
line, its cells between pipes ("| GPIO1 | UART0 TX |"), the first row first: tables.py finds a
row's header by it, as in the Markdown, Word and reStructuredText readers.

A cell starts at each separator not escaped (``\\|``); the specifier before it ("2+", ".2+",
"3*", "^.^a") says how many columns and rows it spans and how often it repeats, so rows are cut
where the columns (``cols="1,2"``, ``cols="3*"``, or the first line's cells) are filled,
counting the cells that reach down from rows above. A cell written over several lines, or
holding AsciiDoc blocks (an ``a`` cell), is read as one line.
"""

from __future__ import annotations

import csv
import re
from typing import Callable

# right before its separator, on the same line ("3 m" then a row on the next line keeps its "m")
_SPEC = re.compile(r"(?:(\d+)\*)?(?:(\d+)?(?:\.(\d+))?\+)?[<^>]?(?:\.[<^>])?[adehlmsv]?\Z")
_SPEC_TAIL = 16   # a specifier is at most "99*9.9+^.^a"
_COLS = re.compile(r"""\bcols\s*=\s*(?:"([^"]*)"|'([^']*)'|([^,\s]+))""")
_SEPARATOR = re.compile(r"""\bseparator\s*=\s*(?:"([^"]+)"|'([^']+)'|([^,\s]+))""")
_FORMAT = re.compile(r"""\bformat\s*=\s*["']?(csv|dsv|tsv|psv)""")
_NESTED = re.compile(r"^\s*!={3,}\s*$")
_HEADER_OPT = re.compile(r"%header\b|\boptions\s*=\s*[\"']?[^\"'\]]*\bheader\b")
_NO_HEADER = re.compile(r"%noheader\b|\boptions\s*=\s*[\"']?[^\"'\]]*\bnoheader\b")


def _columns(attrs: str) -> int:
    """The number of columns ``cols`` names ("3", "1,2,1", "3*", "2*,1"), 0 when it does not."""
    m = _COLS.search(attrs)
    if not m:
        return 0
    spec = next(g for g in m.groups() if g is not None).strip()
    if spec.isdigit():
        return int(spec)
    count = 0
    for part in re.split(r"[,;]", spec):
        rep = re.match(r"\s*(\d+)\*", part)
        count += int(rep.group(1)) if rep else 1
    return count


def _split(text: str, sep: str) -> list[tuple[str, str]]:
    """(specifier, content) of each cell of the table's ``text``."""
    cells: list[tuple[str, str]] = []
    spec = ""
    start = -1
    pos = text.find(sep)
    while pos >= 0:
        if pos and text[pos - 1] == "\\":
            pos = text.find(sep, pos + 1)
            continue
        chunk = text[start:pos] if start >= 0 else text[:pos]
        tail = chunk[-_SPEC_TAIL:]
        m = _SPEC.search(tail)
        cut = len(chunk) - (len(tail) - m.start()) if m and m.group(0) else len(chunk)
        if cut != len(chunk) and cut > 0 and not chunk[cut - 1].isspace():
            cut = len(chunk)   # a specifier stands apart from the cell before it
        if start >= 0:
            cells.append((spec, chunk[:cut]))
        spec = chunk[cut:]
        start = pos + len(sep)
        pos = text.find(sep, start)
    if start >= 0:
        cells.append((spec, text[start:]))
    return cells


def _rows(cells: list[tuple[str, str]], ncols: int) -> list[list[tuple[str, str]]]:
    rows: list[list[tuple[str, str]]] = []
    row: list[tuple[str, str]] = []
    width = 0
    above: list[list[int]] = []   # [rows left, columns] of cells reaching down from rows above
    down: list[list[int]] = []
    for spec, content in cells:
        m = _SPEC.match(spec)
        dup = int(m.group(1)) if m and m.group(1) else 1
        cols = int(m.group(2)) if m and m.group(2) and "+" in spec else 1
        span = int(m.group(3)) if m and m.group(3) else 1
        for _ in range(min(dup, 1000)):
            row.append((spec, content))
            width += cols
            if span > 1:
                down.append([span - 1, cols])
            if width >= max(1, ncols - sum(c for _n, c in above)):
                rows.append(row)
                row, width = [], 0
                above = [[n - 1, c] for n, c in above if n > 1] + down
                down = []
    if row:
        rows.append(row)
    return rows


def _cell(content: str, line: Callable[[str, bool], str], blocks: bool) -> str:
    lines = [b for b in content.split("\n") if b.strip() and not _NESTED.match(b)]
    return " ".join(t for t in (line(b.strip(), blocks) for b in lines) if t).replace("|", "/")


def _a_columns(attrs: str) -> bool:
    """Does ``cols`` give a column the AsciiDoc style ("1a,2", "2*a"), whose cells hold blocks?"""
    m = _COLS.search(attrs)
    spec = next((g for g in m.groups() if g is not None), "") if m else ""
    return any(part.strip().endswith("a") for part in re.split(r"[,;]", spec))


def read_table(body: list[str], kind: str, attrs: str, line: Callable[[str, bool], str]) -> list[str]:
    """The rows of a table's ``body`` lines as "| a | b |" lines. ``kind``: the delimiter's
    first character; ``attrs``: the block attribute line over it; ``line``: one line of a cell
    as shown."""
    fmt = _FORMAT.search(attrs)
    form = fmt.group(1) if fmt else {",": "csv", ":": "dsv"}.get(kind, "psv")
    lines = [b for b in body if b.strip()]
    if not lines:
        return []
    rows: list[list[tuple[str, str]]]
    if form in ("csv", "tsv"):
        try:
            plain = list(csv.reader((b.strip() for b in lines), delimiter="\t" if form == "tsv" else ","))
        except csv.Error:
            plain = [[b.strip()] for b in lines]
        rows = [[("", c) for c in r] for r in plain]
    elif form == "dsv":
        rows = [[("", c) for c in re.split(r"(?<!\\):", b.strip())] for b in lines]
    else:
        sep_m = _SEPARATOR.search(attrs)
        sep = next(g for g in sep_m.groups() if g is not None) if sep_m else ("!" if kind == "!" else "|")
        ncols = _columns(attrs) or max(1, len(_split(lines[0], sep)))
        rows = _rows(_split("\n".join(body), sep), ncols)
    # An AsciiDoc cell ("a|", or an "a" column) holds blocks: "[source]" is an attribute line
    # there. Any other cell holds text: "| [pi4] | Model 4B |" names the [pi4] filter.
    a_cols = _a_columns(attrs)
    out = ["| " + " | ".join(_cell(c, line, a_cols or spec.endswith("a")) for spec, c in row) + " |"
           for row in rows if any(c.strip() for _, c in row)]
    if out and any(c.strip() for _, c in rows[0]) and _has_header(body, attrs, form, kind):
        out.insert(1, "|" + "---|" * max(1, len(rows[0])))
    return out


def _has_header(body: list[str], attrs: str, form: str, kind: str) -> bool:
    """Is the table's first row its header: ``options="header"`` or ``%header``, or (a table of
    pipes) its first line holds cells and a blank line follows it, AsciiDoc's implicit header?
    The header is marked with a Markdown rule ("|---|---|") after it, as a Markdown table's is:
    tables.py and the status page read column names by it that are too long to read as names
    ("| Product | Recommended PSU current capacity | Maximum total USB peripheral current draw |")."""
    if _NO_HEADER.search(attrs):
        return False
    if _HEADER_OPT.search(attrs):
        return True
    if form != "psv":
        return False
    sep_m = _SEPARATOR.search(attrs)
    sep = next(g for g in sep_m.groups() if g is not None) if sep_m else ("!" if kind == "!" else "|")
    first = next((k for k, b in enumerate(body) if b.strip()), -1)
    return 0 <= first < len(body) - 1 and body[first].lstrip().startswith(sep) and not body[first + 1].strip()


__all__ = ["read_table"]
