"""The bundled "other manuals" calibration questions: reproducible from the public-domain corpus
by one command, and never copying 4 consecutive words of their passage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nic_edge.engine import questions as qgen

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


def test_bundled_file_is_what_the_tool_generates() -> None:
    if not any(CORPUS.glob("*.txt")):
        pytest.skip(f"{CORPUS} not present: the corpus manuals are local only")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_pool_questions.py"), "--corpus", str(CORPUS),
                        "--check"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_bundled_file_names_manuals_with_their_hash() -> None:
    pool = qgen.load_pool()
    names = {(n, sha) for n, sha, _ in pool.manuals}
    assert len(names) >= 3 and all(len(sha) == 64 for _, sha in names)
    assert len(pool.manuals) >= 300
