"""The abstention message: plain words naming the manuals on the box."""

from __future__ import annotations

from pathlib import Path

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
