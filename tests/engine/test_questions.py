"""Synthetic calibration questions: phrased apart from the manual, deterministic, bounded."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import questions as qgen
from nic_edge.engine.engine import Engine

FORD = Path(str(resources.files("nic_edge.data").joinpath("ford_model_t_manual_1919.txt")))


def ford_engine(root: Path) -> Engine:
    eng = Engine(root, load_profiles()["ultra_lite"], EngineConfig(), None)
    eng.index_paths([FORD])
    return eng


@pytest.fixture(scope="module")
def ford(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return ford_engine(tmp_path_factory.mktemp("ford"))


def test_copies_run_finds_four_consecutive_words_only() -> None:
    passage = "To adjust the carburetor, turn the needle valve to the right."
    assert not qgen.copies_run("How do I adjust the carburetor?", passage)   # 3 words in a row
    assert qgen.copies_run("when to ADJUST the carburetor?", passage)        # case, punctuation ignored
    assert qgen.copies_run("needle valve to the", passage)
    assert not qgen.copies_run("valve needle the to", passage)


def test_generated_questions_never_copy_four_words_of_their_passage(ford: Engine) -> None:
    snap = ford.snapshot()
    qs = qgen.answerable(snap, 300, qgen.content_seed(snap))
    assert 150 <= len(qs) <= 300
    for q, row in qs:
        passage = (snap.section(row) or "") + "\n" + snap.text(row)
        assert not qgen.copies_run(q, passage), (q, row)
    texts = [q for q, _ in qs]
    assert len(set(texts)) == len(texts)
    # technician phrasings, not only keyword lists
    assert any(q.startswith(("How do I", "how to", "Steps to")) for q in texts)
    assert any(q.startswith(("What does the", "What is the", "Where is the")) for q in texts)


def test_generation_is_seeded_by_index_content(ford: Engine, tmp_path: Path) -> None:
    snap = ford.snapshot()
    again = ford_engine(tmp_path / "again").snapshot()
    seed = qgen.content_seed(snap)
    assert seed == qgen.content_seed(again)
    assert qgen.answerable(snap, 50, seed) == qgen.answerable(again, 50, seed)
    assert qgen.unanswerable(snap, 50, seed) == qgen.unanswerable(again, 50, seed)
    other = tmp_path / "other.txt"
    other.write_text(FORD.read_text("utf-8")[:40000], "utf-8")
    eng = Engine(tmp_path / "o", load_profiles()["ultra_lite"], EngineConfig(), None)
    eng.index_paths([other])
    assert qgen.content_seed(eng.snapshot()) != seed


def test_pool_is_large_and_leaves_out_topics_the_index_covers(tmp_path: Path) -> None:
    pool = qgen.load_pool()
    assert len(pool.questions) >= 300 and len(pool.parts) >= 100
    printer_qs = {q for topic, q in pool.questions if "printer" in topic}
    assert printer_qs
    manual = tmp_path / "printer.txt"
    manual.write_text("\n\n".join(
        f"Section {i}: Printer tray {i}\nLoad paper into tray {i} of the printer, then close the "
        f"printer cover and press resume on the printer panel ({i})." for i in range(40)), "utf-8")
    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(), None)
    eng.index_paths([manual])
    drawn = qgen.unanswerable(eng.snapshot(), 2000, 1)
    assert drawn and not printer_qs & set(drawn)
    ford_drawn = set(qgen.unanswerable(ford_engine(tmp_path / "f").snapshot(), 2000, 1))
    assert printer_qs <= ford_drawn


def test_unanswerable_mixes_other_manuals_unknown_parts_and_general(ford: Engine) -> None:
    snap = ford.snapshot()
    pool = qgen.load_pool()
    parts = qgen.foreign_parts(snap, pool)
    assert "fuel injector" in parts and "carburetor" not in " ".join(parts)
    assert "spark plug" not in parts  # the Model T manual has plugs
    drawn = qgen.unanswerable(snap, 300, 5)
    assert len(drawn) == 300 and len(set(drawn)) == 300
    own = {q for name, _, q in pool.manuals if name == "ford_model_t_manual_1919.txt"}
    others = {q for name, _, q in pool.manuals if name != "ford_model_t_manual_1919.txt"}
    assert own and not own & set(drawn) - others   # never its own manual's questions
    assert len(set(drawn) & others) == 150
    technical = [q for q in drawn if any(p in q for p in parts)]
    assert len(technical) >= 75


def test_questions_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Set iteration order changes with PYTHONHASHSEED; two processes must agree."""
    import subprocess
    import sys

    code = ("import sys, tempfile, pathlib; from tests.engine.test_questions import ford_engine; "
            "from nic_edge.engine import questions as q, calibrate as c; "
            "s = ford_engine(pathlib.Path(tempfile.mkdtemp())).snapshot(); "
            "print(c.make_questions(s))")
    root = Path(__file__).resolve().parents[2]
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}, timeout=300).stdout
            for seed in ("1", "2", "3")}
    assert len(outs) == 1 and "answerable" in next(iter(outs))
