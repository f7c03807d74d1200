"""The appliance check (tools/eval_appliances.py): its data says what the manuals say, its
scoring sorts answers into right / wrong-confident / missed / refused, and a run works end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import answer_engine as ae
import eval_appliances as ev
from nic_edge.engine.ingest.markdown import parse_markdown
from nic_edge.engine.sections import normalize_ws


B_DATA = ev.DATA.parent / "appliances_b"
C_DATA = ev.DATA.parent / "appliances_c"


@pytest.mark.parametrize("data,manuals,n", [
    (ev.DATA, {"tv_manual.md", "washer_manual.md", "router_manual.md"}, 80),
    (B_DATA, {"microwave_manual.md", "printer_manual.md"}, 60),
    (C_DATA, {"dishwasher_manual.md", "ebike_manual.md"}, 60)])
def test_every_expected_section_exists_and_holds_its_phrase(data: Path, manuals: set[str], n: int) -> None:
    items = ev.load(data / "questions.jsonl")
    assert len(items) >= n and {it["manual"] for it in items} == manuals
    assert sum(it["sections"] is None for it in items) >= 5       # questions the manuals cannot answer
    texts = {}
    for manual in {it["manual"] for it in items}:
        secs = parse_markdown((data / manual).read_text(encoding="utf-8"))
        texts[manual] = {s.heading: normalize_ws(" ".join(p for _, p in s.paras)) for s in secs}
    for it in items:
        if it["sections"] is None:
            continue
        have = texts[it["manual"]]
        found = [s for s in it["sections"] if s in have]
        assert found, (it["question"], it["sections"])
        assert any(it["contains"] in have[s] for s in found), (it["question"], it["contains"])


def _answer(section: str | None, text: str, conf: float) -> dict:
    if section is None:
        return {"quotes": [], "citations": [], "answer": None, "confidence": conf}
    return {"quotes": [{"text": text, "citation": 0}], "citations": [{"section": section}],
            "answer": text, "confidence": conf}


def test_outcomes_at_a_threshold() -> None:
    item = {"manual": "m", "question": "q", "sections": ["Error Codes"], "contains": "E21"}
    right = ev.judge(item, _answer("Error Codes", "| E21 | Water does not drain |", 0.9))
    wrong_phrase = ev.judge(item, _answer("Error Codes", "| E10 | Water does not come in |", 0.9))
    wrong_section = ev.judge(item, _answer("Drain Hose", "E21 is mentioned here", 0.9))
    low = ev.judge(item, _answer("Error Codes", "| E21 | Water does not drain |", 0.1))
    unanswerable = {"manual": "m", "question": "q", "sections": None, "contains": None}
    answered_anyway = ev.judge(unanswerable, _answer("Water Supply", "Connect the hose.", 0.5))
    assert [o.at(0.3) for o in (right, wrong_phrase, wrong_section, low, answered_anyway)] == [
        "right", "wrong-confident", "wrong-confident", "missed", "wrong-confident"]
    assert answered_anyway.at(0.6) == "refused" and low.at(0.0) == "right"
    t = ev.tally([right, wrong_phrase, low, answered_anyway], 0.3)
    assert (t["right"], t["wrong-confident"], t["missed"], t["answered"]) == (1, 2, 1, 3)
    assert t["wrong_share"] == pytest.approx(2 / 3)
    assert math.isnan(ev.tally([low], 0.3)["wrong_share"])


def test_a_lexical_run_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(ae, "CACHE", tmp_path / "cache")
    assert ev.main(["--lexical", "--threshold", "2"]) == 2
    assert "0..1" in capsys.readouterr().err
    assert ev.main(["--lexical", "--data", str(tmp_path / "nowhere")]) == 2
    assert "questions.jsonl not found" in capsys.readouterr().err
    assert ev.main(["--lexical", "--show"]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "mode lexical" in out
    assert "AUROC right vs the rest" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    n = int(total.split()[2])
    assert n == len(ev.load())
    # every question is listed once with an outcome
    shown = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(shown) == n and all(line.split()[0] in ev.OUTCOMES for line in shown)
