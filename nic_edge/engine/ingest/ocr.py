"""OCR cleanup for scanned manuals: page furniture out, broken words back together.

Works on a flat list of ``(page, line)`` pairs. When the source has no explicit page breaks
(form feeds, ``--- PAGE n ---`` markers) the furniture itself tells where pages end: a
scanner watermark block, a running header/footer with its page number, or a ``Page 12`` /
``- 12 -`` footer. Pages are then numbered 1, 2, ... (physical order), except footers that
state their number.

Running headers are learned per document: a short capitalised string next to a page number
whose numbers mostly increase through the file ("THE FORD MANUAL 8", "2-165 TM 10-3930-...").
Requiring increasing numbers is what keeps repeated body lines ("KNOWN INFO 1 WARNING TEST
OPTIONS") from being taken for furniture. A printed book's chapter titles, its running heads on
the pages of the other parity ("THE FORD ENGINE 13" between "12 THE FORD MANUAL" and "14 THE
FORD MANUAL"), are too rare to learn alone and are learned from the book head's page numbers
(``learn_chapter_heads``).
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nic_edge.engine.ingest.pages import PageMap

Line = tuple["int | None", str]

_WS = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\xad\ufffd]")  # \xad: soft hyphens split words for search
# Reversed (HathiTrust / Google Books) and forward scanner watermarks.
_WM_STRONG = re.compile(
    r"//:s?ptth|elgoog|dezitigid|detareneG|,niamoD|^cilbuP\b|hathitrust\.org|hdl\.handle\.net"
    r"|Google-digitized|^Digitized by\b|^Generated on \d{4}-\d\d-\d\d"
)
# Cheap substring pre-check: the regex runs only on lines holding one of these.
_WM_HINTS = ("ptth", "elgoog", "dezitigid", "detareneG", "niamoD", "cilbuP", "hathitrust",
             "handle.net", "Google", "Digitized", "Generated")
_WM_WEAK = re.compile(r"^(?:/|TMG|GMT|no|on|\d{1,4}(?:[:\-]\d{1,4})+)?$")
_WM_PREFIX = re.compile(r"^cilbuP\s*")
_PN = r"(?:\d{1,4}|\d{1,2}-\d{1,4}|[A-Z]-\d{1,3})"
_HEAD = r"[A-Z][A-Z0-9 .,'&\-]{3,48}[A-Z0-9]"
_PN_THEN_HEAD = re.compile(rf"(?:^|(?<=[ ]))({_PN}) +({_HEAD})(?=[ \n]|$)", re.M)
_HEAD_THEN_PN = re.compile(rf"(?:^|(?<=[ ]))({_HEAD}) +({_PN})(?=[ \n]|$)", re.M)
_LONE_PN = re.compile(r"^(?:[•·*]\s*)?(?:\d{1,4}|\d{1,2}\s?-\s?\d{1,4}|[A-Z]-\d{1,3})\s*[•·.]?$")
_FOOTER_PN = re.compile(r"^(?:page\s+(\d{1,4})(?:\s+of\s+\d{1,4})?|[-–—]\s*(\d{1,4})\s*[-–—])$", re.I)
_HYPHEN_END = re.compile(r"([A-Za-z]+)-$")
_WORD_START = re.compile(r"^([a-z]+)([.,;:!?)\]]*)(?:\s+|$)")
_WORD = re.compile(r"[A-Za-z]+")
_BROKEN = re.compile(r"[a-z]+-\n[a-z]+")
_HYPHENATED = re.compile(r"\b[A-Za-z]+-[A-Za-z]+\b")

NEXT_PAGE = -1  # a page break whose number is "previous + 1"


# PDF text keeps typographic ligatures: "ﬁlter" was searched as "lter" and never matched "filter"
_LIGATURE = re.compile("[\ufb00-\ufb06]")
_LIGATURES = {0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "st", 0xFB06: "st"}


def _unligature(text: str) -> str:
    return text.translate(_LIGATURES) if _LIGATURE.search(text) else text


def normalize_line(line: str) -> str:
    """Control characters out, ligatures spelled out, any run of blanks becomes one space,
    ends stripped."""
    return _WS.sub(" ", _CTRL.sub("", _unligature(line))).strip()


def normalize_lines(lines: list[str]) -> list[str]:
    """normalize_line for many lines at once (one regex pass over the joined text)."""
    # Neither pattern touches "\n", so the line structure survives the joined pass.
    joined = _WS.sub(" ", _CTRL.sub("", _unligature("\n".join(lines))))
    return [part.strip() for part in joined.split("\n")]


def _pn_key(token: str) -> tuple[int, int]:
    if "-" in token:
        left, right = token.split("-", 1)
        major = int(left) if left.isdigit() else ord(left) - ord("A") + 1000
        return (major, int(right))
    return (0, int(token))


def _mostly_increasing(keys: list[tuple[int, int]]) -> bool:
    if len(keys) < 4 or len(set(keys)) < 4:
        return False
    ups = sum(1 for a, b in zip(keys, keys[1:]) if b > a)
    # OCR garbles some numbers and stray digits sit next to headers, hence not 100%.
    return ups >= 0.6 * (len(keys) - 1)


Candidate = tuple[int, str, str]   # (offset in the joined text, head, page number)


def header_candidates(lines: list[str]) -> list[Candidate]:
    """Every capitalised string beside a page number, in text order (one scan, shared by
    ``learn_running_headers`` and ``learn_chapter_heads``)."""
    text = "\n".join(lines)
    found = [(m.start(), m.group(2), m.group(1)) for m in _PN_THEN_HEAD.finditer(text)]
    found += [(m.start(), m.group(1), m.group(2)) for m in _HEAD_THEN_PN.finditer(text)]
    return sorted(found)


def learn_running_headers(lines: list[str], found: list[Candidate] | None = None) -> set[str]:
    """Capitalised strings that sit next to increasing page numbers throughout the text.
    ``found``: ``header_candidates(lines)`` when the caller has it already."""
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _pos, head, pn in header_candidates(lines) if found is None else found:
        seen[head].append(_pn_key(pn))
    return {head for head, keys in seen.items() if _mostly_increasing(keys)}


CHAPTER_GAP = 8   # pages at most between a chapter head and the book head it sits between
PARITY_SHARE = 0.8  # the book head's page numbers: this share at least of one parity


def learn_chapter_heads(lines: list[str], learned: set[str],
                        found: list[Candidate] | None = None) -> tuple[set[str], int]:
    """Running heads too rare to learn alone: a printed book puts its title on even pages and
    the chapter's title on odd ones ("12 THE FORD MANUAL" ... "THE FORD ENGINE 13"), so each
    chapter head shows up a few times only. When the book head's page numbers are (nearly:
    ``PARITY_SHARE``) all of one parity, a head is taken for furniture when one of its
    occurrences carries a plain page number of the other parity just after the book head's page
    before it, or just before the book head's page after it (at most ``CHAPTER_GAP`` pages: "THE
    COOLING SYSTEM 19" between "16 THE FORD MANUAL" and "22 THE FORD MANUAL"). Two words or more, one of them
    at least four letters; never a head already learned. Returns the heads and the parity of
    their page numbers (1: odd)."""
    if not learned:
        return set(), 1
    book: list[tuple[int, int]] = []
    cands: list[tuple[int, str, int]] = []
    for pos, head, pn in header_candidates(lines) if found is None else found:
        if not pn.isdigit():
            continue
        if head in learned:
            book.append((pos, int(pn)))
        elif len(head.split()) >= 2 and any(len(w) >= 4 for w in _WORD.findall(head)):
            cands.append((pos, head, int(pn)))
    # a book's title sits on pages of one parity (even: left-hand pages), its chapters' on the
    # other; numbers of mixed parity beside a "header" are steps or counts, not pages
    odd = sum(p % 2 for _, p in book)
    if len(book) < 4 or max(odd, len(book) - odd) < PARITY_SHARE * len(book):
        return set(), 1
    side = int(odd * 2 > len(book))   # the book head's parity; its chapters have the other
    out: set[str] = set()
    at = [a for a, _ in book]   # in text order (header_candidates sorts)
    for pos, head, pn in cands:
        if pn % 2 == side:
            continue
        i, k = bisect.bisect_left(at, pos), bisect.bisect_right(at, pos)   # the book heads before / after
        if (i and 0 < pn - book[i - 1][1] <= CHAPTER_GAP) or (k < len(book) and 0 < book[k][1] - pn <= CHAPTER_GAP):
            out.add(head)
    return out, 1 - side


def _alternatives(headers: set[str]) -> str:
    """The headers as one regex alternation, longest first, any run of spaces between words."""
    return "|".join(re.escape(h).replace("\\ ", " ").replace(" ", r"\s+")
                    for h in sorted(headers, key=len, reverse=True))


def _header_regex(headers: set[str]) -> re.Pattern[str] | None:
    if not headers:
        return None
    alts = _alternatives(headers)
    # A header with an optional page number on either side, as a whole line or at a line edge
    # or (learned headers only, see learn_running_headers) in the middle of a reflowed line.
    return re.compile(rf"(?:^|(?<=\s))(?:(?P<pn1>{_PN})\s+)?(?:{alts})(?:\s+(?P<pn2>{_PN}))?(?=\s|$)")


def _numbered_regex(headers: set[str]) -> re.Pattern[str] | None:
    """``_header_regex`` for chapter heads; a match counts only with a page number of the
    chapters' parity beside it (``_page_of``): a chapter's title line stands in the body
    without one."""
    if not headers:
        return None
    alts = _alternatives(headers)
    return re.compile(rf"(?:^|(?<=\s))(?:(?P<pn1>\d{{1,4}})\s+)?(?P<head>{alts})(?:\s+(?P<pn2>\d{{1,4}}))?(?=\s|$)")


def _drop_watermarks(lines: list[str]) -> tuple[list[str | int], set[str], int]:
    """Remove watermark blocks; each block becomes a page break. Returns items, headers, count."""
    out: list[str | int] = []
    headers: set[str] = set()
    blocks = 0
    in_block = False
    for line in lines:
        if any(h in line for h in _WM_HINTS) and _WM_STRONG.search(line):
            if not in_block:
                out.append(NEXT_PAGE)
                blocks += 1
                in_block = True
            rest = _WM_PREFIX.sub("", line) if line.startswith("cilbuP") else ""
            if rest and not _WM_STRONG.search(rest):
                headers.add(rest)  # the running header printed right after the watermark
            continue
        if in_block and _WM_WEAK.match(line):
            continue
        in_block = False
        out.append(line)
    return out, headers, blocks


def _dehyphenate(items: list[str | int]) -> None:
    """Re-join words broken across lines, in place ("lubri-" + "cation" -> "lubrication")."""
    text = "\n".join(i for i in items if isinstance(i, str)).lower()
    # The vocabulary must not contain the fragments themselves ("lubri", "cation").
    vocab = set(_WORD.findall(_BROKEN.sub(" ", text)))
    hyphenated = set(_HYPHENATED.findall(text))
    prev = -1
    for idx, item in enumerate(items):
        if not isinstance(item, str) or not item:
            continue
        if prev >= 0 and items[prev].endswith("-"):  # type: ignore[union-attr]
            head = items[prev]
            assert isinstance(head, str)
            m_end = _HYPHEN_END.search(head)
            m_start = _WORD_START.match(item)
            if m_end and m_start:
                left, right = m_end.group(1), m_start.group(1)
                joined = (left + right).lower()
                keep = f"{left}-{right}".lower() in hyphenated or (
                    joined not in vocab and left.lower() in vocab and right in vocab
                    and len(left) >= 3 and len(right) >= 3
                )
                # Either way the second half moves up, so "hand-operated" is not left split.
                items[prev] = (head if keep else head[:-1]) + right + m_start.group(2)
                items[idx] = item[m_start.end():]
        prev = idx if items[idx] else prev


def _apart(found: list[tuple[int, int, str | None]]) -> list[tuple[int, int, str | None]]:
    """(start, end, page) matches in order, each one starting after the one before ends."""
    out: list[tuple[int, int, str | None]] = []
    for m in sorted(found, key=lambda m: (m[0], -m[1])):
        if not out or m[0] >= out[-1][1]:
            out.append(m)
    return out


def _page_of(m: re.Match, parity: int) -> str | None:
    """Which number beside a chapter head is its page ("pn2" or "pn1"): the one of the chapters'
    parity, the one after the head first ("2 THE CAR AND ITS OPERATION 5": 5 -- the 2 is a
    figure label's); None when neither has it."""
    for group in ("pn2", "pn1"):
        pn = m.group(group)
        if pn is not None and int(pn) % 2 == parity:
            return group
    return None


def _chapter_span(m: re.Match, group: str) -> tuple[int, int, str]:
    """(start, end, page) of the head and the page number it stands beside: "(Cut No. 13 THE
    FORD TRANSMISSION 35" loses "THE FORD TRANSMISSION 35", not the figure's 13."""
    if group == "pn2":
        return m.start("head"), m.end(), m.group("pn2")
    return m.start(), m.end("head"), m.group("pn1")


class Printed(int):
    """Marker: a page number printed here (header/footer ``lone=False``, bare number ``True``)."""

    lone = False


class LonePrinted(Printed):
    lone = True


def clean_lines(lines: list[Line], paged: bool) -> list[Line]:
    """Normalise, drop furniture, de-hyphenate; assign pages (printed where shown)."""
    counted, page_map = clean_pages(lines, paged)
    return page_map.apply(counted)


def clean_pages(lines: list[Line], paged: bool) -> tuple[list[Line], "PageMap"]:
    """clean_lines with counted pages, and the map to the printed page numbers the furniture
    shows (pages.py; ``PageMap.kind`` is "printed" | "counted" | None for no pages)."""
    texts = normalize_lines([t for _, t in lines])
    pages = [p for p, _ in lines]
    wm_headers: set[str] = set()
    if paged:
        items: list[str | int] = list(texts)
    else:
        items, wm_headers, _blocks = _drop_watermarks(texts)
        pages = [None] * len(items)
    implicit = not paged and not any(isinstance(i, int) for i in items)
    body = [i for i in items if isinstance(i, str)]
    found = header_candidates(body)
    learned = learn_running_headers(body, found)
    learned_re = _header_regex(learned)
    chapter_heads, parity = learn_chapter_heads(body, learned, found)
    chapter_re = _numbered_regex(chapter_heads)
    # Headers seen under a watermark are only dropped as whole lines: the same designator
    # ("TM 9-802") also occurs inside body sentences.
    whole_re = _header_regex(wm_headers)
    out: list[str | int] = []
    out_pages: list[int | None] = []
    for item, page in zip(items, pages):
        if isinstance(item, int):
            out.append(item)
            out_pages.append(page)
            continue
        if whole_re is not None and whole_re.fullmatch(item):
            continue
        pieces: list[str | int] = [item]
        heads = [(m.start(), m.end(), m.group("pn1") or m.group("pn2"))
                 for m in learned_re.finditer(item)] if learned_re is not None else []
        if chapter_re is not None:
            heads += [_chapter_span(m, group) for m in chapter_re.finditer(item)
                      if (group := _page_of(m, parity)) is not None]
        if heads:
            pieces = []
            last = 0
            for a, b, pn in _apart(heads):
                if item[last:a].strip():
                    pieces.append(item[last:a].strip())
                if implicit:
                    pieces.append(NEXT_PAGE)
                if pn and pn.isdigit():
                    pieces.append(Printed(int(pn)))
                last = b
            if item[last:].strip():
                pieces.append(item[last:].strip())
        for piece in pieces:
            if isinstance(piece, str):
                foot = _FOOTER_PN.match(piece)
                if foot:
                    if implicit:
                        out.append(int(foot.group(1) or foot.group(2)))
                        out_pages.append(page)
                    else:
                        out.append(Printed(int(foot.group(1) or foot.group(2))))
                        out_pages.append(page)
                    continue
                if _LONE_PN.match(piece):
                    digits = piece.strip("•·*. ")
                    if not implicit and digits.isdigit():
                        out.append(LonePrinted(int(digits)))
                        out_pages.append(page)
                    continue
            out.append(piece)
            out_pages.append(page)
    _dehyphenate(out)
    return _assign_pages(out, out_pages, paged)


def _assign_pages(items: list[str | int], pages: list[int | None], paged: bool
                  ) -> tuple[list[Line], "PageMap"]:
    """Turn break markers into page numbers. NEXT_PAGE opens the next page; a positive int
    is a "Page N" footer: the lines since the previous break were page N. Printed markers
    become anchors for pages.printed_pages."""
    from nic_edge.engine.ingest.pages import Anchor, PageMap, page_map

    has_breaks = any(isinstance(i, int) and not isinstance(i, Printed) for i in items)
    footers = False
    result: list[list] = []
    anchors: list[tuple[int | None, int, int, bool]] = []  # (counted page, printed, result index, lone)
    current = 1
    page_start = 0
    for item, page in zip(items, pages):
        if isinstance(item, Printed):
            # The page the marker sits on: a footer's before the break, a header's after it.
            at_page = page if paged else (current if has_breaks else None)
            anchors.append((at_page, int(item), len(result), item.lone))
            continue
        if isinstance(item, int):
            if item != NEXT_PAGE:
                for entry in result[page_start:]:
                    entry[0] = item
                current = item + 1
                footers = True
            elif any(e[1] for e in result[page_start:]):  # ignore breaks before any text
                current += 1
            page_start = len(result)
            continue
        result.append([page if paged else (current if has_breaks else None), item])
    # Collapse blank runs: a blank line separates paragraphs, more says nothing.
    compact: list[list] = []
    where: list[int] = []  # result index -> compact index (of the next kept line)
    for page, text in result:
        where.append(len(compact))
        if not text and (not compact or not compact[-1][1]):
            continue
        compact.append([page, text])
    while compact and not compact[-1][1]:
        compact.pop()
    counted = [p for p, _ in compact]
    lines = [(p, t) for p, t in compact]
    if footers:  # "Page N" footers numbered the pages themselves
        return lines, PageMap([], "printed")
    marks = [Anchor(c, number, where[idx] if idx < len(where) else len(compact), lone)
             for c, number, idx, lone in anchors if c is not None]
    return lines, page_map(counted, marks)
