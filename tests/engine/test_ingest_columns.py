"""PDF pages set in columns are read column by column (ingest/columns.py), whatever order the
PDF writes them in; tables, single-column pages, headers and footers read as before."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from nic_edge.engine.ingest import load_documents
from nic_edge.engine.ingest.columns import column_text
from tests.support.pdf import across, column, make_pdf

needs_pypdf = pytest.mark.skipif(importlib.util.find_spec("pypdf") is None, reason="pypdf not installed")


def _layout_pypdf() -> bool:
    if importlib.util.find_spec("pypdf") is None:
        return False
    import pypdf

    from nic_edge.engine.ingest.pdf import _layout_mode
    return _layout_mode(pypdf)


needs_layout = pytest.mark.skipif(not _layout_pypdf(), reason="column reading needs pypdf >= 7 (older pypdf "
                                  "reads every page as written; the oldest-dependencies run has 4.0)")

LEFT = [("Cleaning the Filter", "Remove the filter cover by pressing the two tabs on its sides. Rinse the filter "
         "under warm running water until the water runs clear, then let it dry for 24 hours before you put it "
         "back. Never run the unit without the filter."),
        ("Emptying the Drum", "Open the door and lift out the lint tray. Tip the lint into a bin and wipe the "
         "tray with a dry cloth.")]
RIGHT = [("Replacing the Belt", "Unplug the unit first. Loosen the four motor mount bolts and slide the motor "
          "toward the drum until the old belt comes off the pulley. Fit the new belt and slide the motor back "
          "until the belt deflects 10 mm under thumb pressure."),
         ("Error Codes", "E1 means the door is open. E2 means the drain is blocked: clear the drain hose and "
          "restart the cycle.")]
TITLE = [(180, 760, 14, "Model X200 Service Guide")]
FOOTER = [(54, 300, 10, "WARNING: Always unplug the dryer before any service work. Failure to do so can cause "
           "electric shock.")]


def _pdf_pages(data: bytes) -> list[str]:
    from nic_edge.engine.ingest.pdf import pdf_pages
    return pdf_pages(data, "t.pdf")


def _text(tmp_path: Path, data: bytes) -> str:
    """The indexed text of a one-file manual, its chunks joined, whitespace as single spaces."""
    path = tmp_path / "manual.pdf"
    path.write_bytes(data)
    (doc,) = load_documents(path)
    return " ".join(" ".join(c.text.split()) for c in doc.chunks)


@needs_layout
def test_two_columns_written_across_the_page_are_read_column_by_column(tmp_path: Path) -> None:
    import io

    import pypdf
    data = make_pdf([TITLE + across(column(LEFT, 54), column(RIGHT, 318)) + FOOTER])
    glued = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "pressing the two Unplug the unit first" in glued  # what plain extraction makes of it
    text = _text(tmp_path, data)
    for _, body in LEFT + RIGHT:
        assert body in text
    assert text.index(LEFT[1][1]) < text.index(RIGHT[0][1])  # the left column first
    lines = _pdf_pages(data)[0].split("\n")
    assert lines[0] == "Model X200 Service Guide" and lines[-1].startswith("WARNING: Always unplug")
    assert lines[1:3] == ["Cleaning the Filter", "Remove the filter cover by pressing the two"]


@needs_layout
def test_the_same_page_written_column_by_column_reads_the_same(tmp_path: Path) -> None:
    left, right = column(LEFT, 54), column(RIGHT, 318)
    by_rows = _pdf_pages(make_pdf([TITLE + across(left, right) + FOOTER]))
    by_columns = _pdf_pages(make_pdf([TITLE + left + right + FOOTER]))
    assert by_rows == by_columns


@needs_layout
def test_three_columns_are_read_left_to_right() -> None:
    words = "check the seal and the hose clamp before each season and replace any part that shows wear "
    cols = [column([(f"Part {n}", (f"Column {n} text. " + words) * 3)], x, chars=26) for n, x in
            ((1, 40), (2, 225), (3, 410))]
    lines = _pdf_pages(make_pdf([across(*cols)]))[0].split("\n")
    firsts = [lines.index(f"Part {n}") for n in (1, 2, 3)]
    assert firsts == sorted(firsts) and firsts[0] == 0
    assert lines[firsts[1] - 1].endswith("wear") and lines[firsts[1] + 1].startswith("Column 2 text.")


@needs_pypdf
def test_a_table_of_labels_and_values_stays_row_by_row() -> None:
    rows = [("Quiet", "Hard floors, night cleaning: 180 min"), ("Standard", "Everyday cleaning: 120 min"),
            ("Turbo", "Rugs and pet hair: 90 min"), ("Max", "Deep cleaning, heavy dirt: 70 min"),
            ("Mop only", "Water tank fitted, no suction: 150 min"), ("Spot", "One square metre: 5 min"),
            ("Edge", "Along walls and skirting: 40 min"), ("Eco", "Lowest power, light dust: 200 min")]
    runs = [(72, 700 - 14 * i, 10, a) for i, (a, _) in enumerate(rows)]
    runs += [(300, 700 - 14 * i, 10, b) for i, (_, b) in enumerate(rows)]
    lines = _pdf_pages(make_pdf([across(runs)]))[0].split("\n")
    assert "Max Deep cleaning, heavy dirt: 70 min" in lines
    symptoms = ["Robot does not charge", "Loud noise while cleaning", "Map lost after moving the dock",
                "Stops at edges", "Leaves a wet trail after mopping", "Cannot find the dock",
                "App shows offline", "Brush does not spin"]
    runs = [(72, 700 - 14 * i, 10, a) for i, a in enumerate(symptoms)]
    runs += [(300, 700 - 14 * i, 10, f"See remedy {i} in the table on page 30") for i in range(8)]
    lines = _pdf_pages(make_pdf([across(runs)]))[0].split("\n")
    assert "Stops at edges See remedy 3 in the table on page 30" in lines
    codes = [(72, 700 - 14 * i, 10, f"E{i}") for i in range(1, 9)]
    codes += [(300, 700 - 14 * i, 10, f"Fault number {i}: call service and quote the code") for i in range(1, 9)]
    lines = _pdf_pages(make_pdf([across(codes)]))[0].split("\n")
    assert "E3 Fault number 3: call service and quote the code" in lines


@needs_pypdf
def test_a_single_column_page_keeps_its_plain_extraction_exactly() -> None:
    import io

    import pypdf
    body = column(LEFT + RIGHT, 72, chars=90)
    header = [(500, 760, 9, "Page 3")]
    data = make_pdf([header + body + FOOTER])
    plain = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert _pdf_pages(data)[0] == plain


def test_column_text_on_a_layout_grid() -> None:
    left = ["Drain the tank before winter by", "opening the valve at the bottom", "and letting the water run out",
            "until it runs clear and then", "close the valve again firmly.", "Check the anode every year.", ""]
    right = ["Set the thermostat to 55 C for", "daily use. Higher settings waste", "energy and can scald. Lower",
             "settings let bacteria grow in", "the tank, so do not go below", "50 C for long periods.", ""]
    grid = ["                 Water Heater Care"] + [f"{a:<36}    {b}" for a, b in zip(left, right)] + [
        "", "", "", "                  - 7 -"]
    assert column_text("\n".join(grid)) == "\n".join(
        ["Water Heater Care"] + [s for s in left if s] + [s for s in right if s] + ["- 7 -"])
    single = "\n".join(f"{a} {b}" for a, b in zip(left, right))
    assert column_text(single) is None
    short = "\n".join(f"{a:<36}    {b}" for a, b in list(zip(left, right))[:4])
    assert column_text(short) is None  # fewer than MIN_ROWS two-sided rows: not a column page
    assert column_text("\n".join(grid[:-1] + [" " * 700 + "far off the page"])) is None
    # Margin tags beside one column of prose (a reference manual's "[Function]", the page number
    # in the header row) are no column.
    prose = ("the structure that you want to delete is set to NULL at the end and the call returns "
             "success when the element was found and removed from the tree of nodes ") * 6
    lines = textwrap.wrap(prose, 84)
    tagged = [" " * 120 + "9"] + [f"{line:<88}  {'[Function]' if i % 2 == 0 else ''}"
                                  for i, line in enumerate(lines)]
    assert column_text("\n".join(tagged)) is None


@needs_pypdf
@pytest.mark.parametrize("stray", [(1e9, 700, 10, "far right"), (72, -1e9, 10, "far below"),
                                   (300, 100, 0.01, "a hundredth of a point")])
def test_a_page_with_text_placed_to_blow_up_the_layout_grid_keeps_its_plain_extraction(stray) -> None:
    """Layout mode grows its grid with the page's coordinates and font sizes (before pypdf 7
    without limit); such a grid is not searched for columns, the page reads as the PDF writes it."""
    import io

    import pypdf
    data = make_pdf([across(column(LEFT, 54), column(RIGHT, 318)) + [stray]])
    plain = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert _pdf_pages(data)[0] == plain


@needs_layout
def test_an_answer_from_a_two_column_page_quotes_one_column(tmp_path: Path) -> None:
    """The real answer path over a page written across both columns: the quote is the right
    column's sentence, whole, with its section's heading as the citation."""
    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine.embedder import Embedder
    from nic_edge.engine.engine import Engine
    from tests.support.engines import assert_verbatim

    left = [(f"2.{n} {h}", b) for n, (h, b) in enumerate(LEFT, 1)]
    right = [("2.3 " + RIGHT[0][0], RIGHT[0][1]), ("2.4 " + RIGHT[1][0], RIGHT[1][1])]
    path = tmp_path / "dryer.pdf"
    path.write_bytes(make_pdf([TITLE + across(column(left, 54), column(right, 318)) + FOOTER]))
    eng = Engine(tmp_path / "data", load_profiles()["standard"], EngineConfig(abstain_threshold=0.0), Embedder())
    assert eng.index_paths([path]).indexed_files
    out = eng.ask("How much should a new drive belt deflect?")
    assert not out["abstained"]
    assert_verbatim(eng, out)
    first = out["quotes"][0]
    quote = " ".join(first["text"].split())
    assert "slide the motor back until the belt deflects 10 mm under thumb pressure." in quote
    assert "filter" not in first["text"].lower()
    assert out["citations"][first["citation"]]["section"] == "2.3 Replacing the Belt"


@needs_layout
def test_a_column_of_numbered_steps_is_still_a_column() -> None:
    """Steps and bullets start with a number or a mark, not a lower-case word; they do not count
    against the left side being prose (a procedure page is mostly steps)."""
    steps = [f"{n}. " + s for n, s in enumerate(["Press MENU on the remote.", "Choose Settings > Sound.",
                                                  "Select Lip Sync and press OK.", "Set the delay in 10 ms steps.",
                                                  "Press OK to save the setting.", "Press BACK to leave the menu.",
                                                  "Play a film to check the result."], 1)]
    left = [(54, 720, 12, "Lip Sync")] + [(54, 704 - 13 * i, 10, s) for i, s in enumerate(steps)]
    left += [(54, 600, 10, "If the sound still comes before the picture,"), (54, 587, 10, "raise the delay again.")]
    right = column(RIGHT, 318)
    lines = _pdf_pages(make_pdf([across(left, right)]))[0].split("\n")
    assert lines[:len(steps) + 1] == ["Lip Sync"] + steps
    assert lines.index("raise the delay again.") < lines.index("Replacing the Belt")


def test_pdftotext_layout_text_is_read_column_by_column(tmp_path: Path) -> None:
    """`pdftotext -layout` writes a PDF's columns side by side, pages split by form feeds: each
    page set in columns reads column by column, as a PDF's page does (no pypdf needed)."""
    def page(left: list[str], right: list[str]) -> str:
        return "\n".join(f"  {a:<46}      {b}" for a, b in zip(left, right))
    lines = {}
    for heading, body in LEFT + RIGHT:
        lines[heading] = [heading] + textwrap.wrap(body, 44) + [""]
    left = [x for h, _ in LEFT for x in lines[h]]
    right = [x for h, _ in RIGHT for x in lines[h]]
    rows = max(len(left), len(right))
    left, right = left + [""] * (rows - len(left)), right + [""] * (rows - len(right))
    path = tmp_path / "dryer.txt"
    path.write_text(page(left, right) + "\n\f", encoding="utf-8")   # pdftotext ends each page with a form feed
    text = " ".join(" ".join(c.text.split()) for c in load_documents(path)[0].chunks)
    for _, body in LEFT + RIGHT:
        assert body in text
    assert text.index(LEFT[1][1]) < text.index(RIGHT[0][1])


def test_a_title_block_above_the_columns_leaves_their_first_rows_in_them() -> None:
    """A centred title, author and date share a gap by chance with the columns' first rows (a
    double space in the right column); the rows after the run that gap ends in are still read
    as columns, the right column's first lines with the rest of it."""
    left = ["Abstract", "", "This is a sample document with two", "columns filled with sample text for",
            "the reader, wrapped at the edge of the", "column as a word processor does it",
            "when the line is full of words and", "the next word does not fit any more."]
    right = ["pellentesque ante.  Phasellus adipiscing", "proin fermentum massa ac quam, sed diam",
             "turpis molestie vitae, placerat a, nec", "leo and maecenas lacinia, nam ipsum",
             "ligula, eleifend at, accumsan nec, ipsum", "morbi blandit ligula feugiat magna and",
             "nunc eleifend consequat lorem in hac", "habitasse platea dictumst integer."]
    grid = [" " * 24 + "Two-Column Document with a Title", "", " " * 48 + "Your Name",
            " " * 45 + "January 3, 2024", ""] + [f"{a:<44}    {b}" for a, b in zip(left, right)]
    assert "  " in grid[5][48:] and grid[5][48:].index("  ") > 10   # the chance gap beside "Abstract"
    lines = column_text("\n".join(grid)).split("\n")
    assert lines[:4] == ["Two-Column Document with a Title", "Your Name", "January 3, 2024", "Abstract"]
    assert lines.index("the next word does not fit any more.") + 1 == lines.index(
        "pellentesque ante. Phasellus adipiscing")


def test_a_plain_extraction_that_reads_column_by_column_is_kept() -> None:
    """The column reading is for plain extractions that glue the columns' lines together (either
    way round) or read the right column first; one that reads them left first is kept."""
    left = ["Drain the tank before winter by", "opening the valve at the bottom", "and letting the water run out",
            "until it runs clear and then", "close the valve again firmly.", "Check the anode every year."]
    right = ["Set the thermostat to 55 C for", "daily use. Higher settings waste", "energy and can scald. Lower",
             "settings let bacteria grow in", "the tank, so do not go below", "50 C for long periods."]
    grid = "\n".join(["Water Heater Care"] + [f"{a:<36}    {b}" for a, b in zip(left, right)])
    columns = "\n".join(["Water Heater Care"] + left + right)
    assert column_text(grid) == columns
    assert column_text(grid, plain="\n".join(left + right + ["Water Heater Care"])) is None
    assert column_text(grid, plain="\n".join(f"{a} {b}" for a, b in zip(left, right))) == columns
    assert column_text(grid, plain="\n".join(f"{b}{a}" for a, b in zip(left, right))) == columns
    assert column_text(grid, plain="\n".join(["Water Heater Care"] + right + left)) == columns


def test_the_gutter_test_on_bits_agrees_with_the_gutter_search() -> None:
    import random

    from nic_edge.engine.ingest.columns import _gutter, _has_gutter, _mask
    rng = random.Random(7)
    for _ in range(3000):
        width = rng.randint(6, 90)
        row = "".join(rng.choice("x x  xxxx ") for _ in range(width))
        ink = bytearray(0 if ch.isspace() else 1 for ch in row)
        assert _has_gutter(_mask(row, width), width) == (_gutter(ink, width) is not None), row


@needs_layout
def test_a_page_written_column_by_column_keeps_its_plain_reading() -> None:
    """Beside a long left column, the right one holds two short columns of its own (fewer rows
    than a column block needs): read from the grid, their lines would be glued together; the
    PDF writes them one after the other, and its plain extraction reads them so."""
    import io

    import pypdf
    left = column(LEFT + RIGHT, 40, chars=40)
    a = ["The dryer stops with", "E1 when the door is", "open: close it", "firmly and restart."]
    b = ["The dryer stops with", "E2 when the drain is", "blocked: clear the", "hose and restart."]
    under = ["If the code comes back after a restart,", "unplug the dryer for one minute, plug it",
             "in again and start a short cycle; call", "service if the code still shows."]
    runs = left + [(330, 700 - 13 * i, 10, t) for i, t in enumerate(a)]
    runs += [(460, 700 - 13 * i, 10, t) for i, t in enumerate(b)]
    runs += [(330, 640 - 13 * i, 10, t) for i, t in enumerate(under)]
    data = make_pdf([runs])
    plain = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    lines = _pdf_pages(data)[0].split("\n")
    assert _pdf_pages(data)[0] == plain
    assert "E1 when the door is" in lines and "blocked: clear the" in lines
