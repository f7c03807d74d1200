"""Engines over one small manual for engine tests: the real ingest and index, no model."""

from __future__ import annotations

from pathlib import Path

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine


def lexical_engine(root: Path, name: str, text: str) -> Engine:
    """A BM25-only engine (no model) over one manual, answering at any confidence."""
    path = root / name
    path.write_text(text, encoding="utf-8")
    eng = Engine(root / "data", load_profiles()["ultra_lite"], EngineConfig(abstain_threshold=0.0), None)
    report = eng.index_paths([path])
    assert report.indexed_files, report
    return eng
