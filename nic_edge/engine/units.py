"""A section's text cut into the units a quote is made of, and the whitespace a quote may change.

Units are sentences and lines (``ingest.chunking.sentence_spans``), with a sentence that a
scanned page's line break cut in two made whole again; each knows whether it is noise, a list
item or step, a lead-in, a question line, or a title (a page header, the next heading, a figure
label). The reader (reader.py) builds its windows from them; ``clean_quote`` is the only change
a quote may make to the section text: whitespace.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Callable

from nic_edge.core.tabletext import is_table_row
from nic_edge.engine.bm25 import BM25Index, analyze
from nic_edge.engine.ingest.chunking import sentence_spans
from nic_edge.engine.quantity import AmountAsked
from nic_edge.engine.sections import SectionText
from nic_edge.engine.textquality import is_noise

TITLE_MAX_WORDS = 8       # a title line dangling at a window's end is at most this long
CONTINUE_MIN_WORDS = 4    # a line this long ending in a lowercase word runs on into a lowercase line

_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022\u25cf\u25aa]|\(?\d{1,2}[.)]|\(?[a-z][.)]\s|Step\s+\d+)")
_NUMBERED = re.compile(r"^\s*(?:\(?(\d{1,2})[.)]\s|Step\s+(\d{1,2})\b)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019]*")
_DINGBATS = "*\u2022"
_INLINE_ITEM = re.compile(r"[.!?]([\"\u201d\u2019)\]]*)[ \t]+(?=[a-z][.)][ \t]+[A-Z])")
_LEADER = re.compile(r"\.[ \t]?\.[ \t]?\.[ \t]?\.")   # (a literal first: a fast scan)
_LONE_DOTS = re.compile(r"\s\.[. \t]*(?=\s|\Z)")   # dots standing alone ("Wait. . ."), or at the start
_LEADER_END = re.compile(r"(?:\.[ \t]?){4,}$")   # "Fuel Tank. . . . ." / "Fuel Tank ........" (". . ." is an ellipsis)
_LINE_BREAK_IN_SENTENCE = re.compile(r"(?<![.!?:;])[ \t]*\n[ \t]*(?![ \t]*(?:[-*\u2022\u25cf\u25aa]|\(?\d{1,2}[.)]|\(?[a-z][.)]\s|Step\s+\d+|\n))")
# "Normal: 5,000 miles" / "Severe: 3,000 miles": a line that opens with a short label and a
# colon (or is only a label: "Specifications:"), after a labelled value, is the next entry of a
# list of values or its next heading, not a sentence going on
_LABEL_LINE = re.compile(r"[ \t]*[A-Z][A-Za-z0-9 ()/-]{0,30}:[ \t]+\S")
# "External leak (hose, radiator, water pump)" / "Internal leak (head gasket failure)": a line
# that ends in a closing bracket, a figure or "%", before a line that opens with a capital or a
# figure, is an entry of a list whose bullets the conversion dropped (a sentence a line break
# cut goes on in lowercase; a capitalised word at a line's end is often mid-sentence: "Cut" /
# "No. 5")
_ENDS_ITEM = re.compile(r"[)\d%][ \t]*$")
_OPENS_ITEM = re.compile(r"[ \t]*[A-Z0-9]")
_LABEL_OR_TITLE = re.compile(r"[ \t]*[A-Z][A-Za-z0-9 ()/-]{0,30}:(?:[ \t]+\S|[ \t]*(?:\n|\Z))")


@dataclass
class Unit:
    a: int
    b: int
    terms: frozenset[str]
    words: int
    noise: bool
    item: bool          # starts a list item / step
    lead_in: bool       # ends with ":" (introduces what follows)
    para_start: bool    # follows a blank line or starts the section
    question: bool      # a question line (ends with "?")
    number: int         # its list number ("2." / "(2)" / "Step 2"), 0 when none
    amount: bool = False  # states the amount the question asks for
    row: int = -1         # in a table row ("| E21 | Water does not drain | Clean the pump filter. |"):
                          # the row's start offset (a row's sentences share it); -1 elsewhere


def section_units(st: SectionText, bm: BM25Index, asked: AmountAsked | None = None) -> list[Unit]:
    """The section's units in order (``asked``: mark those that state the amount asked for)."""
    text = st.text
    vocab, df = bm.vocab, bm.df

    def known(term: str) -> bool:
        tid = vocab.get(term)
        return tid is not None and int(df[tid]) >= 2

    out: list[Unit] = []
    rows = [m.start() for m in re.finditer(r"(?m)^", text)] if _ROW_START.search(text) else []
    for a, b, noise in sentences(text, known):
        s = text[a:b]
        terms = frozenset(analyze(s))
        gap = text[max(0, a - 3):a]
        out.append(Unit(a, b, terms, len(s.split()), noise, bool(_LIST_ITEM.match(s)),
                        s.rstrip().endswith(":"), a == 0 or "\n\n" in gap or not out,
                        s.rstrip().endswith("?"), _number(s), asked is not None and asked.stated(s),
                        _table_row(text, a, rows)))
    return out


_ROW_START = re.compile(r"(?m)^[ \t]*\|")


def table_records(units: list[Unit], q_in: list[frozenset[str]]) -> tuple[list[bool], list[bool]]:
    """(hit_row, table_hit) per unit. A table's rows are records of their own: when some row
    holds the question's words (``q_in``: each unit's question words; else, the asked amount),
    the rows that do not are other records. ``hit_row``: the unit is in such a row;
    ``table_hit``: it is in a table (rows and the noise lines between them) that has one."""
    n = len(units)
    rows_hit = {u.row for k, u in enumerate(units) if u.row >= 0 and q_in[k]} \
        or {u.row for u in units if u.row >= 0 and u.amount}   # the asked amount only when no row names the thing
    hit_row = [u.row in rows_hit for u in units]
    table_hit = [False] * n
    k = 0
    while rows_hit and k < n:
        e = k
        while e < n and (units[e].row >= 0 or (e > k and units[e].noise)):
            e += 1
        if e > k and any(hit_row[k:e]):
            table_hit[k:e] = [True] * (e - k)
        k = max(e, k + 1)
    return hit_row, table_hit


def row_keys(text: str, rows: set[int]) -> frozenset[str]:
    """The terms of the first cell of each table row starting at an offset in ``rows``: what
    each record is about ("| Brakes squeal |", "| E21 |", "| Power consumption |")."""
    out: set[str] = set()
    for r in rows:
        end = text.find("\n", r)
        cells = text[r:end if end >= 0 else len(text)].split("|")
        if len(cells) > 2:
            out.update(analyze(cells[1]))
    return frozenset(out)


def _table_row(text: str, a: int, line_starts: list[int]) -> int:
    """Start offset of the table row (a line opening with "|") that holds offset ``a``, or -1.
    ``line_starts``: every line's start offset, or empty when the text has no table row."""
    if not line_starts:
        return -1
    start = line_starts[bisect.bisect_right(line_starts, a) - 1]
    return start if text[start:a + 1].lstrip().startswith("|") else -1


def sentences(text: str, known: Callable[[str], bool]) -> list[tuple[int, int, bool]]:
    """Sentence spans, with a sentence that a line break cut in two made whole again.

    ``sentence_spans`` ends a span at every line break (lists, tables and headings are lines),
    so a scanned page's hard line breaks and page breaks cut sentences: "... the spark and
    throttle levers should be placed" / "'in the same position on the quadrant ...". A line
    that ends mid-sentence (a lowercase word or a comma, after a few words) followed by one
    that starts with a lowercase word continues it; a window must not start or stop there.
    (start, end, is_noise) each; two prose lines made one are prose."""
    out: list[tuple[int, int, bool]] = []
    spans = leader_rows(text, item_starts(text, sentence_spans(text)))
    for k, (a, b) in enumerate(spans):
        s = text[a:b]
        noise = is_noise(s, known)
        if out and not noise and not out[-1][2] and continues(text[out[-1][0]:out[-1][1]], s) \
                and (s[:1] not in _DINGBATS or k + 1 == len(spans) or text[spans[k + 1][0]] not in _DINGBATS):
            out[-1] = (out[-1][0], b, False)
        else:
            out.append((a, b, noise))
    return out


def item_starts(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` cut where a lettered item starts after a sentence's end on the same line:
    "... is essential to safe and economical tire service. b. Tire Inspection Procedure"
    (TM 9-802). A sentence ends only before a word that is not lowercase, so the item's
    letter kept it in the sentence before, and a quote ended on the next item's title."""
    if not _INLINE_ITEM.search(text):
        return spans   # (most texts: one scan, no loop)
    out: list[tuple[int, int]] = []
    for a, b in spans:
        for m in _INLINE_ITEM.finditer(text, a, b):
            out.append((a, m.end(1)))
            a = m.end()
        out.append((a, b))
    return out


def leader_rows(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` with each dot-leader row made one span: "Engine Crankcase . . . . . 15 qt" and
    "Fuel Tank .......... 44 gal" are a label and its value, but a full stop before a space is
    a sentence's end to ``sentence_spans``, so a spaced leader was cut into one span per dot
    and every leader cut from its value -- a quote ended on "Fuel Tank. . . . ." without the
    figure. A span of dots alone, and the span after one that ends in a leader (four dots or
    more), on the same line, go on the span before."""
    if not _LEADER.search(text) and not _LONE_DOTS.search(text) and text[:1] != ".":
        return spans   # no leader and no span of dots alone: nothing to join (most texts)
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and "\n" not in text[out[-1][1]:a] \
                and (_LEADER_END.search(text, max(out[-1][0], out[-1][1] - 16), out[-1][1])
                     or not text[a:b].strip(". \t")):   # (the tail only: a line of dots stays linear)
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def continues(prev: str, cur: str) -> bool:
    p = prev.rstrip()
    if len(p.split()) < CONTINUE_MIN_WORDS or not (p[-1:].islower() or p.endswith(",")):
        return False
    if _LIST_ITEM.match(p) and _LIST_ITEM.match(cur):
        return False  # "* Clogged filter" / "* bad pump": two items of a list, not one sentence
    # (a dingbat line followed by another is a list, not a sentence running on: the callers
    # check that)
    c = cur.lstrip(" *\u2022\u2018\u201c'\"(")
    return c[:1].islower()


SENTENCE_END = re.compile(r"[.!?][\"\u201d\u2019')\]]*$")
_END_MARK = re.compile(r"[.!?:;)\]\"\u201d\u2019']$")


def title_line(s: str) -> bool:
    """A short line that is a title, not a sentence: a running page header ("THE FORD ENGINE
    13"), the heading of the next part ("The Ford Engine"), a figure's part label ("Gasoline
    Tank Inlet Pipe"). Every longer word capitalised, no closing punctuation; with a figure in
    it only when all capitals (a table row "Fuel Pressure 40-50 PSI" is an answer)."""
    s = s.strip()
    words = _WORD.findall(s)
    if not words or len(s.split()) > TITLE_MAX_WORDS or _END_MARK.search(s):
        return False
    if any(ch.isdigit() for ch in s):
        return len(words) >= 2 and all(w.isupper() for w in words)
    return all(w[0].isupper() for w in words if len(w) > 3) and any(len(w) > 3 for w in words)


def _number(s: str) -> int:
    m = _NUMBERED.match(s)
    return int(m.group(1) or m.group(2)) if m else 0


def _join_break(m: re.Match) -> str:
    """A line break ``_LINE_BREAK_IN_SENTENCE`` found: a space, unless a table row stands on
    either side of it, or it ends an entry of a list of labelled values (``_LABEL_LINE``), of
    a list whose bullets were lost (``_ENDS_ITEM``) or a dot-leader row (``_LEADER``)."""
    text, a, b = m.string, m.start(), m.end()
    line_start = text.rfind("\n", 0, a) + 1
    next_end = text.find("\n", b)
    if is_table_row(text[line_start:a]) or is_table_row(text[b:next_end if next_end >= 0 else len(text)]):
        return m.group(0)
    if _LABEL_LINE.match(text, line_start) and _LABEL_OR_TITLE.match(text, b):
        return m.group(0)
    if _ENDS_ITEM.search(text, line_start, a) and _OPENS_ITEM.match(text, b):
        return m.group(0)
    if _LEADER.search(text, line_start, a):
        return m.group(0)   # a dot-leader row ("Fuel Tank . . . . 44 gal") is a line of its own
    return " "


def clean_quote(text: str) -> str:
    """Whitespace only: line breaks inside a sentence become spaces, runs of spaces one. A
    line break before an OCR dingbat that continues the sentence ("... the steering gear may" /
    "* make necessary ...", see ``continues``) is inside the sentence too. A table row ("| a |
    b |") and an entry of a list of labelled values ("Normal: 5,000 miles") keep their line."""
    text = _LINE_BREAK_IN_SENTENCE.sub(_join_break, text.strip())
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    if "\n" not in text:
        return text
    lines = text.split("\n")
    out = [lines[0]]
    for k, line in enumerate(lines[1:], 1):
        if out[-1] and line[:1] in _DINGBATS and continues(out[-1], line) \
                and (k + 1 == len(lines) or lines[k + 1][:1] not in _DINGBATS):
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


def near_duplicate(a: set[str], b: set[str]) -> bool:
    """Two quotes' term sets are near-identical (80 % of the smaller one in the other): the same
    text in two sections, or overlapping chunks; the reader quotes it once."""
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= 0.8
