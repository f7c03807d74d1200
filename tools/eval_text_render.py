#!/usr/bin/env python3
"""The blind BEIR sets as the text or PDF export of a manual: do answers survive the layout?

    python3 tools/eval_text_render.py [--styles md,...,html,mdhtml,rstgrid]
                                      [--sets heldout_camera,...] [--no-columns]

Each record of a set (title + text) becomes one section of a single text manual, written in a
style that manuals exported from a word processor have:

* ``md``: "## Title" (Markdown; the reference: same sections as the BEIR records);
* ``decimal``: "3.2 Title" (records numbered six to a chapter, unless a title has its own
  number: the heat pump manual's "4.3 Filling the heating circuit"), a blank line, the text;
* ``plain``: the title alone on its line, a blank line, the text;
* ``caps``: the same in capitals;
* ``wrap``: the title alone, then the text wrapped at 80 columns, no blank lines anywhere (what
  a PDF's text layer often reads like).

As an OpenDocument text (``odt``, tests/support/odt.py: titles as headings, list items in a
numbered list style that draws the numbers, "| a | b |" rows as a table), which ingest/odt.py
reads back.

As reStructuredText (``rst``: each title underlined with "-", "| a | b |" rows as a
``list-table`` directive, the rest as it is; ``rstgrid``: the same with each table a grid
table, cells wrapped at 28 columns and a ``+===+`` border under a header row), which
ingest/rst.py reads back; and as AsciiDoc
(``adoc``: each title as "== Title", "| a | b |" rows between ``|===`` lines, a first row over
a Markdown rule marked ``[%header]``, the rest as it is), which ingest/adoc.py reads back; and as
an HTML page (``html``: each title an ``<h2>``, "| a | b |" rows a ``<table>`` whose first row
is ``<th>`` cells when a Markdown rule follows it, every other line a ``<p>``, list numbers and
bullets kept in the text), which ingest/html.py reads back; and as Markdown whose tables are
written in HTML (``mdhtml``: "## Title", the text as it is, "| a | b |" rows the same
``<table>`` as in ``html``, one ``<tr>`` a line, as README files on code hosts often write
them), which ingest/markdown.py reads back.

And as a Word document (``docx``, tests/support/docx.py: each title in a "heading 2" style, list
items numbered or bulleted by Word, whose numbers are not in the text, "| a | b |" rows as a
Word table, the rest one paragraph a line), which ingest/docx.py reads back.

And as a PDF (tests/support/pdf.py: Helvetica, the title at 12 pt, the text at 10 pt wrapped to
its column, US Letter pages of about 52 lines; characters outside Windows-1252 become "?"):

* ``pdf``: one column;
* ``pdf2``: two columns, written to the PDF column by column (plain extraction reads it well);
* ``pdf2x``: the same two columns written line by line across the page, as some generators do
  (plain extraction glues half of each column into every line; ingest/columns.py reads it
  column by column). ``--no-columns`` indexes the PDF styles without the layout pass (as before
  ingest-3), so both readings can be compared in one command.

The manual is indexed alone with the real engine (int8 model, tier ``standard``, calibrated as
``nic-edge index`` does) and asked the set's in-scope questions at its calibrated threshold;
the answers are scored against the expert's text like tools/eval_answers.py (useful: recall >=
0.5 within 3 x gold + 40 words; wrong-confident: answered with recall < 0.2, of answered).
What ingest finds as headings decides the sections the reader works on; a manual whose
headings are not found is one untitled section (docs/benchmarks/answers.md, "Twenty-second
session").
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # also tests.support.pdf

import answer_engine as ae  # noqa: E402
import answer_metrics as am  # noqa: E402
import answer_sets as asets  # noqa: E402

STYLES = ("md", "decimal", "plain", "caps", "wrap", "pdf", "pdf2", "pdf2x", "docx", "odt", "rst", "adoc", "html",
          "mdhtml", "rstgrid")
PDF_STYLES = {"pdf": (1, False), "pdf2": (2, False), "pdf2x": (2, True)}   # columns, written across
BLIND = ("heldout_camera", "heldout_heatpump", "heldout_soundbar", "heldout_mower", "heldout_tv",
         "heldout_phone", "heldout_printer", "heldout_vacuum")


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


def score_set(name: str, style: str, embedder: object | None, folder: Path, columns: bool = True) -> dict:
    aset = asets.load_set(name)
    records = [json.loads(line) for line in aset.corpus[0].open(encoding="utf-8")]
    if style in PDF_STYLES:
        path = folder / f"{name}.pdf"
        path.write_bytes(render_pdf(records, *PDF_STYLES[style]))
    elif style == "docx":
        path = folder / f"{name}.docx"
        path.write_bytes(render_docx(records))
    elif style == "odt":
        path = folder / f"{name}.odt"
        path.write_bytes(render_odt(records))
    elif style in ("rst", "rstgrid"):
        path = folder / f"{name}.rst"
        path.write_text(render_rst(records, grid=style == "rstgrid"), encoding="utf-8")
    elif style == "adoc":
        path = folder / f"{name}.adoc"
        path.write_text(render_adoc(records), encoding="utf-8")
    elif style == "html":
        path = folder / f"{name}.html"
        path.write_text(render_html(records), encoding="utf-8")
    elif style == "mdhtml":
        path = folder / f"{name}.md"
        path.write_text(render_html(records, page=False), encoding="utf-8")
    else:
        path = folder / f"{name}.{'md' if style == 'md' else 'txt'}"
        path.write_text(render(records, style), encoding="utf-8")
    if style in PDF_STYLES and not columns:
        from tests.support.pdf import pdf_rules_off
        with pdf_rules_off():
            eng = ae.open_engine([path], embedder, cache=False)   # the cache key does not see this
    else:
        eng = ae.open_engine([path], embedder)
    snap = eng.snapshot()
    n = useful = wrong = answered = 0
    for item in aset.in_scope:
        golds = [g for g in item.golds if am.skip_gold(g) is None]
        if not golds:
            continue
        n += 1
        a = eng.ask(item.question, qid=item.qid)
        if a["abstained"]:
            continue
        answered += 1
        text = "\n\n".join(q["text"] for q in a.get("quotes") or [])
        gold = max(golds, key=lambda g: am.recall(text, g))
        rec = am.recall(text, gold)
        useful += am.useful(True, rec, am.n_words(text), am.n_words(gold))
        wrong += rec < 0.2
    sections = len({snap.section(r) for r in range(snap.n)})
    return {"set": name, "style": style, "n": n, "useful": useful, "wrong": wrong, "answered": answered,
            "sections": sections, "records": len(records), "threshold": eng.threshold}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--styles", default=",".join(STYLES), help=f"comma-separated, of {', '.join(STYLES)}")
    ap.add_argument("--sets", default=",".join(BLIND), help="BEIR sets with expert answers (tools/data)")
    ap.add_argument("--lexical", action="store_true", help="no embedding model (BM25 only)")
    ap.add_argument("--json", action="store_true", help="one JSON object per set and style")
    ap.add_argument("--no-columns", action="store_true",
                    help="PDF styles without the layout pass (pypdf's plain extraction, as before ingest-3)")
    args = ap.parse_args(argv)
    styles = [s for s in args.styles.split(",") if s]
    bad = [s for s in styles if s not in STYLES]
    if bad:
        ap.error(f"unknown style(s): {', '.join(bad)}")
    from evaluate import make_embedder
    embedder = None if args.lexical else make_embedder()
    print(f"# {ae.cpu_info()}; mode {'lexical' if embedder is None else 'hybrid'}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="nic-render-") as tmp:
        for style in styles:
            folder = Path(tmp) / style
            folder.mkdir()
            tot = {"n": 0, "useful": 0, "wrong": 0, "answered": 0}
            for name in [s for s in args.sets.split(",") if s]:
                r = score_set(name, style, embedder, folder, columns=not args.no_columns)
                for k in tot:
                    tot[k] += r[k]
                if args.json:
                    print(json.dumps(r))
                else:
                    print(f"{style:8s} {name:18s} sections {r['sections']:3d}/{r['records']:3d}  "
                          f"useful {100 * r['useful'] / max(1, r['n']):5.1f} %  answered "
                          f"{100 * r['answered'] / max(1, r['n']):5.1f} %  wrong-confident "
                          f"{100 * r['wrong'] / max(1, r['answered']):5.1f} % of answered", flush=True)
            if not args.json:
                print(f"{style:8s} {'total':18s} useful {tot['useful']} / {tot['n']}, wrong-confident "
                      f"{tot['wrong']} of {tot['answered']} answered", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
