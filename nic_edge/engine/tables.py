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
  running through the table's other records to the text after it;
* a window that runs from the prose before a table into it but stops before the rows the
  question names (the lead-in, the header and a first row that states the amount asked, for
  another record) keeps the prose up to the header and quotes the named rows after it
  (``rows_beyond``);
* records of a list are keyed the same way when each starts a line with its code ("E01 Flow
  rate too low" / "Causes: ..." / "Remedy: ..." / "E02 Water pressure too high"; "Err 05: Image
  stabilization error."): ``keyed_lines`` narrows a window to the record the question names;
* a question about one record that names no key ("the ring on top is blinking red") is answered
  by the rows closest to it in meaning: ``narrow_rows`` embeds a long run of quoted rows at
  answer time (hybrid only) and keeps those few.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable

import numpy as np

from nic_edge.core.tabletext import header_like, is_rule, is_table_row
from nic_edge.engine.bm25 import analyze
from nic_edge.engine.sections import SectionText
from nic_edge.engine.units import Unit, clean_quote, row_keys
from nic_edge.errors import MissingDependencyError, ModelError

log = logging.getLogger(__name__)

TABLE_HEADER = True   # quoted rows come with their table's header row
TABLE_KEYED = True    # rows the question names by their key are quoted alone
LINES_KEYED = True    # so are records of a list keyed by a code at the start of their lines
ROWS_BEYOND = True    # and so are those of a table a window runs into from the prose before it


def table_header(text: str, a: int) -> tuple[int, int] | None:
    """(start, end) of the header row of the table whose row holds offset ``a``, when ``a`` is
    below it: the column names a quoted row needs to be read ("| A7-55 | 300 x 300 | M6 |" says
    nothing without "| Model | VESA pattern (mm) | Screw |"). The header is the first row of
    the run of table rows, followed by a Markdown rule ("|---|---|") or reading as column
    names (``header_like``); of tables set one under the other, the row over the nearest rule
    above ``a`` heads it. None when the row is not in a table, is its first row, or the table
    has no header."""
    start = text.rfind("\n", 0, a) + 1
    end = text.find("\n", a)
    if not is_table_row(text[start:end if end >= 0 else len(text)]):
        return None
    if end >= 0 and is_rule(text[end + 1:(text.find("\n", end + 1) + 1 or len(text) + 1) - 1]):
        return None   # the row is a header itself
    first = start
    while first > 0:
        prev = text.rfind("\n", 0, first - 1) + 1
        line = text[prev:first - 1]
        if is_rule(line) and prev > 0:
            # a rule follows its table's header row: tables set one under the other (a page
            # of several, with nothing between them once read) each have their own
            above = text.rfind("\n", 0, prev - 1) + 1
            if is_table_row(text[above:prev - 1]):
                first = above
                break
        if not (is_table_row(line) or is_rule(line)):
            break
        first = prev
    if first == start:
        return None
    h_end = text.find("\n", first)
    after = text.find("\n", h_end + 1)
    rule = text[h_end + 1:after if after >= 0 else len(text)]
    head = text[first:h_end]
    if not is_table_row(head) or not (is_rule(rule) or header_like(head)):
        return None
    return first, h_end


def keyed_rows(text: str, units: list[Unit], q_in: list[frozenset[str]]) -> set[int]:
    """Table rows whose first cell names a figure or code of the question ("| E-21 |",
    "| A7-65 |" for "the 65 inch model"): the record asked about, by its key."""
    asked: dict[int, set[str]] = {}
    for k, u in enumerate(units):
        if u.row >= 0 and q_in[k]:
            asked.setdefault(u.row, set()).update(q_in[k])
    return {r for r, terms in asked.items() if _row_named(text, r, terms)}


def _row_named(text: str, row: int, terms: set[str] | frozenset[str]) -> bool:
    """Does the first cell of the table row starting at offset ``row`` hold one of ``terms``
    with a digit in it (a figure or code of the question)?"""
    return any(ch.isdigit() for t in terms & row_keys(text, {row}) for ch in t)


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


def quote_parts(quote: Any, st: SectionText, units: list[Unit], i: int, j: int, q: frozenset[str],
                snap: Any = None) -> None:
    """Set the table parts of ``quote`` (a ``quote.Quote``) for the window units[i..j] it was
    cut from: ``table_quote``'s when it opens in a table; else the rows the question names in
    the table it runs into (``rows_beyond``), or the record of a keyed list the question names
    (``keyed_lines``)."""
    if units[i].row >= 0:
        quote.header, quote.header_row, quote.shown, quote.shown_row = table_quote(st, units, i, j, q, snap)
        return
    beyond = rows_beyond(st.text, units, i, j, q) if ROWS_BEYOND else None
    if beyond is not None:
        cut, a, b = beyond
        quote.shown, quote.shown_row = clean_quote(st.text[units[i].a:cut]), st.row_at(units[i].a)
        head = table_header(st.text, a) if TABLE_HEADER else None
        if head is not None and head[0] >= cut:
            quote.after.append((clean_quote(st.text[head[0]:head[1]]), st.row_at(head[0])))
        quote.after.append((clean_quote(st.text[a:b]), st.row_at(a)))
        return
    span = keyed_lines(st.text, units[i].a, units[j].b, q) if LINES_KEYED else None
    if span is None:
        return
    quote.header, quote.header_row = _header_at(st, span[0]) or ("", -1)
    quote.shown, quote.shown_row = clean_quote(st.text[span[0]:span[1]]), st.row_at(span[0])


def rows_beyond(text: str, units: list[Unit], i: int, j: int, q: frozenset[str]) -> tuple[int, int, int] | None:
    """(cut, start, end) when the window units[i..j] opens outside a table and runs into it, the
    question names rows of that table by their key (``keyed_rows``), and the window stops before
    them: the prose and its lead-in ("The following table gives various current requirements.")
    and the header row are quoted up to ``cut`` (before the window's first record row: another
    record, "| Raspberry Pi 1 Model A | 700mA |"), then the named rows, text[start:end] ("|
    Raspberry Pi 4 Model B | 3.0A |" for "What current does a Raspberry Pi 4 need?"). None
    otherwise, or when the named rows are more than ``ROWS_MAX``."""
    n = len(units)
    if units[i].row >= 0 or units[j].row < 0:
        return None
    k0 = j
    while k0 > i and (units[k0 - 1].row >= 0 or units[k0 - 1].noise):
        k0 -= 1
    e = j + 1
    while e < n and (units[e].row >= 0 or units[e].noise):
        e += 1
    run = units[k0:e]
    keyed = keyed_rows(text, run, [u.terms & q for u in run])
    inside = {u.row for u in units[k0:j + 1] if u.row >= 0}
    later = sorted(r for r in keyed if r > max(inside))
    if not later or keyed & inside:
        return None
    rows = sorted({u.row for u in run if later[0] <= u.row <= later[-1]})
    if len(rows) > ROWS_MAX:
        return None
    head = table_header(text, units[j].a)
    records = [k for k in range(k0, j + 1) if units[k].row >= 0 and units[k].row != (head[0] if head else -1)]
    cut = units[records[0] - 1].b if records else units[j].b
    end = max(u.b for u in run if u.row == later[-1])
    return cut, later[0], end


def _header_at(st: SectionText, at: int) -> tuple[str, int] | None:
    """The header row of the table holding offset ``at`` (``table_header``) and its chunk."""
    head = table_header(st.text, at) if TABLE_HEADER else None
    return (clean_quote(st.text[head[0]:head[1]]), st.row_at(head[0])) if head else None


# A line that starts with a code: letters and a number ("E01", "E-410", "Err 05", "F3"), after a
# list mark, and followed by a space, punctuation or the line's end.
_KEY_LINE = re.compile(r"[ \t]*(?:[-*\u2022][ \t]+)?([A-Za-z]{1,6})[ -]?(\d{1,4})(?=[\s:.),;\u2013\u2014-]|$)")


def keyed_lines(text: str, a: int, b: int, q: frozenset[str]) -> tuple[int, int] | None:
    """(start, end) of the records of text[a:b] that the question names by their code, when the
    window holds a list of records that each start a line with a code of one family ("E01 ..."
    and "E02 ...", "Err 01: ..." and "Err 05: ..."): from the named record's first line to the
    next record's. A code counts when all its terms are the question's (``q``, analyzed) and one
    of them has a letter (a bare number, "to 10", is no code). None when the question names
    none of the records or all of them."""
    family: dict[str, list[tuple[int, bool]]] = {}
    s = a
    while s < b:
        e = text.find("\n", s, b)
        line = text[s:e if e >= 0 else b]
        if line.startswith("|"):
            if not is_rule(line):   # a table's records are one family, keyed by their first cell
                family.setdefault("|", []).append((s, _row_named(text, s, q)))
        elif m := _KEY_LINE.match(line):
            terms = analyze(m.group(0))
            named = bool(terms) and set(terms) <= q and any(c.isalpha() for t in terms for c in t)
            family.setdefault(m.group(1).lower(), []).append((s, named))
        if e < 0:
            break
        s = e + 1
    for recs in family.values():
        hit = [n for n, (_, named) in enumerate(recs) if named]
        if len(recs) < 2 or not hit or len(hit) == len(recs):
            continue
        start = recs[hit[0]][0]
        end = recs[hit[-1] + 1][0] if hit[-1] + 1 < len(recs) else b
        return start, start + len(text[start:end].rstrip())
    return None


def table_quote(st: SectionText, units: list[Unit], i: int, j: int, q: frozenset[str],
                snap: Any = None) -> tuple[str, int, str, int]:
    """For a window units[i..j] that opens in a table: (header, header_row, shown, shown_row) of
    ``reader.Quote``: the header row to quote before it and the rows named by their key to
    quote instead of it, each with the chunk that holds it ("" and -1 when none). A table that
    runs back past the start of the text read (a long section is read around its hit) has its
    header looked up in the section's earlier chunks (``snap``)."""
    shown = keyed_span(st.text, units, i, j, q) if TABLE_KEYED else None
    at = shown[0] if shown else units[i].a
    header, header_row = _header_at(st, at) or ("", -1)
    if not header and TABLE_HEADER and snap is not None and _runs_to_start(st.text, at):
        header, header_row = _earlier_header(snap, st.rows[0]) or ("", -1)
    if shown is None:
        return header, header_row, "", -1
    return header, header_row, clean_quote(st.text[shown[0]:shown[1]]), st.row_at(shown[0])


HEADER_LOOKBACK = 256  # chunks of the same section searched back for a long table's header


def _runs_to_start(text: str, a: int) -> bool:
    """The table row at ``a`` belongs to a run of rows that reaches the start of ``text``, and
    its table starts before it (no rule under a header row in the run, nor under the row at
    ``a``: a table set under another starts there)."""
    end = text.find("\n", a)
    lines = text[:end if end >= 0 else len(text)].split("\n")
    nxt = text[end + 1:(text.find("\n", end + 1) + 1 or len(text) + 1) - 1] if end >= 0 else ""
    return bool(lines) and all(is_table_row(x) and not is_rule(x) for x in lines if x.strip()) and not is_rule(nxt)


def _earlier_header(snap: Any, row: int) -> tuple[str, int] | None:
    """The header row of the table that the chunks before ``row`` (same file, source and
    section, consecutive) open, and the chunk that holds it; None when the run of rows goes
    back further than ``HEADER_LOOKBACK`` chunks or its first row is no header."""
    key = (snap.file(row), snap.source(row), snap.section(row))

    def opens_section(r: int) -> bool:
        return r == 0 or (snap.file(r - 1), snap.source(r - 1), snap.section(r - 1)) != key \
            or snap.ordinal(r - 1) != snap.ordinal(r) - 1

    r = row
    for _ in range(HEADER_LOOKBACK):
        if opens_section(r):
            return None   # (the section's own start was read: table_header looked there)
        r -= 1
        lines = snap.text(r).split("\n")
        other = [k for k, x in enumerate(lines) if x.strip() and not (is_table_row(x) or is_rule(x))]
        if not other and not opens_section(r):
            continue      # all rows: the table goes on further back
        k = other[-1] + 1 if other else next(k for k, x in enumerate(lines) if x.strip())
        if k >= len(lines) or not is_table_row(lines[k]):
            return None
        rule = lines[k + 1] if k + 1 < len(lines) else ""
        if is_rule(rule) or header_like(lines[k]):
            return clean_quote(lines[k]), r
        return None
    return None


ROWS_MIN = 3          # a quote with at least this many table rows (not its header) is narrowed ...
ROWS_KEEP = 3         # ... to at most this many rows, those closest in meaning to the question ...
ROWS_WITHIN = 0.08    # ... within this cosine of the closest one
ROWS_MAX = 16         # more rows than this are not embedded at answer time (~0.2 s a row on a Pi Zero 2 W)


def _record_lines(lines: list[str]) -> list[int]:
    """Indexes of the table rows among ``lines`` that are records: not a Markdown rule, not a row
    over one (a header, also of a table set under another), and not the first row of a run of
    rows when it reads as column names (a short record such as "| Off | The robot is asleep |"
    further down is a record)."""
    out = []
    for k, line in enumerate(lines):
        if not is_table_row(line) or is_rule(line) or (k + 1 < len(lines) and is_rule(lines[k + 1])):
            continue
        first = k == 0 or not is_table_row(lines[k - 1])
        if not (first and header_like(line)):
            out.append(k)
    return out


def narrow_rows(quotes: list[dict], embed_many: Callable[[list[str]], np.ndarray],
                qvec: np.ndarray) -> list[dict]:
    """Quotes (``{"text", "citation"}``) with a run of many table rows narrowed to the rows
    closest in meaning to the question (``ROWS_KEEP`` within ``ROWS_WITHIN`` of the closest):
    "ring on top is blinking red" is the "| Flashing red | ..." row of the light table, not
    the table. The kept rows, and the quote's lines before and after them, are quotes of their
    own (each verbatim), in the quote's order and with its citation. A quote whose rows the
    question names by their key was narrowed already (``keyed_span``)."""
    out: list[dict] = []
    for q in quotes:
        lines = q["text"].split("\n")
        rows = _record_lines(lines)
        if not ROWS_MIN <= len(rows) <= ROWS_MAX:
            out.append(q)
            continue
        cos = embed_many([lines[k] for k in rows]) @ qvec
        best = float(cos.max())
        ranked = sorted(range(len(rows)), key=lambda m: -cos[m])[:ROWS_KEEP]
        drop = set(rows) - {rows[m] for m in ranked if cos[m] >= best - ROWS_WITHIN}
        run: list[str] = []
        for k, line in enumerate(lines + [None]):
            if line is None or k in drop:
                if any(x.strip() and not is_rule(x) for x in run):   # (a rule alone says nothing)
                    out.append({"text": "\n".join(run).strip("\n"), "citation": q["citation"]})
                run = []
            else:
                run.append(line)
    return out


def row_narrower(embed_many: Callable[[list[str]], np.ndarray], qvec: np.ndarray,
                 timing: Callable[[str, float], None] | None = None) -> Callable[[list[dict]], list[dict]]:
    """``narrow_rows`` for one answer, timed as the "rows" stage; a model that fails here
    leaves the rows as read."""
    def run(quotes: list[dict]) -> list[dict]:
        t0 = time.perf_counter()
        try:
            return narrow_rows(quotes, embed_many, qvec)
        except (MissingDependencyError, ModelError) as exc:
            log.warning("embedding model unavailable for table rows: %s", exc)
            return quotes
        finally:
            if timing is not None:
                timing("rows", time.perf_counter() - t0)
    return run
