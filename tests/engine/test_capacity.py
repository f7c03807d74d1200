"""Indexing within limits (issue 22): memory by the tier budget, disk space up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.engine import capacity
from nic_edge.engine.indexer import Indexer
from nic_edge.engine.store import IndexStore
from nic_edge.errors import StorageError
from tests.support.device import TINY_MANUAL


def _manual(path: Path, size: int) -> Path:
    text = TINY_MANUAL
    path.write_text((text * (size // len(text) + 1))[:size])
    return path


def test_a_file_beyond_the_memory_budget_is_refused_and_the_rest_indexed(tmp_path: Path) -> None:
    small = _manual(tmp_path / "small.txt", 20_000)
    big = _manual(tmp_path / "big.txt", 4 << 20)
    budget = capacity.RUNTIME_FLOOR + capacity.MEMORY_FACTOR * (1 << 20)  # room for 1 MiB of manual
    report = Indexer(IndexStore(tmp_path / "index"), lambda: None, memory_budget=budget).index_paths([small, big])
    assert report.indexed_files == [str(small)]
    [(name, why)] = report.skipped
    assert name == str(big) and "memory budget" in why and "split the file" in why


def test_the_budget_counts_files_already_read_in_the_same_run(tmp_path: Path) -> None:
    files = [_manual(tmp_path / f"m{i}.txt", 1 << 20) for i in range(3)]

    def budget() -> int:  # room for 1.5 MiB of manual per run
        return capacity.RUNTIME_FLOOR + capacity.MEMORY_FACTOR * (3 << 19)

    report = Indexer(IndexStore(tmp_path / "index"), lambda: None, memory_budget=budget()).index_paths(files)
    assert len(report.indexed_files) == 1 and len(report.skipped) == 2
    # a later run has room again for a file skipped now, whatever the process holds meanwhile
    report = Indexer(IndexStore(tmp_path / "index"), lambda: None, memory_budget=budget()).index_paths(files[1:2])
    assert report.indexed_files == [str(files[1])]


def test_free_space_is_checked_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _manual(tmp_path / "m.txt", 50_000)
    loaded: list[Path] = []

    def loader(path: Path) -> list:
        loaded.append(path)
        return []

    import shutil
    real = shutil.disk_usage
    monkeypatch.setattr(capacity.shutil, "disk_usage", lambda p: real(p)._replace(free=1 << 20))
    with pytest.raises(StorageError) as err:
        Indexer(IndexStore(tmp_path / "index"), lambda: None, loader).index_paths([m])
    assert "not enough free space" in err.value.message and err.value.hint and loaded == []
