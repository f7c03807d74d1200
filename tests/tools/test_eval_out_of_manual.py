"""The fitting tool's hidden-section questions: with a section hidden, retrieval and the reader
see the index as if its manual lacked it; outside the block nothing changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def test_a_fit_holds_the_weights_it_is_told_to_and_fits_the_rest_around_them() -> None:
    """``--fixed``: the hand-set weights stay as set, the free ones still learn the signal, and
    the bias still answers >= 90 % of the positives at 0.5."""
    rng = np.random.default_rng(3)
    n, k = 600, len(oom.ans.FEATURES)
    x = rng.random((n, k))
    y = (x[:, 0] + 0.5 * x[:, 11] + 0.1 * rng.standard_normal(n) > 0.75).astype(int)
    rows = [("m", int(label), tuple(map(float, feats)), 0.0) for label, feats in zip(y, x)]
    fixed = oom.parse_fixed("cos_gap=10,q_closest=1")
    assert fixed == {oom.ans.FEATURES.index("cos_gap"): 10.0, oom.ans.FEATURES.index("q_closest"): 1.0}
    w, b = oom.fit(rows, fixed=fixed)
    assert w[11] == 10.0 and w[12] == 1.0
    free, _ = oom.fit(rows)
    assert free[11] != 10.0 and w[0] > 1.0 and free[0] > 1.0
    z = x[y == 1] @ w + b
    assert (z >= 0).mean() >= 0.9
    shipped = oom.parse_fixed("shipped")
    assert [oom.ans.FEATURES[i] for i in shipped] == list(oom.HAND_SET)
    assert all(v == oom.ans.COEF_HYBRID[i] for i, v in shipped.items())
    with pytest.raises(SystemExit):
        oom.parse_fixed("cos_top")
    with pytest.raises(SystemExit):
        oom.parse_fixed("nope=1")
