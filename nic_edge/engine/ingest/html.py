"""HTML manuals with the standard library parser: h1-h6 give the sections.

Block elements end lines, so paragraphs and list items stay apart, except inside a table cell:
a table row is one line (office exports wrap every cell's text in ``<p>``, which made each cell
a line of its own and parted an error code from its meaning); script, style and other
non-content elements are skipped. Entities are decoded by the parser.
"""

from __future__ import annotations

from html.parser import HTMLParser

from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings

_SKIP = frozenset({"script", "style", "head", "noscript", "template", "svg", "nav", "iframe"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset({
    "p", "div", "li", "ul", "ol", "br", "tr", "table", "section", "article", "header",
    "footer", "main", "aside", "blockquote", "dd", "dt", "dl", "hr", "figure", "figcaption",
    "caption", "form", "fieldset", "address", "details", "summary", "body", "html",
})
_ROWS = frozenset({"tr", "table"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"})


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._buf: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._heading: str | None = None
        self._cell = 0  # depth of open table cells

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
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth += 1
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
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
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
        if self._skip_depth:
            return
        self._buf.append(data)

    def close(self) -> None:
        super().close()
        if self._heading is not None:
            self.handle_endtag("h1")
        self._flush()


def html_lines(text: str) -> list[tuple[int | None, str]]:
    parser = _Extractor()
    parser.feed(text)
    parser.close()
    return [(None, line) for line in parser.lines]


def parse_html(text: str) -> list[Section]:
    return build_sections(detect_headings(html_lines(text)))
