"""What documentation sites add to Markdown, read as their rendered pages show it.

A product's docs folder is rarely plain CommonMark. Jekyll, MkDocs, Hugo and Docusaurus sites put
markup in the text that their generator turns into boxes, tabs and attributes, and a technician
never sees it:
- template tags: Liquid ``{% alert warning %}`` / ``{% endif %}``, Hugo shortcodes
  ``{{< note >}}``; they go (the ``{{ value }}`` output form stays: where a site does not
  render it, it is what the page shows, and it is what the docs tell a user to type);
- attribute lists: kramdown ``{: .floater}``, ``{:target="_blank"}``, MkDocs
  ``{width=353}``, a heading's ``{#anchor}``; they go;
- admonitions: MkDocs ``!!! warning "Hot surface"`` / ``??? note``, Docusaurus
  ``:::tip Title`` ... ``:::``, GitHub ``> [!NOTE]``; the box's title is what stays, as a
  label ("Hot surface:", or the kind: "Warning:"), the markers go;
- MDX (``.mdx``): ``import`` / ``export`` statements and ``{/* comments */}`` go; a component
  tag (``<Tabs>``, ``<TabItem value="deb" label="Debian">``) goes, its ``label`` or ``title``
  stays, since that is what the rendered tab or box shows;
- a tag written over several lines (``<img`` and its attributes below it) is one tag, not
  attribute text.
Code fences are left as they are: what a manual tells the user to type is quoted verbatim.
"""

from __future__ import annotations

import re
from typing import Callable

# any indent: a fence inside a list item or an admonition's box is still code
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")

# Liquid "{% tag %}", Hugo "{{< shortcode >}}" and "{{% shortcode %}}": each closing mark with the
# opening marks it closes, Hugo's first ("{{%" holds "{%"). Each is looked for only before its
# closing mark's last place in the line (_templates_out): an opening mark after it cannot close,
# and a regex would read the rest of the line again from every one of them.
_TEMPLATES = (("%}}", re.compile(r"\{\{%.*?%\}\}")), (">}}", re.compile(r"\{\{<.*?>\}\}")),
              ("%}", re.compile(r"\{%-?.*?-?%\}")))
# {: .class}, {:target="_blank"}, {.class #id key=value}, {width=353}, a heading's {#anchor}
# (an unquoted value runs to a space or the brace, and each item is read once (atomic): "{:a=b.c=d"
# has one reading, where the items could split it 2^n ways, and a line of a hundred characters
# took hours to find that none closes; a value stops at the next "{", where the next list would
# start, so a line of lists that never close is read once)
_ATTR_ITEM = r"(?>[.#][A-Za-z_][\w-]*|[A-Za-z_][\w-]*=(?:\"[^\"]*\"|'[^']*'|[^\s{}\"']++(?=[\s}])))"
_ATTR_LIST = re.compile(r"\{:\s*(?:" + _ATTR_ITEM + r"\s*)*\}|\{\s*" + _ATTR_ITEM
                        + r"(?:\s+" + _ATTR_ITEM + r")*\s*\}")

# !!! kind "title" | !!! kind: text | !!! kind text   (also ??? and ???+, the folding boxes)
_MKDOCS_ADMONITION = re.compile(r"^\s*(?:!!!|\?\?\?\+?)\s*([A-Za-z][\w-]*)"
                                r"(?:\s+\"([^\"]*)\"|\s*:\s*(.*)|\s+(.*))?\s*$")
# :::kind[title] | :::kind{title="title"} | :::kind title
_DOCUSAURUS_OPEN = re.compile(r"^\s*:{3,}\s*([A-Za-z][\w-]*)"
                              r"(?:\[(.*)\]|\{\s*title=\"([^\"]*)\"\s*\}|\s+(.*))?\s*$")
_DOCUSAURUS_CLOSE = re.compile(r"^\s*:{3,}\s*$")
_GITHUB_ALERT = re.compile(r"^(\s*(?:>\s?)+)\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*(.*)$", re.I)

_ESM = re.compile(r"^(?:import|export)\b(?=\s|\{|\*)")
_MARKER_STARTS = ("!", "?", ":", ">")   # what an admonition marker's line starts with
_COMPONENT_START = re.compile(r"<(/?)[A-Z][\w.]*(?=[\s/>])")
_SHOWN_ATTR = re.compile(r"\b(?:label|title)=(?:\"([^\"]*)\"|'([^']*)'|\{[\"'`]([^\"'`]*)[\"'`]\})")
# a tag left open at the end of a line: "<img" or '<source media="..."' with its ">" below
_OPEN_TAG_END = re.compile(r"<[A-Za-z][\w.:-]*(?:\s[^<>]*)?$")
_MAX_TAG_LINES = 60


class Fences:
    """Where a page's code fences are, line by line. A fence closes with a run of its own
    character at least as long and nothing after it; a backtick run with a backtick after it
    ("```pip3 install x```") is a code span in a line of text, not a fence."""

    def __init__(self) -> None:
        self.mark = ""

    def step(self, line: str) -> str:
        """"fence" for a fence line, "code" for a line inside a fence, "" for text."""
        if not self.mark and "`" not in line and "~" not in line:
            return ""
        m = _FENCE.match(line)
        if self.mark:
            if m and m.group(1)[0] == self.mark[0] and len(m.group(1)) >= len(self.mark) \
                    and not m.group(2).strip():
                self.mark = ""
                return "fence"
            return "code"
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            self.mark = m.group(1)
            return "fence"
        return ""


def outside_code(text: str, fn: Callable[[str], str]) -> str:
    """``fn`` applied to the parts of a line outside its code spans (a span is what the user
    types: "`{% raw %}`" stays)."""
    out: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(text):
        out.append(fn(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(text[pos:]))
    return "".join(out)


def _title_line(kind: str, *titles: str | None) -> str:
    """What an admonition's box shows as its title, read as a manual prints a label before its
    text: "Hot surface:", or the box's kind, "Warning:". The colon keeps a box's title from
    being taken for a section heading: the box ends before the next paragraph, a section does
    not."""
    for title in titles:
        if title is not None:
            title = title.strip()
            return title + ":" if title and title[-1] not in ".:;!?" else title
    return kind[:1].upper() + kind[1:].lower() + ":"


def admonition(line: str) -> str | None:
    """The title line an admonition marker shows, or None when the line is no marker."""
    m = _MKDOCS_ADMONITION.match(line)
    if m:
        kind, quoted, after_colon, rest = m.groups()
        if after_colon is not None:    # "!!! warning: gpio 34 is input only" (no box, but meant)
            return f"{_title_line(kind)} {after_colon.strip()}".rstrip()
        return _title_line(kind, quoted, rest)
    m = _DOCUSAURUS_OPEN.match(line)
    if m:
        kind, bracket, attr, rest = m.groups()
        return _title_line(kind, bracket, attr, rest)
    if _DOCUSAURUS_CLOSE.match(line):
        return ""
    m = _GITHUB_ALERT.match(line)
    if m:
        quote, kind, rest = m.groups()
        return f"{quote}{_title_line(kind)} {rest.strip()}".rstrip()
    return None


def _depth_change(line: str, state: list[str]) -> int:
    """Net change of bracket depth over a line of JavaScript, strings skipped; ``state`` holds
    the quote a string left open at the line's end (template literals run over lines)."""
    depth = 0
    quote = state[0] if state else ""
    escaped = False
    for ch in line:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
    if quote in ("'", '"'):
        quote = ""     # a plain string does not run over lines
    state[:] = [quote] if quote else []
    return depth


class _Budget:
    """How much more the multi-line readings below may scan in one page: a few passes over it.
    A hostile page of lines that each open a tag or a statement and never close it would
    otherwise be read again from every line (quadratic); past the budget, such lines are
    read one by one."""

    def __init__(self, raw: list[str]) -> None:
        self.lines = 4 * len(raw) + 4096
        self.chars = 4 * sum(len(line) for line in raw) + 65536


def _esm_end(raw: list[str], start: int, budget: _Budget) -> int:
    """Index after an MDX ``import`` / ``export`` statement starting at ``raw[start]``: where
    its brackets close and the statement ends (";" or the next blank line or statement). When
    they never close (JavaScript this reading gets wrong), the block ends at the next blank
    line, as MDX itself ends an ESM block."""
    depth = 0
    state: list[str] = []
    for idx in range(start, len(raw)):
        budget.lines -= 1
        if budget.lines < 0:
            break
        depth += _depth_change(raw[idx], state)
        nxt = raw[idx + 1] if idx + 1 < len(raw) else ""
        if depth <= 0 and not state and (raw[idx].rstrip().endswith(";") or not nxt.strip()
                                         or _ESM.match(nxt)):
            return idx + 1
    for idx in range(start, len(raw)):
        if not raw[idx].strip():
            return idx
    return len(raw)


class _TagScan:
    """Where a tag ends: the first ">" outside its quoted and braced attribute values
    (``values={[{label: (<>Android</>)}]}`` holds ">" of its own), fed a line at a time."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote = ""

    def feed(self, text: str, start: int = 0) -> int:
        """Offset in ``text`` after the closing ">", or -1 when the tag goes on."""
        for pos in range(start, len(text)):
            ch = text[pos]
            if self.quote:
                if ch == self.quote:
                    self.quote = ""
            elif ch in "\"'" and self.depth == 0 or ch == "`" and self.depth > 0:
                self.quote = ch
            elif ch == "{":
                self.depth += 1
            elif ch == "}":
                self.depth -= 1
            elif ch == ">" and self.depth <= 0:
                return pos + 1
        return -1


def _tag_end(text: str, start: int = 0) -> int:
    """Offset after the ">" that ends the tag opening at ``text[start]``, or -1."""
    return _TagScan().feed(text, start)


def _join_open_tags(raw: list[str], idx: int, budget: _Budget) -> tuple[str, int]:
    """``raw[idx]`` with the lines that finish a tag it leaves open joined to it, and the index
    after them (a tag that never closes within a few lines is left as it is)."""
    line = raw[idx]
    m = _OPEN_TAG_END.search(line)
    if not m or budget.chars <= 0:
        return line, idx + 1
    scan = _TagScan()
    budget.chars -= len(line) - m.start()
    if scan.feed(line, m.start()) >= 0:
        return line, idx + 1
    html = not m.group(0)[1:2].isupper()
    for end in range(idx + 1, min(len(raw), idx + 1 + _MAX_TAG_LINES)):
        if (html and not raw[end].strip()) or budget.chars <= 0:
            break    # an HTML tag does not run over a blank line; a component's values may
        budget.chars -= len(raw[end]) + 1
        if scan.feed(" " + raw[end].strip()) >= 0:
            return " ".join(part.strip() for part in raw[idx:end + 1]), end + 1
    return line, idx + 1


def _components(text: str) -> str:
    """``text`` without its component tags (``<Tabs ...>``, ``</TabItem>``, ``<Icon ... />``),
    each replaced by the label or title it shows, if any."""
    if "<" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _COMPONENT_START.finditer(text):
        if m.start() < pos:
            continue     # inside the attributes of the tag just taken out
        end = _tag_end(text, m.start())
        if end < 0:
            break
        out.append(text[pos:m.start()])
        shown = None if m.group(1) else _SHOWN_ATTR.search(_top_level(text[m.end():end]))
        out.append(" " if shown is None else " " + next(g for g in shown.groups() if g is not None) + " ")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _top_level(attrs: str) -> str:
    """A tag's attributes with the insides of their braced values blanked: a label inside
    ``values={[...]}`` is the tab's, not this tag's."""
    out: list[str] = []
    depth = 0
    for ch in attrs:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        out.append(ch if depth <= 0 and ch != "}" else " ")
    return "".join(out)


def _templates_out(part: str) -> str:
    for close, pattern in _TEMPLATES:
        end = part.rfind(close)
        if end >= 0:
            end += len(close)
            part = pattern.sub(" ", part[:end]) + part[end:]
    return part


def site_markup(line: str) -> str:
    """One line outside code fences with its template tags, attribute lists and component
    tags taken out (code spans kept)."""
    def clean(part: str) -> str:
        part = _templates_out(part)
        part = _ATTR_LIST.sub("", part)
        return _components(part)

    if "{" not in line and "<" not in line:
        return line
    cleaned = outside_code(line, clean)
    return cleaned if cleaned.strip() or not line.strip() else ""


def _drop_jsx_comments(raw: list[str]) -> list[str]:
    """MDX comments (``{/* ... */}``, over several lines too) out; each leaves its line breaks,
    so nothing else moves. One that never closes is left as it is."""
    text = "\n".join(raw)
    if "{/*" not in text:
        return raw
    out: list[str] = []
    pos = 0
    while True:
        start = text.find("{/*", pos)
        end = text.find("*/}", start + 3) if start >= 0 else -1
        if end < 0:
            break
        out.append(text[pos:start])
        out.append("\n" * text.count("\n", start, end))
        pos = end + 3
    out.append(text[pos:])
    return "".join(out).split("\n")


def site_lines(raw: list[str], mdx: bool = False) -> list[str]:
    """The lines of a Markdown page (front matter and comments already gone) as its site renders
    them: see the module docstring. Code fences pass through untouched."""
    if mdx:
        raw = _drop_jsx_comments(raw)
    out: list[str] = []
    fences = Fences()
    budget = _Budget(raw)
    idx = 0
    while idx < len(raw):
        line = raw[idx]
        if fences.step(line):
            out.append(line)
            idx += 1
            continue
        if mdx and _ESM.match(line):
            end = _esm_end(raw, idx, budget)
            out.extend([""] * (end - idx))
            idx = end
            continue
        if "<" in line:
            line, idx = _join_open_tags(raw, idx, budget)
        else:
            idx += 1
        title = admonition(line) if line.lstrip()[:1] in _MARKER_STARTS else None
        out.append(site_markup(line) if title is None else title)
    return out


__all__ = ["Fences", "admonition", "outside_code", "site_lines", "site_markup"]
