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
  ends in no punctuation that ends or continues a sentence nor in an article, conjunction or
  preposition that the sentence goes on after, is no list item or table row, and is mostly words;
* it stands apart: the line before it is blank or ends a sentence (or it opens the text);
* prose follows: the next non-blank line is a sentence, a longer line or a list item, and is
  no title-like line itself; or it is a paragraph's first line in a narrow column, title-like
  or short, which the line after it goes on with, and the title is set as a headline (no comma;
  at most three words, or its longer words capitalised). A run of short lines (parts named one
  per line, an address, a table of contents) holds no titles;
* the next line does not go on with its sentence: it does not start with a lower-case word.
  The first line of a paragraph in a narrow column ("For Boeing service information" over
  "identified in this NPRM, contact ...") is short, capitalised and unpunctuated too.

And the manual must hold at least ``MIN_HEADINGS`` of them.
"""

from __future__ import annotations

import re

MIN_HEADINGS = 3
MAX_WORDS = 10
MAX_CHARS = 80
_ENDS_SENTENCE = re.compile(r"[.!?:;)\"”’]\s*$")
_NO_TITLE_END = ".,;:!?"
# Words a title does not end on: the sentence goes on after them ("To address the unsafe
# condition, the"). Particles such as "in", "on", "up", "off" do end titles ("Logging in").
_OPEN_END = frozenset("a an the and or nor but of to for with by from that which as than is are was were be "
                      "this these its their your our".split())
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


def _headline(text: str) -> bool:
    """Set as a headline: no comma, and at most three words or every word of four letters or
    more capitalised ("Authority for This Rulemaking"), unlike a sentence's first line."""
    words = text.split()
    return "," not in text and (len(words) <= 3 or all(w[0].isupper() for w in words if len(w) >= 4))


def _runs_on(line: str) -> bool:
    """Whether the line goes on with a sentence the line before began: its first word is in
    lower case ("accident on October 29, 2018, ..." under "Following the Lion Air Flight 610").
    A name such as "iPhone" or "eSIM" is no such word."""
    word = re.match(r"[^\W\d_]+", line.split()[0])
    return word is not None and word.group().islower()


def title_lines(lines: list[str]) -> set[int]:
    """Indexes of ``lines`` that are titles by the rules above (empty below ``MIN_HEADINGS``)."""
    found: set[int] = set()
    prev: str | None = None    # the line before (None: the text starts here)
    for idx, line in enumerate(lines):
        here = line.strip()
        if (here and _title_like(here) and here.split()[-1].lower() not in _OPEN_END
                and (prev is None or not prev.strip() or _ENDS_SENTENCE.search(prev))):
            ahead = [x.strip() for x in lines[idx + 1:idx + 5] if x.strip()]
            nxt = ahead[0] if ahead else None
            # A short first line of a paragraph in a narrow column looks like a title itself; the
            # line under it going on with its sentence tells it apart.
            wraps = nxt is not None and len(ahead) > 1 and _runs_on(ahead[1]) and _headline(here)
            if (nxt is not None and (_prose(nxt) or wraps) and not _runs_on(nxt)
                    and (not _title_like(nxt) or wraps)):
                found.add(idx)
        prev = line
    return found if len(found) >= MIN_HEADINGS else set()
