"""The blind BEIR sets written as manuals in the layouts of tools/eval_text_render.py (its
docstring describes each style): Markdown and text exports, reStructuredText (list or grid
tables), AsciiDoc, HTML (a page, or Markdown with HTML tables), OpenDocument, Word and PDF.
The office and PDF writers are the test suite's (tests/support), so the repository root must be
on ``sys.path``, as eval_text_render.py puts it."""

from __future__ import annotations

import html
import re
import textwrap


def render(records: list[dict], style: str) -> str:
    """The records as one manual in ``style`` (see the module docstring)."""
    lines: list[str] = []
    for i, rec in enumerate(records):
        title = (rec.get("title") or "").strip() or "Untitled"
        text = rec["text"].strip()
        if style == "wrap":
            lines.append(title)
            lines += [w for para in text.split("\n") for w in textwrap.wrap(para, 80)]
            continue
        number = "" if title[0].isdigit() else f"{i // 6 + 1}.{i % 6 + 1} "   # (a title may have its own)
        head = {"md": f"## {title}", "decimal": f"{number}{title}",
                "plain": title, "caps": title.upper()}[style]
        lines += [head, "", text, ""]
    return "\n".join(lines) + "\n"


_ITEM = re.compile(r"^(\d{1,2})[.)]\s+(.*)$")
_BULLET = re.compile(r"^[-*\u2022]\s+(.*)$")
_RULE = re.compile(r"^\|?[\s:|-]*-{3,}[\s:|-]*\|?$")


def _title(rec: dict) -> str:
    return (rec.get("title") or "").strip() or "Untitled"


def _row(line: str) -> tuple[bool, list[str] | None]:
    """Is the line a "| a | b |" table row, and its cells (None for a "|---|" rule)?"""
    s = line.strip()
    if not (s.startswith("|") and s.endswith("|") and len(s) > 1):
        return False, None
    return True, None if _RULE.match(s) else [c.strip() for c in s.strip("|").split("|")]


def render_rst(records: list[dict], grid: bool = False) -> str:
    """The records as one reStructuredText page (see the module docstring); ``grid``: tables
    as grid tables."""
    out: list[str] = []
    for rec in records:
        title = _title(rec)
        out += [title, "-" * max(len(title), 4), ""]
        rows: list[list[str]] = []
        head = False
        for line in rec["text"].strip().split("\n") + [""]:
            is_row, cells = _row(line)
            if is_row:
                head = head or (cells is None and len(rows) == 1)
                rows += [cells] if cells else []
                continue
            if rows and grid:
                out += [""] + _grid_table(rows, head) + [""]
                rows = []
            elif rows:
                out += ["", ".. list-table::", ""]
                for row in rows:
                    out += [f"   * - {row[0]}"] + [f"     - {c}" for c in row[1:]]
                out.append("")
                rows = []
            head = False
            out.append(line)
        out.append("")
    return "\n".join(out) + "\n"


GRID_CELL = 28   # a grid table's cells are wrapped at this width, as authors wrap long cells


def _grid_table(rows: list[list[str]], head: bool) -> list[str]:
    """Rows as a reStructuredText grid table: cells wrapped at ``GRID_CELL`` columns, a
    ``+===+`` border under a header row."""
    width = max(len(r) for r in rows)
    wrapped = [[textwrap.wrap(r[k] if k < len(r) else "", GRID_CELL) or [""] for k in range(width)] for r in rows]
    widths = [max(len(x) for row in wrapped for x in row[k]) for k in range(width)]
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [border]
    for n, row in enumerate(wrapped):
        for m in range(max(len(c) for c in row)):
            out.append("|" + "|".join(f" {(c[m] if m < len(c) else ''):<{w}} " for c, w in zip(row, widths)) + "|")
        out.append(border.replace("-", "=") if head and n == 0 else border)
    return out


def render_adoc(records: list[dict]) -> str:
    """The records as one AsciiDoc page (see the module docstring)."""
    out: list[str] = []
    for rec in records:
        out += [f"== {_title(rec)}", ""]
        table = False
        lines = rec["text"].strip().split("\n") + [""]
        for k, line in enumerate(lines):
            is_row, cells = _row(line)
            if is_row != table:
                head = is_row and k + 1 < len(lines) and _row(lines[k + 1]) == (True, None)
                out += (["", "[%header]"] if head else []) + ["|==="] if is_row else ["|===", ""]
                table = is_row
            if is_row:
                out += [f"| {' | '.join(cells)}"] if cells else []
                continue
            out.append(line)
        out.append("")
    return "\n".join(out) + "\n"


def render_html(records: list[dict], page: bool = True) -> str:
    """The records as one HTML page, or (``page`` false) as Markdown whose tables are HTML
    (see the module docstring)."""
    out = ["<!DOCTYPE html>", "<html><body>"] if page else []
    for rec in records:
        out.append(f"<h2>{html.escape(_title(rec))}</h2>" if page else f"## {_title(rec)}\n")
        lines = rec["text"].strip().split("\n")
        rows: list[list[str]] = []
        head = False
        for k, line in enumerate(lines + [""]):
            is_row, cells = _row(line)
            if is_row:
                if cells is None:
                    head = head or len(rows) == 1
                else:
                    rows.append(cells)
                continue
            if rows:
                out += _html_table(rows, head)
                rows, head = [], False
            if line.strip():
                out.append(f"<p>{html.escape(line)}</p>" if page else line)
        if not page:
            out.append("")
    if page:
        out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_table(rows: list[list[str]], head: bool) -> list[str]:
    """Rows as an HTML table, one ``<tr>`` a line; the first of ``<th>`` cells when ``head``."""
    out = ["<table>"]
    for m, cells in enumerate(rows):
        tag = "th" if head and m == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
    return out + ["</table>"]


def render_odt(records: list[dict]) -> bytes:
    """The records as one OpenDocument text (see the module docstring)."""
    from tests.support.odt import make_odt
    blocks: list[tuple] = []
    for rec in records:
        blocks.append(("h2", _title(rec)))
        rows: list[list[str]] = []
        items: list[str] = []
        bullets: list[str] = []
        goes_on = False

        def flush() -> None:
            nonlocal rows, items, bullets, goes_on
            if rows:
                blocks.append(("table", rows))
            if items:
                blocks.append(("num", items, goes_on))
            if bullets:
                blocks.append(("bullet", bullets))
            rows, items, bullets = [], [], []
        for line in rec["text"].strip().split("\n") + [""]:
            line = line.strip()
            item, bullet = _ITEM.match(line), _BULLET.match(line)
            table, cells = _row(line)
            if not (table and rows) and not (item and items and not goes_on) and not (bullet and bullets):
                flush()
            if table:
                rows += [cells] if cells else []
            elif item:
                if not items:
                    goes_on = item.group(1) != "1"   # "4." after a note: the list goes on
                items.append(item.group(2))
            elif bullet:
                bullets.append(bullet.group(1))
            elif line:
                blocks.append(("p", line))
        flush()
    return make_odt(blocks)


def render_docx(records: list[dict]) -> bytes:
    """The records as one Word document (see the module docstring)."""
    from tests.support.docx import make_docx
    blocks: list[tuple] = []
    list_id = 4   # each list a list of its own in Word (tests/support/docx.py: ids above 4)
    for rec in records:
        blocks.append(("h2", _title(rec)))
        rows: list[list[str]] = []
        for line in rec["text"].strip().split("\n") + [""]:
            line = line.strip()
            is_row, cells = _row(line)
            if is_row:
                rows += [cells] if cells else []
                continue
            if rows:
                blocks.append(("table", rows, True))
                rows = []
            item, bullet = _ITEM.match(line), _BULLET.match(line)
            if item:
                if item.group(1) == "1" or list_id == 4:
                    list_id += 1   # a new list counts from 1 again; "5." after a note goes on
                blocks.append(("num", item.group(2), 0, list_id))
            elif bullet:
                blocks.append(("bullet", bullet.group(1)))
            elif line:
                blocks.append(("p", line))
    return make_docx(blocks)


def render_pdf(records: list[dict], columns: int, across: bool) -> bytes:
    """The records as a PDF manual of ``columns`` columns (see the module docstring)."""
    from tests.support.pdf import make_pdf
    width, margin, gutter, top, bottom, step = 612, 54, 24, 740, 60, 13
    col_w = (width - 2 * margin - (columns - 1) * gutter) / columns
    chars = int(col_w / 5.1)   # Helvetica at 10 pt: ~5 pt a character on average
    lines: list[tuple[int, str]] = []
    for rec in records:
        title = (rec.get("title") or "").strip() or "Untitled"
        lines.append((12, title))
        for para in rec["text"].strip().split("\n"):
            lines += [(10, w) for w in textwrap.wrap(para, chars)]
    pages: list[list[tuple[float, float, float, str]]] = []
    col, y = columns, bottom   # start by opening a page
    for size, text in lines:
        if y - step < bottom:
            col += 1
            if col >= columns:
                pages.append([])
                col = 0
            y = top
        pages[-1].append((margin + col * (col_w + gutter), y, size, text))
        y -= step + (4 if size > 10 else 0)
    if across:
        pages = [sorted(p, key=lambda r: (-r[1], r[0])) for p in pages]
    return make_pdf(pages, width=width)
