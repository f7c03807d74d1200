"""tools/eval_text_render.py: the styles it writes, and that ingest finds their headings."""

from __future__ import annotations

import pytest

import eval_text_render as etr
from nic_edge.engine.ingest.markdown import parse_markdown
from nic_edge.engine.ingest.text import parse_text

RECORDS = [
    {"_id": f"r{i}", "title": title, "text": body}
    for i, (title, body) in enumerate([
        ("Filling the kettle", "Open the lid and fill with cold water between the MIN and MAX marks."),
        ("Boiling water", "Press the switch down. The light comes on and the kettle switches off by itself "
                          "when the water has boiled, which takes about three minutes for a full kettle."),
        ("Descaling", "Fill with equal parts of white vinegar and water, leave it for one hour, then rinse."),
        ("In the box", "- Kettle\n- Base with cord\n- Spare filter"),
    ])]


@pytest.mark.parametrize("style", ["decimal", "plain", "caps", "wrap"])
def test_every_title_is_found_as_a_heading(style: str) -> None:
    text = etr.render(RECORDS, style)
    heads = [s.heading for s in parse_text(text)]
    want = [r["title"] for r in RECORDS]
    if style == "caps":
        want = [t.upper() for t in want]
    if style == "decimal":
        want = [f"1.{i + 1} {t}" for i, t in enumerate(want)]
    assert heads == want


def test_markdown_style_is_the_reference() -> None:
    heads = [s.heading for s in parse_markdown(etr.render(RECORDS, "md"))]
    assert heads == [r["title"] for r in RECORDS]


def test_wrap_has_no_blank_lines_and_short_lines() -> None:
    lines = etr.render(RECORDS, "wrap").splitlines()
    assert all(lines) and max(len(line) for line in lines) <= 80


@pytest.mark.parametrize("style", ["pdf", "pdf2", "pdf2x"])
def test_every_title_of_a_pdf_render_is_found_as_a_heading(style: str) -> None:
    from tests.engine.test_ingest_columns import _layout_pypdf
    if not _layout_pypdf():
        pytest.skip("PDF headings by type size and column reading need pypdf >= 7")
    from nic_edge.engine.ingest.pdf import parse_pdf
    records = RECORDS * 8   # several pages, two columns on the first
    heads = [s.heading for s in parse_pdf(etr.render_pdf(records, *etr.PDF_STYLES[style]), "m.pdf")]
    assert heads == [r["title"] for r in records]


def test_dump_holds_one_line_per_question_agreeing_with_the_totals(tmp_path, monkeypatch) -> None:
    import io
    import json

    import answer_engine
    monkeypatch.setattr(answer_engine, "CACHE", tmp_path / "cache")
    out = io.StringIO()
    r = etr.score_set("heldout_tv", "md", None, tmp_path, dump=out)   # lexical: no model needed
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == r["n"] and {x["style"] for x in rows} == {"md"}
    assert sum(x["useful"] for x in rows) == r["useful"]
    assert sum(not x["abstained"] for x in rows) == r["answered"]
    assert all(x["answer"] == "" for x in rows if x["abstained"])
