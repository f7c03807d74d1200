"""Word manuals (.docx, Office Open XML) with the standard library: zipfile and a streaming XML
reader, no extra package.

What the document shows is what is indexed:
- a paragraph in a heading style ("heading 1".."heading 9" by the style's built-in name, so a
  German "Überschrift 1" is one too; "Title"; or any style or paragraph with an outline level)
  is a section heading;
- list paragraphs get the number or bullet Word draws before them ("1.", "2.", "a)", "-"),
  counted per list and level as Word counts them (numbering.xml), so a procedure's steps read
  as numbered steps;
- a table is one line a row, its cells between pipes (the reader tells a header row by its
  words, as in a text manual's table); a merged cell is repeated in each row it spans down and
  followed by empty cells for the columns it spans across, so each row reads on its own;
- tabs and line breaks inside a paragraph are spaces and line ends; deleted text of tracked
  changes, field codes, and the fallback copy of a text box (Word stores a second copy for old
  readers) are not text; comments, footnotes, headers and footers (page furniture) are other
  parts of the file and are not read.

A hostile or damaged file is refused with a reason: a ZIP without a Word document in it, a
document part that unpacks to more than ``MAX_PART_BYTES`` (read no further, whatever its
header claims: a ZIP bomb), XML with a DOCTYPE (Word never writes one; entity tricks need
one), or XML that does not parse. The document part is streamed: what is held at once is one
paragraph or table, and elements nested thousands deep are walked without recursion.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from typing import Iterable, Iterator

from nic_edge.engine.ingest import package
from nic_edge.engine.ingest.package import MAX_PART_BYTES, MAX_SIDE_BYTES

from nic_edge.engine.ingest.docx_styles import Numbering, Styles, W, int_val
from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings
from nic_edge.engine.ingest.tablegrid import MAX_COLSPAN, MAX_ROWSPAN, Cell, pipe_rows
from nic_edge.errors import IngestError

_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_OFFICE_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_EXT = ".docx"
_SKIPPED = frozenset({W + "delText", W + "instrText", W + "delInstrText", W + "del",
                      W + "moveFrom", _MC + "Fallback", W + "footnoteReference",
                      W + "commentReference", W + "pPr", W + "rPr", W + "sectPr", W + "tblPr",
                      W + "trPr", W + "tcPr", W + "tblGrid"})
def _main_part(zf: zipfile.ZipFile, name: str) -> str:
    """The path of the main document part, from the package relationships (word/document.xml
    in practice)."""
    rels = package.part(zf, "_rels/.rels", name, _EXT, MAX_SIDE_BYTES)
    if rels is not None:
        for rel in package.parse(rels, "_rels/.rels", name, _EXT).iter(_REL + "Relationship"):
            if rel.get("Type") == _OFFICE_DOC and rel.get("Target"):
                return rel.get("Target", "").lstrip("/")
    return "word/document.xml"


def _text(el: ET.Element) -> str:
    """The text a paragraph (or a run, hyperlink, content control...) shows. Walked with a
    stack, not recursion: a hostile file nests elements thousands deep."""
    out: list[str] = []
    stack: list[ET.Element | str] = list(reversed(list(el)))
    while stack:
        child = stack.pop()
        if isinstance(child, str):   # the line end after a text box's paragraph
            out.append(child)
            continue
        tag = child.tag
        if tag in _SKIPPED:
            continue
        if tag == W + "t":
            out.append(child.text or "")
        elif tag in (W + "tab", W + "ptab"):
            out.append(" ")
        elif tag in (W + "br", W + "cr"):
            out.append("\n" if child.get(W + "type") in (None, "textWrapping") else " ")
        elif tag == W + "noBreakHyphen":
            out.append("-")
        elif tag == W + "sym":
            char = child.get(W + "char") or ""
            code = int(char, 16) if re.fullmatch(r"[0-9A-Fa-f]{2,4}", char) else 0
            # a symbol font's private codes (F0xx) have no character; nor has a surrogate
            out.append(chr(code) if code >= 0x20 and not 0xF000 <= code < 0xF100
                       and not 0xD800 <= code < 0xE000 else "")
        elif tag == W + "p":   # a paragraph inside a text box
            out.append("\n")
            stack.append("\n")
            stack.extend(reversed(list(child)))
        else:
            stack.extend(reversed(list(child)))
    return "".join(out)


def _para_props(p: ET.Element, styles: Styles) -> tuple[int, tuple[str, int] | None, str]:
    """(heading level or 0, (list id, level) or None, style id) of a paragraph."""
    ppr = p.find(W + "pPr")
    style = ""
    level = 0
    num: tuple[str, int] | None = None
    if ppr is not None:
        st = ppr.find(W + "pStyle")
        style = (st.get(W + "val") or "") if st is not None else ""
        outline = ppr.find(W + "outlineLvl")
        if outline is not None and int_val(outline, 9) < 9:
            level = int_val(outline, 9) + 1
        npr = ppr.find(W + "numPr")
        if npr is not None:
            nid, ilvl = npr.find(W + "numId"), npr.find(W + "ilvl")
            if nid is not None:
                num = (nid.get(W + "val") or "0", int_val(ilvl, 0, 0, 8))
    level = level or styles.level.get(style, 0)
    if num is None:
        num = styles.num.get(style)
    return level, num, style


def _blocks(top: Iterable[ET.Element]) -> Iterator[ET.Element]:
    """Paragraphs and tables in reading order (content controls opened, a table of contents
    left out: its entries repeat the headings with page numbers). A stack, not recursion, for
    content controls nested deep."""
    stack: list[ET.Element] = list(reversed(list(top)))
    while stack:
        child = stack.pop()
        if child.tag in (W + "p", W + "tbl"):
            yield child
        elif child.tag == W + "sdt" and any("contents" in (g.get(W + "val") or "").lower()
                                           for g in child.iter(W + "docPartGallery")):
            continue
        elif child.tag in (W + "sdt", W + "customXml", W + "ins", W + "moveTo"):
            content = child.find(W + "sdtContent") if child.tag == W + "sdt" else child
            if content is not None:
                stack.extend(reversed(list(content)))


def _table_lines(tbl: ET.Element) -> list[str]:
    """A table's own rows (a table nested in a cell is that cell's text), merged cells laid out
    as Word draws them (tablegrid.py): a cell merged down (``w:vMerge``) is repeated in each row
    it covers, one merged across (``w:gridSpan``) is followed by empty cells."""
    rows: list[list[tuple[str, int, str | None]]] = []   # (text, columns, vMerge) per cell
    for row in tbl.findall(W + "tr"):
        tr_pr = row.find(W + "trPr")
        before = int_val(tr_pr.find(W + "gridBefore") if tr_pr is not None else None, 0, 0, MAX_COLSPAN)
        cells: list[tuple[str, int, str | None]] = [("", before, None)] if before else []
        for tc in row.findall(W + "tc"):
            text = " ".join(normalize_line(_text(p).replace("\n", " ")) for p in tc.iter(W + "p")).strip()
            pr = tc.find(W + "tcPr")
            merge = pr.find(W + "vMerge") if pr is not None else None
            cols = int_val(pr.find(W + "gridSpan") if pr is not None else None, 1, 1, MAX_COLSPAN)
            cells.append((text.replace("|", "/"), cols,
                          None if merge is None else (merge.get(W + "val") or "continue")))
        rows.append(cells)
    return pipe_rows(_merged(rows))   # (Word marks no header cell: no rule, as before)


def _merged(rows: list[list[tuple[str, int, str | None]]]) -> list[list[Cell]]:
    """Cells with the rows each spans: a cell that starts a vertical merge spans the rows
    below whose cell in its column continues it; the continuing cells are left out (the grid
    fills their place). A continuing cell with nothing to continue is an empty cell."""
    starts: dict[int, tuple[int, int]] = {}   # column -> (row, index) of the open merge
    spans: dict[tuple[int, int], int] = {}
    keep: list[list[bool]] = []
    for r, row in enumerate(rows):
        col = 0
        kept: list[bool] = []
        for k, (_, cols, merge) in enumerate(row):
            if merge == "restart":
                starts[col] = (r, k)
                spans[(r, k)] = 1
            elif merge is not None and col in starts and spans[starts[col]] < MAX_ROWSPAN:
                spans[starts[col]] += 1
                kept.append(False)
                col += cols
                continue
            else:
                starts.pop(col, None)
            kept.append(True)
            col += cols
        keep.append(kept)
    return [[(text, False, spans.get((r, k), 1), cols) for k, (text, cols, _) in enumerate(row) if keep[r][k]]
            for r, row in enumerate(rows)]


def docx_lines(data: bytes, name: str = "document.docx") -> list[tuple[int | None, str]]:
    zf = package.open_zip(data, name, "Word", _EXT)
    with zf:
        main = _main_part(zf, name)
        styles_part = package.part(zf, "word/styles.xml", name, _EXT, MAX_SIDE_BYTES)
        numbering_part = package.part(zf, "word/numbering.xml", name, _EXT, MAX_SIDE_BYTES)
        styles = Styles(package.parse(styles_part, "word/styles.xml", name, _EXT) if styles_part else None)
        numbering = Numbering(package.parse(numbering_part, "word/numbering.xml", name, _EXT)
                              if numbering_part else None)
        doc = package.part(zf, main, name, _EXT, MAX_PART_BYTES)
        if doc is None:
            raise IngestError(f"{name}: a ZIP archive without a Word document in it",
                              "save the document as .docx, PDF or plain text, or unpack the archive")
        with doc:
            return _lines(_blocks_streamed(package.blocks(doc, W + "body", main, name, _EXT)),
                          styles, numbering)


def _blocks_streamed(top: Iterator[ET.Element]) -> Iterator[ET.Element]:
    for el in top:
        yield from _blocks([el])


def _lines(blocks: Iterator[ET.Element], styles: Styles,
           numbering: Numbering) -> list[tuple[int | None, str]]:
    lines: list[tuple[int | None, str]] = []
    for block in blocks:
        # Every paragraph, list item and row is followed by a blank line: a Word paragraph is
        # never a line the page width broke, so none is joined to the one before ("a) Use white
        # vinegar" starts in lower case and is still an item of its own).
        if block.tag == W + "tbl":
            for row in _table_lines(block):
                lines += [(None, row), (None, "")]
            continue
        level, num, style = _para_props(block, styles)
        if style in styles.toc:
            continue
        parts = [x for x in (normalize_line(x) for x in _text(block).split("\n")) if x]
        label = numbering.label(*num) if num is not None else ""
        if not parts:
            continue
        if level:   # a numbered heading shows its number ("3.2 Replacing the filter"), not a bullet
            head = " ".join(parts)
            lines.append((None, HEADING_MARK + (f"{label} {head}" if label and label != "-" else head)))
            continue
        if label:
            parts[0] = f"{label} {parts[0]}"
        lines.extend((None, x) for x in parts)
        lines.append((None, ""))
    return lines


def parse_docx(data: bytes, name: str = "document.docx") -> list[Section]:
    return build_sections(detect_headings(docx_lines(data, name)))


def is_docx(data: bytes) -> bool:
    """Is this ZIP a Word document (a .docx saved under another name)?"""
    return package.has_member(data, "word/document.xml")


__all__ = ["MAX_PART_BYTES", "MAX_SIDE_BYTES", "docx_lines", "is_docx", "parse_docx"]
