"""Ingest: read a manual file into Documents of cited Chunks (see nic_edge/engine/document.py).

``load_documents(path)`` is the API the indexer uses: one Document per file, or one per record
for BEIR ``.jsonl``. Bad files raise ``IngestError`` (message + hint), never anything else;
a missing optional dependency (pypdf) raises ``MissingDependencyError``. ``load_file`` gives
the same plus file-level warnings and the duplicate ``_id`` count.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from nic_edge.engine.document import Document
from nic_edge.errors import IngestError

log = logging.getLogger(__name__)

KINDS = {
    ".txt": "text", ".text": "text",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "rst",
    ".adoc": "asciidoc", ".asciidoc": "asciidoc",
    ".html": "html", ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".odt": "odt",
    ".jsonl": "beir",
}
SUPPORTED_SUFFIXES = tuple(KINDS)
# What parsing yields from a file's bytes. Bump it whenever a change to ingest can change the
# chunks of a file it already read (headings found, text kept): `nic-edge index` then reads
# every indexed file again once, instead of keeping the old cut of a file whose bytes did not
# change. Chunks that come out the same keep their vectors (indexer: nothing is re-embedded).
# ingest-2: decimal-numbered headings ("3.2 Replacing the filter"), title lines of manuals with no
# other heading scheme (titles.py), page furniture, encodings.
# ingest-3: PDF pages (and explicit pages of text, as `pdftotext -layout` writes them) set in two
# or three columns are read column by column (columns.py); PDF
# lines set larger than the body text, or named by a bookmark, are headings (headings.py).
# ingest-4: a PDF page whose plain extraction already reads its columns one after the other, left
# first, keeps it; the rows under a title block are no longer lost to it (columns.py); a
# paragraph's first line in a narrow column is no title line, a headline over one is (titles.py).
# ingest-5: an HTML page's surroundings (ARIA navigation, search, menus, banner and footer roles,
# hidden parts, form controls, a footer outside any article) are not indexed (html.py).
# ingest-6: Markdown as its site renders it (mdsite.py): template tags, attribute lists and
# admonition markers go, a box keeps its title; escapes and entities are the characters they
# stand for; a thematic break is no text; fences inside list items and boxes are code; .mdx pages.
# ingest-7: Word documents (.docx, docx.py); reStructuredText (.rst, rst.py); OpenDocument
# text (.odt, odt.py).
# ingest-8: lines of markup that never closes are read in one pass (delimited.py; links keep their
# words when the address holds brackets, "<bus\\><a ...>" is text and a tag, a Sphinx role's
# "~a.b" shows "b"); AsciiDoc (.adoc, adoc.py).
# ingest-9: an AsciiDoc table's header row (options="header", or its implicit header: a first line
# followed by a blank one) is marked with a Markdown rule after it (adoc_table.py).
# ingest-10: an AsciiDoc table cell that holds text (not an "a" cell) shows a line in brackets
# as written ("| [pi4] | Model 4B |"); it was taken for a block attribute line and dropped.
# ingest-11: table cells that span rows or columns (HTML, Word, OpenDocument) are laid out as
# drawn (a row's key repeated in each row it spans, a header of several rows merged per column:
# tablegrid.py); an HTML table written as a block of a Markdown page is read as a table.
# ingest-12: reStructuredText grid tables read cell by cell (rst_grid.py): a cell over several
# lines is one cell, the rows above a "+===+" border a header; each line was a row before.
# ingest-13: an OpenDocument cell or row written once for a run of equal ones
# (``table:number-columns-repeated`` / ``-rows-repeated``) is read as many times as it stands for.
INGEST_VERSION = "ingest-13"


@dataclass
class IngestResult:
    documents: list[Document]
    warnings: list[str] = field(default_factory=list)  # file-level (e.g. skipped JSONL lines)
    duplicates_replaced: int = 0  # JSONL records replaced by a later one with the same _id

    @property
    def chunk_count(self) -> int:
        return sum(len(d.chunks) for d in self.documents)


def kind_of(path: Path) -> str:
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise IngestError(f"{path.name}: unsupported file type {path.suffix or '(none)'}",
                          "supported: " + ", ".join(SUPPORTED_SUFFIXES))
    return kind


def _check_name(path: Path) -> None:
    """A file name that is not valid UTF-8 (a Latin-1 name copied from an old card or zip)
    reaches Python as lone surrogates, which the index, JSON answers and the page cannot carry:
    the file is skipped by name instead of failing the whole run."""
    try:
        str(path.resolve()).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")  # bad\xffname.txt
        raise IngestError(f"{shown}: file or folder name is not valid UTF-8",
                          "rename it (e.g. `convmv -f latin1 -t utf8 --notest FILE`)") from None


_HTML_START = re.compile(rb"(?i)(?:\xef\xbb\xbf)?\s*(?:<!doctype\s+html|<html[\s>])")


def _sniffed(kind: str, data: bytes, name: str) -> str:
    """The kind the bytes show where the name says text: a PDF or a saved web page renamed to
    .txt (or "manual.pdf.txt") was indexed as text and answers quoted PDF operators ("BT /F1 10
    Tf ... Tj ET") or markup; an RTF document is named for what it is."""
    head = data[:1024]
    if kind != "pdf" and head.lstrip().startswith(b"%PDF-"):
        return "pdf"
    if kind == "text" and _HTML_START.match(head):
        return "html"
    if kind in ("text", "markdown", "rst", "asciidoc") and head.lstrip().startswith(b"{\\rtf"):
        raise IngestError(f"{name}: an RTF document, not plain text",
                          "save it as plain text (.txt) or PDF from the word processor")
    if kind not in ("pdf", "docx", "odt") and head.startswith(b"PK\x03\x04"):
        from nic_edge.engine.ingest.docx import is_docx
        from nic_edge.engine.ingest.odt import is_odt

        if is_docx(data):
            return "docx"
        if is_odt(data):
            return "odt"
        raise IngestError(f"{name}: a ZIP archive (a .zip renamed?), not text",
                          "save the document as .docx, .odt, PDF or plain text (.txt), or unpack "
                          "the archive")
    if kind in ("docx", "odt") and head.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError(f"{name}: a document with a password, or an old .doc renamed",
                          "save it as .docx or .odt without a password, or as PDF")
    return kind


def load_file(path: Path) -> IngestResult:
    """Read and chunk one manual file."""
    # Imported here so `import nic_edge.engine.ingest` stays cheap for CLI paths.
    from nic_edge.engine.ingest.chunking import chunk_sections
    from nic_edge.engine.ingest.text import decode_text, parse_text_kind, read_bytes

    path = Path(path)
    _check_name(path)
    kind = kind_of(path)
    data = read_bytes(path)
    name = path.name
    kind = _sniffed(kind, data, name)
    digest = hashlib.sha256(data).hexdigest()
    if kind == "beir":
        from nic_edge.engine.ingest.beir import parse_beir

        result = parse_beir(decode_text(data, name), name)
        if result.warnings:
            # The agreed Document API has no file-level slot: the first record carries them.
            result.documents[0].warnings.extend(result.warnings)
        return IngestResult(result.documents, result.warnings, result.duplicates_replaced)
    page_kind: str | None = None
    includes_only = False
    if kind == "pdf":
        from nic_edge.engine.ingest.pdf import parse_pdf_kind

        sections, page_kind = parse_pdf_kind(data, name)
    elif kind == "docx":
        from nic_edge.engine.ingest.docx import parse_docx

        sections = parse_docx(data, name)
        del data
    elif kind == "odt":
        from nic_edge.engine.ingest.odt import parse_odt

        sections = parse_odt(data, name)
        del data
    else:
        # the bytes are not needed once decoded: a large manual is not held twice while parsing
        text = decode_text(data, name)
        del data
        if kind == "markdown":
            from nic_edge.engine.ingest.markdown import parse_markdown

            sections = parse_markdown(text, mdx=path.suffix.lower() == ".mdx")
        elif kind == "rst":
            from nic_edge.engine.ingest.rst import parse_rst

            sections = parse_rst(text)
        elif kind == "asciidoc":
            from nic_edge.engine.ingest.adoc import parse_adoc

            sections = parse_adoc(text)
            includes_only = "include::" in text
        elif kind == "html":
            from nic_edge.engine.ingest.html import parse_html

            sections = parse_html(text)
        else:
            sections, page_kind = parse_text_kind(text)
        del text
    chunks = chunk_sections(sections, name)
    if not chunks and kind == "asciidoc" and includes_only:
        raise IngestError(f"{name}: only include:: lines, no text of its own",
                          "index the folder that holds the files it includes; each is read as itself")
    if not chunks:
        raise IngestError(f"{name}: no text left after cleanup",
                          "check the file holds the manual text (not only images or markup)")
    doc = Document(name, chunks, digest, kind, page_kind=page_kind)
    log.debug("ingested %s: %d chunks, %d sections", name, len(chunks), len(doc.sections))
    return IngestResult([doc])


def text_size(path: Path) -> int:
    """About how much text a file holds, for the indexer's memory estimate: its size, or for a
    .docx the text its packed XML unpacks to."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    if path.suffix.lower() in (".docx", ".odt"):
        from nic_edge.engine.ingest import package

        part = "word/document.xml" if path.suffix.lower() == ".docx" else "content.xml"
        return max(size, (package.member_size(path, part) or 0) // 4)   # XML is 4-10 x its text
    return size


def load_documents(path: Path) -> list[Document]:
    """Documents of one manual file (BEIR .jsonl: one per record). Raises IngestError."""
    return load_file(path).documents


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to ingest: files as given, directories walked for supported suffixes (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*")
                              if f.is_file() and f.suffix.lower() in KINDS))
        else:
            out.append(p)
    return out


__all__ = ["IngestResult", "SUPPORTED_SUFFIXES", "expand_paths", "kind_of", "load_documents",
           "load_file", "text_size"]
