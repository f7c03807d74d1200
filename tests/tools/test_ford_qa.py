"""The Ford question set (tools/data/ford_qa.jsonl): honest rephrasings, verbatim gold."""

from __future__ import annotations

import json
from pathlib import Path

import answer_metrics as am
from nic_edge.engine.sections import normalize_ws

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "tools" / "data" / "ford_qa.jsonl"
MANUAL = ROOT / "nic_edge" / "data" / "ford_model_t_manual_1919.txt"


def _items() -> list[dict]:
    return [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_no_rephrasing_copies_three_consecutive_content_words_of_its_heading() -> None:
    bad = [(it["id"], it["heading"], it["question"], am.shared_run(it["heading"], it["question"]))
           for it in _items() if am.shared_run(it["heading"], it["question"])]
    assert bad == []


def test_the_checker_flags_a_copied_run() -> None:
    # The README's example: "adjust" and "adjusted" stem alike, so only two content words
    # ("carburetor adjust") are shared -- allowed; copying three is not.
    assert am.shared_run("How is the Carburetor adjusted?", "How do I adjust the carburetor?") is None
    assert am.shared_run("How are the Rear Axle and Differential disassembled?",
                         "How do I take the rear axle differential apart?") == ("rear", "axle", "differential")
    assert am.shared_run("Will the Radiator freeze in winter?", "Does a radiator freeze in the winter?") \
        == ("radiator", "freez", "winter")


def test_set_is_large_spread_and_gold_is_verbatim_from_the_manual() -> None:
    items = _items()
    manual = normalize_ws(MANUAL.read_text(encoding="utf-8"))
    assert len(items) >= 70
    assert len({it["id"] for it in items}) == len(items)
    assert len({it["heading"] for it in items}) == len(items)
    positions = []
    for it in items:
        assert set(it) >= {"id", "heading", "question", "gold", "section"}
        assert it["question"].strip() and it["question"] != it["heading"]
        assert am.n_words(it["gold"]) >= am.MIN_GOLD_WORDS and am.skip_gold(it["gold"]) is None
        assert it["gold"] == normalize_ws(it["gold"]) and it["gold"] in manual, it["id"]
        assert normalize_ws(it["heading"]).rstrip("?") in manual, it["id"]
        positions.append(manual.index(it["gold"]))
    # Spread over the whole manual: items in reading order, from the first tenth to the last.
    assert positions == sorted(positions)
    assert positions[0] < len(manual) * 0.1 and positions[-1] > len(manual) * 0.85
