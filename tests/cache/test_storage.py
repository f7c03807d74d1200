"""core.storage: open_env recovery and atomic writes (real LMDB in temp dirs)."""

from __future__ import annotations

import os
from pathlib import Path

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
