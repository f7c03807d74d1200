"""AsciiDoc manuals (.adoc, .asciidoc: Asciidoctor sources, the format of the Raspberry Pi
documentation), read as the built page shows them, with no extra package:
- section titles ("== Boot options", "# Title", a title underlined to its length) give the
  sections, a discrete one too; the document title ("= Title") heads the page, the author and
  revision lines under it are left out;
- admonitions keep their label: "NOTE: text" and a "[WARNING]" block read "Note: text",
  "Warning:"; a block title (".Pin functions") is a line of its own;
- listing and literal blocks (``----``, ``....``, a fence, an indented paragraph) are code as
  written; example, sidebar, quote, open blocks and tabs are read for what they hold;
- lists keep a mark ("- " for "*", "1. " counted for "." items), description lists read
  "term: definition", a continuation ("+") joins nothing visible;
- tables (``|===``, ``,===`` CSV, ``:===``) are read one row a line, cells between pipes, the
  header row first (tables.py reads rows by their header);
- what the page does not show goes: comments, attribute entries, block attributes, anchors,
  include, image, toc and other block macros, page breaks; ``ifdef::``/``ifndef::`` keep or drop
  lines by the attributes the file sets (a site's own attributes are unknown here), ``ifeval::``
  keeps them;
- inline markup as rendered (adoc_inline.py).
An ``include::`` line is not followed: the file it names is indexed as itself when its folder
is, so a file of include lines only has no text of its own.
"""

from __future__ import annotations

import re

from nic_edge.engine.ingest.adoc_inline import id_key, render
from nic_edge.engine.ingest.adoc_table import read_table
from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings

_ATTR_ENTRY = re.compile(r"^:(!?)([A-Za-z0-9_][\w-]*)(!?):(?:[ \t]+(.*?))?[ \t]*$")
_COND = re.compile(r"^(ifdef|ifndef|ifeval)::([^\[]*)\[(.*)\]$")
_ENDIF = re.compile(r"^endif::[^\[]*\[\]$")
_TITLE = re.compile(r"^(={1,6}|#{1,6})[ \t]+(\S.*?)(?:[ \t]+\1)?[ \t]*$")
_DELIM = re.compile(r"^(/{4,}|-{4,}|\.{4,}|={4,}|\*{4,}|_{4,}|\+{4,}|--|```.*|[|,:!]={3,})$")
_ANCHOR = re.compile(r"^\[\[([^\[\],]+)(?:,[^\]]*)?\]\]$|^\[#([\w-]+)[^\]]*\]$")
_ATTRS = re.compile(r"^\[([#.%,]?[\w{\"'#.%,=-][^\]]*|)\]$")
_BLOCK_TITLE = re.compile(r"^\.(\.?[^ \t.].*)$")
_ADMONITION = re.compile(r"^(NOTE|TIP|IMPORTANT|WARNING|CAUTION):[ \t]+(.*)$")
_LABELS = {"NOTE": "Note", "TIP": "Tip", "IMPORTANT": "Important", "WARNING": "Warning",
           "CAUTION": "Caution"}
_BULLET = re.compile(r"^[ \t]*(\*{1,5}|-)[ \t]+(?:\[[ x*]\][ \t]+)?(.*)$")
_ORDERED = re.compile(r"^[ \t]*(\.{1,5})[ \t]+(.*)$")
_DLIST = re.compile(r"^(?!//)[ \t]*(\S|\S.*?\S)(:{2,4}|;;)(?:$|[ \t]+(.*)$)")
_CALLOUT = re.compile(r"^<(\d+|\.)>[ \t]+(.*)$")
_CALLOUT_MARK = re.compile(r"[ \t]*(?://|#|;;|--)?[ \t]*(?:<\d+>[ \t]*)+$")
_BLOCK_MACRO = re.compile(r"^[a-z][\w-]*::\S*\[.*\]$")
_BREAK = re.compile(r"^(?:<<<|'{3,}|-{3}|\*{3}|- - -|\* \* \*)$")
_HARD_BREAK = re.compile(r"[ \t]\+$")   # "text +": a line break the page shows, not a "+"
_SETEXT = re.compile(r"^(=+|-+|~+|\^+|\++)$")
_SETEXT_TITLE = re.compile(r"^\w")
_CODE_STYLES = frozenset({"source", "listing", "literal"})
_MAX_DEPTH = 20   # blocks nested deeper are read line by line (a hostile file, not a manual)
_MAX_CONDITIONS = 64


class _Doc:
    """What the reading keeps across blocks: the file's attributes and its sections' titles by
    id (for ``<<id>>``)."""

    def __init__(self, attrs: dict[str, str], titles: dict[str, str]) -> None:
        self.attrs = attrs
        self.titles = titles

    def inline(self, text: str) -> str:
        return render(text, self.attrs, self.titles)


def _preprocess(raw: list[str]) -> list[str]:
    """Lines after conditional inclusion (an ``include::`` line is left for the reader to drop)."""
    defined: set[str] = set()
    stack: list[bool] = []
    out: list[str] = []
    for line in raw:
        text = line.rstrip()
        m = _COND.match(text)
        if m:
            kind, names, body = m.groups()
            on = True if kind == "ifeval" else _holds(names, defined) == (kind == "ifdef")
            if body:   # one line: "ifdef::env-site[text]"
                if all(stack) and on:
                    out.append(body)
                continue
            if len(stack) < _MAX_CONDITIONS:
                stack.append(on)
            continue
        if _ENDIF.match(text):
            if stack:
                stack.pop()
            continue
        if not all(stack):
            continue
        entry = _ATTR_ENTRY.match(text)
        if entry:
            name = entry.group(2).lower()
            if entry.group(1) or entry.group(3):
                defined.discard(name)
            else:
                defined.add(name)
        out.append(line)
    return out


def _holds(names: str, defined: set[str]) -> bool:
    if "+" in names:
        return all(n.strip().lower() in defined for n in names.split("+"))
    return any(n.strip().lower() in defined for n in names.split(","))


def _titles(lines: list[str]) -> dict[str, str]:
    """Each section's title by its ids: the anchor over it, and the one Asciidoctor makes."""
    titles: dict[str, str] = {}
    anchor = ""
    for line in lines:
        m = _ANCHOR.match(line.strip())
        if m:
            anchor = m.group(1) or m.group(2)
            continue
        t = _TITLE.match(line)
        if t:
            title = t.group(2)
            titles.setdefault(id_key(title), title)
            if anchor:
                titles.setdefault(id_key(anchor), title)
        if line.strip():
            anchor = ""
    return titles


def _block_end(lines: list[str], start: int, delim: str) -> int:
    """Index of the line closing a block opened by ``delim`` (a fence closes on "```"); the
    end of the lines when it never closes, as Asciidoctor reads it."""
    close = "```" if delim.startswith("```") else delim
    for idx in range(start, len(lines)):
        if lines[idx].rstrip() == close:
            return idx
    return len(lines)


def _style(attrs: str) -> tuple[str, str]:
    """A block attribute line's style (its first positional attribute) and the whole line."""
    first = attrs.split(",", 1)[0].strip()
    if "=" in first or first.startswith(("%", "#", ".")):
        first = first.split("%", 1)[0].split("#", 1)[0].split(".", 1)[0] if "=" not in first else ""
    return first.strip("\"' ").lower(), attrs


def _code(block: list[str], out: list[str]) -> None:
    out.append("")
    out.extend(normalize_line(_CALLOUT_MARK.sub("", b)) for b in block if b.strip())
    out.append("")


def _read(lines: list[str], doc: _Doc, out: list[str], depth: int = 0) -> None:
    """Append the rendered lines of ``lines`` to ``out`` (HEADING_MARK before a title)."""
    idx, n = 0, len(lines)
    style, attr_line, title = "", "", ""
    counters: list[int] = []
    header = False   # in the document header: the lines under "= Title" up to a blank line
    joined = False   # the line before was text or "+": a list item's text goes on here
    while idx < n:
        line = lines[idx].rstrip().replace("\t", "    ")
        text = line.strip()
        if not text:
            out.append("")
            header = joined = False
            idx += 1
            continue
        if text.startswith("//") and not text.startswith("////"):
            idx += 1
            continue
        entry = _ATTR_ENTRY.match(text)
        if entry and not line.startswith(" "):
            name, value = entry.group(2).lower(), entry.group(4) or ""
            if entry.group(1) or entry.group(3):
                doc.attrs.pop(name, None)
            else:
                doc.attrs[name] = value
            idx += 1
            continue
        if text.startswith("include::") or (header and not _ATTRS.match(text)):
            idx += 1   # an include, or the author or revision line under the document title
            continue
        delim = _DELIM.match(text)
        if delim and line == text:
            end = _block_end(lines, idx + 1, text)
            body = lines[idx + 1:end]
            if title:
                out.append(doc.inline(title))
            _delimited(text, body, style, attr_line, doc, out, depth)
            style, attr_line, title = "", "", ""
            idx = end + 1
            continue
        heading = _TITLE.match(line) if line == text else None
        nxt = lines[idx + 1].rstrip() if idx + 1 < n else ""
        if heading is None and depth == 0 and _SETEXT.match(nxt) and len(nxt) >= 2 \
                and _SETEXT_TITLE.match(text) and abs(len(text) - len(nxt)) < 2 and line == text:
            header = nxt[0] == "=" and not any(out)   # a document title, underlined with "="
            out.append(HEADING_MARK + doc.inline(text))
            idx += 2
            style, attr_line, title, counters = "", "", "", []
            continue
        if heading is not None and not (depth and heading.group(1)[0] == "#"):
            header = heading.group(1) == "=" and depth == 0 and not any(out)
            out.append(HEADING_MARK + doc.inline(heading.group(2)))
            style, attr_line, title, counters = "", "", "", []
            idx += 1
            continue
        if _ANCHOR.match(text):
            idx += 1
            continue
        if _ATTRS.match(text):
            style, attr_line = _style(text[1:-1])
            idx += 1
            continue
        block_title = _BLOCK_TITLE.match(text)
        if block_title and line == text:
            title = block_title.group(1)
            idx += 1
            continue
        if title:
            out.append(doc.inline(title))
            title = ""
        if _BLOCK_MACRO.match(text) or _BREAK.match(text) or text == "+":
            joined = text == "+"
            idx += 1
            continue
        if style in _CODE_STYLES or (line.startswith(" ") and not counters and
                                     (not idx or not lines[idx - 1].strip())):
            end = idx
            while end < n and lines[end].strip():
                end += 1
            _code(lines[idx:end], out)
            style, attr_line = "", ""
            idx = end
            continue
        idx += 1
        label = _LABELS.get(style.upper(), "")
        style, attr_line = "", ""
        if not joined and not _ORDERED.match(text) and not _BULLET.match(text):
            counters.clear()   # a paragraph after a blank line ends the list
        joined = True
        out.append(_paragraph_line(_HARD_BREAK.sub("", text), label, counters, doc))


def _paragraph_line(text: str, label: str, counters: list[int], doc: _Doc) -> str:
    """One line of text: an admonition's, a list item's or a description list's as shown."""
    m = _ADMONITION.match(text)
    if m:
        counters.clear()
        return f"{_LABELS[m.group(1)]}: {doc.inline(m.group(2))}"
    if label:
        return f"{label}: {doc.inline(text)}"
    m = _ORDERED.match(text)
    if m:
        level = len(m.group(1))
        del counters[level:]
        counters.extend([0] * (level - len(counters)))
        counters[level - 1] += 1
        return f"{counters[level - 1]}. {doc.inline(m.group(2))}"
    m = _BULLET.match(text)
    if m:
        return f"- {doc.inline(m.group(2))}"
    m = _CALLOUT.match(text)
    if m:
        return f"({m.group(1)}) {doc.inline(m.group(2))}"
    m = _DLIST.match(text)
    if m and not text.startswith(("http", "|")):
        term = doc.inline(m.group(1))
        counters.clear()   # each term's steps are a list of their own
        return f"{term}: {doc.inline(m.group(3))}" if m.group(3) else f"{term}:"
    return doc.inline(text)


def _cell_line(text: str, doc: _Doc, blocks: bool = True) -> str:
    """A line of a table cell as shown: an AsciiDoc cell's block title, admonition or list item
    read as in the text; its block macros (a picture), attributes and delimiters are not shown.
    A cell that holds text, not blocks (``blocks`` False: not an "a" cell), shows a line in
    brackets as written ("[pi4]")."""
    text = text.strip()
    if _BLOCK_MACRO.match(text) or (blocks and _ATTRS.match(text)) or _ANCHOR.match(text) \
            or _DELIM.match(text) or text.startswith("//"):
        return ""
    title = _BLOCK_TITLE.match(text)
    if title:
        return doc.inline(title.group(1))
    return _paragraph_line(text, "", [], doc)


def _delimited(delim: str, body: list[str], style: str, attr_line: str, doc: _Doc,
               out: list[str], depth: int) -> None:
    kind = delim[0]
    if kind == "/":
        return   # a comment block
    if kind in "|,:!" and delim[1:2] == "=":
        out.extend(read_table(body, delim[0], attr_line, lambda line, blocks: _cell_line(line, doc, blocks)))
        out.append("")
        return
    if kind in "-." and delim != "--" or delim.startswith("```") or style in _CODE_STYLES:
        _code(body, out)
        return
    if kind == "+":
        out.extend(re.sub(r"<[^<>]*>", " ", b).strip() for b in body if b.strip())
        return
    label = _LABELS.get(style.upper())
    if label:
        out.append(f"{label}:")
    if depth >= _MAX_DEPTH:
        out.extend(doc.inline(b.strip()) for b in body if b.strip())
    else:
        _read(body, doc, out, depth + 1)
    out.append("")


def adoc_lines(text: str) -> list[tuple[int | None, str]]:
    lines = _preprocess(text.split("\n"))
    doc = _Doc({}, _titles(lines))
    out: list[str] = []
    _read(lines, doc, out)
    return [(None, line) for line in out]


def parse_adoc(text: str) -> list[Section]:
    return build_sections(detect_headings(adoc_lines(text)))


__all__ = ["adoc_lines", "parse_adoc"]
