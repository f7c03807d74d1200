"""Sentence spans and quotes: always verbatim substrings of the chunk."""

from __future__ import annotations

import random

from nic_edge.engine.answer import spans
from nic_edge.engine.validate import validate_question

TEXT = """Para 1-2: Engine Cranks But Won't Start
Probable Causes (in order of likelihood):
1. Fuel System Issue (65% probability)
Step 1: Verify fuel level. Check fuel gauge reading!
WARNING: Fuel system under pressure.  Wear eye protection.

(a) Remove the plug. (b) Check the gap? Done."""


def test_spans_are_substrings_and_cover_the_text():
    parts = [TEXT[a:b] for a, b in spans(TEXT)]
    assert all(p and p == p.strip() for p in parts)
    assert "Step 1: Verify fuel level." in parts
    assert "Check fuel gauge reading!" in parts
    assert "WARNING: Fuel system under pressure." in parts
    joined = "".join(parts).replace(" ", "").replace("\n", "")
    assert joined == TEXT.replace(" ", "").replace("\n", "")


def test_random_texts_never_break_offsets():
    rng = random.Random(3)
    alphabet = "ab .!?:\n\t(1)-*WARNING"
    for _ in range(300):
        t = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        for a, b in spans(t):
            assert 0 <= a < b <= len(t) and t[a:b].strip() == t[a:b]


def test_validate_strips_but_keeps_inner_text():
    assert validate_question("  oil change?\n") == "oil change?"
