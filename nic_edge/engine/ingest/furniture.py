"""Running headers and footers of paged text (form feeds, PDF pages, ``--- PAGE n ---``).

A manual exported with a header and footer on every page ("ACME X-200 SERVICE MANUAL" on top,
"Rev. 3   Page 13" at the foot) repeats them between the paragraphs of every page: they ended
up inside chunks and quotes ("... squeals at start-up.\\nRev. 3 Page 13") and held the page
number the manual prints. ocr.py knows only footers that are exactly "Page 13" or "- 13 -",
and capitalised heads beside a number.

Rule: a short line (at most ``MAX_WORDS`` words, three letters or more, not a sentence) that is
the first or the last non-blank line of at least half the pages (and of three or more), its
digits aside, is furniture. At those page edges it is removed; where it carries the page number (the one number
in it that changes from page to page, mostly upwards) it becomes a "Page N" footer, which ocr.py
turns into the printed page. Lines in the body of a page are never touched, nor lines ocr.py
already reads as page numbers, nor safety notices (WARNING, CAUTION, DANGER).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from nic_edge.engine.ingest.ocr import _FOOTER_PN, _LONE_PN

Line = tuple["int | None", str]

EDGE = 1
MAX_WORDS = 12
_NUMBER = re.compile(r"\d+")
_NOTICE = re.compile(r"\b(?:WARNING|CAUTION|DANGER)", re.I)


def _key(text: str) -> str | None:
    words = text.split()
    if not words or len(words) > MAX_WORDS:
        return None
    line = " ".join(words)
    if _FOOTER_PN.match(line) or _LONE_PN.match(line) or sum(c.isalpha() for c in line) < 3:
        return None
    if len(words) >= 6 and line[-1] in ".!?:":  # a sentence ("Check it twice.") is body text
        return None
    if _NOTICE.search(line):  # a safety banner on every page still belongs to each page's text
        return None
    return _NUMBER.sub("#", line)


def _page_number_slot(numbers: list[list[int]]) -> int | None:
    """Which number of the line is the page number: the one slot whose values change from page
    to page, mostly upwards; None when no single slot does."""
    if len(numbers) < 3 or len({len(n) for n in numbers}) != 1:
        return None
    varying = [k for k in range(len(numbers[0])) if len({n[k] for n in numbers}) > 1]
    if len(varying) != 1:
        return None
    values = [n[varying[0]] for n in numbers]
    ups = sum(1 for a, b in zip(values, values[1:]) if b > a)
    return varying[0] if ups >= 0.6 * (len(values) - 1) else None


def drop_running_lines(lines: list[Line]) -> list[Line]:
    """The lines with repeated page headers/footers removed (see the module doc)."""
    pages: dict[int | None, list[int]] = defaultdict(list)
    for i, (page, text) in enumerate(lines):
        if text.strip():
            pages[page].append(i)
    if len(pages) < 3:
        return lines
    edges = {p: sorted(set(idx[:EDGE] + idx[-EDGE:])) for p, idx in pages.items()}
    seen: Counter[str] = Counter()
    for idx in edges.values():
        seen.update({k for i in idx if (k := _key(lines[i][1])) is not None})
    need = max(3, (len(pages) + 1) // 2)
    furniture = {k for k, n in seen.items() if n >= need}
    if not furniture:
        return lines
    at: dict[str, list[int]] = defaultdict(list)
    for idx in edges.values():
        for i in idx:
            k = _key(lines[i][1])
            if k in furniture:
                at[k].append(i)
    out = list(lines)
    for k, idx in at.items():
        numbers = [[int(n) for n in _NUMBER.findall(lines[i][1])] for i in idx]
        slot = _page_number_slot(numbers)
        for i, nums in zip(idx, numbers):
            out[i] = (lines[i][0], f"Page {nums[slot]}" if slot is not None else "")
    return out
