"""A question that names a model or code the manuals never name is not covered by them
(answer.names_unknown_code, CODE_FACTOR): "What's the battery life of the Z70?" asked of the Z50's
guide. Found on the blind camera set, where that question was answered with confidence 0.98."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine import answer
from nic_edge.engine.bm25 import analyze
from tests.support.engines import lexical_engine

GUIDE = """# Arkon Z50 User Guide

## Battery

The EN-Z50 battery takes about 2 hours 30 minutes to charge fully. Battery life of the Z50 is
about 320 shots per charge with the monitor, fewer with the viewfinder.

## Error Codes

E01: the lens is not attached. Attach the lens and turn the camera on again.
E05: image stabilization error. Turn the camera off and on again.
0x05: the same error as the app reports it.
"""


@pytest.mark.parametrize("question,unknown", [
    ("What's the battery life of the Arkon Z70?", True),   # another model
    ("E07 on the display", True),                          # a code the list lacks
    ("What's the battery life of the Z50?", False),
    ("What does E05 mean?", False),
    ("Will the EN-Z50 charge from USB?", False),
    ("Is 24MP the full resolution?", False),               # a measurement, not a name
    ("Can I fit a 100-400mm lens?", False),
    ("How long does the battery last?", False),
    ("What does error 0x1f mean?", True),                  # a hexadecimal code the manual lacks
    ("What does error 0x05 mean?", False),
])
def test_names_unknown_code(question: str, unknown: bool) -> None:
    vocab = set(analyze(GUIDE))
    assert answer.names_unknown_code(analyze(question), vocab) is unknown


HEAT_PUMP = """# Thermaro HP-9 Manual

## Siting

Keep 300 mm behind the HP-9 and 14 mm under its feet. The unit weighs 98 kg; HP stands for heat pump.
Two units side by side need 600 mm between them.

## Fault Codes

E-05 Frost protection of the plate heat exchanger. Check the flow rate.
E-20 High-pressure switch open. Check the water flow.
"""


@pytest.mark.parametrize("name,manual,unknown,known", [
    ("z50.md", GUIDE, "What's the battery life of the Arkon Z70?", "What's the battery life of the Arkon Z50?"),
    ("hp9.md", HEAT_PUMP, "How much space does the HP-14 need behind it?", "How much space does the HP-9 need behind it?"),
])
def test_confidence_is_quartered_for_a_model_the_manual_never_names(
        tmp_path: Path, name: str, manual: str, unknown: str, known: str) -> None:
    """The question about the other model keeps CODE_FACTOR of the confidence its features give;
    the same question about the manual's own model keeps all of it (lexical mode)."""
    assert answer.CODE_FACTOR <= 0.5
    eng = lexical_engine(tmp_path, name, manual)
    for question, factor in ((unknown, answer.CODE_FACTOR), (known, 1.0)):
        ex = eng.explain(question)
        plain = answer.confidence(answer.Features(**dict(zip(answer.FEATURES, ex["features"]))), False)
        assert plain > 0.0, question
        assert ex["confidence"] == pytest.approx(plain * factor), question


@pytest.mark.parametrize("question,unknown", [
    ("What's the flow temperature of the bigger HP-14?", True),   # "hp" and "14" are in the manual, not "HP-14"
    ("What does E-99 mean?", True),                                # "99" is no term of the manual
    ("What does E-20 mean?", False),
    ("What does e 20 mean on the HP-9?", False),
    ("Putting two HP-9s side by side, what gap?", False),          # the plural of a code it has
    ("Is the A-1 setting right?", False),                          # "a" is a stopword: undecided
])
def test_names_unknown_split_code(tmp_path: Path, question: str, unknown: bool) -> None:
    """A code written with a hyphen is two terms to the index ("hp", "14"), each of which may be
    known: it is known when a chunk holding both writes the code itself."""
    from nic_edge.engine.codes import names_unknown_split_code

    snap = lexical_engine(tmp_path, "hp9.md", HEAT_PUMP).snapshot()
    assert names_unknown_split_code(question, snap.bm25, snap.text) is unknown

