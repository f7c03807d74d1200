"""PDF manuals via ``pypdf`` (a default dependency; the ``pdf`` extra still names it), imported lazily.

Each PDF page's text keeps its 1-based page number; the text then goes through the same
cleanup and heading detection as plain-text manuals. A page set in columns is read column by
column (columns.py; with pypdf 7 or later, older pypdf reads every page as it is written).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Iterator

from nic_edge.engine.ingest.columns import MIN_ROWS, column_text
from nic_edge.engine.ingest.headings import heading_keys, heading_text, line_key
from nic_edge.engine.ingest.structure import Section
from nic_edge.engine.ingest.text import text_sections_kind
from nic_edge.errors import IngestError, MissingDependencyError

log = logging.getLogger(__name__)


def _pypdf():  # type: ignore[no-untyped-def]
    try:
        import pypdf  # noqa: PLC0415 - optional dependency, loaded only for PDFs
    except ImportError as exc:
        raise MissingDependencyError("reading PDF manuals needs the pypdf package",
                                     "pip install pypdf (a nic-edge dependency: reinstall nic-edge)") from exc
    return pypdf


def pdf_pages(data: bytes, name: str) -> list[str]:
    """Text of each page. IngestError for broken, encrypted or image-only PDFs."""
    return _read_pdf(data, name)[0]


def _read_pdf(data: bytes, name: str) -> tuple[list[str], list[set[str]]]:
    """Text of each page and, per page, the keys of its heading lines (headings.py): set in
    larger type, or named by a bookmark that points to the page."""
    with pypdf_notes(name):
        return _read_pdf_noted(data, name)


def _read_pdf_noted(data: bytes, name: str) -> tuple[list[str], list[set[str]]]:
    pypdf = _pypdf()
    hint = "re-export the PDF, or convert it to text (pdftotext) and index the .txt"
    if not data.lstrip().startswith(b"%PDF"):
        raise IngestError(f"{name}: not a PDF file (no %PDF header)", hint)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        # Most protected vendor manuals have only an owner password (no printing/copying): they
        # open with the empty user password. Only a password needed to *open* the file stops us.
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{name}: PDF needs a password to open",
                              "save a copy without an open password (owner-only restrictions are fine)")
        layout_mode = _layout_mode(pypdf)
        read = [_page_text(page, name, n, layout_mode) for n, page in enumerate(reader.pages, 1)]
        pages = [text for text, _ in read]
    except IngestError:
        raise
    except pypdf.errors.DependencyError as exc:  # AES needs cryptography (the pdf extra has it)
        raise MissingDependencyError(f"{name}: this PDF is AES-encrypted; reading it needs the "
                                     f"cryptography package ({exc})", "pip install 'nic-edge[pdf]'") from exc
    except Exception as exc:  # boundary: pypdf raises many types on malformed files
        raise IngestError(f"{name}: cannot parse PDF ({type(exc).__name__}: {exc})", hint) from exc
    if not pages:
        raise IngestError(f"{name}: PDF has no pages", hint)
    if not any(p.strip() for p in pages):
        raise IngestError(f"{name}: PDF has no extractable text (scanned images?)",
                          "run OCR on it first (e.g. ocrmypdf) and index the result")
    keys = heading_keys([pieces for _, pieces in read])
    if layout_mode:
        for n, title in _outline(reader, name):
            if 0 <= n < len(keys) and heading_text(title):
                keys[n].add(line_key(title))
    return pages, keys


class _Notes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first:
            try:
                self.first = " ".join(record.getMessage().split())
            except Exception:  # boundary: a record whose arguments do not fit its format
                self.first = str(record.msg)


@contextlib.contextmanager
def pypdf_notes(name: str) -> Iterator[None]:
    """pypdf's own warnings while a file is read, as one line: it logs one per font or page
    ("fontTools is required to fully parse ..." with the font's whole width table, "Rotated text
    discovered"), 121 lines for a regulator's 15-page notice on `nic-edge index`'s console."""
    logger = logging.getLogger("pypdf")
    notes, propagate = _Notes(), logger.propagate
    logger.addHandler(notes)
    logger.propagate = False
    failed = True
    try:
        yield
        failed = False
    finally:
        logger.removeHandler(notes)
        logger.propagate = propagate
        if notes.count:   # a file that fails says why in its IngestError; these are details then
            first = notes.first if len(notes.first) <= 120 else notes.first[:117] + "..."
            log.log(logging.DEBUG if failed else logging.WARNING, "%s: pypdf noted %d problem(s) in "
                    "it; the text it could read is indexed (first: %s)", name, notes.count, first)


def _outline(reader, name: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(0-based page, title) of every bookmark (pypdf >= 7 bounds the outline's depth, size and
    cycles itself); none when the outline cannot be read."""
    found: list[tuple[int, str]] = []

    def walk(items) -> None:  # type: ignore[no-untyped-def]
        for item in items:
            if isinstance(item, list):
                walk(item)
                continue
            title = getattr(item, "title", None)
            page = reader.get_destination_page_number(item)
            if isinstance(title, str) and isinstance(page, int):
                found.append((page, title))
    try:
        walk(reader.outline)
    except Exception as exc:  # boundary: a malformed outline only loses its headings
        log.debug("%s: outline not read (%s: %s)", name, type(exc).__name__, exc)
    return found


LAYOUT_PYPDF = (7, 0)   # the first pypdf whose layout mode bounds its own grid (see _page_text)


def _layout_mode(pypdf) -> bool:  # type: ignore[no-untyped-def]
    try:
        return tuple(int(p) for p in pypdf.__version__.split(".")[:2]) >= LAYOUT_PYPDF
    except ValueError:
        return False


def _page_text(page, name: str, number: int, layout_mode: bool
               ) -> tuple[str, list[tuple[str, float, bool]]]:  # type: ignore[no-untyped-def]
    """The page's plain extraction, or, where that glues its columns' lines together (or reads
    the right column first), its layout read column by column (columns.py); and its text
    pieces (text, size in points, starts a quarter of the page away from the piece before) with
    pypdf >= 7, for headings.py.

    Layout mode spends a grid row per baseline and a character per few points of width. Before
    pypdf 7 a hostile page (text placed 10^12 points away, or set at a thousandth of a point)
    grew that grid without limit, so older pypdf reads every page plainly; pypdf 7 caps blank
    runs, and columns.py gives up on a grid larger than a real page's. The layout pass costs
    about as much as the plain one (docs/benchmarks/ingest.md); a page of fewer than
    columns.MIN_ROWS lines cannot hold a column block and is spared it. (Text runs' positions
    do not tell which pages could: in a TeX PDF every word is a run.) Older pypdf also reports
    some pieces with a stale text matrix, so their sizes are not trusted either."""
    pieces: list[tuple[str, float, bool]] = []
    last_x = [0.0]
    jump = 0.25 * _page_width(page) if layout_mode else 0.0

    def visit(text, cm, tm, font_dict, font_size):  # type: ignore[no-untyped-def]
        # Consecutive pieces of one size are kept as one (a TeX PDF sets every word apart),
        # unless the next starts a quarter of the page away: the other column's line.
        try:
            size = round(abs(float(font_size or 0.0)) * math.hypot(tm[2] * cm[0] + tm[3] * cm[2],
                                                                    tm[2] * cm[1] + tm[3] * cm[3]), 1)
            x = float(tm[4] * cm[0] + tm[5] * cm[2] + cm[4])
        except (TypeError, ValueError, IndexError, OverflowError):   # a malformed matrix
            size, x = 0.0, last_x[0]
        if not math.isfinite(size) or not math.isfinite(x):
            size, x = 0.0, last_x[0]
        away = bool(pieces) and abs(x - last_x[0]) >= jump
        if pieces and pieces[-1][1] == size and not away:
            pieces[-1] = (pieces[-1][0] + text, size, pieces[-1][2])
        else:
            pieces.append((text, size, away))
        last_x[0] = x
    plain = page.extract_text(visitor_text=visit if layout_mode else None) or ""
    if not layout_mode or plain.count("\n") + 1 < MIN_ROWS:
        return plain, pieces
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except Exception as exc:  # boundary: layout mode is younger and fails where plain does not
        log.debug("%s page %d: no layout text (%s: %s); plain text kept", name, number, type(exc).__name__, exc)
        return plain, pieces
    return column_text(layout, plain) or plain, pieces


def _page_width(page) -> float:  # type: ignore[no-untyped-def]
    """The page's width in points; US Letter's when its /MediaBox is broken (a page whose plain
    text reads must not fail on what only the heading rule asks for)."""
    try:
        width = float(page.mediabox.width)
    except Exception:  # boundary: pypdf raises ValueError and others on malformed boxes
        return 612.0
    return width if math.isfinite(width) and width > 0 else 612.0


def parse_pdf(data: bytes, name: str) -> list[Section]:
    return parse_pdf_kind(data, name)[0]


def parse_pdf_kind(data: bytes, name: str) -> tuple[list[Section], str | None]:
    """Sections and page kind: PDF page numbers are counted unless headers/footers print them.
    Lines set larger than the body text, and lines that a bookmark names on its page, are
    headings (headings.py)."""
    pages, keys = _read_pdf(data, name)
    lines = [(n, line) for n, page in enumerate(pages, 1) for line in page.split("\n")]
    marked = {(n, key) for n, page_keys in enumerate(keys, 1) for key in page_keys}
    return text_sections_kind(lines, paged=True, marked=marked)
