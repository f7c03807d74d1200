"""Answer-quality metrics on hand-made examples (tools/answer_metrics.py)."""

from __future__ import annotations

import math

import answer_metrics as am

GOLD = "Tighten the lock nut on the slow speed band, then test the pedal."


def test_tokens_drop_stopwords_and_join_ocr_hyphen_breaks() -> None:
    assert am.tokens("The system will hold approxi- mately three gallons.") == \
        ["system", "hold", "approximately", "three", "gallons"]


def test_recall_and_f1() -> None:
    # gold content words: tighten lock nut slow speed band test pedal (8)
    assert am.recall(GOLD, GOLD) == 1.0 and am.f1(GOLD, GOLD) == 1.0
    half = "Tighten the lock nut of the band."          # tighten lock nut band: 4 of 8
    assert am.recall(half, GOLD) == 0.5
    # precision 4/4, recall 4/8 -> F1 2/3
    assert math.isclose(am.f1(half, GOLD), 2 / 3)
    assert am.recall("Drain the radiator.", GOLD) == 0.0 and am.f1("Drain the radiator.", GOLD) == 0.0
    assert am.recall("anything", "the of and") == 0.0   # a gold with no content words


def test_containment_is_normalised_substring() -> None:
    assert am.contains("Step 1. " + GOLD.upper().replace(" ", "\n") + " Done.", GOLD)
    assert not am.contains("Tighten the lock nut.", GOLD)


def test_useful_and_wrong_confident() -> None:
    assert am.useful(True, 0.5, 3 * 10 + 40, 10)
    assert not am.useful(True, 0.5, 3 * 10 + 41, 10)      # bloated
    assert not am.useful(True, 0.49, 20, 10)
    assert not am.useful(False, 1.0, 20, 10)              # abstained
    assert am.wrong_confident(True, 0.19) and not am.wrong_confident(True, 0.2)
    assert not am.wrong_confident(False, 0.0)


def test_skip_rules() -> None:
    assert am.skip_gold("Use SAE 30.") == "short"
    assert am.skip_gold("Settings > General > Language") == "menu_path"
    assert am.skip_gold("Menu -> Picture -> Picture Mode -> Standard") == "menu_path"
    assert am.skip_gold("Open Settings > General and choose the language you want to use for menus") is None
    assert am.skip_gold(GOLD) is None


def test_auroc() -> None:
    assert am.auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert am.auroc([0.1], [0.9]) == 0.0
    assert am.auroc([0.5, 0.5], [0.5]) == 0.5
    # 3 positives x 2 negatives: pairs won 0.9>0.4, 0.9>0.6, 0.6>0.4, tie 0.6=0.6 (half), 0.3 none
    assert math.isclose(am.auroc([0.9, 0.6, 0.3], [0.4, 0.6]), 3.5 / 6)
    assert math.isnan(am.auroc([], [0.1]))
