"""BM25 arrays, int8 cosine search and fusion against straightforward reference code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nic_edge.engine.bm25 import BM25Index, analyze, analyze_at, build_arrays, stem, top_k
from nic_edge.engine.retrieval import retrieve
from nic_edge.engine.vectors import VectorIndex, quantize

DOCS = ["Check the fuel pressure at the fuel rail", "Rotate the tires every 5000 miles",
        "Tire rotation pattern: front to back", "Battery voltage should read 12.6 volts",
        "The fuel filter is changed yearly", ""]


def reference_bm25(docs, query, k1=1.2, b=0.75):
    toks = [analyze(d) for d in docs]
    n, avg = len(toks), sum(map(len, toks)) / len(toks)
    out = []
    for t in toks:
        s = 0.0
        for q in set(query):
            df = sum(q in x for x in toks)
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = t.count(q)
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(t) / avg))
        out.append(s)
    return np.array(out)


def test_bm25_matches_reference():
    idx = BM25Index(build_arrays(analyze(d) for d in DOCS))
    for q in ["fuel pressure", "rotating tires", "battery volts 12.6", "nothing matches"]:
        np.testing.assert_allclose(idx.scores(analyze(q)), reference_bm25(DOCS, analyze(q)), rtol=1e-5)


def test_stemmer_conflates_common_forms():
    assert stem("rotating") == stem("rotate") == stem("rotation") == stem("rotates")
    assert stem("batteries") == stem("battery")
    assert stem("changed") == stem("changing") == stem("change")
    assert analyze("The P0420 code!") == ["p0420", "code"]


def test_a_figure_is_the_same_terms_written_against_its_unit_or_apart():
    # units-v2: "45W" and "45 W", "2.4GHz" and "2.4 GHz", "16GB" and "16 GB" meet
    for glued, apart in [("45W plug", "45 W plug"), ("2.4GHz band", "2.4 GHz band"), ("16GB stick", "16 GB stick"),
                         ("120fps", "120 fps"), ("a 5V supply", "a 5 V supply"), ("10mm", "10 mm")]:
        assert analyze(glued) == analyze(apart), glued
    # codes, ordinals, hex values and letters that are no unit stay one term
    assert analyze("E07 P0420 1st 3rd 0x1f 802.11ac 3am") == ["e07", "p0420", "1st", "3rd", "0x1f", "802", "11ac", "3am"]
    # offsets follow the text: the unit starts where its letters do
    assert analyze_at("a 45W plug") == [(2, "45"), (4, "w"), (6, "plug")]
    idx = BM25Index(build_arrays(analyze(d) for d in ["With the 45 W charger: 55 min", "With the 25 W charger: 75 min"]))
    assert list(top_k(idx.scores(analyze("45W charger")), 1)) == [0]


def test_doc_has_and_top_k():
    idx = BM25Index(build_arrays(analyze(d) for d in DOCS))
    assert idx.doc_has(0, ["fuel", "tire", "unknown"]) == [True, False, False]
    s = np.array([0.1, 3.0, 2.0, 0.0], dtype=np.float32)
    assert list(top_k(s, 2)) == [1, 2] and list(top_k(s, 10)) == [1, 2, 0, 3]


def test_int8_cosine_close_to_float():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5000, 64)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    q, s = quantize(m)
    vi = VectorIndex(q, s)
    v = m[123]
    cos = vi.cosines(v)
    np.testing.assert_allclose(cos, m @ v, atol=0.02)
    assert int(np.argmax(cos)) == 123
    np.testing.assert_allclose(vi.cosines(v), cos)  # second query: same path, same answer


def test_block_scan_covers_a_partial_last_block():
    from nic_edge.engine.vectors import BLOCK_ROWS

    rng = np.random.default_rng(2)
    m = rng.normal(size=(2 * BLOCK_ROWS + 17, 32)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    vi = VectorIndex(*quantize(m))
    np.testing.assert_allclose(vi.cosines(m[-1]), m @ m[-1], atol=0.02)


@pytest.mark.parametrize("fusion", ["rrf", "score", "bm25", "vector"])
def test_fusions_rank_the_obvious_doc_first(fusion):
    idx = BM25Index(build_arrays(analyze(d) for d in DOCS))
    rng = np.random.default_rng(1)
    m = rng.normal(size=(len(DOCS), 16)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    vi = VectorIndex(*quantize(m))
    ret = retrieve(idx, analyze("battery voltage"), 3, vi, m[3], fusion=fusion)
    assert ret.hits[0].row == 3
    assert len(ret.hits) <= 3 and ret.bm25_top > 0
