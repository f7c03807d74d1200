"""A file whose bytes did not change is read again when the parser changed (INGEST_VERSION),
and the chunks that come out the same keep their vectors: only what changed is embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import catalog, indexer
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
