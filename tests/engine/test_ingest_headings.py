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
