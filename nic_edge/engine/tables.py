"""Tables in a quote: the header row that names the columns, and the rows the question names.

A table row ("| E21 | Pump blocked | Clean the pump filter. |") is a record of its own
(units.table_records). Two general properties of manuals' tables make a quoted row readable and
to the point:

* a row is read against its table's column names: "| A7-65 | 400 x 300 | M8 | 12-14 mm |" says
  nothing without "| Model | VESA pattern (mm) | Screw | Screw depth into TV |". ``table_header``
  finds that row; the reader quotes it before the rows (a quote of its own, so every quote stays
  verbatim);
* a question that names a record by its key (an error code "E-21", a model "the 65 inch")
  asks about that record, not about the table: ``keyed_rows`` finds the rows whose first cell
  holds a figure or code of the question, ``keyed_span`` narrows a window of the table's records
  to them (what is quoted, not how the window scored), and ``record_tables`` keeps a window from
  running through the table's other records to the text after it.
"""

from __future__ import annotations

import re

from nic_edge.engine.sections import SectionText
from nic_edge.engine.units import Unit, clean_quote, is_table_row, row_keys

TABLE_HEADER = True   # quoted rows come with their table's header row
TABLE_KEYED = True    # rows the question names by their key are quoted alone

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
HEADER_CELL_WORDS = 4   # a header cell names a column ("Factory setting"), it says nothing of a record


def _header_like(line: str) -> bool:
    """A table row that reads as column names: two or more cells, no figure, each at most
    ``HEADER_CELL_WORDS`` words without a sentence's punctuation ("| No. | Parameter | Range |
    Factory setting |"); a record's row states something ("| E21 | Pump blocked |")."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    named = [c for c in cells if c]
    if len(named) < 2 or any(ch.isdigit() for ch in line):
        return False
    return all(len(c.split()) <= HEADER_CELL_WORDS and not c.endswith(("!", "?", ";", ":", ","))
               and not (c.endswith(".") and len(c.split()) > 1) for c in named)


def table_header(text: str, a: int) -> tuple[int, int] | None:
    """(start, end) of the header row of the table whose row holds offset ``a``, when ``a`` is
    below it: the column names a quoted row needs to be read ("| A7-55 | 300 x 300 | M6 |" says
    nothing without "| Model | VESA pattern (mm) | Screw |"). The header is the first row of
    the run of table rows, followed by a Markdown rule ("|---|---|") or reading as column
    names (``_header_like``); None when the row is not in a table, is its first row, or the
    table has no header."""
    start = text.rfind("\n", 0, a) + 1
    end = text.find("\n", a)
    if not is_table_row(text[start:end if end >= 0 else len(text)]):
        return None
    first = start
    while first > 0:
        prev = text.rfind("\n", 0, first - 1) + 1
        line = text[prev:first - 1]
        if not (is_table_row(line) or _TABLE_RULE.match(line)):
            break
        first = prev
    if first == start:
        return None
    h_end = text.find("\n", first)
    after = text.find("\n", h_end + 1)
    rule = text[h_end + 1:after if after >= 0 else len(text)]
    head = text[first:h_end]
    if not is_table_row(head) or not (_TABLE_RULE.match(rule) or _header_like(head)):
        return None
    return first, h_end


def keyed_rows(text: str, units: list[Unit], q_in: list[frozenset[str]]) -> set[int]:
    """Table rows whose first cell names a figure or code of the question ("| E-21 |",
    "| A7-65 |" for "the 65 inch model"): the record asked about, by its key."""
    asked: dict[int, set[str]] = {}
    for k, u in enumerate(units):
        if u.row >= 0 and q_in[k]:
            asked.setdefault(u.row, set()).update(q_in[k])
    return {r for r, terms in asked.items()
            if any(ch.isdigit() for t in terms & row_keys(text, {r}) for ch in t)}


def keyed_span(text: str, units: list[Unit], i: int, j: int, q: frozenset[str]) -> tuple[int, int] | None:
    """(start, end) of the rows of window units[i..j] that the question names by their key
    (``keyed_rows``), when the window is table rows and holds other records besides: "E-21" is
    answered by the E-21 row, not the error table's rows from E-05 to E-30. The window is
    still scored (and confidence judged) as chosen; only what is quoted is narrowed."""
    win = units[i:j + 1]
    if any(u.row < 0 and not u.noise for u in win):
        return None
    keyed = keyed_rows(text, win, [u.terms & q for u in win])
    rows = [u for u in win if u.row >= 0]
    if not keyed or all(u.row in keyed for u in rows):
        return None
    inside = [u for u in rows if u.row in keyed]
    return inside[0].a, inside[-1].b


def record_tables(units: list[Unit], table_hit: list[bool], q_in: list[frozenset[str]],
                   text: str) -> list[int]:
    """Per unit: 2 in a row keyed by a figure or code of the question (``keyed_rows``), 1 in
    another row of the same table, 0 elsewhere. A window does not run through such a table's
    other records (after its last keyed row) to the text after it."""
    n = len(units)
    out = [0] * n
    keyed = keyed_rows(text, units, q_in)
    k = 0
    while keyed and k < n:
        if not table_hit[k]:
            k += 1
            continue
        e = k
        while e < n and table_hit[e]:
            e += 1
        if any(units[m].row in keyed for m in range(k, e)):
            out[k:e] = [2 if units[m].row in keyed else 1 for m in range(k, e)]
        k = e
    return out


def table_quote(st: SectionText, units: list[Unit], i: int, j: int,
                q: frozenset[str]) -> tuple[str, int, str, int]:
    """For a window units[i..j] that opens in a table: (header, header_row, shown, shown_row) of
    ``reader.Quote``: the header row to quote before it and the rows named by their key to
    quote instead of it, each with the chunk that holds it ("" and -1 when none)."""
    shown = keyed_span(st.text, units, i, j, q) if TABLE_KEYED else None
    head = table_header(st.text, shown[0] if shown else units[i].a) if TABLE_HEADER else None
    return (clean_quote(st.text[head[0]:head[1]]) if head else "", st.row_at(head[0]) if head else -1,
            clean_quote(st.text[shown[0]:shown[1]]) if shown else "", st.row_at(shown[0]) if shown else -1)
