"""The reader quotes what answers: one regression case per failure kind seen in issue 15.

Each manual here goes through the real ingest and index (lexical: the reader's choices must not
depend on the model), and every quote is checked verbatim against its cited section. The choices
that need the model's meaning (heading match, the section closest in meaning) are in
test_reader_meaning.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine.engine import Engine
from tests.support.engines import answered as _ask, lexical_engine

MANUAL = """# TV MANUAL

## Troubleshooting Sound

The picture is good but there is no sound.
Check the volume setting of the TV. Make sure the mute button has not been pressed. If an external
speaker is connected, check its power and the optical cable. Reset the sound settings from the
Sound menu when nothing else helps.

## Replacing the Drive Belt

To replace the drive belt, follow these steps:
1. Turn off the engine and remove the key.
2. Loosen the tensioner bolt with a 15 mm wrench.
3. Slide the old belt off the pulleys.
4. Route the new belt around the crankshaft pulley first.
5. Tighten the tensioner bolt to 25 newton metres.
6. Start the engine and check that the belt runs straight.

## Brake Pedal Adjustment

The brake pedal should be adjusted so that firm pressure stops the car within a short distance.
Turn the adjusting nut on the brake rod to the right to tighten the brake.
Reverse Pedal Support Brake Pedal Shaft Clutch Pedal Support Driving Plate Slow Speed Connection Lock Nut
Brake Pedal Support Reverse Adjusting Lever Clutch Pedal Shaft Driving Plate Slow Speed Connection

## Cooling Fan Check

Check these in order:
(a) the fan belt tension, with the engine stopped;
(b) the fan blades for cracks;
(c) the fan bearing for play.

## Coolant Type

Fill the cooling system with a mixture of equal parts clean water and ethylene glycol antifreeze.

## Winter Storage

Fill the cooling system with a mixture of equal parts clean water and ethylene glycol antifreeze.
Cover the vehicle and disconnect the battery.

## Spark Plug Service

Remove the spark plug lead by pulling on the boot, never on the wire. Clean the area around the
plug with compressed air so no dirt falls into the cylinder. Unscrew the plug with a plug socket and
inspect the insulator for cracks and the electrodes for wear and deposits. Replace a plug whose
insulator is cracked or whose electrodes are rounded. Before fitting a plug, check the spark plug gap
with a wire feeler gauge.
The spark plug gap is 0.8 mm (0.032 inch).
Bend only the side electrode to correct the gap. Thread the new plug in by hand to avoid cross
threading, then tighten it with the socket until the washer seats and a further quarter turn. Refit
the lead firmly until it clicks. Repeat for every cylinder, one at a time, so the leads are not mixed up.
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return lexical_engine(tmp_path_factory.mktemp("reader"), "tv_and_car_manual.md", MANUAL)


def test_restating_line_is_followed_by_the_remedy(engine: Engine) -> None:
    out = _ask(engine, "What to do if the picture is good but there is no sound?")
    text = out["answer"]
    assert "Check the volume setting" in text and "mute button" in text
    assert text.strip() != "The picture is good but there is no sound."


def test_numbered_procedure_is_quoted_whole(engine: Engine) -> None:
    out = _ask(engine, "How do I replace the drive belt?")
    text = out["answer"]
    for step in ("1. Turn off", "3. Slide the old belt", "6. Start the engine"):
        assert step in text, text


def test_figure_callouts_are_not_quoted(engine: Engine) -> None:
    out = _ask(engine, "How do I adjust the brake pedal?")
    text = out["answer"]
    assert "Turn the adjusting nut" in text
    assert "Pedal Support" not in text and "Driving Plate" not in text


def test_lead_in_comes_with_what_it_introduces(engine: Engine) -> None:
    out = _ask(engine, "What should I check on the cooling fan?")
    text = out["answer"]
    assert "fan blades for cracks" in text and "fan bearing" in text
    assert not text.rstrip().endswith(":")


def test_identical_text_in_two_sections_is_quoted_once(engine: Engine) -> None:
    out = _ask(engine, "What coolant mixture of water and antifreeze goes in the cooling system?")
    assert out["answer"].count("equal parts clean water") == 1


def test_a_question_for_an_amount_gets_the_line_that_states_it(engine: Engine) -> None:
    out = _ask(engine, "What spark plug gap should I use?")
    text = out["answer"]
    assert "0.8 mm" in text
    # The figure, with what leads to it, not the whole service procedure around it.
    assert len(text.split()) <= 100, text
    assert "Repeat for every cylinder" not in text


def test_section_glue_finds_short_overlaps() -> None:
    from nic_edge.engine.sections import _overlap

    prev = "The vapor travels fast. This should not be"
    assert _overlap(prev, "This should not be\ndone unless the tank is empty.") == len("This should not be")
    assert _overlap("Long first sentence here. And the repeated second one.",
                    "And the repeated second one. Then new text follows.") == len("And the repeated second one.")
    assert _overlap("No shared text at all.", "Completely different start.") == 0
    assert _overlap("ends with a", "a new chunk") == 0  # a lone letter is not an overlap


OCR_MANUAL = """# CAR MANUAL

## How is the Engine started with the starter?

If the car has a starter, the spark and throttle levers should be placed
in the same position on the quadrant as when cranking the engine by hand, and the ignition switch
turned on. Then press the starter button with the foot until the engine fires.
THE FORD ENGINE 13

## How is the Steering Gear tightened?

Should the steering gear become loose, disconnect the two halves of the ball sockets and file off
the surface until they fit snugly around the ball. After two or three years of service the steering gear may
* make necessary the renewal of the little pinions under the steering wheel.

## What are the levers under the steering wheel for?

The right-hand lever under the wheel opens the throttle and makes the engine run faster.
The left-hand lever advances the spark. The Steering Gear Rim
Steering Gear Spider Wheel Nut
cr Key i

## Care of the Tires

Keep the tires inflated and free of oil.
"""


@pytest.fixture(scope="module")
def ocr_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return lexical_engine(tmp_path_factory.mktemp("reader_ocr"), "car.md", OCR_MANUAL)


def test_a_quote_does_not_end_on_the_next_title(ocr_engine: Engine) -> None:
    """A running page header after the last sentence ("THE FORD ENGINE 13") is not part of the
    answer."""
    out = _ask(ocr_engine, "How do I start the engine with the starter button?")
    text = out["answer"]
    assert "press the starter button" in text
    assert "FORD ENGINE" not in text, text


def test_a_quote_does_not_end_on_a_run_of_figure_labels(ocr_engine: Engine) -> None:
    """Figure callouts OCR'd one per line after the last sentence ("The Steering Gear Rim" /
    "Steering Gear Spider Wheel Nut" / "cr Key i") go as a whole, though they share the
    question's words."""
    out = _ask(ocr_engine, "What do the levers under the steering wheel do?")
    text = out["answer"]
    assert text.endswith("The left-hand lever advances the spark."), text


FAQ_MANUAL = """# BACKUP SERVICE

## Backup questions

Backups of your volumes run on a schedule that you set, as often as every hour, and each backup
is kept for the number of days that the backup policy gives. Backups are billed per gigabyte
stored, and the first backup of a volume is a full copy of its data. Later backups hold only the
blocks that changed since the one before, so a volume that changes little costs little to keep.
A policy names the volumes it covers by their tags: tag a volume and the next run of the policy
takes it in, remove the tag and its backups stay until they expire. Each policy can hold up to
four plans, and each plan has its own schedule and its own retention, so a volume can be backed
up daily and kept a week, and weekly and kept a year. A backup that is running cannot be deleted;
wait for it to finish, then delete it from the list of backups or let it expire. Deleting a
volume does not delete its backups: they are kept until the retention of their plan ends, and a
new volume can be restored from any of them in the meantime. The first restore of a volume reads
its data in the background while the volume is already in use, so it is slower at first and
reaches full speed when all of its blocks have been read. Backups are encrypted with the key of
the volume they were taken from; a volume encrypted with your own key needs that key to restore,
and a backup whose key was deleted cannot be restored at all. Activity tracking records every
backup, restore and deletion, with the policy and the plan that caused it, so that each change
can be traced back to the person or the schedule that made it.

* How many copies of my backup can I create in other regions?
Each one can be replicated to at most three other locations, one replica per location. A replica
is billed like the original at the location that holds it.

* Can I restore a volume from a backup in another zone?
Yes, restore it in any zone of the region where the backup is kept.
"""


def test_what_follows_the_question_line_answers_it(tmp_path: Path) -> None:
    """A FAQ entry: the answer is what follows the line that asks the question, even though
    the question's words stand in that line and not in its answer (the line counts for the
    window after it, like a heading). Before, the quote ended on the question line."""
    eng = lexical_engine(tmp_path, "faq.md", FAQ_MANUAL)
    out = _ask(eng, "How many copies of my backup can I create in different regions?")
    text = out["answer"]
    assert text.startswith("Each one can be replicated to at most three other locations"), text
    # Confidence reads the question line as part of what answers (its words, not the answer's).
    from nic_edge.engine import answer
    f = dict(zip(answer.FEATURES, eng.explain("How many copies of my backup can I create in different regions?")["features"]))
    assert f["q_cov"] == pytest.approx(f["cov_index"]), f  # every question word the index knows


GLOSSARY_MANUAL = """# HUB MANUAL

## Widgets on the home screen

Widgets can be added to the home screen, moved, resized and removed. Long-press an empty spot of
the home screen to add widgets; drag widgets to move them; pinch a widget to resize it.
Widgets that need the network show their last data while the hub is offline. Up to twelve
widgets fit on one page of the home screen, and a second page opens when the first is full;
swipe left to reach it. Widgets of the same app can be stacked: drop one onto another and swipe
up or down on the stack to turn through them. A stack rotates on its own every hour when smart
rotation is on in the settings of the home screen. Widgets refresh every fifteen minutes on
battery power and every minute on mains power; tap a widget to refresh it at once. Widgets that
show cameras need the camera app to be signed in; those that show energy use need the meter to
be paired first. When the hub starts after an update, widgets are restored in the order they
had, and widgets of apps that were removed are replaced by an empty frame that can be deleted.
Large widgets take the space of four small ones; medium widgets the space of two. Text in
widgets follows the text size of the display settings, and widgets turn dark with the dark theme
at night. Widgets can be locked so that children cannot move or remove them: open the home
screen settings, choose Lock layout and enter the hub pin. Locked widgets still refresh and can
still be tapped; only moving, resizing and removing them needs the pin.

A widget is a small live panel of one app, such as the weather or the energy meter, that shows
its current data without opening the app.
"""


def test_what_is_x_is_answered_by_the_sentence_that_defines_x(tmp_path: Path) -> None:
    """"What is a widget?": the section talks about widgets from its first line, but the answer
    is the sentence that says what a widget *is*, at its end; a window that opens with it gets a
    small bonus (reader.DEF_BONUS). Before, the quote was the section's first 200 words."""
    eng = lexical_engine(tmp_path, "hub.md", GLOSSARY_MANUAL)
    out = _ask(eng, "What is a widget?")
    assert "A widget is a small live panel" in out["answer"], out["answer"]


APPLIANCE_MANUAL = """# Breeze WM-800 Washing Machine

## Error Codes
| Code | Meaning | What to do |
| --- | --- | --- |
| E10 | Water does not come in | Open the tap fully. Check that the inlet hose is not kinked. |
| E21 | Water does not drain | Clean the pump filter. Check that the drain hose is not blocked. |
| E30 | Door not locked | Close the door firmly until it clicks. |
| F01 | Motor fault | Switch off, unplug for 10 minutes and restart. If the code returns, call service. |

## Spin Problems
| Symptom | Remedy |
| --- | --- |
| The drum spins but the water does not drain | Clean the pump filter and check the drain hose. |
| The drum does not spin and the water drains | Spread the load evenly and restart the spin. |

## Technical Data
| Item | Value |
| --- | --- |
| Dimensions | 85 x 60 x 55 cm |
| Rated voltage | 220-240 V, 50 Hz |
| Maximum spin speed | 1400 rpm |
| Hose connections | 1 x inlet 3/4 inch, 1 x drain 22 mm |
"""


@pytest.mark.parametrize("question,header,row", [
    ("What does E21 mean?", "| Code | Meaning | What to do |",
     "| E21 | Water does not drain | Clean the pump filter. Check that the drain hose is not blocked. |"),
    ("What does error F01 mean?", "| Code | Meaning | What to do |",
     "| F01 | Motor fault | Switch off, unplug for 10 minutes and restart. If the code returns, call service. |"),
    # every row states a number; the row that names the thing asked is the answer
    ("How many hose connections does it have?", "| Item | Value |",
     "| Hose connections | 1 x inlet 3/4 inch, 1 x drain 22 mm |"),
])
def test_a_table_row_that_names_the_asked_thing_is_quoted_alone(tmp_path: Path, question: str, header: str,
                                                               row: str) -> None:
    """A table's rows are records of their own: the rows around the one that names the error
    code are other errors, so the quote is that row (after the table's header row, a quote of
    its own), not the table from its first row."""
    eng = lexical_engine(tmp_path, "washer.md", APPLIANCE_MANUAL)
    out = _ask(eng, question)
    assert [q["text"] for q in out["quotes"]] == [header, row]


def test_the_symptom_row_that_says_the_same_thing_is_missing_opens_the_quote(tmp_path: Path) -> None:
    """Both symptom rows have "drum", "spin", "water" and "drain"; only what each says is
    missing tells them apart (polarity.clash on the window's opening row)."""
    eng = lexical_engine(tmp_path, "washer.md", APPLIANCE_MANUAL)
    for question, opens in (("The drum spins but the water won't drain", "| The drum spins but the water does not drain |"),
                            ("The water drains but the drum won't spin", "| The drum does not spin and the water drains |")):
        out = _ask(eng, question)
        # (the table's header row is a quote of its own before the rows)
        assert [q["text"][:len(opens)] for q in out["quotes"]] == ["| Symptom | Remedy |", opens], out["answer"]


EBIKE_MANUAL = """# E-BIKE MANUAL

## 3.2 Assembly

1. Fit the handlebar stem and tighten both stem bolts to 6 Nm.
2. Fit the front wheel and close the quick release firmly.
3. Screw the right pedal (R) clockwise into the right crank and the left pedal (L) anticlockwise into the left crank.
4. Set the saddle height.

## 11.5 Can I take the battery on a plane?

No. At 625 Wh, the battery is well above the 160 Wh limit that airlines allow.

## 7.3 Storing the battery

Store the battery indoors at 10 °C to 20 °C, between 30% and 60% charge.
"""


def test_codes_labels_and_units_are_quoted_as_text(tmp_path: Path) -> None:
    """A step with single-letter labels ("(R)", "(L)") and an answer with unit symbols ("625 Wh",
    "10 °C") are prose, not OCR debris: they used to be dropped as fragments, and the reader
    quoted the step before or nothing of the section at all."""
    eng = lexical_engine(tmp_path, "ebike.md", EBIKE_MANUAL)
    assert "left pedal (L) anticlockwise" in _ask(eng, "Which way does the left pedal screw in?")["answer"]
    out = _ask(eng, "Can I take the battery on a plane?")
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "11.5 Can I take the battery on a plane?"
    assert "160 Wh limit" in out["answer"]
    assert "10 °C to 20 °C" in _ask(eng, "At what temperature should I store the battery?")["answer"]
