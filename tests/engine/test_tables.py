"""Quoted table rows: the header row that names their columns, and the rows the question names
by their key (engine/tables.py), through the real ingest, index and reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nic_edge.engine import tables
from nic_edge.engine.tables import table_header
from tests.support.engines import answered, lexical_engine, model_engine


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


LIGHTS = """# Robot Vacuum

## Status Light

The ring light on top of the robot shows its status.

| Light | Meaning |
| --- | --- |
| Flashing blue | Waiting for a Wi-Fi connection |
| Solid blue | Connected to Wi-Fi |
| Pulsing orange | Battery below 20 percent |
| Solid red | Error; check the app for the code |
| Flashing red | Battery too low to start; place the robot on the dock |
| Off | The robot is asleep |

Press the power button to wake the robot.
"""


@pytest.mark.parametrize("question,row", [
    ("what does the orange pulsing light mean", "| Pulsing orange | Battery below 20 percent |"),
    ("light is solid blue", "| Solid blue | Connected to Wi-Fi |"),
])
def test_a_long_run_of_rows_keeps_those_closest_in_meaning(tmp_path: Path, question: str, row: str) -> None:
    """No row is named by a key, and every row holds "light" words: the real int8 model picks
    the rows closest to the question (at most ROWS_KEEP), each kept row a quote of its own."""
    eng = model_engine(tmp_path, "vacuum.md", LIGHTS)
    out = answered(eng, question)
    texts = [q["text"] for q in out["quotes"]]
    assert texts[0] == "| Light | Meaning |" and row in texts, texts
    rows = [line for t in texts for line in t.split("\n") if line.startswith("| ") and line != texts[0]]
    assert len(rows) <= tables.ROWS_KEEP, texts
    assert len({q["citation"] for q in out["quotes"]}) == 1


def test_narrow_rows_keeps_order_lines_around_and_short_tables() -> None:
    """The rule itself, with vectors made by hand (the model's choice is tested above)."""
    quote = {"text": "Lead line.\n| a | 1 |\n| b | 2 |\n| c | 3 |\n| d | 4 |\nAfter line.", "citation": 2}
    vecs = {"| a | 1 |": [0.9, 0.1], "| b | 2 |": [0.1, 0.9], "| c | 3 |": [0.85, 0.2], "| d | 4 |": [0.0, 1.0]}

    def embed(lines: list[str]) -> np.ndarray:
        return np.array([vecs[line] for line in lines], dtype=np.float32)

    out = tables.narrow_rows([quote], embed, np.array([1.0, 0.0], dtype=np.float32))
    assert out == [{"text": "Lead line.\n| a | 1 |", "citation": 2}, {"text": "| c | 3 |", "citation": 2},
                   {"text": "After line.", "citation": 2}]
    short = {"text": "| a | 1 |\n| b | 2 |", "citation": 0}   # fewer than ROWS_MIN rows: as is
    assert tables.narrow_rows([short], embed, np.array([1.0, 0.0], dtype=np.float32)) == [short]


def test_a_long_table_read_from_its_middle_still_gets_its_header(tmp_path: Path) -> None:
    """A section is read around its hit (a few chunks): the row of code E0250 comes from
    chunks far below the table's header, which is looked up in the section's earlier chunks and
    cited from the chunk that holds it."""
    rows = "\n".join(f"| E{i:04d} | Fault number {i} in unit {i % 17} | Reset the unit and check cable {i % 31} |"
                     for i in range(300))
    manual = f"# Controller\n\n## Error codes\n\n| Code | Meaning | What to do |\n|---|---|---|\n{rows}\n"
    eng = lexical_engine(tmp_path, "codes.md", manual)
    out = answered(eng, "What does E0250 mean?")
    assert [q["text"] for q in out["quotes"]] == [
        "| Code | Meaning | What to do |", "| E0250 | Fault number 250 in unit 12 | Reset the unit and check cable 2 |"]
    head, row = (out["citations"][q["citation"]]["chunk_id"] for q in out["quotes"])
    assert head == "codes.md#0" and row != head
