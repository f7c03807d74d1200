"""The fitting tool's hidden-section questions: with a section hidden, retrieval and the reader
see the index as if its manual lacked it; outside the block nothing changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import eval_out_of_manual as oom
from evaluate import build_engine
from nic_edge.engine.bm25 import BM25Index, analyze
from nic_edge.engine.vectors import VectorIndex

FORD = Path(__file__).resolve().parents[2] / "nic_edge" / "data" / "ford_model_t_manual_1919.txt"
QUESTION = "How is the carburetor adjusted?"


def test_hidden_section_is_invisible_then_restored(tmp_path: Path) -> None:
    eng = build_engine(tmp_path / "ford", [FORD])
    before = eng.explain(QUESTION)
    top = before["sections"][0]
    snap = eng.snapshot()
    assert float(np.max(snap.bm25.scores(analyze(QUESTION)))) > 0.0
    rows = [i for i in range(snap.n) if snap.section(i) == top]
    assert rows
    with oom.hidden(rows):
        during = eng.explain(QUESTION)
        assert float(np.max(snap.bm25.scores(analyze(QUESTION))[rows])) == 0.0
    assert top not in during["sections"] and top not in during["quoted_sections"]
    assert not set(rows) & set(during["rows"])
    assert BM25Index.scores is oom.hidden([]).saved[0] and VectorIndex.cosines is oom.hidden([]).saved[1]
    assert eng.explain(QUESTION) == before


def test_no_rows_hides_nothing(tmp_path: Path) -> None:
    eng = build_engine(tmp_path / "ford", [FORD])
    before = eng.explain(QUESTION)
    with oom.hidden([]):
        assert eng.explain(QUESTION) == before
