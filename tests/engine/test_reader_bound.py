"""Without rerank, the reader does not cut into units a section whose words cannot bring any of
its windows within reach of the best window found so far (``reader.BOUND_PRUNE``): the same
answers as reading every candidate section, with fewer sections read. Real ingest and index over
the bundled Ford manual, lexical and hybrid (the lite tier: the int8 model, no rerank)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nic_edge.engine import reader, rerank
from tests.support.engines import _engine, lexical_engine

ROOT = Path(__file__).resolve().parents[2]


def _questions() -> list[str]:
    """The Ford set's technician questions and the manual's own headings (question form)."""
    rows = [json.loads(line) for line in (ROOT / "tools/data/ford_qa.jsonl").open(encoding="utf-8")]
    return [r["question"] for r in rows] + [r["heading"] for r in rows]


def _answers(eng: Any, questions: list[str], monkeypatch: pytest.MonkeyPatch, prune: bool,
             checked: list[int]) -> tuple[list[tuple], int]:
    """Each question's answer (everything but the latency) and how many sections were read.
    Every window the reader scores is checked against its section's bound."""
    monkeypatch.setattr(reader, "BOUND_PRUNE", prune)
    real = reader._best_window

    def scored(units: list, sc: Any, heading_terms: frozenset, asked: Any, defines: Any, closest: bool,
               polar: Any, target: int, text: str) -> tuple[float, int, int]:
        out = real(units, sc, heading_terms, asked, defines, closest, polar, target, text)
        if out[1] >= 0:
            most = sc.bound(text, heading_terms, target) + 0.08 + reader.QUANTITY_BONUS * (asked is not None) \
                + reader.DEF_BONUS * (defines is not None) + reader.POLARITY_MAX * (polar is not None)
            assert out[0] <= most + 1e-9, (out, most)
            checked.append(1)
        return out

    monkeypatch.setattr(reader, "_best_window", scored)
    outs = []
    before = len(checked)
    for q in questions:
        o = eng.ask(q)
        outs.append((o["confidence"], o["answer"], o["quotes"], [c["chunk_id"] for c in o["citations"]],
                     o["reason"], o["abstained"]))
    return outs, len(checked) - before


@pytest.mark.parametrize("hybrid", [False, True], ids=["lexical", "hybrid"])
def test_skipping_a_section_by_its_words_changes_no_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          hybrid: bool) -> None:
    text = (ROOT / "nic_edge/data/ford_model_t_manual_1919.txt").read_text(encoding="utf-8")
    if hybrid:
        from nic_edge.engine.embedder import Embedder

        eng = _engine(tmp_path, "ford.txt", text, "lite", Embedder())
        assert eng.mode == "hybrid"
    else:
        eng = lexical_engine(tmp_path, "ford.txt", text)
    assert not eng.rerank   # (with rerank a candidate's meaning may lift it: every section is read)
    # Exact for the words. Without rerank the close windows are still read by their chunks' meaning
    # (rerank.CHUNKS), which may lift a section the words could not bring within reach; such a section
    # is not read, as one whose prior cannot reach is not (reader.BOUND_PRUNE).
    monkeypatch.setattr(rerank, "CHUNKS", False)
    questions = _questions()
    assert len(questions) >= 120
    checked: list[int] = []
    pruned, read_pruned = _answers(eng, questions, monkeypatch, True, checked)
    full, read_full = _answers(eng, questions, monkeypatch, False, checked)
    for q, a, b in zip(questions, pruned, full):
        assert a == b, q
    assert sum(1 for a in full if not a[5]) >= 60   # most are answered: the quotes were compared
    assert read_pruned < 0.9 * read_full, (read_pruned, read_full)   # and sections were skipped
