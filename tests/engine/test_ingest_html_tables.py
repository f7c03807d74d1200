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
