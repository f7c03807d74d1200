"""Quoted table rows: the header row that names their columns, and the rows the question names
by their key (engine/tables.py), through the real ingest, index and reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.tables import table_header
from tests.support.engines import answered, lexical_engine


def _header(text: str, row: str) -> str | None:
    span = table_header(text, text.index(row) + 2)
    return text[span[0]:span[1]] if span else None


def test_the_header_row_is_the_first_row_before_a_rule_or_one_of_column_names() -> None:
    md = "Codes\n\n| Code | Meaning |\n|:---|---:|\n| E1 | Wheel stuck |\n| E2 | Battery hot |\n"
    assert _header(md, "| E2") == "| Code | Meaning |"
    assert _header(md, "| E1") == "| Code | Meaning |"
    assert _header(md, "| Code") is None            # the quote starts at the header already
    assert _header(md, "Codes") is None             # not in a table
    # no Markdown rule: a first row of column names (no figure, a few words a cell; "No." is a name)
    plain = "| No. | Parameter | Range | Factory setting |\n| P40 | DHW setpoint | 30-60 °C | 48 °C |\n" \
            "| P41 | DHW restart hysteresis | 2-15 K | 7 K |\n"
    assert _header(plain, "| P41") == "| No. | Parameter | Range | Factory setting |"
    # a table of records only: its first row is a record, not a header
    records = "| Liquid line | 3/8 in (9.52 mm) |\n| Gas line | 5/8 in (15.88 mm) |\n"
    assert _header(records, "| Gas line") is None
    symptoms = "| The subwoofer LINK light is solid red | The subwoofer is not paired |\n" \
               "| No sound from the rear speakers | Re-pair them |\n"
    assert _header(symptoms, "| No sound") is None


CODES = """# Robot Vacuum

## Error Codes

The robot says the code and the app shows it:

| Code | Meaning | What to do |
| --- | --- | --- |
| E-05 | Transport lock is on | Move the transport lock lever to Unlocked and restart. |
| E-20 | Carriage cannot move | Remove any objects from under the robot and restart. |
| E-21 | Brush motor too hot | Switch the robot off, wait 10 minutes, then switch it on. |
| E-22 | Brush not detected | Refit the main brush until it clicks. |
| E11 | Battery temperature too high or too low | Move the robot to a room at 0-40 °C and wait 30 minutes. |
| E12 | Charging fault | Clean the charging contacts and check the dock power. |
| E13 | Robot trapped | Move the robot to open floor and add a no-go zone there. |

If an error keeps returning after you follow the steps, note the code and contact support with
the serial number of the robot and the date of purchase at hand.

## Model Sizes

| Model | Width | Height | Weight |
| --- | --- | --- | --- |
| RV-30 | 330 mm | 92 mm | 3.1 kg |
| RV-35 | 350 mm | 96 mm | 3.6 kg |
| RV-40 | 350 mm | 99 mm | 4.0 kg |
"""


@pytest.mark.parametrize("question,row", [
    # "E-21" is "e" and "21": every "E-.." row holds the "e"; the row keyed "E-21" is the answer
    ("What does E-21 mean?", "| E-21 | Brush motor too hot | Switch the robot off, wait 10 minutes, then switch it on. |"),
    ("error e-22 on the display", "| E-22 | Brush not detected | Refit the main brush until it clicks. |"),
    ("How heavy is the RV-35?", "| RV-35 | 350 mm | 96 mm | 3.6 kg |"),
])
def test_rows_named_by_their_key_are_quoted_with_the_header_alone(tmp_path: Path, question: str, row: str) -> None:
    eng = lexical_engine(tmp_path, "vacuum.md", CODES)
    out = answered(eng, question)
    texts = [q["text"] for q in out["quotes"]]
    assert texts[1] == row, texts
    assert texts[0].startswith(("| Code | Meaning |", "| Model | Width |")), texts
    assert out["quotes"][0]["citation"] == out["quotes"][1]["citation"]


def test_a_window_does_not_run_through_other_records_to_the_text_after_the_table(tmp_path: Path) -> None:
    """"getting E11 in the sunroom": the E11 row, not E11 to E13 and the support sentence after
    the table (which a longer window scores for its words)."""
    eng = lexical_engine(tmp_path, "vacuum.md", CODES)
    out = answered(eng, "getting E11 in the sunroom")
    assert out["answer"] == ("| Code | Meaning | What to do |\n\n| E11 | Battery temperature too high or too "
                             "low | Move the robot to a room at 0-40 °C and wait 30 minutes. |"), out["answer"]
