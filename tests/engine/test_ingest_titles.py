"""Headings that are nothing but a line of their own, in a text manual with no other scheme."""

from __future__ import annotations

from pathlib import Path

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.ingest.text import parse_text
from nic_edge.engine.ingest.titles import title_lines

PLAIN = """Filling the kettle

Open the lid and fill with cold water between the MIN and MAX marks.

In the box

- Kettle
- Base with cord
- Filter

Boiling water

Press the switch down. The light comes on and the kettle switches off by itself.

Descaling

Fill with equal parts of white vinegar and water, leave it for one hour, then rinse twice.

Replacing the filter

Pull the mesh filter up out of the spout and push the new one down until it clicks.
"""

# the same as a PDF's text layer often reads: no blank lines, paragraphs wrapped at the page width
WRAPPED = """FILLING THE KETTLE
Open the lid and fill with cold water between the MIN and MAX marks. Never fill
above MAX: boiling water can spill out of the spout.
BOILING WATER
Press the switch down. The light comes on and the kettle switches off by itself
when the water boils.
DESCALING
Fill with equal parts of white vinegar and water, leave it for one hour, then
rinse twice.
"""


def test_plain_title_lines_become_sections_and_lists_stay_text() -> None:
    heads = [s.heading for s in parse_text(PLAIN)]
    assert heads == ["Filling the kettle", "In the box", "Boiling water", "Descaling", "Replacing the filter"]
    box = next(s for s in parse_text(PLAIN) if s.heading == "In the box")
    assert [t for _, t in box.paras] == ["- Kettle", "- Base with cord", "- Filter"]


def test_wrapped_text_without_blank_lines() -> None:
    assert [s.heading for s in parse_text(WRAPPED)] == ["FILLING THE KETTLE", "BOILING WATER", "DESCALING"]


def test_short_lines_in_a_run_are_no_titles() -> None:
    lines = ["Parts", "Kettle body", "Base with cord", "Mesh filter", "Quick guide", "Spare filter"]
    assert title_lines(lines) == set()
    # fewer than three titles is no scheme
    assert title_lines(["Filling", "", "Open the lid and fill it with water.", "", "Boiling", "",
                        "Press the switch down and wait."]) == set()


def test_a_manual_with_its_own_headings_is_left_as_it_was() -> None:
    text = ("Para 1-1: Fan Belt\nThe belt should deflect 12 mm.\n\nCheck it weekly\n\n"
            "Press on the belt halfway between the pulleys and measure the deflection.\n"
            "Para 1-2: Coolant\nTop up to the mark.\nPara 1-3: Oil\nUse SAE 30.\n")
    assert [s.heading for s in parse_text(text)] == ["Para 1-1: Fan Belt", "Para 1-2: Coolant", "Para 1-3: Oil"]


def test_a_question_lands_under_its_plain_title(tmp_path: Path) -> None:
    manual = tmp_path / "kettle.txt"
    manual.write_text(PLAIN, encoding="utf-8")
    eng = Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(), None)
    eng.index_paths([manual])
    a = eng.ask("How do I replace the filter?")
    assert a["citations"][0]["section"] == "Replacing the filter"
    assert "push the new one down until it clicks" in (a["answer"] or "")


# A notice set in a narrow column (a regulator's bulletin, a three-column service letter): every
# line is short, capitalised or not, and unpunctuated; only the headlines are titles.
NARROW = """Background
On October 29, 2018, a Boeing Model
737-8 airplane operated by an airline
was involved in an accident.
Following the Lion Air Flight 610
accident on October 29, 2018, data from
the flight data recorder indicated a fault.
Proposed Design Changes
The FAA proposes mandating the
following changes to the type design,
to address the unsafe condition.
To address the unsafe condition, the
FAA proposes to require installation
of updated software.
Flightcrew Training
The FAA, through an operational
evaluation, will assess the impact of the
changes on training.
Regulatory Findings
The FAA has determined that this
proposed AD would not have federalism
implications under Executive Order 13132.
"""


def test_in_a_narrow_column_a_paragraph_s_first_line_is_no_title() -> None:
    """A paragraph's first line whose sentence the next line goes on with ("Following the Lion
    Air Flight 610" / "accident on ..."), or that ends on "the", is no title; a headline over a
    paragraph whose own first line is short is one."""
    heads = [s.heading for s in parse_text(NARROW)]
    assert heads[1:] == ["Proposed Design Changes", "Flightcrew Training", "Regulatory Findings"]
    lines = NARROW.splitlines()
    assert lines.index("Following the Lion Air Flight 610") not in title_lines(lines)
    assert lines.index("To address the unsafe condition, the") not in title_lines(lines)


def test_a_name_in_lower_case_does_not_join_a_title_to_its_paragraph() -> None:
    lines = ["Pairing the watch", "iPhone users open the Health app first and then tap Devices.",
             "", "Charging", "Place the watch on the dock until the ring turns green.",
             "", "Cleaning", "Wipe the strap with a damp cloth and dry it."]
    assert title_lines(lines) == {0, 3, 6}
