"""Per-index calibration: threshold from the index's own questions, stored with the generation,
config still wins, small manuals keep the default, old formats handled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import answer as ans
from nic_edge.engine import calibrate as calib
from nic_edge.engine.engine import Engine
from nic_edge.engine.store import FORMAT, IndexStore
from nic_edge.errors import IndexStoreError
from tests.engine.test_engine_support import HashEmbedder, fake_load, write_manual
from tests.engine.test_questions import FORD


def lexical(root: Path, **cfg: float) -> Engine:
    return Engine(root, load_profiles()["ultra_lite"], EngineConfig(**cfg), None)


@pytest.fixture(scope="module")
def ford(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, dict]:
    eng = lexical(tmp_path_factory.mktemp("ford"))
    rep = eng.index_paths([FORD])
    return eng, rep.calibration


def test_choose_threshold_meets_the_target() -> None:
    scores = [i / 10 for i in range(10)]             # 0.0 .. 0.9
    t = calib.choose_threshold(scores, 0.8)
    assert sum(s < t for s in scores) == 8 and 0.7 < t <= 0.8
    # questions the engine never answers count as abstained already
    t2 = calib.choose_threshold([calib.NEVER] * 8 + [0.2, 0.6], 0.8)
    assert t2 == calib.LOW
    t3 = calib.choose_threshold([calib.NEVER] * 5 + [0.2, 0.6, 0.61, 0.7, 0.95], 0.9)
    assert 0.7 < t3 <= 0.95


def test_fit_clamps_and_reports_shares() -> None:
    m = calib.fit_mode([0.99] * 10, [0.97] * 10, 0.8)
    assert m["threshold"] == calib.HIGH and m["unclamped"] > calib.HIGH
    assert m["expected_answered"] == 1.0 and m["expected_abstained"] == 0.0
    m = calib.fit_mode([0.5], [0.01] * 10, 0.8)
    assert m["threshold"] == calib.LOW and m["expected_abstained"] == 1.0


def test_target_never_costs_more_than_a_tenth_of_the_answerable() -> None:
    answerable = [0.4 + i / 100 for i in range(50)]            # 0.40 .. 0.89
    unanswerable = [i / 100 for i in range(10, 90)]            # 0.10 .. 0.89
    m = calib.fit_mode(answerable, unanswerable, 0.8)
    assert m["limited_by"] == "min_answered" and m["unclamped"] > m["threshold"]
    assert m["expected_answered"] >= calib.MIN_ANSWERED
    free = calib.fit_mode([0.95] * 50, unanswerable, 0.8)
    assert free["limited_by"] == "target_abstain" and free["expected_abstained"] >= 0.8


def test_index_is_calibrated_and_the_engine_uses_it(ford: tuple[Engine, dict]) -> None:
    eng, rec = ford
    assert rec["status"] == "calibrated" and rec["method"] == calib.METHOD
    assert 20 <= rec["n_answerable"] <= 300 and rec["n_unanswerable"] >= 100
    m = rec["modes"]["lexical"]
    assert calib.LOW <= m["threshold"] <= calib.HIGH
    if m["limited_by"] == "target_abstain":
        assert m["expected_abstained"] >= 0.8 or m["threshold"] == calib.HIGH
    else:  # the target would have cost more than a tenth of the manual's own questions
        assert m["expected_answered"] >= calib.MIN_ANSWERED or m["threshold"] == calib.LOW
    assert eng.threshold_source() == (m["threshold"], "calibration")
    gen = eng.store.root / eng.store.current_name()
    assert json.loads((gen / calib.FILE).read_text())["modes"] == rec["modes"]
    status = eng.status()
    assert status["threshold"] == m["threshold"]
    shown = status["index"]["calibration"]
    assert shown["threshold_in_use"] == m["threshold"] and shown["threshold_source"] == "calibration"
    assert shown["n_answerable"] == rec["n_answerable"] and "calibrated on" in shown["summary"]


def test_calibration_is_deterministic(ford: tuple[Engine, dict], tmp_path: Path) -> None:
    _, rec = ford
    again = lexical(tmp_path).index_paths([FORD]).calibration
    assert {k: v for k, v in again.items() if k not in ("created_at", "seconds")} == \
        {k: v for k, v in rec.items() if k not in ("created_at", "seconds")}


def test_higher_target_never_lowers_the_threshold(ford: tuple[Engine, dict], tmp_path: Path) -> None:
    _, rec = ford
    strict = lexical(tmp_path, target_abstain=0.97).index_paths([FORD]).calibration
    assert strict["target_abstain"] == 0.97
    assert strict["modes"]["lexical"]["threshold"] >= rec["modes"]["lexical"]["threshold"]
    assert strict["modes"]["lexical"]["expected_abstained"] >= rec["modes"]["lexical"]["expected_abstained"]


def test_explicit_config_threshold_wins(ford: tuple[Engine, dict]) -> None:
    eng, _ = ford
    pinned = Engine(eng.data_dir, load_profiles()["ultra_lite"], EngineConfig(abstain_threshold=0.77), None)
    assert pinned.threshold_source() == (0.77, "config")
    assert pinned.status()["index"]["calibration"]["threshold_source"] == "config"
    assert pinned.fingerprint != eng.fingerprint


def test_too_small_manual_keeps_the_default(tmp_path: Path) -> None:
    emb = HashEmbedder()
    eng = Engine(tmp_path / "d", load_profiles()["ultra_lite"], EngineConfig(), emb, loader=fake_load)
    rec = eng.index_paths([write_manual(tmp_path)]).calibration
    assert rec["status"] == "too_small" and "too small to calibrate" in rec["note"]
    assert all(m["threshold"] == ans.DEFAULT_THRESHOLD for m in rec["modes"].values())
    assert eng.threshold_source() == (ans.DEFAULT_THRESHOLD, "default")
    assert "too small" in eng.calibration()["summary"]


def test_calibration_sees_the_new_generation_before_it_is_current(tmp_path: Path, monkeypatch) -> None:
    eng = lexical(tmp_path)
    seen: list[tuple[str | None, str, int]] = []
    real = calib.calibrate

    def spy(snap, asks, target, default, pool=None, **kw):
        seen.append((eng.store.current_name(), snap.name, snap.n))
        return real(snap, asks, target, default, pool, **kw)

    monkeypatch.setattr(calib, "calibrate", spy)
    eng.index_paths([FORD])
    current, name, n = seen[0]
    assert current is None and name == eng.store.current_name() and n == eng.snapshot().n


def _set_format(eng: Engine, fmt: int, drop_calibration: bool) -> None:
    gen = eng.store.root / eng.store.current_name()
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["format"] = fmt
    (gen / "manifest.json").write_text(json.dumps(manifest))
    if drop_calibration:
        (gen / calib.FILE).unlink()


def test_unknown_format_asks_for_a_reindex(tmp_path: Path) -> None:
    eng = lexical(tmp_path)
    eng.index_paths([FORD])
    _set_format(eng, FORMAT + 1, drop_calibration=False)
    with pytest.raises(IndexStoreError) as err:
        IndexStore(tmp_path / "index").open_current()
    assert "nic-edge index" in str(err.value)


def test_remove_recalibrates_the_index(tmp_path: Path) -> None:
    eng = lexical(tmp_path)
    small = tmp_path / "horn.txt"
    small.write_text("Para 1-1: Horn\nThe horn button is on the wheel.\n")
    first = eng.index_paths([FORD, small]).calibration
    rep = eng.remove(["horn.txt"])
    assert rep.removed == ["horn.txt"] and rep.calibration["status"] == "calibrated"
    assert rep.calibration["created_at"] > first["created_at"]
    rep = eng.remove([str(FORD)])
    assert rep.calibration["status"] == "too_small" and eng.snapshot().n == 0
    assert eng.threshold_source() == (ans.DEFAULT_THRESHOLD, "default")
