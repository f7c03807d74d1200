"""Engines over one small manual for engine tests: the real ingest and index, with or without
the real int8 model; and the checks every answer of them must pass."""

from __future__ import annotations

from pathlib import Path

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.sections import normalize_ws, section_text


def _engine(root: Path, name: str, text: str, tier: str, embedder: object | None) -> Engine:
    path = root / name
    path.write_text(text, encoding="utf-8")
    eng = Engine(root / "data", load_profiles()[tier], EngineConfig(abstain_threshold=0.0), embedder)
    report = eng.index_paths([path])
    assert report.indexed_files, report
    return eng


def lexical_engine(root: Path, name: str, text: str) -> Engine:
    """A BM25-only engine (no model) over one manual, answering at any confidence."""
    return _engine(root, name, text, "ultra_lite", None)


def model_engine(root: Path, name: str, text: str) -> Engine:
    """A hybrid engine with the bundled int8 model (heading and chunk vectors) over one manual,
    answering at any confidence."""
    from nic_edge.engine.embedder import Embedder

    return _engine(root, name, text, "standard", Embedder())


def assert_verbatim(engine: Engine, out: dict) -> None:
    """Every quote is verbatim (after whitespace normalisation) in its cited section."""
    snap = engine.snapshot()
    rows = {snap.chunk_id(r): r for r in range(snap.n)}
    assert out["answer"] == "\n\n".join(q["text"] for q in out["quotes"])
    for q in out["quotes"]:
        cite = out["citations"][q["citation"]]
        section = section_text(snap, rows[cite["chunk_id"]], limit=10_000)
        assert normalize_ws(q["text"]) in normalize_ws(section.text), (q, cite)


def answered(engine: Engine, question: str) -> dict:
    """The engine's answer to ``question``, checked: not an abstention, every quote verbatim."""
    out = engine.ask(question)
    assert not out["abstained"], out
    assert_verbatim(engine, out)
    return out
