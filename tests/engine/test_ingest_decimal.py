"""Decimal-numbered headings of text (and PDF) manuals: "3.2 Replacing the filter"."""

from __future__ import annotations

from pathlib import Path

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.ingest.numbering import decimal_headings
from nic_edge.engine.ingest.text import parse_text

MANUAL = """Model K7 kettle user guide

2 Use
2.1 Filling the kettle
Open the lid and fill with cold water between the MIN and MAX marks.
The kettle holds:
1.7 Litres of water at the MAX mark.
2.2 Boiling water
Press the switch down. The light comes on and the kettle switches off by itself.
3 Care
Unplug the kettle and let it cool before any care.
3.1 Descaling
Fill with equal parts of white vinegar and water, leave it for one hour, then rinse twice.
3.2 Replacing the filter
Pull the mesh filter up out of the spout and push the new one down until it clicks.
3.3 Storage
Wind the cord around the base.
"""


def test_numbered_lines_become_sections_and_amounts_stay_text() -> None:
    heads = [s.heading for s in parse_text(MANUAL)]
    # "2 Use" has no text of its own before "2.1": a heading without a body is no section
    assert heads == [None, "2.1 Filling the kettle", "2.2 Boiling water", "3 Care", "3.1 Descaling",
                     "3.2 Replacing the filter", "3.3 Storage"]
    filling = next(s for s in parse_text(MANUAL) if s.heading == "2.1 Filling the kettle")
    assert any("1.7 Litres of water" in text for _, text in filling.paras)


def test_amounts_steps_and_stray_numbers_are_not_headings() -> None:
    lines = ["1.2 Remove the cover.", "4.5 Litres of oil", "2.4 GHz and 5 GHz", "0.5 W standby",
             "12.5 Mm clearance", "3 Screws", "1.1 Oil pressure", "1.2 Coolant"]
    # two real ones are no numbering scheme; every other line is an amount, a step or a count
    assert decimal_headings(lines) == set()
    assert decimal_headings(lines + ["1.3 Belts"]) == {6, 7, 8}


def test_a_question_lands_under_its_numbered_heading(tmp_path: Path) -> None:
    manual = tmp_path / "kettle.txt"
    manual.write_text(MANUAL, encoding="utf-8")
    eng = Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(), None)
    eng.index_paths([manual])
    a = eng.ask("How do I replace the filter?")
    assert not a["abstained"]
    assert a["citations"][0]["section"] == "3.2 Replacing the filter"
    assert "push the new one down until it clicks" in a["answer"]
    assert "vinegar" not in a["answer"] and "Wind the cord" not in a["answer"]
