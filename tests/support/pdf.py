"""A small PDF writer for tests: pages of text runs placed where a layout program would put
them, written to the content stream in the order given (so a test chooses whether a two-column
page is written column by column or line by line across the page); and a switch that reads
PDFs as before ingest-3, for the tools that compare both readings."""

from __future__ import annotations

import contextlib
import textwrap
from typing import Iterator, Sequence

Run = tuple[float, float, float, str]   # x, y (points from the bottom left), font size, text


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: Sequence[Sequence[Run]], width: int = 612, height: int = 792,
             outline: Sequence[tuple[str, int]] = ()) -> bytes:
    """PDF bytes, Helvetica (a standard font: nothing embedded), one content stream per page.
    Text is WinAnsi (Windows-1252); other characters become "?". ``outline``: bookmarks, each
    (title, 0-based page index), one level."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 1 + 2 * len(pages)
    kids = []
    for runs in pages:
        ops = "".join(f"BT /F1 {size} Tf 1 0 0 1 {x} {y} Tm ({_escape(text)}) Tj ET\n"
                      for x, y, size, text in runs).encode("cp1252", "replace")
        content = add(b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"endstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                        b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                        % (pages_id, width, height, font, content)))
    kid_refs = b" ".join(b"%d 0 R" % k for k in kids)
    assert add(b"<< /Type /Pages /Kids [" + kid_refs + b"] /Count %d >>" % len(kids)) == pages_id
    extra = b""
    if outline:
        first = len(objects) + 2
        items = len(outline)
        root = add(b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>"
                   % (first, first + items - 1, items))
        for i, (title, page) in enumerate(outline):
            links = (b" /Prev %d 0 R" % (first + i - 1) if i else b"") + (
                b" /Next %d 0 R" % (first + i + 1) if i + 1 < items else b"")
            add(b"<< /Title (" + _escape(title).encode("cp1252", "replace") + b") /Parent %d 0 R /Dest [%d 0 R /Fit]"
                % (root, kids[page]) + links + b" >>")
        extra = b" /Outlines %d 0 R" % root
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R" % pages_id + extra + b" >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)


def column(sections: Sequence[tuple[str, str]], x: float, top: float = 720, chars: int = 44) -> list[Run]:
    """One text column: each heading (12 pt) and its body wrapped at ``chars`` (10 pt)."""
    runs: list[Run] = []
    y = top
    for heading, body in sections:
        runs.append((x, y, 12, heading))
        y -= 16
        for line in textwrap.wrap(body, chars):
            runs.append((x, y, 10, line))
            y -= 13
        y -= 8
    return runs


def across(*columns: Sequence[Run]) -> list[Run]:
    """The columns' runs in the order a line-by-line generator writes them: top to bottom,
    each baseline left to right."""
    return sorted((r for c in columns for r in c), key=lambda r: (-r[1], r[0]))


@contextlib.contextmanager
def pdf_rules_off() -> Iterator[None]:
    """Within it, PDFs are read as before ingest-3: pypdf's plain extraction and the text rules
    only (no layout pass, no type sizes, no bookmarks: the pypdf >= 7 gate says no)."""
    from nic_edge.engine.ingest import pdf
    saved = pdf._layout_mode
    pdf._layout_mode = lambda _pypdf: False  # type: ignore[assignment]
    try:
        yield
    finally:
        pdf._layout_mode = saved  # type: ignore[assignment]
