"""Headings of a PDF manual by the size of their type (ingest/headings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.ingest import load_documents
from nic_edge.engine.ingest.headings import body_size, heading_keys, line_key
from tests.engine.test_ingest_columns import LEFT, RIGHT, needs_layout
from tests.support.pdf import across, column, make_pdf


def test_lines_set_larger_than_the_body_are_headings() -> None:
    page = [("Model X200\n", 18.0), ("Cleaning the Filter\n", 12.0),
            ("Remove the cover and rinse the filter.\n", 10.0),
            ("WARNING\n", 14.0), ("Unplug the dryer first.\n", 10.0), ("Do not open the drum.\n", 12.0),
            ("Drain", 12.0), (" the water through the hose at the back of the unit.\n", 10.0),
            ("Error Codes", 12.0), ("\n", 10.0), ("E1 means the door is open and E2 the drain is blocked.\n", 10.0),
            ("Storage", 12.0), (" ", 10.0), ("Drain the water and leave the door open for a month.", 10.0)]
    page += [("\n" + "Rinse the filter under warm water and let it dry before you put it back. " * 8, 10.0)]
    assert body_size([page]) == 10.0
    (keys,) = heading_keys([page])
    assert keys == {"modelx200", "cleaningthefilter", "errorcodes"}
    # Not headings: the notice word, a sentence, and lines whose first word or words alone are
    # large (a run-in "Storage" is part of its paragraph's line).


def test_a_second_body_size_is_not_a_heading_size() -> None:
    """Prose at 10 pt beside tables at 8 pt: the prose's short wrapped lines are no headings."""
    table = [("Max 70 min Turbo 90 min Quiet 180 min Eco 200 min Spot 5 min Edge 40 min\n", 8.0)] * 6
    prose = [("Remove the filter cover by pressing the two\n", 10.0), ("tabs on its sides and rinse it\n", 10.0)] * 4
    (keys,) = heading_keys([table + prose + [("Suction Levels\n", 14.0)]])
    assert keys == {"suctionlevels"}


def test_no_text_no_headings_and_keys_fold_case_ligatures_and_punctuation() -> None:
    assert heading_keys([[], [("", 0.0)]]) == [set(), set()]
    assert line_key("2.1  Clea\ufb01ng the Filter:") == "21cleafingthefilter"


@needs_layout
def test_unnumbered_titles_of_a_two_column_page_head_their_sections(tmp_path: Path) -> None:
    """In narrow columns every wrapped line is short, so a title does not stand out by its length;
    its type size does. Both stream orders give the same four sections."""
    for name, runs in (("across", across(column(LEFT, 54), column(RIGHT, 318))),
                       ("down", column(LEFT, 54) + column(RIGHT, 318))):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(make_pdf([runs]))
        (doc,) = load_documents(path)
        sections: dict[str, str] = {}
        for c in doc.chunks:
            sections[c.section or ""] = (sections.get(c.section or "", "") + " " + " ".join(c.text.split())).strip()
        assert list(sections) == [h for h, _ in LEFT + RIGHT], name
        for heading, body in LEFT + RIGHT:
            assert body in sections[heading], (name, heading)


@needs_layout
@pytest.mark.parametrize("notice", ["WARNING", "CAUTION"])
def test_a_large_notice_word_stays_in_its_section(tmp_path: Path, notice: str) -> None:
    runs = column([("Replacing the Belt", "Unplug the unit first and let the motor cool down for half an hour.")], 54)
    runs += [(54, 600, 14, notice),
             (54, 586, 10, "The motor pulley has sharp edges; wear gloves when you fit the belt.")]
    runs += column([("Error Codes", "E1 means the door is open. E2 means the drain is blocked: clear the hose.")],
                   54, top=560)
    runs += column([("Storage", "Drain the water and leave the door open when the dryer is not used for a month.")],
                   54, top=500)
    path = tmp_path / "m.pdf"
    path.write_bytes(make_pdf([runs]))
    (doc,) = load_documents(path)
    heads = [c.section for c in doc.chunks]
    assert notice not in heads and "Replacing the Belt" in heads
    belt = " ".join(c.text for c in doc.chunks if c.section == "Replacing the Belt")
    assert "sharp edges" in belt


@needs_layout
def test_a_notice_or_paragraph_set_large_is_no_heading(tmp_path: Path) -> None:
    """Safety pages set their warnings in larger type: "WARNING: ..." and the first line of a
    wrapped paragraph set large are text of the section they stand in."""
    body = "Open the door and lift out the lint tray, then wipe the tray with a dry cloth. " * 8
    page1 = column([("Emptying the Drum", body)], 54) + [
        (54, 600, 12, "WARNING: Hot surface"),
        (54, 586, 12, "To reduce the risk of fire, clean the lint tray after"),
        (54, 572, 12, "every load and never run the dryer without it.")]
    page2 = column([("Error Codes", body), ("Storage", body), ("Cleaning", body)], 54)
    path = tmp_path / "m.pdf"
    path.write_bytes(make_pdf([page1, page2]))
    (doc,) = load_documents(path)
    heads = list(dict.fromkeys(c.section for c in doc.chunks))
    assert heads == ["Emptying the Drum", "Error Codes", "Storage", "Cleaning"]
    drum = " ".join(" ".join(c.text.split()) for c in doc.chunks if c.section == "Emptying the Drum")
    assert "WARNING: Hot surface To reduce the risk of fire" in drum


@needs_layout
def test_bookmarks_name_the_headings_of_their_pages(tmp_path: Path) -> None:
    """Headings in body type after lines that end no sentence: no rule of the text finds them;
    the PDF's bookmarks (outline) do, with or without the section number the page prints."""
    steps = "Hold the SET button down for three seconds and wait for the light to blink twice"
    pages, outline = [], []
    for n, title in enumerate(["Pairing the Remote", "Setting the Clock", "Changing the Filter",
                               "Cleaning the Tank"]):
        printed = f"4.1 {title}" if n == 3 else title
        lines = [f"the settings are listed in table {n + 4}", printed] + [f"{k}) {steps}" for k in range(1, 7)]
        pages.append([(72, 720 - 14 * i, 10, line) for i, line in enumerate(lines)])
        outline.append((title, n))
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_pdf(pages))
    marked = tmp_path / "marked.pdf"
    marked.write_bytes(make_pdf(pages, outline=outline))
    want = [t for t, _ in outline[:3]] + ["4.1 Cleaning the Tank"]
    (doc,) = load_documents(marked)
    assert list(dict.fromkeys(c.section for c in doc.chunks)) == want
    (doc,) = load_documents(plain)
    assert list(dict.fromkeys(c.section for c in doc.chunks)) == [None]


@needs_layout
def test_a_page_with_a_broken_media_box_still_reads(tmp_path: Path) -> None:
    """What only the heading and column rules ask for (the page's width) must not fail a PDF
    whose text reads: a null /MediaBox (found by mutating PDFs: 3,600 mutations, none that read
    before fails now)."""
    data = make_pdf([column(LEFT + RIGHT, 72, chars=90)])
    box = b"/MediaBox [0 0 612 792]"
    assert box in data
    path = tmp_path / "m.pdf"
    path.write_bytes(data.replace(box, b"/MediaBox null".ljust(len(box))))
    (doc,) = load_documents(path)
    assert LEFT[0][1] in " ".join(" ".join(c.text.split()) for c in doc.chunks)
