"""The answer evaluator end to end on a few Ford questions, and its verbatim-quote check."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

import answer_engine as ae
import answer_sets
import eval_answers as ev


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(ae, "CACHE", tmp_path / "cache")
    return tmp_path


def _in(x: float, lo: float = 0.0, hi: float = 1.0) -> bool:
    return math.isnan(x) or lo <= x <= hi


def test_report_structure_and_ranges(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answer_sets, "SHARED_EVAL", cache / "absent")
    logged: list[str] = []
    rep = ev.evaluate(["ford", "nic_qa"], lexical=True, ford_limit=5, log=logged.append)
    assert "nic_qa" in rep["unavailable"] and any("nic_qa" in m for m in logged)
    assert set(rep["machine"]) >= {"cpu", "model_sha256", "engine_code"}
    r = rep["sets"]["ford"]
    assert r["scored"] == 5 and r["in_scope"] == 5 and r["mode"] == "lexical"
    assert set(r["systems"]) == set(ev.SYSTEMS)
    for name, q in r["systems"].items():
        assert q["n"] == 5
        for key in ("answered", "recall", "f1", "containment", "useful", "wrong_confident",
                    "first_citation_relevant"):
            assert _in(q[key]), (name, key, q[key])
        assert q["median_gold_words"] >= 4
    for base in ("bm25_section", "bm25_window"):
        assert r["systems"][base]["answered"] == 1.0
        assert r["systems"][base]["median_words"] > 0
    # The whole top section holds the answer of at least one of these questions.
    assert r["systems"]["bm25_section"]["recall"] > 0
    ab = r["abstention"]
    assert [row["threshold"] for row in ab["sweep"]] == list(ev.SWEEP)
    assert ab["at_threshold"]["threshold"] == r["threshold"]
    answered = [row["answered_in_scope"] for row in ab["sweep"]]
    assert answered == sorted(answered, reverse=True)   # a higher threshold never answers more
    assert _in(ab["auroc_useful"]) and _in(ab["auroc_scope"])
    assert r["off_topic"] == 30 and r["foreign_out_of_scope"] == 0   # nic_qa absent, MTRAG not asked for
    assert r["verbatim"]["checked_answers"] == 5 + 30 and r["verbatim"]["violations"] == 0
    assert "ford" in ev.render("ford", r)


def test_verbatim_checker_flags_a_quote_not_in_its_section(cache: Path) -> None:
    eng = ae.open_engine([answer_sets.FORD_MANUAL], None)
    ae.force_threshold(eng, 0.0)
    snap = eng.snapshot()
    a = eng.ask("How do I adjust the carburetor needle valve?")
    assert not a["abstained"] and ae.verbatim_violations(snap, a) == []
    sec = ae.section_text(snap, ae.row_index(snap)[a["citations"][0]["chunk_id"]], ae.WHOLE).text
    quote = " ".join(sec.split()[:12])
    good = dict(a, quotes=[{"text": quote.replace(" ", "\n  "), "citation": 0}])
    assert ae.verbatim_violations(snap, good) == []      # whitespace differences are allowed
    changed = dict(a, quotes=[{"text": quote.replace(" the ", " a ", 1) + " extra", "citation": 0}])
    assert len(ae.verbatim_violations(snap, changed)) == 1
    wrong_cit = dict(a, quotes=[{"text": quote, "citation": 7}])
    assert ae.verbatim_violations(snap, wrong_cit)[0]["why"] == "citation not found"
    other = copy.deepcopy(a)
    other.pop("quotes", None)     # an engine without quotes: each line of ``answer`` is checked
    assert ae.verbatim_violations(snap, other) == []
    other["answer"] = a["answer"] + "\nThe carburetor runs on diesel."
    assert len(ae.verbatim_violations(snap, other)) == 1


def test_baselines_answer_from_the_top_sections(cache: Path) -> None:
    eng = ae.open_engine([answer_sets.FORD_MANUAL], None)
    snap = eng.snapshot()
    q = "How often should the wheel bearings be greased?"
    whole, row = ae.baseline_whole_section(snap, q)
    window, wrow = ae.baseline_best_window(snap, q)
    assert row is not None and wrow is not None
    assert " ".join(window.split()) in " ".join(" ".join(s.text for s in ae.bm25_sections(snap, q)).split())
    assert 0 < len(window.split()) < len(whole.split()) or window in whole
    assert ae.baseline_whole_section(snap, "zzqx qqzz") == ("", None)


def test_cli_rejects_an_unknown_set_and_dumps_per_question_rows(cache: Path, capsys: pytest.CaptureFixture) -> None:
    assert ev.main(["--sets", "nope"]) == 2
    assert "unknown set" in capsys.readouterr().err
    assert ev.main(["--sets", "ford", "--ranks", "0.5,x"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err
    assert ev.main(["--sets", "ford", "--ranks", "1.5"]) == 2
    assert "0..1" in capsys.readouterr().err
    dump = cache / "rows.jsonl"
    assert ev.main(["--sets", "ford", "--ford-limit", "3", "--lexical", "--json", "--dump", str(dump)]) == 0
    rep = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["ford-001", "ford-002", "ford-003"]
    assert rep["sets"]["ford"]["scored"] == 3
    assert all(0.0 <= r["recall"] <= 1.0 and r["gold"] for r in rows)


def test_every_quote_of_every_ford_answer_is_verbatim_in_its_cited_section(cache: Path) -> None:
    """Issue 15 item 4 over a whole evaluation run (lexical engine: fast, same answer path)."""
    rep = ev.evaluate(["ford"], lexical=True, examples=10, log=lambda m: None)
    v = rep["sets"]["ford"]["verbatim"]
    assert v["checked_answers"] == 105 + 30
    assert v["violations"] == 0, v["examples"]


def test_hybrid_run_with_the_real_int8_model(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tool's real configuration: the bundled int8 TFLite embedder (skipped without a runtime)."""
    import evaluate

    monkeypatch.setenv("NIC_EDGE_EMB_CACHE", "off")     # no vectors written to /tmp by tests
    if evaluate.make_embedder() is None:
        pytest.skip("no TFLite runtime: hybrid evaluator run not possible here")
    rep = ev.evaluate(["ford"], ford_limit=4, log=lambda m: None, alphas=[1.0, 0.5, 0.0], signals=True)
    manifest = json.loads((Path(__file__).resolve().parents[2] / "nic_edge" / "models" / "manifest.json").read_text())
    assert rep["machine"]["model_sha256"] == manifest["sha256"]
    r = rep["sets"]["ford"]
    assert r["mode"] == "hybrid" and r["scored"] == 4
    assert all(_in(q["useful"]) and _in(q["recall"]) for q in r["systems"].values())
    assert r["verbatim"]["violations"] == 0
    # Retrieval alone at three BM25 weights: each a share of the 4 questions, MRR <= R@5 bound.
    assert list(r["ranks"]) == ["1", "0.5", "0"]
    for row in r["ranks"].values():
        assert row["n"] == 4 and row["r1"] <= row["r5"] and row["r1"] <= row["mrr"] <= 1.0
        assert all(round(4 * row[k]) == 4 * row[k] for k in ("r1", "r5"))
    assert "R@1" in ev.render_ranks("ford", r["ranks"])
    # Each confidence feature judged alone over the answered questions, and the closest-in-meaning split.
    from nic_edge.engine.answer import FEATURES

    sig = r["signals"]
    answered = round(4 * r["systems"]["ours"]["answered"])
    assert sig["n"] == answered and 0 <= sig["useful"] <= answered
    assert list(sig["auroc"]) == [*FEATURES, "closest", "confidence"]
    assert all(_in(v) for v in sig["auroc"].values())
    assert sig["closest"]["n"] + sig["not_closest"]["n"] == answered
    assert sig["closest"]["n"] >= 1   # with the real model most quotes come from the closest section
    assert "closest chunk in meaning" in ev.render_signals("ford", sig)


def test_no_runtime_means_a_lexical_run_and_a_lexical_cache_key(cache: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a loadable TFLite runtime the evaluator's embedder is None, so the run is
    lexical and its cached index is keyed "lexical": a later run that has the runtime
    never reuses it as a hybrid index (it once did, and reported lexical figures)."""
    import evaluate

    monkeypatch.setenv("NIC_EDGE_EMB_CACHE", "off")
    monkeypatch.setenv("NIC_EDGE_TFLITE", "no_such_runtime")
    assert evaluate.make_embedder() is None
    rep = ev.evaluate(["ford"], ford_limit=2, log=lambda m: None)
    assert rep["sets"]["ford"]["mode"] == "lexical" and rep["machine"]["model_sha256"] is None
    assert [p.name.split("-")[1] for p in (cache / "cache").iterdir()] == ["lexical"]
