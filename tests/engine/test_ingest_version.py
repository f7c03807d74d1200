"""A file whose bytes did not change is read again when the parser changed (INGEST_VERSION),
and the chunks that come out the same keep their vectors: only what changed is embedded. The
same when the rule for what a chunk is embedded as changed (vectors.EMBED_TEXT)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import bm25, catalog, indexer, store, vectors
from nic_edge.engine.engine import Engine
from nic_edge.engine.ingest import numbering

MANUAL = """Kettle guide
2.1 Filling the kettle
Open the lid and fill with cold water between the MIN and MAX marks.
2.2 Boiling water
Press the switch down. The light comes on and the kettle switches off by itself.
3.1 Descaling
Fill with equal parts of white vinegar and water, leave it for one hour, then rinse twice.
"""


class Counting:
    """The real int8 model, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        from nic_edge.engine.embedder import Embedder
        self.real = Embedder()
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def embed_many(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        self.texts.extend(texts)
        return self.real.embed_many(texts)


@pytest.fixture(scope="module")
def counting() -> Counting:
    try:
        emb = Counting()
        emb.real.load()
    except Exception as exc:  # pragma: no cover - a box without a TFLite runtime
        pytest.skip(f"no embedding model here: {exc}")
    return emb


def test_a_new_parser_reads_unchanged_files_again_once(tmp_path: Path, counting: Counting,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    manual = tmp_path / "kettle.txt"
    manual.write_text(MANUAL, encoding="utf-8")
    eng = Engine(tmp_path / "data", load_profiles()["lite"], EngineConfig(), counting)
    # the index as an older parser cut it: no decimal headings, one untitled section
    monkeypatch.setattr(numbering, "MIN_HEADINGS", 10 ** 6)
    monkeypatch.setattr(indexer, "INGEST_VERSION", "ingest-old")
    monkeypatch.setattr(catalog, "INGEST_VERSION", "ingest-old")   # what the catalog records
    eng.index_paths([manual])
    assert {m["sections"] for m in eng.manuals()} == {0}   # no heading found
    monkeypatch.undo()
    counting.texts.clear()
    report = eng.index_paths([manual])
    assert report.indexed_files == [str(manual)] and not report.unchanged
    assert {m["sections"] for m in eng.manuals()} == {3}
    assert counting.texts  # the chunks are new (their headings changed): embedded
    counting.texts.clear()
    again = eng.index_paths([manual])   # and only once
    assert again.unchanged == [str(manual)] and not counting.texts


def test_an_edited_file_keeps_the_vectors_of_its_unchanged_chunks(tmp_path: Path, counting: Counting) -> None:
    manual = tmp_path / "kettle.txt"
    manual.write_text(MANUAL, encoding="utf-8")
    eng = Engine(tmp_path / "data", load_profiles()["lite"], EngineConfig(), counting)
    eng.index_paths([manual])
    before = eng.snapshot()
    old = {before.text(i): np.array(before.vectors.mat[i]) for i in range(before.n)}
    counting.texts.clear()
    manual.write_text(MANUAL.replace("leave it for one hour", "leave it for two hours"), encoding="utf-8")
    report = eng.index_paths([manual])
    assert report.vectors_kept == report.chunks_added - 1
    assert len(counting.texts) == 1 and "two hours" in counting.texts[0]
    snap = eng.snapshot()
    for i in range(snap.n):
        if snap.text(i) in old:
            assert np.array_equal(np.array(snap.vectors.mat[i]), old[snap.text(i)])
    assert any("two hours" in snap.text(i) for i in range(snap.n))


def test_an_index_embedded_with_outline_numbers_embeds_those_headings_again_once(
        tmp_path: Path, counting: Counting, monkeypatch: pytest.MonkeyPatch) -> None:
    """vectors.EMBED_TEXT: a heading is embedded without its outline number ("2.1"). An index
    embedded by the older rule (no ``embed_text`` in its manifest) embeds again the chunks and
    headings the rule changes, at the next index run even when no manual changed, and only
    once; a chunk under an unnumbered heading keeps its vector."""
    manual = tmp_path / "kettle.txt"
    manual.write_text(MANUAL + "Cleaning\nWipe the outside with a damp cloth. Never put the kettle in water.\n",
                      encoding="utf-8")
    eng = Engine(tmp_path / "data", load_profiles()["lite"], EngineConfig(), counting)
    monkeypatch.setattr(vectors, "heading_meaning", lambda h: h)   # the rule before outline-free-1
    monkeypatch.setattr(indexer, "heading_meaning", lambda h: h)
    monkeypatch.setattr(indexer, "EMBED_TEXT", None)
    eng.index_paths([manual])
    old = eng.snapshot()
    assert old.embed_text is None and any(t.startswith("2.1 Filling") for t in counting.texts)
    old_vec = {old.text(i): np.array(old.vectors.mat[i]) for i in range(old.n)}
    monkeypatch.undo()
    counting.texts.clear()
    report = eng.index_paths([manual])   # the manual did not change
    assert report.unchanged == [str(manual)]
    snap = eng.snapshot()
    assert report.reembedded == sum(1 for i in range(snap.n) if (snap.section(i) or "")[:1].isdigit())
    assert "re-embedded" in str(report)
    assert snap.embed_text == vectors.EMBED_TEXT and snap.name != old.name
    numbered = {i for i in range(snap.n) if (snap.section(i) or "")[:1].isdigit()}
    assert numbered and len(numbered) < snap.n
    assert not any(t[:1].isdigit() for t in counting.texts)   # no outline number embedded
    assert "Filling the kettle" in counting.texts             # the heading alone
    assert any(t.startswith("Filling the kettle\nOpen the lid") for t in counting.texts)
    for i in range(snap.n):   # the unnumbered ones kept their vectors, the numbered ones changed
        same = np.array_equal(np.array(snap.vectors.mat[i]), old_vec[snap.text(i)])
        assert same == (i not in numbered), (snap.section(i), snap.text(i))
    h = snap.headings.index("2.1 Filling the kettle")
    want = counting.real.embed_many(["Filling the kettle"])[0]
    got = snap.heading_vectors.mat[h].astype(np.float32) * float(snap.heading_vectors.scale[h])
    assert float(got @ want) > 0.99
    counting.texts.clear()
    again = eng.index_paths([manual])
    assert again.unchanged == [str(manual)] and not counting.texts
    assert eng.snapshot().name == snap.name   # nothing to do: no new generation


def test_an_index_analysed_with_figures_glued_to_units_is_analysed_again_once(
        tmp_path: Path, counting: Counting, monkeypatch: pytest.MonkeyPatch) -> None:
    """bm25.ANALYZER units-v2: "45W" is the terms "45" and "w", as "45 W" is. An index whose
    BM25 terms an older analysis made ("45w" one term) makes them again at the next index run,
    even when no manual changed, without embedding anything; and only once. Until then it still
    answers (the question's "45W" is "45" and "w", which its "45 W" rows hold)."""
    manual = tmp_path / "charger.txt"
    manual.write_text("Charging\nWith the 45W charger a full charge takes 55 minutes.\n"
                      "Wireless charging\nA 15 W wireless pad charges fully in 140 minutes.\n", encoding="utf-8")
    eng = Engine(tmp_path / "data", load_profiles()["lite"], EngineConfig(), counting)
    monkeypatch.setattr(bm25, "_TOKEN", re.compile(r"[a-z0-9]+"))   # the analysis before units-v2
    monkeypatch.setattr(store, "ANALYZER", "alnum-stop-stemlite-v1")
    eng.index_paths([manual])
    old = eng.snapshot()
    assert old.analyzer == "alnum-stop-stemlite-v1" and "45w" in old.bm25.vocab
    monkeypatch.undo()
    assert eng.ask("How long does a full charge take with the 45W charger?")["quotes"]
    counting.texts.clear()
    report = eng.index_paths([manual])   # the manual did not change
    assert report.unchanged == [str(manual)] and report.reanalyzed and "text analysis" in str(report)
    snap = eng.snapshot()
    assert snap.name != old.name and snap.analyzer == bm25.ANALYZER
    assert "45w" not in snap.bm25.vocab and {"45", "w", "15"} <= set(snap.bm25.vocab)
    assert not counting.texts   # the vectors are kept
    for i in range(snap.n):
        assert np.array_equal(np.array(snap.vectors.mat[i]), np.array(old.vectors.mat[i]))
    again = eng.index_paths([manual])
    assert not again.reanalyzed and eng.snapshot().name == snap.name   # once


@pytest.mark.parametrize("heading, meaning", [
    ("10.2 Recovering deleted photos", "Recovering deleted photos"),
    ("4. Cleaning", "Cleaning"), ("A.1 Specifications", "Specifications"),
    ("2-11. Carburetor adjustment", "Carburetor adjustment"), ("3 Maintenance", "Maintenance"),
    ("Chapter 3: Safety", "Safety"), ("SECTION IV - LUBRICATION", "LUBRICATION"),
    ("APPENDIX B: SPECIAL TOOLS", "SPECIAL TOOLS"), ("1.4 In the box", "In the box"),
    ("12 V power outlet", "12 V power outlet"), ("2.4 GHz band", "2.4 GHz band"),
    ("3D settings", "3D settings"), ("I forgot my PIN", "I forgot my PIN"),
    ("Part number list", "Part number list"), ("1.1", "1.1"), ("What is the Ford?", "What is the Ford?"),
])
def test_a_heading_means_its_words_not_its_outline_number(heading: str, meaning: str) -> None:
    assert vectors.heading_meaning(heading) == meaning
    assert vectors.embed_text(heading, "Body.") == f"{meaning}\nBody."
