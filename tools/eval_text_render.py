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
The writers are in tools/manual_render.py. What ingest finds as headings decides the sections the reader works on; a manual whose
headings are not found is one untitled section (docs/benchmarks/answers.md, "Twenty-second
session").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # also tests.support.pdf

import answer_engine as ae  # noqa: E402
import answer_metrics as am  # noqa: E402
import answer_sets as asets  # noqa: E402
from manual_render import (render, render_adoc, render_docx, render_html, render_odt,  # noqa: E402
                           render_pdf, render_rst)

STYLES = ("md", "decimal", "plain", "caps", "wrap", "pdf", "pdf2", "pdf2x", "docx", "odt", "rst", "adoc", "html",
          "mdhtml", "rstgrid")
PDF_STYLES = {"pdf": (1, False), "pdf2": (2, False), "pdf2x": (2, True)}   # columns, written across
BLIND = ("heldout_camera", "heldout_heatpump", "heldout_soundbar", "heldout_mower", "heldout_tv",
         "heldout_phone", "heldout_printer", "heldout_vacuum")


def score_set(name: str, style: str, embedder: object | None, folder: Path, columns: bool = True,
              dump: Any = None) -> dict:
    """One blind set written in ``style`` and asked of the real engine; ``dump``: a text file
    that gets one JSON line per question (for comparing styles or engines answer by answer)."""
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
        text = "\n\n".join(q["text"] for q in a.get("quotes") or [])
        gold = max(golds, key=lambda g: am.recall(text, g))
        rec = am.recall(text, gold)
        ok = not a["abstained"] and am.useful(True, rec, am.n_words(text), am.n_words(gold))
        if dump is not None:
            dump.write(json.dumps({"set": name, "style": style, "id": item.qid, "question": item.question,
                                   "confidence": a["confidence"], "abstained": a["abstained"],
                                   "recall": rec, "useful": bool(ok), "answer": text}) + "\n")
        if a["abstained"]:
            continue
        answered += 1
        useful += ok
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
    ap.add_argument("--dump", metavar="FILE", help="append one JSON line per question (set, style, id, "
                    "confidence, abstained, recall, useful, answer) to FILE")
    args = ap.parse_args(argv)
    styles = [s for s in args.styles.split(",") if s]
    bad = [s for s in styles if s not in STYLES]
    if bad:
        ap.error(f"unknown style(s): {', '.join(bad)}")
    from evaluate import make_embedder
    embedder = None if args.lexical else make_embedder()
    print(f"# {ae.cpu_info()}; mode {'lexical' if embedder is None else 'hybrid'}", file=sys.stderr)
    dump = open(args.dump, "a", encoding="utf-8") if args.dump else None
    with tempfile.TemporaryDirectory(prefix="nic-render-") as tmp:
        for style in styles:
            folder = Path(tmp) / style
            folder.mkdir()
            tot = {"n": 0, "useful": 0, "wrong": 0, "answered": 0}
            for name in [s for s in args.sets.split(",") if s]:
                r = score_set(name, style, embedder, folder, columns=not args.no_columns, dump=dump)
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
    if dump is not None:
        dump.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
