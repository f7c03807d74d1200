"""Decimal-numbered headings of text and PDF manuals: "3.2 Cleaning the sensor".

Many manuals number their sections "1", "1.1", "1.1.2", and in their text or PDF export that
numbering is all that marks a heading: the line is in the same font as the
body once the layout is gone. Without it a manual is one untitled section, and the reader
loses what it leans on most: the heading that names what its body answers (the eight blind
manuals rendered as text this way scored 51 useful answers of 440 unmarked, 125 with this rule,
127 with their titles as Markdown headings; tools/eval_text_render.py, docs/benchmarks/answers.md,
"Twenty-second session").

A line is a decimal heading when it is a section number of two to four levels ("3.2", "10.1.4",
first level 1-99, no leading zero) and a short title: it starts with a capital, is at most
``MAX_TITLE_WORDS`` words, ends in no sentence punctuation, and its first word is not a unit
("4.5 Litres of oil", "2.4 GHz band" are amounts, not headings). A one-level number ("3
Maintenance") counts only as a chapter: when "3.1 ..." is the next decimal heading, close by.
A manual must hold at least ``MIN_HEADINGS`` decimal ones: a stray "1.5 Tons" line in an
old manual is not a numbering scheme.
"""

from __future__ import annotations

import re

from nic_edge.engine.bm25 import STOPWORDS
from nic_edge.engine.quantity import unit_words
from nic_edge.engine.textquality import UNIT_SYMBOLS

MIN_HEADINGS = 3
MAX_TITLE_WORDS = 12
CHAPTER_REACH = 40   # lines from a chapter line to its first decimal heading
_DECIMAL = re.compile(r"^(?P<num>[1-9]\d?(?:\.\d{1,2}){1,3})\.?\s+(?P<title>[A-Z(“\"].*)$")
_CHAPTER = re.compile(r"^(?P<num>[1-9]\d?)\.?\s+(?P<title>[A-Z(“\"].*)$")
_UNIT_FIRST = re.compile(r"^(?:" + unit_words() + r")(?![A-Za-z])", re.I)


def unit_first(text: str) -> bool:
    """Is the first word of ``text`` (what follows a number) a unit: "4.5 Litres of oil" is an
    amount; but "1.4 In the box", "2.1 A note on ..." are titles (also vectors.heading_meaning)."""
    words = text.split()
    first = re.sub(r"[^\w°µ/-]", "", words[0]).lower() if words else ""
    return bool(first) and first not in STOPWORDS and (first in UNIT_SYMBOLS or bool(_UNIT_FIRST.match(first)))


def _title(title: str) -> bool:
    title = title.strip()
    words = title.split()
    if not words or len(words) > MAX_TITLE_WORDS or title[-1] in ".!?;:,":
        return False
    if unit_first(title):
        return False
    return sum(1 for w in words if re.search(r"[A-Za-z]{2}", w)) * 2 > len(words)


def decimal_headings(lines: list[str]) -> set[int]:
    """The indexes of ``lines`` that are decimal-numbered headings (and the one-level chapter
    lines they belong to); empty unless the manual holds at least ``MIN_HEADINGS``."""
    found: list[tuple[int, str]] = []
    for idx, line in enumerate(lines):
        m = _DECIMAL.match(line.strip()) if line and line[0].isdigit() else None
        if m and _title(m.group("title")):
            found.append((idx, m.group("num")))
    if len(found) < MIN_HEADINGS:
        return set()
    out = {idx for idx, _ in found}
    # "3 Maintenance" is a heading when the next decimal heading after it, close by, is "3.1 ..."
    nxt = iter(found)
    pending = next(nxt, None)
    for idx, line in enumerate(lines):
        while pending is not None and pending[0] <= idx:
            pending = next(nxt, None)
        if pending is None:
            break
        m = _CHAPTER.match(line.strip()) if line and line[0].isdigit() else None
        if m and _title(m.group("title")) and pending[1] == f"{m.group('num')}.1" \
                and pending[0] - idx <= CHAPTER_REACH:
            out.add(idx)
    return out
