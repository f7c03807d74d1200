"""reStructuredText manuals (.rst, the source of Sphinx documentation), read as the built page
shows them, with no extra package:
- section titles are the lines underlined (and maybe overlined) with a row of punctuation;
- admonitions (``.. note::``, ``.. warning::``, ``.. admonition:: Hot surface``) keep their
  title as a label ("Note:", "Hot surface:") and their text; version notes read "New in
  version 1.2:";
- code (``.. code-block::``, a paragraph ending in ``::`` and the indented block after it) is
  kept as written, the ``::`` read as the ":" the page shows;
- what the page does not show goes: comments, link targets, substitution definitions,
  ``toctree``, ``contents``, ``index``, ``image``, ``raw`` and ``include`` directives, option
  lines (``:maxdepth: 1``);
- an API entry (``.. function:: freq([hz])``) keeps its signature as a line; a figure its
  caption; a ``list-table`` or ``csv-table`` is read one row a line, cells between pipes, as
  are simple tables (their border rows go) and grid tables, cell by cell (rst_grid.py: a cell
  over several lines is one cell, the rows above ``+===+`` a header);
- inline markup is read as rendered: roles by their text (``:ref:`the guide <intro>``` -> "the
  guide", ``:kbd:`Ctrl-E``` -> "Ctrl-E"), ``literals``, emphasis, hyperlinks by their text,
  footnote references out, substitutions replaced, escapes as their characters.
"""

from __future__ import annotations

import csv
import re

from nic_edge.engine.ingest import delimited
from nic_edge.engine.ingest.delimited import Delim
from nic_edge.engine.ingest.ocr import normalize_line
from nic_edge.engine.ingest.rst_grid import GRID_BORDER, grid_table
from nic_edge.engine.ingest.tablegrid import pipe_rows
from nic_edge.engine.ingest.structure import HEADING_MARK, Section, build_sections, detect_headings

_ADORN = "=-`:'\"~^_*+#<>.!$%&(),/;?@[\\]{|}"
_UNDERLINE = re.compile(r"^([" + re.escape(_ADORN) + r"])\1{2,}\s*$")
_EXPLICIT = re.compile(r"^(\s*)\.\.(?:\s+(.*))?$")
_DIRECTIVE = re.compile(r"^([\w:.+-]+)::(?:\s+(.*))?$")
_TARGET = re.compile(r"^_[^:]*:|^__:|^\[[^\]]+\]")          # ".. _label:", ".. __:", footnote bodies
_SUBST_DEF = re.compile(r"^\|([^|]+)\|\s+([\w-]+)::\s*(.*)$")
_OPTION = re.compile(r"^:[\w -]+:(?:\s|$)")
_ADMONITIONS = {"note": "Note", "warning": "Warning", "caution": "Caution", "danger": "Danger",
                "important": "Important", "tip": "Tip", "hint": "Hint", "attention": "Attention",
                "error": "Error", "seealso": "See also", "todo": "To do"}
_VERSIONS = {"versionadded": "New in version", "versionchanged": "Changed in version",
             "deprecated": "Deprecated since version", "versionremoved": "Removed in version"}
_CODE = frozenset({"code-block", "code", "sourcecode", "doctest", "testcode", "testoutput",
                   "parsed-literal", "productionlist", "math", "highlight-block"})
_DROPPED = frozenset({"toctree", "contents", "index", "image", "raw", "include", "literalinclude",
                      "highlight", "meta", "tabularcolumns", "sectionauthor", "moduleauthor",
                      "currentmodule", "automodule", "autoclass", "autofunction", "automethod",
                      "autodata", "autoattribute", "autosummary", "graphviz", "only-html", "spelling",
                      "default-role", "role", "codeauthor", "youtube", "raw-html", "ifconfig",
                      "program", "py:currentmodule", "c:namespace"})
# a role starts where its name does, not after a letter (docutils' start rule): a line of "a:a:a"
# is read once, not again from each colon to where the names end
_ROLE = re.compile(r"(?<![\w:.+-]):[\w:.+-]+:`((?:[^`\\]|\\.)+)`")
_LITERAL = re.compile(r"``(.+?)``")
_LINK = re.compile(r"`((?:[^`\\]|\\.)+?)(?:\s*<[^<>`]*>)?`__?")
_INTERPRETED = re.compile(r"`([^`]+)`")
# strong ``\*\*(\S(?:.*?\S)?)\*\*`` and emphasis ``(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])``, read in
# linear time (delimited.py)
_WORD_OR_STAR = re.compile(r"[\w*]")
_STRONG = (Delim("**", one_char_last=True),)
_EMPH = (Delim("*", _WORD_OR_STAR, _WORD_OR_STAR, one_char_last=True),)
_FOOTREF = re.compile(r"\s?\[(?:\d+|#[\w-]*|\*|[A-Za-z][\w-]*)\]_")
_TOKEN = re.compile(r"\S+")
_REFNAME_MAX = 80
_REFNAME = re.compile(r"\b([A-Za-z][\w-]*)__?(?=[\s.,;:!?)]|$)")
_SUBST = re.compile(r"\|([^|\s][^|]*?)\|(?:__?)?")
_ESCAPE = re.compile(r"\\(.)")
_SIMPLE_RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")
_FIELD = re.compile(r"^(\s*):([^:`][^:]*):(?:\s+(.*))?$")


def _inline(text: str, subst: dict[str, str]) -> str:
    text = _ROLE.sub(lambda m: _role_text(m.group(1)), text)
    text = _LITERAL.sub(lambda m: m.group(1), text)
    text = _SUBST.sub(lambda m: subst.get(m.group(1).strip(), m.group(1)), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _INTERPRETED.sub(lambda m: m.group(1), text)
    text = delimited.subn(text, _STRONG, _inner)[0]
    text = delimited.subn(text, _EMPH, _inner)[0]
    text = _FOOTREF.sub("", text)
    if "_" in text:
        text = _TOKEN.sub(_token_refname, text)
    return normalize_line(_ESCAPE.sub(lambda m: m.group(1), text))


def _token_refname(m: re.Match[str]) -> str:
    """A word's reference mark taken out ("pyserial_" -> "pyserial"), in words of a name's
    length: a longer run of letters and hyphens is no reference name, and a regex reads such a
    run again from every hyphen in it."""
    token = m.group(0)
    if "_" not in token or len(token) > _REFNAME_MAX:
        return token
    return _REFNAME.sub(lambda r: r.group(1), token)


def _inner(_mark: Delim, inner: str) -> str:
    return inner


def _role_text(inner: str) -> str:
    # "text <target>": the text before the last "<", when only the target follows it (found
    # from the end: a regex reads the role again from every "<" of "a <b <c ...")
    body = inner[:-1] if inner.endswith("\n") else inner   # as "$" reads a last line break
    cut = body.rfind("<")
    lead = body[:cut].rstrip() if body.endswith(">") and 0 <= cut < len(body) - 2 \
        and ">" not in body[cut + 1:-1] else ""
    text = lead or inner
    if text.startswith("~"):   # :func:`~machine.freq` shows "freq"
        return text[1:].rsplit(".", 1)[-1]
    return text.lstrip("!")


def _open_markup(text: str) -> bool:
    """Does the line leave a ``literal`` or a `role or link` open (its end is on a later line)?"""
    return text.count("``") % 2 == 1 or text.replace("``", "").count("`") % 2 == 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the block of lines indented deeper than ``indent`` (blank lines inside)."""
    end = start
    idx = start
    while idx < len(lines):
        if lines[idx].strip():
            if _indent(lines[idx]) <= indent:
                break
            end = idx + 1
        idx += 1
    return end


def _is_title(lines: list[str], idx: int) -> bool:
    """Is ``lines[idx]`` a section title: unindented text over a row of one punctuation
    character (an overline above it, if any, is the same row)?"""
    line = lines[idx]
    if not line.strip() or line[0] == " " or idx + 1 >= len(lines):
        return False
    under = lines[idx + 1].rstrip()
    m = _UNDERLINE.match(under)
    if not m or _UNDERLINE.match(line.rstrip()) or _SIMPLE_RULE.match(under) or len(under) < 3:
        return False
    return len(under) >= min(len(line.rstrip()), 4) and not GRID_BORDER.match(under)


def _table_rows(kind: str, body: list[str], subst: dict[str, str]) -> list[str]:
    rows: list[list[str]] = []
    if kind == "csv-table":
        try:
            rows = [r for r in csv.reader([b.strip() for b in body if b.strip()], skipinitialspace=True)]
        except csv.Error:
            rows = [[b.strip()] for b in body if b.strip()]
    else:   # list-table: "* - a" starts a row, "  - b" the next cell; deeper lines go on a cell
        for line in body:
            s = line.strip()
            if s.startswith("* -"):
                rows.append([s[3:].strip()])
            elif s.startswith("- ") and rows:
                rows[-1].append(s[2:].strip())
            elif s == "-" and rows:
                rows[-1].append("")
            elif s and rows:
                rows[-1][-1] = f"{rows[-1][-1]} {s}".strip()
    return ["| " + " | ".join(_inline(c, subst).replace("|", "/") for c in row) + " |"
            for row in rows if any(row)]


def _simple_table(lines: list[str], start: int) -> tuple[list[str], int]:
    """A simple table (rows between ``=====  =====`` rules) as pipe rows, and the index after it."""
    rule = lines[start]
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]
    rows: list[str] = []
    idx = start + 1
    rules = 1
    while idx < len(lines):
        line = lines[idx]
        if _SIMPLE_RULE.match(line) or re.match(r"^\s*-+(?:\s+-+)+\s*$", line):
            rules += _SIMPLE_RULE.match(line) is not None
            idx += 1
            if rules >= 3 or (rules == 2 and (idx >= len(lines) or not lines[idx].strip())):
                break
            continue
        if not line.strip():
            idx += 1
            continue
        cells = [line[a:(spans[k + 1][0] if k + 1 < len(spans) else len(line))].strip()
                 for k, (a, _b) in enumerate(spans)]
        rows.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        idx += 1
    return rows, idx


_MAX_DEPTH = 20   # directives nested deeper are read as plain lines (a hostile file, not a manual)


def _dedent(block: list[str]) -> list[str]:
    width = min((_indent(b) for b in block if b.strip()), default=0)
    return [b[width:] if b.strip() else "" for b in block]


def _code(block: list[str], out: list[str]) -> None:
    """Code as written, set apart from the text around it by blank lines (inside it, a line
    that starts in lower case goes on the one before, as in a Markdown manual's code)."""
    out.append("")
    out.extend(normalize_line(b) for b in block if b.strip())
    out.append("")


def _directive_body(block: list[str]) -> list[str]:
    """A directive's content: its option lines (``:maxdepth: 1``) left out, dedented."""
    body = _dedent(block)
    idx = 0
    while idx < len(body) and body[idx].strip() and _OPTION.match(body[idx].strip()):
        idx += 1
    return body[idx:]


def _read(lines: list[str], subst: dict[str, str], out: list[str], depth: int = 0) -> None:
    """Append the rendered lines of ``lines`` to ``out`` (HEADING_MARK before a title)."""
    idx = 0
    n = len(lines)
    text_until = 0   # lines before this are no grid table (grid_table found none)
    while idx < n:
        line = lines[idx].replace("\t", "    ").rstrip()
        text = line.strip()
        if not text:
            out.append("")
            idx += 1
            continue
        if depth == 0 and _UNDERLINE.match(text) and idx + 2 < n and lines[idx + 1].strip() \
                and lines[idx + 2].strip() == text:   # a title between an overline and an underline
            out.append(HEADING_MARK + _inline(lines[idx + 1].strip(), subst))
            idx += 3
            continue
        if depth == 0 and _is_title(lines, idx):
            out.append(HEADING_MARK + _inline(text, subst))
            idx += 2
            continue
        border = GRID_BORDER.match(line)
        if border and idx >= text_until:
            rows, head, end = grid_table(lines, idx)
            if rows:
                cells = [[(_inline(t, subst).replace("|", "/"), k < head, down, n) for t, n, down in row]
                         for k, row in enumerate(rows)]
                out.extend(pipe_rows(cells))
                idx = end
                continue
            text_until = end   # no table: its lines are read as text, and not tried again
        if border or (_UNDERLINE.match(text) and len(text) >= 4):
            idx += 1   # a border alone, or a transition (a row of punctuation on its own)
            continue
        if _SIMPLE_RULE.match(line):
            rows, idx = _simple_table(lines, idx)
            out.extend(_inline(r, subst) for r in rows)
            continue
        m = _EXPLICIT.match(line)
        if m:
            idx = _explicit(lines, idx, m, subst, out, depth)
            continue
        field = _FIELD.match(line)
        if field and not text.startswith(":" + ":"):
            out.append(_inline(f"{field.group(2).strip()}: {field.group(3) or ''}".strip(), subst))
            idx += 1
            continue
        if text.startswith("| ") or text == "|":   # a line block
            text = text[1:].strip()
        while _open_markup(text) and idx + 1 < n and lines[idx + 1].strip() and text.count(" \n") < 4:
            idx += 1   # a role, literal or link broken over lines: read as one line
            text = f"{text} \n{lines[idx].strip()}"
        text = text.replace(" \n", " ")
        if text.endswith("::"):
            lead = text[:-2]
            lead = lead.rstrip() if lead.endswith(" ") else (lead + ":" if lead else "")
            if lead:
                out.append(_inline(lead, subst))
            start = idx + 1
            while start < n and not lines[start].strip():
                start += 1
            # the block runs while lines are indented at least as deep as its first one (a list
            # item's "Output is::" after its code, indented less, is text again)
            end = _block_end(lines, start, _indent(lines[start]) - 1) \
                if start < n and _indent(lines[start]) > _indent(line) else start
            _code(lines[start:end], out)
            idx = max(end, idx + 1)
            continue
        out.append(_inline(text, subst))
        idx += 1


def _explicit(lines: list[str], idx: int, m: re.Match[str], subst: dict[str, str], out: list[str],
              depth: int) -> int:
    """Read the explicit markup block at ``lines[idx]`` (directive, comment, target,
    substitution definition); the index after it."""
    indent, rest = len(m.group(1)), (m.group(2) or "").strip()
    end = _block_end(lines, idx + 1, indent)
    block = lines[idx + 1:end]
    if not rest or _TARGET.match(rest):
        return end   # a comment or a link target: not shown
    sd = _SUBST_DEF.match(rest)
    if sd:
        if sd.group(2) in ("replace", "unicode"):
            subst[sd.group(1).strip()] = " ".join([sd.group(3)] + [b.strip() for b in block if b.strip()])
        return end
    d = _DIRECTIVE.match(rest)
    if d is None:
        return end   # ".. any text" is a comment
    name, arg = d.group(1).lower(), (d.group(2) or "").strip()
    base = name.split(":")[-1]
    body = _directive_body(block)
    if base in _DROPPED or name in _DROPPED:
        return end
    if base in _CODE:
        _code(body, out)
        return end
    if base in ("list-table", "csv-table"):
        if arg:
            out.append(_inline(arg, subst))
        out.extend(_table_rows(base, body, subst))
        out.append("")
        return end
    if base in _ADMONITIONS or base in _VERSIONS or base == "admonition":
        label = _VERSIONS.get(base) or _ADMONITIONS.get(base)
        if base in _VERSIONS:   # ".. versionadded:: 1.2 text" -> "New in version 1.2: text"
            version, _, said = arg.partition(" ")
            head, arg = f"{label} {version}:", said
            first = next((k for k, b in enumerate(body) if b.strip()), None)
            if not said and first is not None and not body[first].rstrip().endswith("::"):
                arg, body = body[first].strip(), body[first + 1:]   # its text goes on the same line
        else:
            head = f"{label}:" if label else (f"{arg}:" if arg and arg[-1] not in ".:;!?" else arg)
            arg = arg if label else ""
        out.append(_inline(head + (f" {arg}" if arg else ""), subst))
    elif base == "figure":
        pass   # the picture's file name is not text; a figure's caption and legend are
    elif arg:
        out.append(_inline(arg, subst))   # an API signature, a rubric, a topic or tab title
    if depth >= _MAX_DEPTH:
        out.extend(_inline(b.strip(), subst) for b in body if b.strip())
    else:
        _read(body, subst, out, depth + 1)
    out.append("")
    return end


def rst_lines(text: str) -> list[tuple[int | None, str]]:
    lines = text.split("\n")
    subst: dict[str, str] = {}
    for line in lines:   # substitutions may be defined after their use
        m = _EXPLICIT.match(line)
        sd = _SUBST_DEF.match((m.group(2) or "").strip()) if m else None
        if sd and sd.group(2) in ("replace", "unicode"):
            subst[sd.group(1).strip()] = sd.group(3).strip()
    out: list[str] = []
    _read(lines, subst, out)
    return [(None, line) for line in out]


def parse_rst(text: str) -> list[Section]:
    return build_sections(detect_headings(rst_lines(text)))


__all__ = ["parse_rst", "rst_lines"]
