"""OpenDocument text manuals (.odt, LibreOffice Writer's own format) with the standard library,
read as the document shows them (the same rules as docx.py):
- ``text:h`` headings (and paragraphs in the "Title" style) give the sections;
- list items get the number or bullet the list style draws ("1.", "a)", "-"), counted per
  list and level; a list that continues the one before (``text:continue-numbering``) counts on;
- tables are read one line a row, cells between pipes, merged cells laid out as drawn;
- spaces (``text:s``), tabs and line breaks are what they stand for; tracked changes' deleted
  text, footnotes and comments, tables of contents and indexes, and the forms and sequence
  declarations at the top are not text. Page headers and footers live in styles.xml and are
  not read.
Hostile and damaged packages are refused as for Word (package.py): parts read no further than a
limit, no DOCTYPE, damaged ZIP or XML with a reason; the document is streamed block by block.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from typing import Iterator

from nic_edge.engine.ingest import package
from nic_edge.engine.ingest.docx_styles import format_number
from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.package import MAX_PART_BYTES, MAX_SIDE_BYTES
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings
from nic_edge.engine.ingest.tablegrid import MAX_COLSPAN, MAX_ROWSPAN, Cell, pipe_rows, span
from nic_edge.errors import IngestError

_EXT = ".odt"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_SKIPPED = frozenset({TEXT + "note", OFFICE + "annotation", OFFICE + "annotation-end",
                      TEXT + "tracked-changes", TEXT + "sequence-decls", OFFICE + "forms",
                      TEXT + "table-of-content", TEXT + "alphabetical-index", TEXT + "illustration-index",
                      TEXT + "table-index", TEXT + "object-index", TEXT + "user-index",
                      TEXT + "bibliography", TEXT + "bookmark-ref-start", TEXT + "variable-decls",
                      TEXT + "user-field-decls", TEXT + "soft-page-break"})
_FORMATS = {"1": "decimal", "a": "lowerLetter", "A": "upperLetter", "i": "lowerRoman", "I": "upperRoman"}
_MAX_LEVEL = 10


class _Lists:
    """The list styles of the document (automatic ones in content.xml, named ones in
    styles.xml): per style, per level, (format, prefix, suffix) or None for a bullet."""

    def __init__(self) -> None:
        self.levels: dict[str, dict[int, tuple[str, str, str] | None]] = {}
        self.para_list: dict[str, str] = {}   # paragraph style -> its list style
        self.parent: dict[str, str] = {}      # paragraph style -> parent style
        self.title: set[str] = set()          # paragraph styles that are a "Title"
        self.counts: dict[str, list[int]] = {}

    def add(self, root: ET.Element | None) -> None:
        if root is None:
            return
        for ls in root.iter(TEXT + "list-style"):
            levels: dict[int, tuple[str, str, str] | None] = {}
            for lvl in ls:
                try:
                    level = min(max(int(lvl.get(TEXT + "level") or 1), 1), _MAX_LEVEL)
                except ValueError:
                    continue
                if lvl.tag == TEXT + "list-level-style-number":
                    fmt = _FORMATS.get(lvl.get(STYLE + "num-format") or "", "")
                    levels[level] = (fmt, lvl.get(STYLE + "num-prefix") or "",
                                     lvl.get(STYLE + "num-suffix") or "") if fmt else None
                else:
                    levels[level] = None
            self.levels[ls.get(STYLE + "name") or ""] = levels
        for st in root.iter(STYLE + "style"):
            name = st.get(STYLE + "name") or ""
            if st.get(STYLE + "list-style-name"):
                self.para_list[name] = st.get(STYLE + "list-style-name") or ""
            if st.get(STYLE + "parent-style-name"):
                self.parent[name] = st.get(STYLE + "parent-style-name") or ""
            if (st.get(STYLE + "display-name") or name).lower() == "title":
                self.title.add(name)

    def is_title(self, style: str) -> bool:
        seen: set[str] = set()
        while style and style not in seen:
            if style in self.title:
                return True
            seen.add(style)
            style = self.parent.get(style, "")
        return False

    def label(self, style: str, level: int, key: str) -> str:
        """The number or bullet drawn before an item at ``level`` (1-based) of list ``key``."""
        spec = self.levels.get(style, {}).get(level, None)
        count = self.counts.setdefault(key, [0] * (_MAX_LEVEL + 2))
        count[level] = min(count[level] + 1, 100_000)
        count[level + 1:] = [0] * (len(count) - level - 1)
        if spec is None:
            return "-"
        fmt, prefix, suffix = spec
        return f"{prefix}{format_number(count[level], fmt)}{suffix}".strip()


def _text(el: ET.Element) -> str:
    """What a paragraph or heading shows (walked with a stack: nesting may be hostile)."""
    out: list[str] = [el.text or ""]
    stack: list[ET.Element | str] = []
    for child in reversed(list(el)):
        stack += [child.tail or "", child]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        tag = item.tag
        if tag in _SKIPPED or tag == TEXT + "deletion":
            continue
        if tag == TEXT + "s":
            try:
                out.append(" " * min(max(int(item.get(TEXT + "c") or 1), 1), 100))
            except ValueError:
                out.append(" ")
        elif tag == TEXT + "tab":
            out.append(" ")
        elif tag == TEXT + "line-break":
            out.append("\n")
        elif tag in (TEXT + "p", TEXT + "h"):   # inside a frame or text box
            out.append("\n")
            stack.append("\n")
        if tag not in (TEXT + "s", TEXT + "tab", TEXT + "line-break"):
            out.append(item.text or "")
            for child in reversed(list(item)):
                stack += [child.tail or "", child]
    return "".join(out)


_ROW_GROUPS = frozenset({TABLE + "table-header-rows", TABLE + "table-rows", TABLE + "table-row-group"})


def _table(tbl: ET.Element) -> list[str]:
    """A table's own rows (also in its header and row groups), one line each; a table nested in
    a cell is that cell's text. Merged cells are laid out as Writer draws them (tablegrid.py):
    a cell spanning rows (``table:number-rows-spanned``) is repeated in each, one spanning
    columns is followed by empty cells; the covered cells that stand in their place are not
    read (before, a row under a merged cell lost a cell and the rest stood under the wrong
    column names). Runs of equal cells and rows written once (``table:number-columns-repeated``,
    ``table:number-rows-repeated``, as spreadsheets and converters save them) are read as many
    times as they stand for; the copies' text is bounded by the table's own (``_repeated``)."""
    rows: list[tuple[list[tuple[Cell, int]], int]] = []   # (cells with their repeat count, row repeat)
    own = [r for child in tbl for r in ([child] if child.tag == TABLE + "table-row" else
                                        list(child) if child.tag in _ROW_GROUPS else [])]
    for row in own:
        if row.tag != TABLE + "table-row":
            continue
        cells = [((" ".join(normalize_line(_text(c).replace("\n", " ")) for c in cell
                            if c.tag not in _SKIPPED).strip().replace("|", "/"), False,
                   span(cell.get(TABLE + "number-rows-spanned"), MAX_ROWSPAN),
                   span(cell.get(TABLE + "number-columns-spanned"), MAX_COLSPAN)),
                  span(cell.get(TABLE + "number-columns-repeated"), MAX_REPEAT))
                 for cell in row if cell.tag == TABLE + "table-cell"]
        rows.append((cells, span(row.get(TABLE + "number-rows-repeated"), MAX_ROWSPAN)))
    return pipe_rows(_repeated(rows))   # (no cell is marked a header cell: no rule, as before)


# A cell written once for a run of equal ones: a spreadsheet saves its empty tail as one cell
# repeated a thousand times; no table of a manual is that wide.
MAX_REPEAT = 64


def _repeated(rows: list[tuple[list[tuple[Cell, int]], int]]) -> list[list[Cell]]:
    """Rows with their repeated cells and rows written out. A row's last cell, when empty, and
    rows without text are not repeated (they draw nothing); the copies' text stops once it would
    exceed the table's own text, so a few hundred bytes cannot stand for megabytes."""
    budget = sum(len(c[0]) + 3 for cells, _ in rows for c, _ in cells)
    out: list[list[Cell]] = []
    for cells, times in rows:
        row: list[Cell] = []
        for k, (cell, n) in enumerate(cells):
            row.append(cell)
            if k == len(cells) - 1 and not cell[0]:
                break   # an empty tail: read once, as before
            for _ in range(n - 1):
                if len(cell[0]) + 3 > budget:
                    break
                budget -= len(cell[0]) + 3
                row.append(cell)
        out.append(row)
        size = sum(len(c[0]) + 3 for c in row)
        for _ in range(times - 1 if any(c[0] for c in row) else 0):
            if size > budget:
                break
            budget -= size
            out.append(row)
    return out


def _lines(top: Iterator[ET.Element], lists: _Lists) -> list[tuple[int | None, str]]:
    lines: list[tuple[int | None, str]] = []
    begun: dict[str, int] = {}   # list style -> lists of it begun (a continuing one counts on)

    def para(el: ET.Element, label: str) -> None:
        parts = [x for x in (normalize_line(x) for x in _text(el).split("\n")) if x]
        if not parts:
            return
        if el.tag == TEXT + "h" or lists.is_title(el.get(TEXT + "style-name") or ""):
            lines.append((None, HEADING_MARK + " ".join(parts)))
            return
        if label:
            parts[0] = f"{label} {parts[0]}"
        for x in parts:   # a paragraph is never a line the page width broke: none is joined
            lines.extend(((None, x), (None, "")))

    # (element, list style, level, list key, label) on a stack: lists nest, hostile ones deep
    Entry = tuple[ET.Element, str, int, str, str]
    for block in top:
        stack: list[Entry] = [(block, "", 0, "", "")]
        while stack:
            el, style, level, key, label = stack.pop()
            tag = el.tag
            if tag in _SKIPPED:
                continue
            if tag in (TEXT + "p", TEXT + "h"):
                para(el, label)
            elif tag == TABLE + "table":
                for row in _table(el):
                    lines.extend(((None, row), (None, "")))
            elif tag == TEXT + "list":
                own = el.get(TEXT + "style-name") or style
                if level == 0:
                    goes_on = (el.get(TEXT + "continue-numbering") == "true"
                               or bool(el.get(TEXT + "continue-list")))
                    begun[own] = begun.get(own, 0) + (0 if goes_on and own in begun else 1)
                    key = f"{own}#{begun[own]}"
                if level < _MAX_LEVEL:
                    stack.extend((item, own, level + 1, key, "") for item in reversed(list(el)))
            elif tag in (TEXT + "list-item", TEXT + "list-header"):
                pending: list[Entry] = []
                for child in el:
                    first = tag == TEXT + "list-item" and child.tag in (TEXT + "p", TEXT + "h") \
                        and not any(e[4] for e in pending)
                    mark = lists.label(style or lists.para_list.get(child.get(TEXT + "style-name") or "", ""),
                                       level, key) if first else ""
                    pending.append((child, style, level, key, mark))
                stack.extend(reversed(pending))
            elif tag in (TEXT + "section", TEXT + "index-body"):
                stack.extend((c, style, level, key, "") for c in reversed(list(el)))
    return lines


def _automatic_styles(zf: zipfile.ZipFile, lists: _Lists, name: str) -> None:
    """The list and paragraph styles content.xml defines before its body (read in a first,
    short pass that stops where the body begins)."""
    content = package.part(zf, "content.xml", name, _EXT, MAX_PART_BYTES)
    if content is None:
        return
    with content:
        try:
            for event, el in ET.iterparse(content, events=("end", "start")):
                if event == "end" and el.tag == OFFICE + "automatic-styles":
                    lists.add(el)
                    return
                if event == "start" and el.tag == OFFICE + "body":
                    return
        except (ET.ParseError, LookupError, UnicodeError, ValueError) as exc:
            raise package.damaged(name, f"content.xml is damaged ({exc})", _EXT) from None


def odt_lines(data: bytes, name: str = "document.odt") -> list[tuple[int | None, str]]:
    zf = package.open_zip(data, name, "OpenDocument", _EXT)
    with zf:
        lists = _Lists()
        styles = package.part(zf, "styles.xml", name, _EXT, MAX_SIDE_BYTES)
        if styles is not None:
            with styles:
                lists.add(package.parse(styles, "styles.xml", name, _EXT))
        _automatic_styles(zf, lists, name)
        content = package.part(zf, "content.xml", name, _EXT, MAX_PART_BYTES)
        if content is None:
            raise IngestError(f"{name}: a ZIP archive without an OpenDocument text in it",
                              "save the document as .odt, .docx, PDF or plain text")
        with content:
            return _lines(package.blocks(content, OFFICE + "text", "content.xml", name, _EXT), lists)


def parse_odt(data: bytes, name: str = "document.odt") -> list[Section]:
    return build_sections(detect_headings(odt_lines(data, name)))


def is_odt(data: bytes) -> bool:
    """Is this ZIP an OpenDocument text (an .odt saved under another name)?"""
    return package.has_member(data, "content.xml") and data[30:38] == b"mimetype" \
        and b"opendocument.text" in data[38:120]


__all__ = ["is_odt", "odt_lines", "parse_odt"]
