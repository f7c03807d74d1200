"""Headings of a PDF manual by the size of their type, and by its bookmarks.

A PDF's text layer keeps no heading marks, but its type does: a manual sets its headings
larger than its body text. Plain-text rules (numbering, Q&A lines, titles.py's lines of their
own) stay, and find most headings of a one-column page; in a narrow column every wrapped line
is short, so a title no longer stands out by its length, and the title rule finds few or none
there (tools/eval_text_render.py, styles pdf2 and pdf2x).

So pypdf's text pieces are read with the size they are set in (font size times the text and
graphics matrices' vertical scale). The **body size** is the size most characters of the
manual are set in. A line is a heading when at least ``SHARE`` of its characters are set at
``RATIO`` times the body size or more, in a size that sets at most ``MAX_SHARE`` of the
manual's characters (a manual whose tables are set at 8 pt and its prose at 10 pt has two
body sizes, and its prose lines are no headings), and its text could be a heading: at most
``MAX_WORDS`` words, two letters or more, not ending in ``.``, ``,``, ``;`` or ``:``, and not
a notice ("WARNING", "CAUTION: Hot surface", which the manual's notices keep as text). A long
line (more than ``WRAPPED_WORDS`` words) whose next line goes on in lower case is the first
line of a paragraph set large, not a heading (text.py, where the lines are in reading order).
Where a line of the plain extraction is glued from two columns (a piece starts a quarter of the
page away from the one before), each column's part counts as a line too, so a heading is found
on a page read column by column (columns.py). Lines are matched by a key (letters and digits,
lower-cased) on the page they were read from.

A bookmark (the PDF's outline) names a heading on the page it points to: its title's key is
matched the same way, with or without the section number the page prints before it ("2.1
ASN.1 syntax" for the bookmark "ASN.1 syntax"). That finds headings set in body type.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Sequence

RATIO = 1.15
SHARE = 0.8
MAX_SHARE = 0.15   # a size that sets more of the manual's characters is a second body size
MAX_WORDS = 12
WRAPPED_WORDS = 6
_NOTICE = re.compile(r"^\W*(warning|caution|danger|note|notice|important|tip|hint)s?(\W*$|\s*[:!])", re.I)
_KEY = re.compile(r"[^0-9a-z]+")
_NUMBER = re.compile(r"^(?:[A-Z]|\d{1,3})(?:[.-]\d{1,3})*\.?\s+")   # "2.1 ", "A.1 ", "4. "

Piece = tuple  # (text, size in points[, starts away from the piece before: another column])


def line_key(text: str) -> str:
    """Letters and digits of ``text``, lower-cased (ligatures and widths folded)."""
    return _KEY.sub("", unicodedata.normalize("NFKC", text).lower())


def line_keys(text: str) -> tuple[str, str]:
    """line_key, and the same without a leading section number: the line "2.1 ASN.1 syntax" is
    the one a bookmark "ASN.1 syntax" names."""
    text = text.strip()
    return line_key(text), line_key(_NUMBER.sub("", text, count=1))


def heading_text(text: str) -> bool:
    """Whether ``text`` could be a heading (see the module doc)."""
    text = " ".join(text.split())
    words = text.split()
    return (0 < len(words) <= MAX_WORDS and sum(c.isalpha() for c in text) >= 2
            and text[-1] not in ".,;:" and not _NOTICE.match(text) and len(line_key(text)) >= 3)


def _sizes(pages: Sequence[Sequence[Piece]]) -> Counter[float]:
    """Non-space characters per size (to 0.1 pt)."""
    sizes: Counter[float] = Counter()
    for pieces in pages:
        for piece in pieces:
            sizes[round(piece[1], 1)] += sum(not c.isspace() for c in piece[0])
    sizes.pop(0.0, None)
    return sizes


def body_size(pages: Sequence[Sequence[Piece]]) -> float | None:
    """The size most non-space characters are set in (to 0.1 pt); None without text."""
    sizes = _sizes(pages)
    return sizes.most_common(1)[0][0] if sizes else None


def _units(pieces: Sequence[Piece]) -> list[list[tuple[str, float]]]:
    """The page's lines as the plain extraction joins the pieces, and each column's part of a
    line that a line across the page glues together (a piece that starts away from the one
    before: pdf.py), each as its (text, size) parts."""
    lines: list[list[tuple[str, float]]] = [[]]
    parts: list[list[tuple[str, float]]] = [[]]
    for piece in pieces:
        text, size = piece[0], piece[1]
        if len(piece) > 2 and piece[2] and parts[-1]:   # type: ignore[misc]
            parts.append([])
        for i, part in enumerate(text.split("\n")):
            if i:
                lines.append([])
                parts.append([])
            if part:
                lines[-1].append((part, size))
                parts[-1].append((part, size))
    glued = any(len(piece) > 2 and piece[2] for piece in pieces)   # type: ignore[misc]
    return lines + parts if glued else lines   # on a one-column page every part is its line


def heading_keys(pages: Sequence[Sequence[Piece]]) -> list[set[str]]:
    """Per page, the keys of the lines (and column parts of lines) set as headings."""
    sizes = _sizes(pages)
    if not sizes:
        return [set() for _ in pages]
    body, total = sizes.most_common(1)[0][0], sum(sizes.values())
    heading = {size for size, n in sizes.items() if size >= RATIO * body and n <= MAX_SHARE * total}
    out: list[set[str]] = []
    for pieces in pages:
        keys: set[str] = set()
        for unit in _units(pieces):
            ink = sum(sum(not c.isspace() for c in text) for text, _ in unit)
            large = sum(sum(not c.isspace() for c in text) for text, size in unit if round(size, 1) in heading)
            whole = "".join(text for text, _ in unit)
            if ink and large >= SHARE * ink and heading_text(whole):
                keys.add(line_key(whole))
        out.append(keys)
    return out
