"""The blind answer sets (tools/data/heldout_camera, heldout_heatpump, heldout_soundbar,
heldout_mower, heldout_tv, heldout_phone): BEIR layout, verbatim expert answers, honest questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import answer_metrics as am
import answer_sets

ROOT = Path(__file__).resolve().parents[2]
SETS = [ROOT / "tools" / "data" / name for name in answer_sets.BUNDLED_BEIR]


def _read(folder: Path) -> tuple[dict[str, dict], list[dict], dict[str, str]]:
    corpus = {}
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        corpus[rec["_id"]] = rec
    queries = [json.loads(line) for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    qrels = {}
    for line in (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, score = line.split("\t")
        assert float(score) > 0
        assert qid not in qrels, qid
        qrels[qid] = doc
    return corpus, queries, qrels


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_every_expert_answer_is_verbatim_in_its_one_section(folder: Path) -> None:
    corpus, queries, qrels = _read(folder)
    answerable = [q for q in queries if q["metadata"]["answerability"] == "ANSWERABLE"]
    unanswerable = [q for q in queries if q["metadata"]["answerability"] == "UNANSWERABLE"]
    assert len(answerable) >= 50 and len(unanswerable) >= 10
    assert len(answerable) + len(unanswerable) == len(queries)
    assert len({q["_id"] for q in queries}) == len(queries)
    assert set(qrels) == {q["_id"] for q in answerable}
    for q in answerable:
        gold = q["metadata"]["reference_answer"]
        assert gold in corpus[qrels[q["_id"]]]["text"], q["_id"]
        # one section holds it: the citation check has one right answer
        assert sum(gold in rec["text"] for rec in corpus.values()) == 1, q["_id"]
        # scored by the evaluator (not skipped as too short or a bare menu path)
        assert am.skip_gold(gold) is None, q["_id"]
    for q in unanswerable:
        assert q["metadata"]["reference_answer"] == ""


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_no_question_copies_three_consecutive_content_words(folder: Path) -> None:
    corpus, queries, qrels = _read(folder)
    bad = []
    for q in queries:
        if q["_id"] not in qrels:
            continue
        for source in (corpus[qrels[q["_id"]]]["title"], q["metadata"]["reference_answer"]):
            run = am.shared_run(source, q["text"])
            if run:
                bad.append((q["_id"], run))
    assert bad == []


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_the_evaluator_loads_it_as_a_beir_set(folder: Path) -> None:
    s = answer_sets.load_set(folder.name)   # by its name, from any working directory
    assert s.corpus == [folder / "corpus.jsonl"]
    assert answer_sets.load_set(str(folder)).in_scope == s.in_scope
    assert len(s.in_scope) >= 50 and len(s.out_scope) >= 10
    assert all(it.golds and it.relevant for it in s.in_scope)


def test_leave_one_out_takes_them_as_sources_of_their_own(tmp_path: Path) -> None:
    import eval_loo

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "pump.txt").write_text("How is the pump primed?\nFill it with water.\n", encoding="utf-8")
    srcs = eval_loo.sources(tmp_path, None, tuple(SETS))
    assert set(srcs) == {"pump", *answer_sets.BUNDLED_BEIR}
    cam = srcs["heldout_camera"]
    assert cam["paths"] == [SETS[0] / "corpus.jsonl"] and not cam["generate"]
    assert len(cam["answerable"]) == 55 and len(cam["refusals"]) == 15
