"""A store the process may not write is a permission problem, not a damaged store.

LMDB fails to open a data file it may not write (another user's - e.g. made by a command run
once with sudo before the service user took over - or an immutable one) with the same error
as a damaged one, and ``open_env`` moved the store aside as "corrupt" and started empty: the
outbox backlog went with it (and the next such copy deletes the previous), the cache raised a
recovery alert. ``chattr +i`` gives a real EPERM even to root; skipped where unsupported.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from nic_edge.cache.l2 import L2Cache
from nic_edge.comms.outbox import Outbox
from nic_edge.errors import StorageError


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[Path]]:
    held: list[Path] = []
    yield held
    if held:  # wherever the file went (the old code moved it aside), make it deletable again
        for path in tmp_path.rglob("data.mdb"):
            subprocess.run(["chattr", "-i", str(path)], check=False)


def _freeze(path: Path, held: list[Path]) -> None:
    r = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {r.stderr.strip()}")
    held.append(path)


def test_an_outbox_it_may_not_write_keeps_its_backlog(tmp_path: Path, immutable: list[Path]) -> None:
    ob = Outbox(tmp_path / "outbox", 1 << 20)
    seqs = [ob.enqueue("metrics", {"i": i}) for i in range(5)]
    ob.close()
    _freeze(tmp_path / "outbox" / "data.mdb", immutable)
    with pytest.raises(StorageError) as err:
        Outbox(tmp_path / "outbox", 1 << 20)
    assert "not permitted" in str(err.value) and "permissions" in (err.value.hint or "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox"]  # nothing moved aside
    subprocess.run(["chattr", "-i", str(tmp_path / "outbox" / "data.mdb")], check=True)
    ob = Outbox(tmp_path / "outbox", 1 << 20)  # fixed by hand: the backlog is all there
    assert not ob.recovered and [r.seq for r in ob.peek(10)] == seqs
    ob.close()


def test_a_cache_it_may_not_write_is_not_recovered_as_corrupt(tmp_path: Path,
                                                               immutable: list[Path]) -> None:
    L2Cache(tmp_path / "cache", 1 << 20, 3600).close()
    _freeze(tmp_path / "cache" / "data.mdb", immutable)
    with pytest.raises(StorageError):
        L2Cache(tmp_path / "cache", 1 << 20, 3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
