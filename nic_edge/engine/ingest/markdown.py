"""Markdown manuals: ``#`` and setext headings give the sections; inline markup is dropped.

Chunk text is what answers quote, so it is the page as rendered: links keep their words
(``[the pump](x.md)`` -> ``the pump``; an autolink ``<https://...>`` its address), emphasis
markers, HTML tags and comments go, code spans keep what they hold (``USE_MP3_PLAYER`` keeps its
underscores), backslash escapes and entity references are the characters they stand for, a
thematic break is no text, and list markers and table pipes stay (they carry structure a reader
expects to see). What documentation sites add (template tags, attribute lists, admonitions, MDX)
is read in mdsite.py; a page whose text has no first-level heading is headed by its front
matter's ``title:``, as its site shows it. Manual-style headings in plain lines (``Para 1-2:
...``) are recognised too, since manuals converted to Markdown often keep them as text.
"""

from __future__ import annotations

import html
import re

from nic_edge.engine.ingest import delimited
from nic_edge.engine.ingest.delimited import Delim
from nic_edge.engine.ingest.html import html_lines
from nic_edge.engine.ingest.mdsite import Fences, site_lines
from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HRULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")   # a thematic break: a line, not text
# What a line's inline rules must not touch is first hidden in private-use characters and shown
# again at the end: an escaped character ("\*" is a literal "*"), a character written as an entity
# ("&lt;b&gt;" is text, not a tag) and a code span (`USE_ESP32_TWAI` keeps its underscores).
_LITERAL = re.compile(r"\\([!-/:-@\[-`{-~])"                 # an escape
                      r"|(`+)(.+?)(?<!`)\2(?!`)"               # a code span
                      r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")   # an entity
# (in Supplementary Private Use Area-A, which no font draws: icon fonts such as Apple's logo,
# U+F8FF, use the BMP's private area, and a line may hold them)
_HIDE_BASE = 0xF0000     # + an ASCII punctuation character
_CODE_BASE = 0xF0100     # + the number of a code span in the line
_MAX_SPANS = 0xFFFFD - _CODE_BASE
_PRIVATE = re.compile("[\U000F0000-\U000FFFFF]")
_CODE_MARK = re.compile("[\U000F0100-\U000FFFFD]")
# Bracket and tag contents stop at the next opening bracket (or tag): each scan ends where the
# next one starts, so a line of "[a [a [a" or "<a <a <a" is read once, not once from every mark.
_IMAGE = re.compile(r"!\[([^\[\]]*)\]\([^()]*(?:\([^()]*\)[^()]*)*\)")
_LINK = re.compile(r"\[([^\[\]]+)\]\([^()]*(?:\([^()]*\)[^()]*)*\)|\[([^\[\]]+)\]\[[^\[\]]*\]")
# Emphasis, as ``(\*\*|\*)(?=\S)(.+?)(?<=\S)\1`` and
# ``(?<![A-Za-z0-9])(__|_)(?=\S)(.+?)(?<=\S)\3(?![A-Za-z0-9])`` read it, in linear time
# (delimited.py); "_" marks emphasis only at a word's edge (CommonMark): snake_case_names keep theirs
_ALNUM = re.compile("[A-Za-z0-9]")
_EMPHASIS = (Delim("**"), Delim("*"), Delim("__", _ALNUM, _ALNUM), Delim("_", _ALNUM, _ALNUM))
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# CommonMark autolinks: the address is the text ("see <https://acme.example/pumps>")
_AUTOLINK = re.compile(r"<((?:[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*)|(?:[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+))>")
# block-level HTML ends a run of words: "<summary>Advanced</summary>Set" is two phrases
_BLOCK_TAG = re.compile(r"</?(?:p|div|br|hr|li|ul|ol|tr|td|th|table|details|summary|section|dd|dt|dl"
                        r"|blockquote|figure|figcaption|caption|h[1-6])\b[^<>]*>", re.I)
_HIDDEN_OPEN = re.compile(r"<!--|<(script|style)\b[^<>]*>", re.I)
_COMMENT_END = re.compile(r"-->")
_QUOTE = re.compile(r"^ {0,3}(?:>\s?)+")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")
_H1 = re.compile(r"^ {0,3}#[ \t]+\S")
_SETEXT_H1 = re.compile(r"^ {0,3}=+[ \t]*$")
# an HTML table as a block of the page (README files on code hosts write them), after any tags
# that wrap it ('<div align="center">'), and a table tag's opening and closing marks
_TABLE_BLOCK = re.compile(r"^ {0,3}(?:<(?!table\b)[A-Za-z][^<>]*>\s*)*<table\b", re.I)
_TABLE_MARK = re.compile(r"<(/?)table\b", re.I)
_TITLE = re.compile(r"^title:[ \t]*(?P<q>[\"']?)(?P<title>.*?)(?P=q)[ \t]*$")


def _has_h1(raw: list[str]) -> bool:
    """Does the text (outside code fences: "# install" in a shell block is no heading) hold a
    first-level heading?"""
    fences = Fences()
    prev = ""
    for line in raw:
        if not fences.step(line) and (_H1.match(line) or (prev.strip() and _SETEXT_H1.match(line))):
            return True
        prev = line
    return False


def _page_title(front: list[str]) -> str | None:
    """The ``title:`` of a page's front matter (quoted or not), if it has one on one line."""
    for line in front:
        m = _TITLE.match(line)
        if m and m.group("title").strip() and m.group("title").strip() not in ("|", ">", "|-", ">-"):
            return m.group("title").strip()
    return None


_SHOW_ESCAPES = {_HIDE_BASE + c: chr(c) for c in range(0x21, 0x7F)}


def _hide_literals(text: str, spans: list[str]) -> str:
    def hide(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return chr(_HIDE_BASE + ord(m.group(1)))
        if m.group(2) is not None:
            if len(spans) >= _MAX_SPANS:
                return m.group(3)
            spans.append(m.group(3))
            return chr(_CODE_BASE + len(spans) - 1)
        char = html.unescape(m.group(0))
        return chr(_HIDE_BASE + ord(char)) if len(char) == 1 and 0x21 <= ord(char) < 0x7F else char
    return _LITERAL.sub(hide, text)


def strip_inline(text: str) -> str:
    """A Markdown line's words as rendered: links by their text, emphasis and tags gone, code
    spans as written, backslash escapes and entity references ("&lt;", "&#60;") as the
    characters they stand for."""
    spans: list[str] = []
    # a line that holds characters of that area itself cannot have anything hidden in them:
    # its entities are read at the end, its escapes and code spans left as written
    hide = not _PRIVATE.search(text)
    if hide and "\\|" in text:   # a table cell's escaped pipe, in a code span too (GFM)
        text = text.replace("\\|", chr(_HIDE_BASE + ord("|")))
    if hide and ("\\" in text or "`" in text or "&" in text):
        text = _hide_literals(text, spans)
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    for _ in range(3):   # nested: "_**powering up**_"
        text, n = delimited.subn(text, _EMPHASIS, lambda _mark, inner: inner)
        if not n:
            break
    text = _AUTOLINK.sub(lambda m: m.group(1), text)
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", text))
    if not hide:
        return normalize_line(html.unescape(text) if "&" in text else text)
    if spans:
        text = _CODE_MARK.sub(lambda m: spans[ord(m.group()) - _CODE_BASE]
                              if ord(m.group()) - _CODE_BASE < len(spans) else m.group(), text)
    return normalize_line(text.translate(_SHOW_ESCAPES))


def _unhidden(line: str) -> tuple[str, re.Pattern[str] | None]:
    """``line`` without its comments and scripts, and what closes the one it leaves open (None
    when it closes all). Each is looked for from where the last ended: one pass over the line,
    where a regex would read an unclosed ``<!--`` from every one of them to the line's end."""
    kept: list[str] = []
    pos = 0
    while True:
        m = _HIDDEN_OPEN.search(line, pos)
        if m is None:
            kept.append(line[pos:])
            return "".join(kept), None
        kept.append(line[pos:m.start()])
        end_mark = _COMMENT_END if m.group(0) == "<!--" else re.compile(rf"</{m.group(1)}\s*>", re.I)
        end = end_mark.search(line, m.end())
        if end is None:
            return "".join(kept), end_mark
        pos = end.end()


def _drop_comments(raw: list[str]) -> list[str]:
    """HTML comments (``<!-- internal: ... -->``, one line or several) and the insides of
    ``<script>``/``<style>`` removed outside code fences: a rendered manual never shows them,
    so answers must not quote them (CSS and JavaScript were quoted as manual text)."""
    out: list[str] = []
    fences = Fences()
    end_mark: re.Pattern[str] | None = None   # what closes the hidden range we are in
    for line in raw:
        if end_mark is not None:
            m = end_mark.search(line)
            if m is None:
                out.append("")
                continue
            line, end_mark = line[m.end():], None
            code = False
        else:
            code = bool(fences.step(line))
        if not code:
            line, end_mark = _unhidden(line)
        out.append(line)
    return out


def _cells_inline(line: str) -> str:
    """A line read from an HTML block with the Markdown in it read, cell by cell in a table row;
    a cell that shows a "<" is left as it is."""
    if line.startswith(HEADING_MARK) or not any(c in line for c in "*_[`\\&"):
        return line
    if not (line.startswith("| ") and line.endswith(" |")):
        return line if "<" in line else strip_inline(line)
    cells = line[2:-2].split(" | ")
    return "| " + " | ".join(c if "<" in c or not c else strip_inline(c) for c in cells) + " |"


def _html_tables(raw: list[str]) -> dict[int, tuple[int, list[str]]]:
    """The HTML tables written as blocks of the page (outside code fences), each read as
    ingest/html.py reads a table ("| a | b |" rows, a rule under a header row; before, each
    cell was a line of its own and a row's figures were parted from its name): the first line
    of each -> (the line after its block, its lines). A block runs to the line that closes its
    table (tables nested in it counted), or, when none does, to a blank line as CommonMark ends
    an HTML block. Markdown in a cell (GitHub renders it where blank lines set it apart) is read
    as in a line of text, unless the cell shows a "<" (a placeholder "<host>" is text there)."""
    blocks: dict[int, tuple[int, list[str]]] = {}
    fences = Fences()
    code = [bool(fences.step(line)) for line in raw]
    # depth[k]: table tags opened less closed before line k (outside code). A block from line i
    # closes at the first line j > i with depth[j] <= depth[i]: found for every line in one pass
    # (a stack), where scanning from each unclosed table to the page's end took quadratic time.
    depth = [0]
    for k, line in enumerate(raw):
        d = 0
        if not code[k] and "<" in line:
            for m in _TABLE_MARK.finditer(line):
                d += -1 if m.group(1) else 1
        depth.append(depth[-1] + d)
    closes: dict[int, int] = {}
    stack: list[int] = []
    for j, d in enumerate(depth):
        while stack and depth[stack[-1]] >= d:
            closes[stack.pop()] = j
        stack.append(j)
    blank = len(raw)   # the first blank line after each line, from the end
    after_blank: list[int] = [len(raw)] * len(raw)
    for k in range(len(raw) - 1, -1, -1):
        after_blank[k] = blank
        if not raw[k].strip():
            blank = k
    idx = 0
    while idx < len(raw):
        if code[idx] or not _TABLE_BLOCK.match(raw[idx]):
            idx += 1
            continue
        end = closes.get(idx)
        if end is None or end <= idx:
            end = after_blank[idx]
        lines = [t for _, t in html_lines("\n".join(raw[idx:end]))]
        blocks[idx] = (end, [_cells_inline(t) for t in lines])
        idx = end
    return blocks


def markdown_lines(text: str, mdx: bool = False) -> list[tuple[int | None, str]]:
    raw = text.split("\n")
    title = None
    if raw and raw[0].strip() == "---":  # YAML front matter is metadata, not manual text
        for idx in range(1, len(raw)):
            if raw[idx].strip() in ("---", "..."):
                title = _page_title(raw[1:idx])
                raw = raw[idx + 1:]
                break
    raw = site_lines(_drop_comments(raw), mdx)
    lines: list[tuple[int | None, str]] = []
    if title and not _has_h1(raw):
        # The site shows the page's title as its first heading when the text has none (Jekyll,
        # MkDocs, Docusaurus): without it the text before the first "##" had no heading.
        lines.append((None, HEADING_MARK + strip_inline(title)))
    tables = _html_tables(raw) if "<" in text else {}
    fences = Fences()
    skip_to = 0
    for idx, line in enumerate(raw):
        if idx < skip_to:
            continue
        if idx in tables:
            skip_to, block = tables[idx]
            lines += [(None, t) for t in block]
            continue
        where = fences.step(line)
        if where == "fence":
            lines.append((None, ""))
            continue
        if where == "code":
            lines.append((None, normalize_line(line)))
            continue
        m = _ATX.match(line)
        if m:
            lines.append((None, HEADING_MARK + strip_inline(m.group(2))))
            continue
        nxt = raw[idx + 1] if idx + 1 < len(raw) else ""
        if line.strip() and _SETEXT.match(nxt) and not line.lstrip().startswith(("-", "*", "|")):
            lines.append((None, HEADING_MARK + strip_inline(line)))
            continue
        if _SETEXT.match(line) and lines and lines[-1][1].startswith(HEADING_MARK):
            continue  # the underline of a setext heading
        if _LINK_DEF.match(line):
            continue
        if _HRULE.match(line):
            lines.append((None, ""))
            continue
        lines.append((None, strip_inline(_QUOTE.sub("", line))))
    return lines


def parse_markdown(text: str, mdx: bool = False) -> list[Section]:
    """Sections of a Markdown page; ``mdx`` for MDX (its import/export statements and
    comments are code, not text)."""
    return build_sections(detect_headings(markdown_lines(text, mdx)))
