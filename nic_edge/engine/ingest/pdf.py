"""PDF manuals via ``pypdf`` (a default dependency; the ``pdf`` extra still names it), imported lazily.

Each PDF page's text keeps its 1-based page number; the text then goes through the same
cleanup and heading detection as plain-text manuals. A page set in columns is read column by
column (columns.py; with pypdf 7 or later, older pypdf reads every page as it is written).
"""

from __future__ import annotations

import io
import logging

from nic_edge.engine.ingest.columns import MIN_ROWS, column_text
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
        pages = [_page_text(page, name, n, layout_mode) for n, page in enumerate(reader.pages, 1)]
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
    return pages


LAYOUT_PYPDF = (7, 0)   # the first pypdf whose layout mode bounds its own grid (see _page_text)


def _layout_mode(pypdf) -> bool:  # type: ignore[no-untyped-def]
    try:
        return tuple(int(p) for p in pypdf.__version__.split(".")[:2]) >= LAYOUT_PYPDF
    except ValueError:
        return False


def _page_text(page, name: str, number: int, layout_mode: bool) -> str:  # type: ignore[no-untyped-def]
    """The page's plain extraction, or its layout read column by column (columns.py).

    Layout mode spends a grid row per baseline and a character per few points of width. Before
    pypdf 7 a hostile page (text placed 10^12 points away, or set at a thousandth of a point)
    grew that grid without limit, so older pypdf reads every page plainly; pypdf 7 caps blank
    runs, and columns.py gives up on a grid larger than a real page's. The layout pass costs
    about as much as the plain one (docs/benchmarks/ingest.md); a page of fewer than
    columns.MIN_ROWS lines cannot hold a column block and is spared it. (Text runs' positions
    do not tell which pages could: in a TeX PDF every word is a run.)"""
    plain = page.extract_text() or ""
    if not layout_mode or plain.count("\n") + 1 < MIN_ROWS:
        return plain
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except Exception as exc:  # boundary: layout mode is younger and fails where plain does not
        log.debug("%s page %d: no layout text (%s: %s); plain text kept", name, number, type(exc).__name__, exc)
        return plain
    return column_text(layout) or plain


def parse_pdf(data: bytes, name: str) -> list[Section]:
    return parse_pdf_kind(data, name)[0]


def parse_pdf_kind(data: bytes, name: str) -> tuple[list[Section], str | None]:
    """Sections and page kind: PDF page numbers are counted unless headers/footers print them."""
    pages = pdf_pages(data, name)
    lines = [(n, line) for n, page in enumerate(pages, 1) for line in page.split("\n")]
    return text_sections_kind(lines, paged=True)
