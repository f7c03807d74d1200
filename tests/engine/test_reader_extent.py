"""How much of a section a quote takes: one sentence for a question that asks one fact, the
paragraph that names the question's thing rather than the section from its start, a how-to
question's procedure from its first step. Real ingest and index, lexical (as test_reader.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.engines import answered as _ask, lexical_engine

CARE_MANUAL = """# Arkon Z9 Camera

## Cleaning the image sensor
Dust on the image sensor appears as dark spots in pictures taken at small apertures, especially
in plain areas such as sky or a white wall, and it is most visible at f/16 and smaller.

The camera vibrates the sensor filter each time it is turned off, which shakes off most loose
dust; choose when this happens under the cleaning menu, at startup, at shutdown, or both.

If spots remain after the automatic cleaning, turn the camera off, remove the lens, hold the
camera facing down and blow the dust off the sensor with a rubber bulb blower from a short
distance, without letting the tip touch the filter.

Do not use canned air or sprays on the sensor, because the propellant can leave residue on the
filter. Dirt that a blower cannot remove should be cleaned by an authorized service center.

Sensor cleaning kits with swabs and fluid are sold for other cameras; their use on this camera
is not covered by the warranty, and a scratched sensor filter is replaced at the owner's cost.
Store the camera with a body cap or a lens attached so that dust does not enter the mount.
"""


def test_a_yes_no_question_gets_the_sentence_that_answers_not_the_whole_section(tmp_path: Path) -> None:
    """"Is canned air OK for the sensor?" is answered by two sentences; the section around them
    runs to about 200 words. Yes/no, which, who, when and where questions get the shorter
    window an amount question gets (reader.FACT_TARGET_WORDS); before, the quote was the whole
    section (the blind camera set: answers five times longer than the expert's)."""
    eng = lexical_engine(tmp_path, "z9.md", CARE_MANUAL)
    out = _ask(eng, "Is canned air OK to use on the sensor?")
    assert "Do not use canned air or sprays" in out["answer"], out["answer"]
    assert len(out["answer"].split()) <= 120, out["answer"]
    how = _ask(eng, "How do I clean the image sensor?")
    assert len(how["answer"].split()) > 120, how["answer"]   # a procedure question keeps its passage


LEAD_MANUAL = """# Field Recorder R2 Guide

## Home Screen

Press the VIEW key to switch between the level meters, the track list and the clock. The meters
show the input level of each channel in decibels, with a red mark at the clipping point. Keep the
peaks below the red mark when you set the input gain with the knobs on the side of the recorder.
The clock shows the date and time that are written into every file. Set them in the System menu
before the first recording, and again after the battery has been out for more than a day, so that
the files sort in the order they were made.
The figure in the lower left corner is the recording time left on the card at the current format.
When it drops below ten minutes it turns orange, and below one minute it flashes.

## Refilling the Coolant Pump

Refill the pump as follows:
1. Switch the recorder off and lay it on a flat table.
2. Open the cover at the back with a coin and keep the screw.
3. Fill the coolant reservoir with distilled water up to the line, about 40 ml.
4. Close the cover and turn the screw a quarter turn past finger tight.
5. Switch on and let the pump run for two minutes before recording.
"""


def test_the_paragraph_before_the_matching_one_is_not_quoted(tmp_path: Path) -> None:
    """The lead of a window before its first line that holds one of the question's words pays
    like words past the target (reader.DEAD_WEIGHT): "the figure in the lower left corner" is the
    section's last paragraph, and the 100 words on meters and clock before it are no answer. Before,
    the quote was the whole section (the blind camera set: the expert's line came last in a
    140-word quote)."""
    eng = lexical_engine(tmp_path, "r2.md", LEAD_MANUAL)
    out = _ask(eng, "What is the figure in the lower left corner of the screen?")
    assert out["answer"].startswith("The figure in the lower left corner"), out["answer"]


def test_a_procedure_is_quoted_from_its_first_step_for_a_how_to_question(tmp_path: Path) -> None:
    """Only step 3 holds the question's words; for "how do I ..." the procedure is the answer and
    its earlier steps are not lead. A question for an amount gets the step that states it."""
    eng = lexical_engine(tmp_path, "r2.md", LEAD_MANUAL)
    how = _ask(eng, "How do I fill the coolant reservoir?")
    assert "1. Switch the recorder off" in how["answer"], how["answer"]
    assert "5. Switch on" in how["answer"], how["answer"]
    much = _ask(eng, "How much distilled water goes into the coolant reservoir?")
    assert much["answer"].startswith("3. Fill the coolant reservoir"), much["answer"]


NETWORK_GUIDE = """# Pi Network Guide

## Find your IP address
To find the local IP address of your Pi, use one of the following methods.

### Desktop
Hover over the network icon in the system tray. A tooltip shows the network you are connected
to and the IP address of the Pi.

### Command line
Run hostname -I in a terminal to print the IP addresses of every interface.

## What cable do I need for the network?
Use any Cat 5e or better Ethernet cable. The port supports gigabit speeds.

## Reset the network settings
To forget every saved network, remove the files in this folder:

## How do I rename the Pi on the network?
Change the hostname in the configuration tool and restart.
"""


def test_a_section_that_only_leads_in_goes_on_into_the_next(tmp_path: Path) -> None:
    """A how-to split into an introducing section and one section per method: the quote of
    the introduction goes on into the first method (reader-32), cited under its own heading.
    Before, the answer was "use one of the following methods." and nothing it introduced."""
    eng = lexical_engine(tmp_path, "net.md", NETWORK_GUIDE)
    out = _ask(eng, "How do I find the IP address of the Pi?")
    texts = [q["text"] for q in out["quotes"]]
    assert texts[0].endswith("use one of the following methods."), texts
    assert texts[1].startswith("Hover over the network icon in the system tray."), texts
    cited = [out["citations"][q["citation"]]["section"] for q in out["quotes"]]
    assert cited == ["Find your IP address", "Desktop"]


def test_a_lead_in_before_a_question_heading_is_not_continued(tmp_path: Path) -> None:
    """The next section is a question of its own (a Q&A manual's next entry), not what the
    lead-in introduced: the quote stays alone."""
    eng = lexical_engine(tmp_path, "net.md", NETWORK_GUIDE)
    out = _ask(eng, "How do I reset the network settings?")
    texts = [q["text"] for q in out["quotes"]]
    assert texts[0].endswith("remove the files in this folder:"), texts
    assert not any("hostname" in t for t in texts), texts


def test_what_counts_as_a_lead_in() -> None:
    from nic_edge.engine.quote import LEAD_IN

    for line in ("Use one of the following methods.", "Check these in order:", "The steps are as follows.",
                 "A wiring diagram is shown below.", "Enable it in one of the following ways:"):
        assert LEAD_IN.search(line), line
    for line in ("The printer does not print when any tank is below the lower line.",
                 "If the 'A' switch (see below) is ON the registers are also displayed.",
                 "The following day the unit restarts on its own and runs normally."):
        assert not LEAD_IN.search(line), line


SPEC_MANUAL = """# Loader 300

## Equipment data

Table 1-1 lists data for the loader.
ENGINE:
Model. . . . . . . . . . . . . . . . . . . . . . 6BT5.9
Horsepower . . . . . . . . . . . . . . . . . . . 165 hp
CAPACITIES:
Fuel Tank. . . . . . . . . . . . . . . . . . . . 44 gal
Cooling System . . . . . . . . . . . . . . . . . 8 gal
Hydraulic Oil Reservoir. . . . . . . . . . . . . 56.6 gal

## Fuel system

Drain the fuel tank only when the fuel is contaminated. To drain the tank, remove the drain
plug from the bottom of the tank and catch the fuel in a clean container.
"""


def test_a_dot_leader_row_is_quoted_with_its_label_and_value(tmp_path: Path) -> None:
    """An equipment-data table laid out with dot leaders: a quote holds whole rows, each label
    with its figure on a line of its own. Before units.leader_rows a quote could start at the
    dots (". . . . 56.6 gal") or stop at them ("165 hp CAPACITIES: Fuel Tank. . . . ." -- a
    quote of TM 10-3930 ended so), and the rows ran together on one line."""
    eng = lexical_engine(tmp_path, "loader.md", SPEC_MANUAL)
    for question, row in [("How much oil does the hydraulic reservoir hold?", "Hydraulic Oil Reservoir"),
                          ("What is the horsepower?", "Horsepower"),
                          ("What is the capacity of the fuel tank?", "Fuel Tank")]:
        out = _ask(eng, question)
        assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Equipment data"
        lines = [ln for q in out["quotes"] for ln in q["text"].split("\n")]
        assert any(ln.startswith(row) for ln in lines), out["answer"]
        for ln in lines:
            assert not ln.startswith(". ") and not ln.rstrip().endswith(". . . ."), out["answer"]
            if ". . . ." in ln:   # one row per line: a label, its leader, its value
                assert re.fullmatch(r"[A-Z][\w ]*?\.?(?: ?\.){4,} ?[\w.]+(?: [a-z]+)?", ln), out["answer"]


def test_a_dot_leader_row_states_its_amount_beside_its_label(tmp_path: Path) -> None:
    """The spaced dots of a leader end no sentence where the confidence looks for the asked
    amount beside the asked thing (``quantity._segment_breaks``): "Fuel Tank. . . . . 44 gal" states
    the fuel tank's capacity. Before, "44 gal" stood in a "sentence" of its own, the row was
    taken to lack the amount, and the right quote came at 0.19 (lexical; TM 10-3930 abstained)."""
    eng = lexical_engine(tmp_path, "loader.md", SPEC_MANUAL)
    for question, value in [("What is the capacity of the fuel tank?", "44 gal"),
                            ("How much oil does the hydraulic reservoir hold?", "56.6 gal")]:
        out = _ask(eng, question)
        assert value in out["answer"], out["answer"]
        assert out["confidence"] >= 0.5, (question, out["confidence"])
