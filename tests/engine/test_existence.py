"""A question asking whether the product has a thing its manual never names is not covered by
the manual (existence.py, confidence-26): "Does the TV have a webcam for zoom calls?" asked of a
manual without "webcam" was answered from "zoom" passages. Found on the blind sets' questions the
manuals cannot answer; the same rule as for a model or code the index never names."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine import answer
from nic_edge.engine.bm25 import analyze
from nic_edge.engine.existence import asked_thing, names_unknown_thing
from tests.support.engines import lexical_engine

GUIDE = """# Norvik A7 Television

## Picture Zoom

Press ZOOM on the remote to step through Normal, Zoom 1 and Zoom 2. Zoom enlarges the picture
for broadcasts with black bars.

## Connections

Connect the set-top box with an HDMI cable. The USB port powers drives up to 900 mA.
The optional wall bracket fits the VESA 300 x 300 holes at the back.

## Picture stabilization

Motion stabilization smooths camera shake in home videos played from USB.
"""


@pytest.mark.parametrize("question,thing", [
    ("does the TV have a webcam for zoom calls", "webcam"),
    ("Is there a plumbing kit so the water tank refills itself?", "plumbing kit"),
    ("Are there any government grants or rebates for installing it?", "government grants"),
    ("Does it work with Alexa or Google Home?", "Alexa"),
    ("does the Halo 8 work with a stylus pen", "stylus pen"),
    ("do you have a trade-in deal for my old robot vacuum", "trade-in deal"),
    ("can I get a student discount when buying a TV", "student discount"),
    ("We have a small flat. Is there a night mode?", "night mode"),
    ("Does the Z50 have built-in GPS for geotagging?", "built-in GPS"),
    ("is there a charger included in the box", "charger"),
    ("ads all over the home page, can I get rid of them?", None),    # no article: an idiom, not a purchase
    ("can I make it jump to someone else", None),
    ("How do I fix it?", None),
    ("Is it safe to mount it on drywall?", None),
])
def test_the_thing_an_existence_question_asks_about(question: str, thing: str | None) -> None:
    assert asked_thing(question) == thing


@pytest.mark.parametrize("question,unknown", [
    ("Does the TV have a webcam for zoom calls?", True),
    ("Is there a swivel pedestal that fits this TV?", True),
    ("Is there an HDMI lead in the box?", False),                 # names HDMI, which the manual knows
    ("Does the TV have a zoom function?", False),
    ("Is there any extra stabilisation for video?", False),        # the manual spells it -ization
    ("Is there a guarantee?", False),                              # no, but "warranty" is its group-mate...
    ("Is there a way to stop the ads?", False),                    # "way": how people ask, not what
    ("What does ZOOM do?", False),                                 # no existence question
])
def test_names_unknown_thing(question: str, unknown: bool) -> None:
    vocab = set(analyze(GUIDE)) | {"warranty"}   # (... which this vocabulary holds)
    groups = {"guarante": ("warranty",)}
    assert names_unknown_thing(question, dict.fromkeys(vocab, 1), groups, answer.QUESTION_FILLER) is unknown


def test_confidence_is_quartered_for_a_thing_the_manual_never_names(tmp_path: Path) -> None:
    """"Does the TV have a webcam for zoom calls?" keeps CODE_FACTOR of the confidence its
    features give; "Does the TV have a zoom function?" keeps all of it (lexical mode, the
    real engine on a small manual)."""
    eng = lexical_engine(tmp_path, "tv.md", GUIDE)
    for question, factor in (("Does the TV have a webcam for zoom calls?", answer.CODE_FACTOR),
                             ("Does the TV have a zoom function?", 1.0)):
        ex = eng.explain(question)
        plain = answer.confidence(answer.Features(**dict(zip(answer.FEATURES, ex["features"]))), False)
        assert plain > 0.0, question
        assert ex["confidence"] == pytest.approx(plain * factor), question
