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
    # a matrix's corner: an empty first cell over named columns, figures and all
    matrix = "|  | Tier 1 | Tier 2 |\n| tested on hardware | ✔ | ✔ |\n| stable API | ✔ |  |\n"
    assert _header(matrix, "| stable") == "|  | Tier 1 | Tier 2 |"
    assert _header("|  | see step 4 below. |\n| a | b |\n", "| a") is None   # (a sentence is no name)
    symptoms = "| The subwoofer LINK light is solid red | The subwoofer is not paired |\n" \
               "| No sound from the rear speakers | Re-pair them |\n"
    assert _header(symptoms, "| No sound") is None


def test_tables_set_one_under_the_other_each_have_their_own_header() -> None:
    # (an HTML or Markdown page of several tables reads as one run of rows once its blank lines go)
    stacked = ("| Sensor A | Sensor B |\n|---|---|\n| temperature | humidity |\n"
               "| Sensor C | Sensor D |\n|---|---|\n| motion | light |\n| passive | active |\n")
    assert _header(stacked, "| motion") == "| Sensor C | Sensor D |"
    assert _header(stacked, "| passive") == "| Sensor C | Sensor D |"
    assert _header(stacked, "| temperature") == "| Sensor A | Sensor B |"
    assert _header(stacked, "| Sensor C") is None    # a header row needs none
    # a chunk that opens inside a table looks for the header in earlier chunks, unless its own
    # text starts the table (a rule under a row) before the row
    assert tables._runs_to_start("| a | b |\n| c | d |\n", 12)
    assert not tables._runs_to_start("| a | b |\n|---|---|\n| c | d |\n", 22)
    assert not tables._runs_to_start("| a | b |\n|---|---|\n| c | d |\n", 2)


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
    # a table set under another: its header row is no record (kept, not weighed)
    stacked = {"text": "| a | 1 |\n| b | 2 |\n| c | 3 |\n| X | Y |\n|---|---|\n| d | 4 |", "citation": 1}
    out = tables.narrow_rows([stacked], embed, np.array([1.0, 0.0], dtype=np.float32))
    assert out == [{"text": "| a | 1 |", "citation": 1}, {"text": "| c | 3 |\n| X | Y |\n|---|---|", "citation": 1}]
    # a rule left alone (a chunk that opens under its table's header) is no quote
    ruled = {"text": "|---|---|\n| b | 2 |\n| a | 1 |\n| c | 3 |\n| d | 4 |", "citation": 0}
    out = tables.narrow_rows([ruled], embed, np.array([1.0, 0.0], dtype=np.float32))
    assert out == [{"text": "| a | 1 |\n| c | 3 |", "citation": 0}]


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


FAULTS = """# Heat Pump

## Fault Codes

The controller shows the code and locks the compressor until the fault is cleared.

E01 Flow rate too low (below 9.5 l/min for 10 s with the pump running)
Causes: air in the circuit; magnetic filter blocked; closed isolating valves.
Remedy: vent the circuit; clean the filter; open the valves.
E02 Water pressure too high (above 2.8 bar)
Causes: system overfilled; expansion vessel pre-charge lost.
Remedy: drain water down to 1.5 bar in the cold system; check the expansion vessel.
E03 Water pressure too low (below 0.5 bar)
Causes: water leak; pressure relief valve discharging.
Remedy: look for leaks at the connections and top up to 1.5 bar.

## Camera Errors

Err 01: Communication error between lens and camera. Clean the lens contacts and attach the lens again.
Err 02: Memory card error. Turn the camera off and on, or try another card.
Err 05: Image stabilization error. Turn the camera off, remove the lens and check the sensor.
Err 10: Shutter error. Turn the camera off and on again.
"""


@pytest.mark.parametrize("question,want", [
    ("E02 on the display, pressure keeps going up",
     "E02 Water pressure too high (above 2.8 bar)\nCauses: system overfilled; expansion vessel pre-charge "
     "lost.\nRemedy: drain water down to 1.5 bar in the cold system; check the expansion vessel."),
    ("what does Err 05 mean",
     "Err 05: Image stabilization error. Turn the camera off, remove the lens and check the sensor."),
])
def test_a_record_of_a_list_named_by_its_code_is_quoted_alone(tmp_path: Path, question: str, want: str) -> None:
    """Records that each start a line with a code of one family ("E01" ... "E03", "Err 01" ...
    "Err 10"): the record the question names, all its lines, and not its neighbours."""
    eng = lexical_engine(tmp_path, "manual.md", FAULTS)
    out = answered(eng, question)
    assert out["answer"] == want, out["answer"]
    assert [q["text"] for q in out["quotes"]] == [want]


def test_keyed_lines_needs_a_code_of_the_question_among_other_records() -> None:
    text = FAULTS[FAULTS.index("E01"):FAULTS.index("## Camera")].rstrip()

    def span(question_terms: set[str], body: str = text) -> str | None:
        got = tables.keyed_lines(body, 0, len(body), frozenset(question_terms))
        return body[got[0]:got[1]] if got else None

    assert span({"e03", "pressur"}).startswith("E03 Water pressure too low")
    assert span({"e03"}).endswith("top up to 1.5 bar.")            # the last record runs to the window's end
    assert span({"e07"}) is None                                    # a code the list does not hold
    assert span({"e01", "e02", "e03"}) is None                      # every record named: nothing to narrow
    assert span({"e01", "e02"}).endswith("check the expansion vessel.")
    steps = "Set 10 minutes on the timer.\nSet 20 minutes for a roast.\n"
    assert span({"10", "minut"}, steps) is None                     # "set" is no code the question names
    numbered = "to 10 minutes, then\nto 20 minutes, at most\n"
    assert span({"10"}, numbered) is None                           # a bare number is no code


METER = """# Mower

## Service Meter

The service meter on the handle counts engine running hours and shows reminders when routine
maintenance is due. It senses the ignition pulses through a wire clipped around the spark plug lead.

With the engine stopped, the display shows total hours.

| Display | Meaning | What to do |
| OIL (flashing) | Oil change due, every 50 hours | Change the engine oil, then reset |
| BLd (flashing) | Blade sharpening due, every 25 hours | Sharpen the blade, then reset |
| E1 | Ignition signal weak | Check that the sensing wire is clipped around the spark plug lead |
| bAt | Meter battery low | Replace the meter |

## Storage

Drain the fuel before storing the mower for the winter.
"""


def test_a_window_from_prose_into_a_table_keeps_the_row_named_by_its_key(tmp_path: Path) -> None:
    """The window opens with the meter's description and runs into its table; the question names
    the E1 row: its header and that row are quoted, not the prose and the other rows."""
    eng = lexical_engine(tmp_path, "mower.md", METER)
    out = answered(eng, "What does E1 mean on the hour counter?")
    assert [q["text"] for q in out["quotes"]] == [
        "| Display | Meaning | What to do |",
        "| E1 | Ignition signal weak | Check that the sensing wire is clipped around the spark plug lead |"]


BOARDS = """# Board Guide

## Power Supply

Every board needs a 5.1 V supply, but the current it needs grows with the model and with what
you plug into its USB ports. Boards up to the Board 3 take a micro USB plug, the Board 4 a USB-C
plug. The following table gives the current each board needs.

| Product | Recommended supply current capacity | Most current for all USB devices together |
| --- | --- | --- |
| Board 1 Model A | 700 mA | 500 mA |
| Board 1 Model B | 1.2 A | 500 mA |
| Board 2 Model B | 1.8 A | 1.2 A |
| Board 3 Model A | 2.5 A | 1.2 A |
| Board 3 Model B | 2.5 A | 1.2 A |
| Board 4 Model B | 3.0 A | 1.2 A |
| Board 5 | 5.0 A | 1.6 A |

## Cases

Keep the board in a case with air holes when it runs hot.
"""


def test_a_window_that_stops_before_the_row_named_by_its_key_quotes_that_row(tmp_path: Path) -> None:
    """The window is the prose and the table's first rows (the asked amount is in them, for
    another board); the question names the Board 4 row further down: the prose up to the
    table's header is quoted, then that row -- not the Board 1 row (tables.rows_beyond)."""
    eng = lexical_engine(tmp_path, "boards.md", BOARDS)
    out = answered(eng, "What supply current does the Board 4 need?")
    texts = [q["text"] for q in out["quotes"]]
    assert texts[-1] == "| Board 4 Model B | 3.0 A | 1.2 A |", texts
    assert not any("Board 1" in t for t in texts), texts
    assert texts[0].startswith("Every board needs a 5.1 V supply"), texts
    assert "| Product | Recommended supply current capacity |" in "\n".join(texts[:-1]), texts
    assert len({q["citation"] for q in out["quotes"]}) == 1
