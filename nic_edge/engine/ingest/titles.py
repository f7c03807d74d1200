"""Headings of a text manual that marks them by nothing but a line of their own.

A manual exported to text or PDF from a word processor often keeps no mark on its headings at
all: "Cleaning the sensor" (or "CLEANING THE SENSOR") on a line of its own, then the paragraph.
When ingest finds no other scheme (numbered, labelled, Q&A, FAQ headings: fewer than
``MIN_HEADINGS``), such a manual would be one untitled section; the reader then loses the
heading that names what a body answers. The eight blind manuals rendered as text this way
scored 43 useful answers of 440 as one section, 126 with these rules (127 with their titles as
Markdown headings; tools/eval_text_render.py, docs/benchmarks/answers.md, "Twenty-second session").

Only then, a line is a title when:

* it is short (at most ``MAX_WORDS`` words, ``MAX_CHARS`` characters), starts with a capital,
  ends in no punctuation that ends or continues a sentence, is no list item or table row, and is
  mostly words;
* it stands apart: the line before it is blank or ends a sentence (or it opens the text);
* prose follows: the next non-blank line is a sentence, a longer line or a list item. A run of
  short lines (parts named one per line, an address, a table of contents) holds no titles.

And the manual must hold at least ``MIN_HEADINGS`` of them.
"""

from __future__ import annotations

import re

MIN_HEADINGS = 3
MAX_WORDS = 10
MAX_CHARS = 80
_ENDS_SENTENCE = re.compile(r"[.!?:;)\"”’]\s*$")
_NO_TITLE_END = ".,;:!?"
_LIST = re.compile(r"^\s*(?:[-*\u2022\u25aa\u2013]\s|\(?\d{1,3}[.)]\s|[a-z][.)]\s)")


def _title_like(line: str) -> bool:
    text = line.strip()
    words = text.split()
    if not words or len(words) > MAX_WORDS or len(text) > MAX_CHARS:
        return False
    if not text[0].isupper() or text[-1] in _NO_TITLE_END or "|" in text or _LIST.match(text):
        return False
    return sum(1 for w in words if re.search(r"[A-Za-z]{2}", w)) * 2 > len(words)


def _prose(line: str) -> bool:
    return len(line.split()) >= 6 or bool(_ENDS_SENTENCE.search(line)) or bool(_LIST.match(line))


def title_lines(lines: list[str]) -> set[int]:
    """Indexes of ``lines`` that are titles by the rules above (empty below ``MIN_HEADINGS``)."""
    found: set[int] = set()
    prev: str | None = None    # the line before (None: the text starts here)
    for idx, line in enumerate(lines):
        here = line.strip()
        if here and _title_like(here) and (prev is None or not prev.strip() or _ENDS_SENTENCE.search(prev)):
            nxt = next((x.strip() for x in lines[idx + 1:idx + 4] if x.strip()), None)
            if nxt is not None and _prose(nxt) and not _title_like(nxt):
                found.add(idx)
        prev = line
    return found if len(found) >= MIN_HEADINGS else set()
