"""core.storage: open_env recovery and atomic writes (real LMDB in temp dirs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nic_edge.core.storage import atomic_write_bytes, open_env


def test_open_env_marker_and_recovery(tmp_path: Path) -> None:
    store = tmp_path / "outbox"
    o = open_env(store, 1 << 20, marker=b"v1")
    assert not o.recovered
    db = o.env.open_db(b"data")
    with o.env.begin(write=True) as txn:
        txn.put(b"k", b"v", db=db)
    o.env.close()
    o = open_env(store, 1 << 20, marker=b"v1")
    assert not o.recovered
    o.env.close()
    o = open_env(store, 1 << 20, marker=b"v2")  # a format change
    assert o.recovered and o.moved_to is not None and o.moved_to.exists()
    o.env.close()
    # Only the newest moved-aside copy is kept.
    (store / "data.mdb").write_bytes(b"garbage" * 5000)
    o = open_env(store, 1 << 20, marker=b"v2")
    assert o.recovered
    o.env.close()
    assert len(list(tmp_path.glob("outbox.corrupt-*"))) == 1


def test_open_env_foreign_store_without_marker(tmp_path: Path) -> None:
    o = open_env(tmp_path / "s", 1 << 20)
    db = o.env.open_db(b"other")
    with o.env.begin(write=True) as txn:
        txn.put(b"k", b"v", db=db)
    o.env.close()
    o = open_env(tmp_path / "s", 1 << 20, marker=b"mine")
    assert o.recovered and "marker missing" in (o.reason or "")
    o.env.close()


def test_atomic_write_bytes(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path) == ["state.bin"]  # no temp files left behind


_READER = r"""
import json, sys
from nic_edge.core.storage import open_env
o = open_env(sys.argv[1], 64 << 20, marker=b"v1", max_dbs=2)
db = o.env.open_db(b"d")
with o.env.begin() as txn:
    n = sum(len(v) for _, v in txn.cursor(db=db))
print(json.dumps({"recovered": o.recovered, "reason": o.reason, "bytes": n}))
"""


def _grown_store(path: Path) -> tuple[int, int, int]:
    """A store whose newest pages came from the free list, leaving numbered pages at the end
    that no reader can reach. Returns (psize, last_pgno + 1, pages readers need)."""
    from nic_edge.core.lmdb_extent import needed_pages

    o = open_env(path, 64 << 20, marker=b"v1", max_dbs=2)
    env = o.env
    db = env.open_db(b"d")
    with env.begin(write=True) as txn:
        for i in range(400):
            txn.put(b"%05d" % i, b"x" * 3000, db=db)
    for j in range(4):
        with env.begin(write=True) as txn:
            for i in range(400):
                if i % 20 and i % 4 == j:
                    txn.delete(b"%05d" % i, db=db)
    for j in range(5):
        with env.begin(write=True) as txn:
            txn.put(b"small%d" % j, b"y" * 100, db=db)
    psize, last = env.stat()["psize"], env.info()["last_pgno"] + 1
    env.close()
    return psize, last, needed_pages(str(path / "data.mdb"), psize)


def _read_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    # A reader that touches a page past EOF dies of SIGBUS: keep that out of pytest.
    return subprocess.run([sys.executable, "-c", _READER, str(path)], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))


def test_healthy_store_shorter_than_last_pgno_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "cache"
    psize, last, needed = _grown_store(store)
    assert needed < last  # numbered pages past every reachable one
    os.truncate(store / "data.mdb", needed * psize)  # as LMDB leaves a file whose tail was never written
    r = _read_in_child(store)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {"recovered": False, "reason": None, "bytes": 20 * 3000 + 5 * 100}
    assert not list(tmp_path.glob("cache.corrupt-*"))


@pytest.mark.parametrize("cut", ["last_reachable_page", "half"])
def test_truly_truncated_store_is_moved_aside_without_sigbus(tmp_path: Path, cut: str) -> None:
    store = tmp_path / "cache"
    psize, last, needed = _grown_store(store)
    pages = needed - 1 if cut == "last_reachable_page" else needed // 2
    os.truncate(store / "data.mdb", pages * psize)
    r = _read_in_child(store)
    assert r.returncode == 0, (r.returncode, r.stderr)  # not killed by SIGBUS
    out = json.loads(r.stdout)
    assert out["recovered"] and "truncated" in out["reason"] and out["bytes"] == 0
    assert len(list(tmp_path.glob("cache.corrupt-*"))) == 1
