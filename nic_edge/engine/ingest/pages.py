"""Printed page numbers: map counted pages to the numbers the manual prints on them.

OCR cleanup (ocr.py) counts pages in physical order (form feeds, PDF pages, scanner watermark
blocks, or running headers) and reports *anchors*: a running header or footer carrying a plain
page number ("22 THE FORD MANUAL"), or a lone number at the top or bottom of a counted page
(TM 9-802 prints "24" under its watermark block). An anchor says "counted page c is printed
page n". OCR garbles some of them ("4 THE FORD MANUAL" on page 14), so only the longest run of
anchors whose numbers do not decrease with the counted page is trusted, and only when it holds
at least ``MIN_ANCHORS`` and half of the candidates.

Between two trusted anchors the printed page is interpolated by the line's position: exact
where every page carries its number (n grows by one per counted page), an estimate within a
page or so where the scan shows a number only every few pages (the Ford manual's running head
is on left-hand pages only). Before the first and after the last anchor the median pages per
counted page extrapolates; a page that would fall before 1 (front matter) gets no number.
Chapter-page numbers ("2-165") are not integers and stay counted.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from statistics import median

MIN_ANCHORS = 3
LONE_ZONE = 2  # a lone number counts as a page number within this many lines of a page edge


@dataclass(frozen=True)
class Anchor:
    counted: int   # the counted page it sits on
    printed: int   # the number printed there
    line: int      # index of the first line after it (position within the page)
    lone: bool     # a bare number (weaker than a running header or "Page N" footer)


def _page_spans(counted: list[int | None]) -> dict[int, tuple[int, int]]:
    spans: dict[int, tuple[int, int]] = {}
    for i, c in enumerate(counted):
        if c is not None:
            a, _ = spans.get(c, (i, i))
            spans[c] = (a, i + 1)
    return spans


def _trusted(anchors: list[Anchor], spans: dict[int, tuple[int, int]]) -> list[Anchor]:
    heads = [a for a in anchors if not a.lone]
    if not heads:  # lone numbers only where headers and footers sit
        heads = [a for a in anchors if a.counted in spans
                 and (a.line - spans[a.counted][0] <= LONE_ZONE or spans[a.counted][1] - a.line <= LONE_ZONE)]
    first: dict[int, Anchor] = {}
    for a in heads:
        first.setdefault(a.counted, a)
    cands = [first[c] for c in sorted(first)]
    # Longest non-decreasing run of printed numbers (patience sorting, O(n log n)): a scan can
    # split one printed page into two counted pages (a watermark block at its top and bottom).
    tails: list[int] = []
    tail_idx: list[int] = []
    prev = [-1] * len(cands)
    for i, a in enumerate(cands):
        k = bisect.bisect_right(tails, a.printed)
        if k == len(tails):
            tails.append(a.printed)
            tail_idx.append(i)
        else:
            tails[k] = a.printed
            tail_idx[k] = i
        prev[i] = tail_idx[k - 1] if k else -1
    run: list[Anchor] = []
    i = tail_idx[-1] if tail_idx else -1
    while i >= 0:
        run.append(cands[i])
        i = prev[i]
    run.reverse()
    if len(run) < MIN_ANCHORS or len(run) < 0.5 * len(cands):
        return []
    return run


class PageMap:
    """Turns counted pages into printed ones (from the trusted anchors) for any later version
    of the same lines: Q&A heading marking re-splits lines within a counted page, so the
    mapping is applied after it (interpolation uses counted pages and line positions only)."""

    def __init__(self, run: list[Anchor], kind: str | None) -> None:
        self.run = run
        self.kind = kind

    def apply(self, lines: list[tuple[int | None, str]]) -> list[tuple[int | None, str]]:
        if not self.run:
            return lines
        numbers = _interpolate([p for p, _ in lines], self.run)
        return [(n, t) for n, (_, t) in zip(numbers, lines)]


def page_map(counted: list[int | None], anchors: list[Anchor]) -> PageMap:
    """The mapping for these counted pages: "printed" with trusted anchors, else "counted"
    (None when no line has a page)."""
    spans = _page_spans(counted)
    run = _trusted(anchors, spans) if anchors else []
    return PageMap(run, "printed" if run else ("counted" if spans else None))


def printed_pages(counted: list[int | None], anchors: list[Anchor]) -> tuple[list[int | None], str | None]:
    """Per-line page numbers and their kind (page_map applied to the same lines)."""
    pm = page_map(counted, anchors)
    return ([p for p, _ in pm.apply([(c, "") for c in counted])], pm.kind)


def _interpolate(counted: list[int | None], run: list[Anchor]) -> list[int | None]:
    spans = _page_spans(counted)
    xs = [float(a.counted) for a in run]
    ns = [float(a.printed) for a in run]
    slopes = [(n2 - n1) / (x2 - x1) for x1, x2, n1, n2 in zip(xs, xs[1:], ns, ns[1:]) if x2 > x1]
    slope = median(slopes) if slopes else 1.0
    out: list[int | None] = []
    for i, c in enumerate(counted):
        if c is None:
            out.append(None)
            continue
        a, b = spans[c]
        x = c + (i - a) / max(1, b - a)
        k = bisect.bisect_right(xs, x) - 1
        if k < 0:
            p = ns[0] - (xs[0] - x) * slope
        elif k >= len(xs) - 1:
            p = ns[-1] + (x - xs[-1]) * slope
        else:
            p = ns[k] + (x - xs[k]) * (ns[k + 1] - ns[k]) / (xs[k + 1] - xs[k])
        page = math.floor(p + 1e-9)
        out.append(page if page >= 1 else None)
    return out
