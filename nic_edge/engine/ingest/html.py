"""HTML manuals with the standard library parser: h1-h6 give the sections.

Block elements end lines, so paragraphs and list items stay apart, except inside a table cell:
a table row is one line (office exports wrap every cell's text in ``<p>``, which made each cell
a line of its own and parted an error code from its meaning); script, style and other
non-content elements are skipped. Entities are decoded by the parser.

A table's rows are read as the other readers write them (ingest-9): "| E1 | No ignition |", one
row a line, a first row of ``<th>`` cells followed by a Markdown rule ("|---|---|"), so the
reader quotes a row with the column names it needs (engine/tables.py). A table nested in a cell
is that cell's text (as in Word documents); a table without a row of two cells of text (a
layout table: a boxed warning beside its icon) is lines of text, not table rows. Cells may be
left open (``<td>a<td>b`` is two cells, as browsers read it).

So is what a help system or documentation site wraps around each page, where the page says
so by ARIA role: navigation (breadcrumbs, "Previous / Next", the contents sidebar), search,
menus and toolbars, dialogs, the site banner and the page footer ("contentinfo": "(c) Copyright
..., Built with Sphinx"; so is a <header> or <footer> outside any article, aside or main
element); and what it hides (``hidden``, ``aria-hidden="true"``), and form
controls (a theme menu's buttons). A Sphinx manual's page otherwise opens with a section
"System Emulation GDB usage Edit on GitLab" and ends every last section with "Previous Next
(c) Copyright 2026, The QEMU Project Developers. Built with Sphinx ...". A page whose skipped
element is never closed (the rest of the page would go) is read again without these rules.
"""

from __future__ import annotations

from html.parser import HTMLParser

from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings
from nic_edge.engine.ingest.tablegrid import MAX_COLSPAN, MAX_ROWSPAN, Cell, pipe_rows, span

_SKIP = frozenset({"script", "style", "head", "noscript", "template", "svg", "nav", "iframe",
                   "button", "select", "textarea"})
# Roles of a page's surroundings, not its content (WAI-ARIA landmark and widget roles).
_CHROME_ROLES = frozenset({"navigation", "search", "banner", "contentinfo", "menu", "menubar",
                           "toolbar", "dialog", "alertdialog", "tablist"})
# A <header> or <footer> outside these is the page's banner or footer. (HTML gives that role to
# one outside a <section> too, but a Read the Docs page wraps all of itself in a <section>.)
_SECTIONING = frozenset({"article", "aside", "main"})
# Elements that are closed explicitly in practice, so skipping one ends where it ends (a <p> or
# <li> is often left open, and skipping it would never end).
_CONTAINERS = frozenset({"div", "section", "aside", "header", "footer", "ul", "ol", "form", "dialog",
                         "span", "table", "menu", "details", "article"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset({
    "p", "div", "li", "ul", "ol", "br", "tr", "table", "section", "article", "header",
    "footer", "main", "aside", "blockquote", "dd", "dt", "dl", "hr", "figure", "figcaption",
    "caption", "form", "fieldset", "address", "details", "summary", "body", "html",
})
_ROWS = frozenset({"tr", "table"})
_TABLE_TAGS = frozenset({"table", "tr", "td", "th"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"})


def _chrome(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        value = (value or "").strip().lower()
        if (name == "hidden" or (name == "aria-hidden" and value == "true")
                or (name == "role" and value in _CHROME_ROLES)):
            return True
    return False


class _Extractor(HTMLParser):
    def __init__(self, chrome: bool = True) -> None:
        super().__init__(convert_charrefs=True)
        self._skip_chrome = chrome
        self._sectioning = 0   # open article, aside and main elements
        self._chrome_tag: str | None = None   # the element being skipped as chrome, and its depth
        self._chrome_depth = 0
        self.lines: list[str] = []
        self._buf: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._heading: str | None = None
        self._cell = 0  # depth of open cells outside any <table> (broken markup: a row stays one line)
        self._tables = 0   # depth of open tables: the outermost one's rows are rows
        self._row: list[Cell] | None = None   # its open row's cells
        self._in_cell: bool | None = None   # a cell of it is open (True: a <th>)
        self._span = (1, 1)   # the open cell's rows and columns spanned
        self._table: list[list[Cell]] = []   # its rows so far (written when it ends)

    def _flush(self) -> None:
        if self._heading is not None:  # a <br> or <span> inside a heading: keep collecting
            return
        text = "".join(self._buf)
        self._buf = []
        if self._pre_depth:
            self.lines.extend(normalize_line(line) for line in text.split("\n"))
        else:
            line = normalize_line(text)
            if line:
                self.lines.append(line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._chrome_tag is not None:
            self._chrome_depth += tag == self._chrome_tag
            return
        if self._skip_chrome and tag in _CONTAINERS and (
                _chrome(attrs) or (tag in ("header", "footer") and not self._sectioning)):
            self._chrome_tag, self._chrome_depth = tag, 1
            return
        self._sectioning += tag in _SECTIONING
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        if tag in _TABLE_TAGS and not self._skip_depth and (self._tables or tag == "table"):
            self._table_tag(tag, True, attrs)
            return
        if self._in_cell is not None and (tag in _BLOCKS or tag in _HEADINGS or tag == "pre"):
            self._buf.append(" ")   # a paragraph, line break or heading inside a cell: the row stays one line
            return
        if tag in _HEADINGS:
            self._flush()
            self._heading = ""
        elif self._cell and tag not in _ROWS and (tag in _BLOCKS or tag == "pre"):
            self._buf.append(" ")  # a <p> inside a cell (Word, LibreOffice exports): the row stays one line
        elif tag in _BLOCKS or tag == "pre":
            self._flush()
            self._pre_depth += tag == "pre"
            self._cell = 0 if tag in _ROWS else self._cell
        elif tag in ("td", "th"):
            self._cell += 1
            self._buf.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._chrome_tag is not None:
            if tag == self._chrome_tag:
                self._chrome_depth -= 1
                if not self._chrome_depth:
                    self._chrome_tag = None
            return
        if tag in _SECTIONING:
            self._sectioning = max(0, self._sectioning - 1)
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag in _TABLE_TAGS and not self._skip_depth and (self._tables or tag == "table"):
            self._table_tag(tag, False)
            return
        if self._in_cell is not None and (tag in _BLOCKS or tag in _HEADINGS or tag == "pre"):
            self._buf.append(" ")
            return
        if tag in _HEADINGS and self._heading is not None:
            heading = normalize_line(self._heading + "".join(self._buf))
            self._buf = []
            self._heading = None
            if heading:
                self.lines.append(HEADING_MARK + heading)
        elif tag in ("td", "th"):
            self._cell = max(0, self._cell - 1)
        elif self._cell and tag not in _ROWS and (tag in _BLOCKS or tag == "pre"):
            self._buf.append(" ")
        elif tag in _BLOCKS or tag == "pre":
            self._flush()
            self._cell = 0 if tag in _ROWS else self._cell
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth or self._chrome_tag is not None:
            return
        self._buf.append(data)

    def _table_tag(self, tag: str, start: bool, attrs: list[tuple[str, str | None]] = ()) -> None:
        """A table, row or cell tag: the outermost table's are its structure; a nested table's
        are spaces in the cell that holds it."""
        if self._tables > 1 or (self._tables == 1 and self._in_cell is not None and tag == "table" and start):
            self._tables += (tag == "table") * (1 if start else -1)
            self._buf.append(" ")
            return
        if tag == "table":
            self._end_table()
            if start:
                self._flush()
            self._tables = 1 if start else 0
        elif tag == "tr":
            self._end_row()
        elif start:   # <td>, <th>
            self._end_cell()
            stray = self._cell_text()   # text between cells (broken markup) is kept
            if self._row is None:
                self._row = []
            if stray:
                self._row.append((stray, False, 1, 1))
            self._buf = []
            self._in_cell = tag == "th"
            spans = dict(attrs)
            self._span = (span(spans.get("rowspan"), MAX_ROWSPAN, zero_is_cap=True),
                          span(spans.get("colspan"), MAX_COLSPAN))
        else:
            self._end_cell()

    def _cell_text(self) -> str:
        """The text collected for a cell, on one line (a line break in the page's source or a
        <pre> in the cell is a space) and without "|" (it would end the cell)."""
        return normalize_line(" ".join("".join(self._buf).split())).replace("|", "/")

    def _end_cell(self) -> None:
        if self._in_cell is None:
            return
        if self._row is None:
            self._row = []
        self._row.append((self._cell_text(), self._in_cell, *self._span))
        self._buf = []
        self._in_cell = None

    def _end_row(self) -> None:
        self._end_cell()
        row, self._row = self._row, None
        if row is None:
            self._flush()
            return
        stray = self._cell_text()
        self._buf = []
        if stray:
            row.append((stray, False, 1, 1))
        self._table.append(row)   # (a row of empty cells is still counted by the cells spanning it)

    def _end_table(self) -> None:
        """Write the outermost table's rows. A table with no row of two cells of text (a layout
        table: a warning box beside its icon) is lines of text."""
        self._end_row()
        cells, self._table = self._table, []
        if not any(sum(bool(cell[0]) for cell in row) >= 2 for row in cells):
            self.lines.extend(cell[0] for row in cells for cell in row if cell[0])
            return
        self.lines.extend(pipe_rows(cells))

    @property
    def unclosed_chrome(self) -> bool:
        return self._chrome_tag is not None

    def close(self) -> None:
        super().close()
        self._end_table()
        if self._heading is not None:
            self.handle_endtag("h1")
        self._flush()


def defused(text: str) -> str:
    """``text`` with the marks that can never close written as text ("&lt;"), which is how the
    parser reads them in the end: the standard library's parser (CPython before 3.13.4) reads
    the rest of the page again from every "<" with no ">" after it, and from every "<!--" with
    no "-->" after it, so a page of 50 KB of them took half a minute."""
    end = text.rfind("-->")
    if "<!--" in text[end + 3 if end >= 0 else 0:]:
        cut = end + 3 if end >= 0 else 0
        text = text[:cut] + text[cut:].replace("<!--", "&lt;!--")
    end = text.rfind(">")
    if "<" in text[end + 1:]:
        text = text[:end + 1] + text[end + 1:].replace("<", "&lt;")
    return text


def html_lines(text: str) -> list[tuple[int | None, str]]:
    text = defused(text)
    parser = _Extractor()
    parser.feed(text)
    parser.close()
    if parser.unclosed_chrome:
        parser = _Extractor(chrome=False)
        parser.feed(text)
        parser.close()
    return [(None, line) for line in parser.lines]


def parse_html(text: str) -> list[Section]:
    return build_sections(detect_headings(html_lines(text)))
