"""The abstention message: plain words naming the manuals on the box."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import messages
from nic_edge.engine.engine import Engine
from tests.engine.test_engine_support import HashEmbedder, fake_load, write_manual


def test_names_a_few_manuals_then_counts_the_rest() -> None:
    assert "(a.txt) does not cover" in messages.not_covered(["a.txt"])
    assert "(a.txt and b.txt) do not cover" in messages.not_covered(["a.txt", "b.txt"])
    five = messages.not_covered([f"m{i}.txt" for i in range(5)])
    assert "The 5 manuals on this box (m0.txt, m1.txt, m2.txt and 2 more)" in five
    assert "No manuals" in messages.not_covered([])


def test_beir_file_is_named_once_not_per_record() -> None:
    info = {"/data/manuals/cloud.jsonl": {"records": {"doc-1": {}, "doc-2": {}}}}
    assert messages.manual_names(info) == ["cloud.jsonl"]


def test_every_answer_has_a_message_field(tmp_path: Path) -> None:
    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(), HashEmbedder(), loader=fake_load)
    for i in range(4):
        write_manual(tmp_path, f"extra{i}.txt", f"Para 9-{i}: Horn {i}\nThe horn button {i} is on the wheel.\n")
    eng.index_paths([write_manual(tmp_path)] + [tmp_path / f"extra{i}.txt" for i in range(4)])
    answered = eng.ask("What torque for the lug nuts?")
    assert not answered["abstained"] and answered["message"] is None
    off = eng.ask("What is the capital of Australia?")
    assert off["abstained"] and off["reason"] in ("no_match", "low_confidence")
    assert "The 5 manuals on this box (extra0.txt, extra1.txt, extra2.txt and 2 more)" in off["message"]
    bad = eng.ask("   ")
    assert bad["reason"] == "invalid_input" and bad["message"].startswith("This question could not be used")
    empty = Engine(tmp_path / "e", load_profiles()["ultra_lite"], EngineConfig(), None, loader=fake_load)
    assert "No manuals" in empty.ask("anything?")["message"]


def test_a_question_about_it_says_to_name_the_thing(tmp_path: Path) -> None:
    """"How do I tighten them?" names nothing the box can look up (it answers each question
    on its own): confidence is quartered (answer.ANAPHORA_FACTOR twice; halved when the question
    names two things) and the abstention says to name the part, and which manuals are on the
    box."""
    from nic_edge.engine import answer

    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(abstain_threshold=0.9),
                 HashEmbedder(), loader=fake_load)
    eng.index_paths([write_manual(tmp_path)])
    for question, halvings in (("How do I tighten them?", 2),          # names one thing at most
                               ("How do I tighten their nuts?", 1),      # names two
                               ("How do I tighten the lug nuts?", 0)):
        ex = eng.explain(question)
        unhalved = answer.confidence(answer.Features(**dict(zip(answer.FEATURES, ex["features"]))),
                                     ex["mode"] == "hybrid")
        assert ex["confidence"] == pytest.approx(unhalved * answer.ANAPHORA_FACTOR ** halvings), question
    out = eng.ask("How do I tighten them?")  # confidence <= 0.5 < 0.9
    assert out["abstained"] and out["reason"] == "low_confidence"
    assert out["message"].startswith("The question does not say what it is about")
    assert "The manuals on this box: manual.txt." in out["message"]
    off = eng.ask("What is the capital of Australia?")
    assert off["abstained"] and "does not cover this question" in off["message"]


@pytest.mark.parametrize("question,refers", [
    ("How is it configured?", True),
    ("Can you tell me about its policies.", True),
    ("What elements does it support?", True),
    ("How do I reset them?", True),
    ("Is it OK to use tap water?", False),            # "it" stands for the clause after it
    ("Is it true that the battery needs water?", False),
    ("What does this light mean?", False),            # "this light" names the subject
    ("What is the tire pressure for the front wheels?", False),
    ("How do I take it off the axle of the front wheel assembly?", False),  # names enough to look up
])
def test_refers_back_rule(question: str, refers: bool) -> None:
    from nic_edge.engine.answer import content_terms, refers_back
    from nic_edge.engine.bm25 import analyze
    assert refers_back(question, content_terms(list(dict.fromkeys(analyze(question))))) is refers


def test_a_near_miss_points_at_the_sections_that_use_its_words(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every word of the question is in the manuals and confidence came near the threshold:
    "does not cover" would be untrue ("brakes" on the Ford manual), so the message says no
    passage answers it clearly and names the sections holding its words. A far miss, or a
    question with a word the manuals lack, keeps "does not cover"."""
    from nic_edge.engine import engine as engine_mod

    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(abstain_threshold=1.0),
                 HashEmbedder(), loader=fake_load)
    eng.index_paths([write_manual(tmp_path)])
    monkeypatch.setattr(engine_mod, "POINT_SHARE", 0.0)      # any confidence is near
    near = eng.ask("tires")
    assert near["abstained"] and near["reason"] == "low_confidence", near
    assert near["message"].startswith("No passage in the manual on this box (manual.txt) answers")
    assert "\u201cPara 2-2: Tire Rotation\u201d" in near["message"] and "Ask a full question" in near["message"]
    full = eng.ask("How often should the tires be rotated?")
    assert full["abstained"] and "Tire Rotation" in full["message"]
    assert full["message"].endswith("Read those sections, or ask again in other words.")
    lacking = eng.ask("How often should the windshield wipers be replaced?")   # "windshield" is not in it
    assert lacking["abstained"] and "does not cover this question" in lacking["message"]
    monkeypatch.setattr(engine_mod, "POINT_SHARE", 1.0)      # only a confidence of 1 would be near
    far = eng.ask("How often should the tires be rotated?")
    assert far["abstained"] and "does not cover this question" in far["message"]
