"""HTML tables read as the other readers write them: one row a line between pipes, a header
row of <th> cells marked by a Markdown rule (ingest/html.py, ingest-9); and quoted so through
the real index and reader."""

from __future__ import annotations

from pathlib import Path

from nic_edge.engine.ingest.html import html_lines
from tests.support.engines import answered, lexical_engine


def _lines(page: str) -> list[str]:
    return [line for _, line in html_lines(page)]


def test_rows_are_pipe_rows_and_a_header_of_th_cells_gets_a_rule() -> None:
    page = ("<p>Currents:</p><table><thead><tr><th>Model</th><th>Current</th></tr></thead>"
            "<tbody><tr><td>Board 4</td><td>3.0 A</td></tr><tr><td>Board 5</td><td></td></tr></tbody></table><p>After.</p>")
    assert _lines(page) == ["Currents:", "| Model | Current |", "|---|---|", "| Board 4 | 3.0 A |", "| Board 5 |  |", "After."]
    # a row of <th> row names is no header row; neither is a <th> first row that is not all <th>
    side = "<table><tr><th>Width</th><td>330 mm</td></tr><tr><th>Weight</th><td>3.1 kg</td></tr></table>"
    assert _lines(side) == ["| Width | 330 mm |", "| Weight | 3.1 kg |"]


def test_cells_left_open_nested_tables_and_layout_rows() -> None:
    # cells and rows left open (as browsers read them), a "|" in a cell
    assert _lines("<table><tr><th>A<th>B<tr><td>x|y<td>1</table><p>z") == [
        "| A | B |", "|---|---|", "| x/y | 1 |", "z"]
    # a line break in a cell (the page's source, a <pre>) is a space: the row stays one line
    assert _lines("<table><tr><td><pre>ls -l\ncd /</pre></td><td>list\r\nall</td></tr></table>") == [
        "| ls -l cd / | list all |"]
    # a table nested in a cell is that cell's text; paragraphs and headings in a cell keep the row one line
    assert _lines("<table><tr><td>a<table><tr><td>x</td><td>y</td></tr></table></td>"
                  "<td><p>b</p><h3>c</h3></td></tr></table>") == ["| a x y | b c |"]
    # a table without a row of two cells of text (a layout table: a warning box beside its icon) is text
    assert _lines("<table><tr><td><img src=w.png></td><td>Warning: hot <b>surface</b></td></tr></table>") == [
        "Warning: hot surface"]
    # rows and cells outside any table stay one line, as before
    assert _lines("<tr><td>loose</td><td>row</td></tr><p>p</p>") == ["loose row", "p"]


PAGE = """<html><body><h1>Board Guide</h1>
<h2>Power Supply</h2>
<p>Every board needs a 5.1 V supply, but the current it needs grows with the model and with what
you plug into its USB ports. The following table gives the current each board needs.</p>
<table>
<tr><th>Product</th><th>Recommended supply current capacity</th><th>Most current for all USB devices together</th></tr>
<tr><td>Board 1 Model A</td><td>700 mA</td><td>500 mA</td></tr>
<tr><td>Board 2 Model B</td><td>1.8 A</td><td>1.2 A</td></tr>
<tr><td>Board 3 Model B</td><td>2.5 A</td><td>1.2 A</td></tr>
<tr><td>Board 4 Model B</td><td>3.0 A</td><td>1.2 A</td></tr>
<tr><td>Board 5</td><td>5.0 A</td><td>1.6 A</td></tr>
</table>
<h2>Cases</h2>
<p>Keep the board in a case with air holes when it runs hot.</p>
</body></html>
"""


def test_an_html_tables_row_is_quoted_with_its_column_names(tmp_path: Path) -> None:
    eng = lexical_engine(tmp_path, "boards.html", PAGE)
    texts = [q["text"] for q in answered(eng, "What supply current does the Board 4 need?")["quotes"]]
    assert texts[-1] == "| Board 4 Model B | 3.0 A | 1.2 A |", texts
    assert any(t.endswith("| Product | Recommended supply current capacity | Most current for all USB devices together |")
               for t in texts[:-1]), texts


def test_cells_spanning_rows_and_columns_stand_under_their_column_names() -> None:
    page = ("<table><tr><th rowspan=2>Model</th><th colspan=2>Power</th></tr>"
            "<tr><th>Voltage</th><th>Current</th></tr>"
            "<tr><td rowspan='2'>Board 4</td><td>5 V</td><td>3.0 A</td></tr>"
            "<tr><td>5.1 V</td><td>3.0 A</td></tr>"
            "<tr><td>Board Zero</td><td colspan=2>Not supported</td></tr>"
            "<tr><td>Board 5</td><td rowspan=0>5 V</td><td>5 A</td></tr>"
            "<tr><td>Board 400</td><td>3 A</td></tr></table>")
    # a key spanning rows is in each row; a header of two rows names each column top to bottom;
    # a cell spanning columns is followed by empty ones; rowspan="0" runs to the table's end
    assert _lines(page) == ["| Model | Power Voltage | Power Current |", "|---|---|---|",
                            "| Board 4 | 5 V | 3.0 A |", "| Board 4 | 5.1 V | 3.0 A |",
                            "| Board Zero | Not supported |  |", "| Board 5 | 5 V | 5 A |",
                            "| Board 400 | 5 V | 3 A |"]
    # one header row spanning columns; spans that are not numbers are 1; a span past the last row ends with it
    assert _lines("<table><tr><th>A</th><th colspan=2>B</th></tr><tr><td>1</td><td rowspan=x>2</td>"
                  "<td rowspan=9>3</td></tr></table>") == ["| A | B |  |", "|---|---|---|", "| 1 | 2 | 3 |"]
    # a row of one cell across the table is a group's title, not padded
    assert _lines("<table><tr><th colspan=3>Group title</th></tr><tr><td>a</td><td>b</td><td>c</td></tr>"
                  "<tr><td colspan=3>Section two</td></tr><tr><td>d</td><td>e</td><td>f</td></tr></table>") == [
        "| Group title |", "|---|", "| a | b | c |", "| Section two |", "| d | e | f |"]
    # a table of <th> cells only keeps its rows (one header, then rows)
    assert _lines("<table><tr><th>a</th><th>b</th></tr><tr><th>c</th><th>d</th></tr></table>") == [
        "| a | b |", "|---|---|", "| c | d |"]


def test_spans_cannot_multiply_a_pages_text() -> None:
    # a long cell spanning a thousand rows of one short cell each, and cells spanning 1,000 columns
    rows = "".join("<tr><td>x</td></tr>" for _ in range(999))
    page = f"<table><tr><td rowspan=1000>{'word ' * 2000}</td><td>y</td></tr>{rows}</table>"
    wide = "<table>" + "<tr><td>a</td><td colspan=1000>b</td></tr>" * 200 + "</table>"
    for html in (page, wide):
        out = "\n".join(_lines(html))
        assert len(out) <= 3 * len(html), (len(out), len(html))
    assert _lines(wide)[0] == "| a | b |" + "  |" * 15   # colspan is capped at 16


def test_a_markdown_pages_html_table_is_read_as_a_table(tmp_path: Path) -> None:
    from nic_edge.engine.ingest.markdown import markdown_lines

    page = ("# Power\n\nThe current each board needs:\n\n<div align=\"center\">\n<table>\n"
            "<tr><th>Model</th><th>Current</th></tr>\n<tr><td>Board 4</td><td>3.0 A</td></tr>\n"
            "<tr><td>\n\n**Board 5** ([notes](n.md))\n\n</td><td>5 A &lt;max&gt;</td></tr>\n"
            "</table>\n</div>\n\nAfter.\n\n```html\n<table><tr><td>code</td><td>x</td></tr></table>\n```\n"
            "<table><tr><td>unclosed</td><td>1</td></tr>\n\nText.\n")
    lines = [t for _, t in markdown_lines(page) if t]
    assert lines == ["\x1ePower", "The current each board needs:", "| Model | Current |", "|---|---|",
                     "| Board 4 | 3.0 A |", "| Board 5 (notes) | 5 A <max> |", "After.",
                     "<table><tr><td>code</td><td>x</td></tr></table>", "| unclosed | 1 |", "Text."]
    md = PAGE.replace("<html><body><h1>Board Guide</h1>\n<h2>Power Supply</h2>", "# Board Guide\n\n## Power Supply\n")
    md = md.replace("<h2>Cases</h2>\n<p>", "\n## Cases\n\n").replace("<p>", "").replace("</p>", "\n")
    eng = lexical_engine(tmp_path, "boards.md", md.replace("</body></html>", ""))
    texts = [q["text"] for q in answered(eng, "What supply current does the Board 4 need?")["quotes"]]
    assert texts[-1] == "| Board 4 Model B | 3.0 A | 1.2 A |", texts


SPEC = """# Getting Started with the Panel 7

The Panel 7 is a touch terminal for machine halls. Connect it to power and start building.

## Specifications

<table>
  <thead><tr><th colspan="2">Specification</th><th>Details</th></tr></thead>
  <tbody>
    <tr><td rowspan="2">Memory</td><td>Capacity</td><td>4GB</td></tr>
    <tr><td>Technology</td><td>LPDDR4 with on-die ECC</td></tr>
    <tr><td rowspan="2">Power</td><td>Voltage</td><td>5V DC</td></tr>
    <tr><td>Supply</td><td>USB-C connector</td></tr>
    <tr><td rowspan="2">Mechanical</td><td>Dimensions</td><td>140mm x 95mm x 21mm</td></tr>
    <tr><td>Weight</td><td>285g</td></tr>
  </tbody>
</table>

## Support

Visit the support forum for questions about the Panel 7.
"""


def test_a_spec_tables_rows_under_their_group_are_quoted_whole(tmp_path: Path) -> None:
    """A Markdown page's HTML spec table, grouped by cells spanning rows: the row asked about
    is quoted with its group; a row of sizes ("140mm x 95mm") is text, not debris (it was
    never quoted)."""
    from tests.support.engines import model_engine

    eng = model_engine(tmp_path, "panel.md", SPEC)
    texts = [q["text"] for q in answered(eng, "What are the dimensions of the Panel 7?")["quotes"]]
    assert "| Mechanical | Dimensions | 140mm x 95mm x 21mm |" in texts, texts
