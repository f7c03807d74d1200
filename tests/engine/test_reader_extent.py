"""How much of a section a quote takes: one sentence for a question that asks one fact, the
paragraph that names the question's thing rather than the section from its start, a how-to
question's procedure from its first step. Real ingest and index, lexical (as test_reader.py)."""

from __future__ import annotations

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
