"""Index changes take turns (one writer lock, across engines and processes) and never hold up
questions: answers come from the current generation while a new one is built."""

from __future__ import annotations

import threading
from pathlib import Path

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.store import IndexStore
from tests.engine.test_engine_support import HashEmbedder, fake_load, write_manual

WIPERS = "Para 9-1: Wiper Blades\nReplace wiper blades yearly.\n"


class SlowLoader:
    """fake_load that, for one file, says it started and then waits to be released."""

    def __init__(self, slow_name: str) -> None:
        self.slow_name = slow_name
        self.reading = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: Path):
        if Path(path).name == self.slow_name:
            self.reading.set()
            assert self.release.wait(30), "test never released the slow file"
        return fake_load(path)


def make(tmp_path: Path, loader=fake_load) -> Engine:
    # each Engine has its own IndexStore, as two processes would
    return Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(), HashEmbedder(),
                  store=IndexStore(tmp_path / "data" / "index"), loader=loader)


def test_two_index_runs_at_once_keep_both_manuals(tmp_path: Path) -> None:
    slow = SlowLoader("manual.txt")
    first, second = make(tmp_path, slow), make(tmp_path)
    manual, wipers = write_manual(tmp_path), write_manual(tmp_path, "wipers.txt", WIPERS)
    errors: list[BaseException] = []

    def run(engine: Engine, path: Path) -> None:
        try:
            engine.index_paths([path])
        except BaseException as exc:  # reported below
            errors.append(exc)

    t1 = threading.Thread(target=run, args=(first, manual))
    t1.start()
    assert slow.reading.wait(10)
    t2 = threading.Thread(target=run, args=(second, wipers))
    t2.start()
    t2.join(0.5)
    assert t2.is_alive()  # it waits for the first run instead of racing it
    slow.release.set()
    t1.join(30)
    t2.join(30)
    assert not errors
    assert sorted(m["source"] for m in make(tmp_path).manuals()) == ["manual.txt", "wipers.txt"]
    index = tmp_path / "data" / "index"
    assert not list(index.glob(".tmp-*"))


def test_questions_are_answered_while_an_index_run_is_under_way(tmp_path: Path) -> None:
    slow = SlowLoader("wipers.txt")
    engine = make(tmp_path, slow)
    engine.index_paths([write_manual(tmp_path)])
    before = engine.ask("lug nut torque")
    assert not before["abstained"]
    indexing = threading.Thread(target=engine.index_paths, args=([write_manual(tmp_path, "wipers.txt", WIPERS)],))
    indexing.start()
    try:
        assert slow.reading.wait(10)
        answers: list[dict] = []
        asking = threading.Thread(target=lambda: answers.append(engine.ask("lug nut torque")))
        asking.start()
        asking.join(5)
        assert not asking.is_alive(), "a question waited for the index run"
        assert answers[0]["answer"] == before["answer"]
        assert [m["source"] for m in engine.manuals()] == ["manual.txt"]
    finally:
        slow.release.set()
        indexing.join(30)
    assert sorted(m["source"] for m in engine.manuals()) == ["manual.txt", "wipers.txt"]
    assert engine.ask("when to replace wiper blades")["citations"][0]["source"] == "wipers.txt"


def test_a_question_before_the_first_index_is_ready_hears_so(tmp_path: Path) -> None:
    slow = SlowLoader("manual.txt")
    engine = make(tmp_path, slow)
    assert "No manuals are loaded" in engine.ask("lug nut torque")["message"]
    before = engine.fingerprint
    indexing = threading.Thread(target=engine.index_paths, args=([write_manual(tmp_path)],))
    indexing.start()
    try:
        assert slow.reading.wait(10)
        waiting = engine.ask("lug nut torque")
        assert waiting["abstained"] and "still being indexed" in waiting["message"]
        assert engine.fingerprint != before  # a cached "nothing here" is not served as "indexing"
    finally:
        slow.release.set()
        indexing.join(30)
    assert not engine.ask("lug nut torque")["abstained"]
