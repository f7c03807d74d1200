"""Engine facade: answer format, lexical fallback, lazy model load, bad inputs, warnings."""

from __future__ import annotations

import importlib.util

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from tests.engine.test_engine_support import HashEmbedder, fake_load, write_manual

KEYS = {"id", "question", "answer", "abstained", "reason", "message", "confidence", "citations", "warnings",
        "quotes",
        "cached", "latency_ms", "tier", "mode"}
CITATION_KEYS = {"source", "label", "section", "page", "page_kind", "chunk_id", "snippet", "score"}


@pytest.fixture
def engine(tmp_path):
    emb = HashEmbedder()
    eng = Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(), emb, loader=fake_load)
    eng.index_paths([write_manual(tmp_path)])
    return eng


def test_answer_has_exactly_the_design_fields(engine):
    a = engine.ask("What torque for the lug nuts?", qid="q1")
    assert set(a) == KEYS
    assert a["id"] == "q1" and a["question"] == "What torque for the lug nuts?"
    assert a["abstained"] is False and a["reason"] is None and a["cached"] is None
    assert "85-95 ft-lbs" in a["answer"]
    assert a["mode"] == "hybrid" and a["tier"] == "ultra_lite"
    assert 0.0 <= a["confidence"] <= 1.0 and a["latency_ms"] > 0
    assert a["citations"] and all(set(c) == CITATION_KEYS for c in a["citations"])
    assert a["citations"][0]["section"] == "Para 2-1: Lug Nut Torque"


def test_model_is_loaded_lazily_on_first_hybrid_question(tmp_path):
    emb = HashEmbedder()
    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(), emb, loader=fake_load)
    assert not emb.loaded
    eng.ask("anything at all")  # empty index: nothing to embed against
    assert emb.loads == 0
    eng.index_paths([write_manual(tmp_path)])
    emb.unload()
    eng.ask("lug nut torque")
    assert emb.loaded


def test_lexical_fallback_when_model_cannot_load(tmp_path):
    ok = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(), HashEmbedder(), loader=fake_load)
    ok.index_paths([write_manual(tmp_path)])
    broken = HashEmbedder(fail=True)
    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(), broken, loader=fake_load)
    a = eng.ask("lug nut torque")
    assert a["mode"] == "lexical" and "85-95 ft-lbs" in a["answer"]
    assert eng.mode == "lexical" and eng.status()["model"]["error"]


def test_no_embedder_and_lexical_only_switch(engine, tmp_path):
    eng = Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(), None, loader=fake_load)
    assert eng.ask("lug nut torque")["mode"] == "lexical"
    fp = engine.fingerprint
    engine.set_lexical_only(True)
    a = engine.ask("lug nut torque")
    assert a["mode"] == "lexical" and not a["abstained"]
    assert engine.fingerprint != fp
    engine.set_lexical_only(False)
    assert engine.ask("lug nut torque")["mode"] == "hybrid"


@pytest.mark.skipif(importlib.util.find_spec("nic_edge.engine.embedder") is None, reason="embedder not built")
def test_lexical_fallback_when_forced_runtime_is_not_installed(tmp_path, monkeypatch):
    from nic_edge.engine.embedder import Embedder

    missing = "tflite_runtime" if importlib.util.find_spec("tflite_runtime") is None else "ai_edge_litert"
    if importlib.util.find_spec(missing) is not None:
        pytest.skip("both runtimes installed")
    monkeypatch.setenv("NIC_EDGE_TFLITE", missing)
    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(), Embedder(), loader=fake_load)
    eng.index_paths([write_manual(tmp_path)])
    a = eng.ask("lug nut torque")
    assert a["mode"] == "lexical" and not a["abstained"]


BAD = [None, 42, 3.5, ["q"], {"q": 1}, b"\xff\xfe", "", "   \n\t ", "x" * 2001, "oil\x00change",
       "bell\x07", "esc\x1b[0m", "lone \ud800 surrogate", "\ufffe", "del\x7f"]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: repr(b)[:20])
def test_bad_inputs_abstain_with_invalid_input(engine, bad):
    a = engine.ask(bad, qid="bad")
    assert set(a) == KEYS
    assert a["abstained"] is True and a["answer"] is None and a["reason"] == "invalid_input"
    assert a["citations"] == [] and a["id"] == "bad"


def test_good_edge_inputs_are_accepted(engine):
    for q in ["x" * 2000, "tab\there", "lug nut torque?\n", "Drehmoment für Radmuttern ✓", b"lug nut torque"]:
        assert engine.ask(q)["reason"] != "invalid_input"


def test_bad_top_k_is_invalid_input(engine):
    assert engine.ask("lug nuts", top_k=0)["reason"] == "invalid_input"
    assert engine.ask("lug nuts", top_k=3)["reason"] is None


def test_off_topic_question_abstains(engine):
    a = engine.ask("How do I bake sourdough bread with rye flour?")
    assert a["abstained"] and a["answer"] is None and a["reason"] in ("low_confidence", "no_match")
    assert engine.ask("zzqx blorf")["reason"] == "no_match"


def test_warnings_of_cited_sections_come_back_verbatim(engine):
    a = engine.ask("Engine cranks but won't start, what should I check?")
    assert not a["abstained"]
    assert "WARNING: Fuel system under pressure. Wear eye protection." in a["warnings"]


def test_warnings_come_from_the_manuals_quoted_only(engine, tmp_path):
    # (the heading shares enough with the question to be cited, but not to be quoted)
    other = write_manual(tmp_path, "press.txt", "Para 7-1: Press Motor Cranks But Will Not Start, What To Check\n"
                         "DANGER: High pressure fluid can pierce skin. Lower the ram first.\n"
                         "Check the press motor breaker.\n")
    engine.index_paths([other])
    a = engine.ask("Engine cranks but won't start, what should I check?", top_k=10)
    assert not a["abstained"] and {c["source"] for c in a["citations"]} == {"manual.txt", "press.txt"}
    assert {a["citations"][q["citation"]]["source"] for q in a["quotes"]} == {"manual.txt"}
    assert "WARNING: Fuel system under pressure. Wear eye protection." in a["warnings"]
    assert not any("pierce skin" in w for w in a["warnings"])  # cited, not quoted: not shown


def test_every_quote_is_verbatim_in_its_cited_section(engine, tmp_path):
    from tests.support.engines import assert_verbatim

    questions = ["lug nut torque", "how often rotate tires", "battery voltage at rest",
                 "fuel pressure", "alternator charging voltage", "check for spark", "star pattern",
                 "what is the torque after 50 miles", "front tires", "engine won't start"]
    answered = 0
    for q in questions:
        a = engine.ask(q)
        if a["abstained"]:
            assert a["quotes"] == [] and a["answer"] is None
            continue
        answered += 1
        assert a["quotes"] and all(0 <= x["citation"] < len(a["citations"]) for x in a["quotes"])
        assert_verbatim(engine, a)
    assert answered >= 6


def test_retrieve_and_manuals_and_status(engine):
    hits = engine.retrieve("tire rotation", 2)
    assert len(hits) == 2 and set(hits[0]) == {"chunk_id", "source", "label", "section", "page", "score"}
    assert hits[0]["section"] == "Para 2-2: Tire Rotation"
    m = engine.manuals()
    assert m[0]["source"] == "manual.txt" and m[0]["chunks"] > 0
    st = engine.status()
    assert st["mode"] == "hybrid" and st["index"]["vectors"] and st["index"]["chunks"] > 0


def test_apply_profile_changes_top_k_and_fingerprint(engine):
    fp = engine.fingerprint
    engine.apply_profile(load_profiles()["full"])
    assert engine.top_k == 10 and engine.fingerprint != fp
