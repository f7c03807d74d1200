"""Troubleshooting entries that name opposite symptoms: "No picture, but sound is present" and
"Picture is good but there is no sound" share every word, and only what each says is missing
tells them apart (polarity.py, the reader's ``POLARITY_WEIGHT``, confidence's ``CLASH_FACTOR``).
Lexical engines: the bag of words alone cannot choose, so these cases fail without the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine import answer as ans
from nic_edge.engine import reader
from nic_edge.engine.polarity import clash, polarity
from tests.support.engines import answered, lexical_engine

TROUBLESHOOTING = """# Television Troubleshooting

## No picture, but sound is present
Check that the correct input is selected. Press INPUT and select the source of the player.
If Picture Off is on, press any button on the remote to turn the picture on again.

## Picture is good but there is no sound
Check that the TV is not muted and that the volume is above 0. If Sound Output is set to
Optical, make sure the soundbar is switched on, or set Sound Output to TV Speakers.

## Engine cranks but won't start
Check the fuel level first, then listen for the fuel pump when the key is turned to ON.

## Engine won't crank
Measure the battery voltage. Below 12.0 V charge the battery and clean both terminals.

## Cleaning the screen
Wipe the screen with a dry cloth, without pressing hard. Do not use glass cleaner.
"""


@pytest.mark.parametrize("text,affirmed,negated", [
    ("I have picture but no sound", {"pictur"}, {"sound"}),
    ("No picture, but sound is present", {"sound", "present"}, {"pictur"}),
    ("My engine cranks but won't start", {"engin", "crank"}, {"start"}),
    ("The remote control does not work", {"remot", "control"}, {"work"}),
    ("Starting motor fails to act", {"start", "motor"}, {"act"}),
    ("Can I clean it without a cloth?", {"clean", "cloth"}, set()),   # "without": a condition
    # an absence said after the thing: "the screen is black", "pages come out blank"
    ("Sound works but the screen is black", {"sound", "work"}, {"screen"}),
    ("The display stays dark", {"stay"}, {"display"}),
    ("Why is colour ink used when I print only black?", {"colour", "ink", "used", "print", "black"}, set()),
    ("Black and white picture", {"black", "whit", "pictur"}, set()),   # before the thing: a colour
    ("Pages come out blank", {"come"}, {"page"}),
    ("The printer spits out empty pages", {"printer", "spit", "empty", "page"}, set()),  # names the pages
])
def test_what_a_text_says_is_missing(text: str, affirmed: set[str], negated: set[str]) -> None:
    assert polarity(text) == (frozenset(affirmed), frozenset(negated))


def test_clash_counts_opposite_words_minus_shared_missing_ones() -> None:
    q = "I have picture but no sound"
    assert clash(q, "No picture, but sound is present") == 2          # both words the other way
    assert clash(q, "Picture is good but there is no sound") == -1    # the same thing missing
    # A verdict needs a symptom on both sides: a heading or a question that negates nothing gives none.
    assert clash(q, "Adjusting the sound") == 0
    assert clash("How do I fix the sound?", "Picture is good but there is no sound") == 0
    # an absence said after the thing is a symptom too
    q = "Sound works but the picture is black"
    assert clash(q, "Picture is good but there is no sound") == 2
    assert clash(q, "No picture, but sound is present") == -1


@pytest.mark.parametrize("question,section", [
    ("I have picture but no sound", "Picture is good but there is no sound"),
    ("There's no picture, I can only hear sound", "No picture, but sound is present"),
    ("My engine cranks but won't start", "Engine cranks but won't start"),
    ("The engine won't crank at all", "Engine won't crank"),
    ("Sound works but the picture is black", "No picture, but sound is present"),
])
def test_the_reader_quotes_the_entry_for_the_symptom_asked(tmp_path: Path, question: str, section: str) -> None:
    eng = lexical_engine(tmp_path, "tv.md", TROUBLESHOOTING)
    out = answered(eng, question)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == section, out["answer"]


def test_the_rule_is_what_chooses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the polarity weight the two sound/picture entries tie on words; at least one of
    the symptom questions above is then answered from the opposite entry."""
    eng = lexical_engine(tmp_path, "tv.md", TROUBLESHOOTING)
    monkeypatch.setattr(reader, "POLARITY_WEIGHT", 0.0)
    picks = [eng.ask(q)["citations"][0]["section"] for q in
             ("I have picture but no sound", "There's no picture, I can only hear sound")]
    assert picks[0] == picks[1]   # the same entry for opposite symptoms


def test_an_opposite_entry_quoted_for_want_of_another_is_doubted(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A manual with only the no-picture entry: asked about missing sound, whatever it quotes
    from that entry has half the confidence it would have without the rule."""
    manual = TROUBLESHOOTING.split("## Picture is good")[0]
    eng = lexical_engine(tmp_path, "tv.md", manual)
    q = "I have picture but no sound"
    out = eng.ask(q)
    assert out["citations"][0]["section"] == "No picture, but sound is present"
    monkeypatch.setattr(ans, "CLASH_FACTOR", 1.0)
    plain = eng.ask(q)["confidence"]
    assert plain > 0 and out["confidence"] == pytest.approx(plain * 0.5, abs=1e-4)
