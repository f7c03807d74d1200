"""Plain-text manuals, including OCR output of scanned manuals; shared file reading.

Pages come from form feeds (``\\f``), ``--- PAGE n ---`` markers (text exported from PDF), or,
failing both, from the page furniture the OCR cleanup recognises (see ocr.py). A page of the
first two kinds set in columns (``pdftotext -layout`` keeps a PDF's columns side by side) is read
column by column (columns.py).
"""

from __future__ import annotations

import codecs
import functools
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from nic_edge.engine.ingest import ocr
from nic_edge.engine.ingest.structure import (
    HEADING_MARK,
    Section,
    build_sections,
    clean_heading,
    detect_headings,
    is_qa_manual,
    mark_qa_headings,
)
from nic_edge.errors import IngestError

_SNIFF_BYTES = 65536
_MAX_CONTROL_RATIO = 0.01
_PAGE_MARKER = re.compile(r"^[ \t]*-{2,}[ \t]*PAGE[ \t]+(\d{1,5})[ \t]*-{2,}[ \t]*$", re.M | re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_UTF8_CHAR = re.compile("[^\x00-\x7f\udc80-\udcff]")  # non-ASCII characters that were UTF-8


def read_bytes(path: Path) -> bytes:
    """The file's bytes, or IngestError (missing, unreadable, a directory, empty)."""
    try:
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise IngestError(f"{path}: is a directory", "pass the files inside it") from exc
    except FileNotFoundError as exc:
        raise IngestError(f"{path}: no such file", "check the path") from exc
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror or exc})",
                          "check the file permissions and the storage medium") from exc
    if not data.strip():
        raise IngestError(f"{path}: file is empty", "export the manual again; nothing to index")
    return data


def _utf16_without_bom(sample: bytes) -> str | None:
    """"utf-16-le"/"utf-16-be" when NUL bytes sit on one side of (nearly) every pair, as in
    English or European text saved as UTF-16 without a byte-order mark; None otherwise."""
    pairs = len(sample) // 2
    if pairs < 8:
        return None
    even, odd = sample[0:2 * pairs:2].count(0), sample[1:2 * pairs:2].count(0)
    if odd >= 0.3 * pairs and even <= 0.01 * pairs:
        return "utf-16-le"
    if even >= 0.3 * pairs and odd <= 0.01 * pairs:
        return "utf-16-be"
    return None


@functools.cache
def _cp1252_of_escaped() -> dict[int, str]:
    return {0xDC00 + b: bytes([b]).decode("cp1252", errors="replace") for b in range(0x80, 0x100)}


def _not_utf8(data: bytes) -> str:
    """Text that is not valid UTF-8: Windows-1252 (old OCR exports; every byte maps to
    something), unless it holds valid UTF-8 sequences, at least one per four invalid bytes: a
    UTF-8 manual with some Windows-1252 bytes pasted in (a note appended in Notepad). Decoding
    all of that as Windows-1252 turned every "°C" and "µA" of it into "Â°C" and "ÂµA"; each
    invalid byte alone is read as Windows-1252 instead. (In real Windows-1252 text a valid UTF-8
    sequence needs a letter such as "Ö" right before a symbol such as "’": next to none.)"""
    mixed = data.decode("utf-8", errors="surrogateescape")  # invalid byte b -> U+DC00+b
    bad = len(_ESCAPED.findall(mixed))
    if 4 * len(_UTF8_CHAR.findall(mixed)) >= bad:
        return mixed.translate(_cp1252_of_escaped()).removeprefix("\ufeff")
    return data.decode("cp1252", errors="replace")


def decode_text(data: bytes, name: str) -> str:
    """Decode manual text; refuse binary data with a clear message."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE 00 00
        text = data.decode("utf-32", errors="replace")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data[:_SNIFF_BYTES] and (utf16 := _utf16_without_bom(data[:_SNIFF_BYTES])):
        text = data.decode(utf16, errors="replace")
    elif b"\x00" in data.rstrip(b"\x00")[:_SNIFF_BYTES]:
        # (NULs only at the end are padding: a copy cut short by a power loss on an SD card)
        raise IngestError(f"{name}: looks like a binary file (NUL bytes), not text",
                          "convert it to .txt, .md, .rst, .adoc, .html, .pdf, .docx or .odt first")
    else:
        data = data.rstrip(b"\x00")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _not_utf8(data)
    sample = text[:_SNIFF_BYTES]
    if sample and len(_CONTROL.findall(sample)) > _MAX_CONTROL_RATIO * len(sample):
        raise IngestError(f"{name}: mostly non-text bytes, not a text manual",
                          "convert it to .txt, .md, .rst, .adoc, .html, .pdf, .docx or .odt first")
    if "\ufeff" in text:  # byte-order marks of files joined with `cat`: not text, and one hid a heading
        text = text.replace("\ufeff", "")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_pages(text: str) -> tuple[list[tuple[int | None, str]], bool]:
    """Lines with their page, and whether the pages were explicit in the text."""
    if "\f" in text:
        return [(n, line) for n, page in enumerate(text.split("\f"), 1)
                for line in page.split("\n")], True
    markers = list(_PAGE_MARKER.finditer(text))
    if markers:
        lines: list[tuple[int | None, str]] = []
        pieces = [(1, text[:markers[0].start()])]
        for m, nxt in zip(markers, markers[1:] + [None]):
            pieces.append((int(m.group(1)), text[m.end(): nxt.start() if nxt else len(text)]))
        for page, piece in pieces:
            lines.extend((page, line) for line in piece.split("\n"))
        return lines, True
    return [(None, line) for line in text.split("\n")], False


def apply_qa_headings(lines: list[tuple[int | None, str]]) -> list[tuple[int | None, str]]:
    """Run Q&A heading marking page by page (questions rarely straddle a page break)."""
    if not is_qa_manual("\n".join(line for _, line in lines)):
        return lines
    out: list[tuple[int | None, str]] = []
    for page, run in _page_runs(lines):
        text = mark_qa_headings("\n".join(line for _, line in run))
        out.extend((page, line.strip() if not line.startswith(HEADING_MARK) else line)
                   for line in text.split("\n"))
    return out


def _page_runs(lines: list[tuple[int | None, str]]
               ) -> Iterator[tuple[int | None, list[tuple[int | None, str]]]]:
    """(page, its lines) for each run of consecutive lines on one page."""
    for page, run in itertools.groupby(lines, key=lambda item: item[0]):
        yield page, list(run)


def text_sections(lines: list[tuple[int | None, str]], paged: bool) -> list[Section]:
    """The manual-text pipeline shared by .txt and .pdf: clean, find headings, group."""
    return text_sections_kind(lines, paged)[0]


def text_sections_kind(lines: list[tuple[int | None, str]], paged: bool,
                       marked: set[tuple[int, str]] | None = None) -> tuple[list[Section], str | None]:
    """text_sections plus the page kind: "printed" where the manual's own page numbers were
    found in its headers/footers, "counted" otherwise, None without pages (ocr.clean_pages).
    ``marked``: (counted page, headings.line_key) of lines known to be headings (a PDF's type
    sizes and bookmarks); a line matches with or without its leading section number."""
    if paged:
        from nic_edge.engine.ingest.furniture import drop_running_lines
        lines = drop_running_lines(lines)
    cleaned, page_map = ocr.clean_pages(lines, paged)
    # Q&A headings are marked per counted page, before counted pages become printed ones.
    cleaned = page_map.apply(_mark(apply_qa_headings(cleaned), marked))
    return build_sections(detect_headings(cleaned)), page_map.kind


def _mark(lines: list[tuple[int | None, str]], marked: set[tuple[int, str]] | None
          ) -> list[tuple[int | None, str]]:
    if not marked:
        return lines
    from nic_edge.engine.ingest.headings import WRAPPED_WORDS, line_keys
    out = list(lines)
    for idx, (page, line) in enumerate(lines):
        if not line or line.startswith(HEADING_MARK):
            continue
        if not any(key and (page, key) in marked for key in line_keys(line)):
            continue
        nxt = next((text.strip() for p, text in lines[idx + 1:idx + 3] if p == page and text.strip()), "")
        if len(line.split()) > WRAPPED_WORDS and nxt[:1].islower():
            continue   # the first line of a paragraph set large
        out[idx] = (page, HEADING_MARK + clean_heading(line))
    return out


def parse_text(text: str) -> list[Section]:
    return parse_text_kind(text)[0]


def parse_text_kind(text: str) -> tuple[list[Section], str | None]:
    lines, paged = split_pages(text)
    return text_sections_kind(read_columns(lines) if paged else lines, paged)


def read_columns(lines: list[tuple[int | None, str]]) -> list[tuple[int | None, str]]:
    """Each page set in columns (`pdftotext -layout` text keeps a PDF's columns side by side)
    read column by column (columns.py); other pages as they are."""
    from nic_edge.engine.ingest.columns import column_text
    out: list[tuple[int | None, str]] = []
    for page, run in _page_runs(lines):
        text = column_text("\n".join(line for _, line in run))
        out.extend(run if text is None else [(page, line) for line in text.split("\n")])
    return out
