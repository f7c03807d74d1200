"""Opening a fresh cache or outbox on a nearly full disk: StorageError, never a raw LMDB error.

With a few KiB free, the store's format marker fits but creating its databases (or the
outbox's first seq) does not: ``lmdb.DiskError`` escaped from ``Outbox()``, which ``serve``
(expecting StorageError: run on with MQTT off) did not catch - it exited "internal error".
With less free, the fresh store was moved aside as "corrupt" (a warning, and a
``.corrupt-*`` directory left on the full disk).
Every free-space size from "nothing fits" to "all fits" is tried on a real tmpfs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nic_edge.cache.l2 import L2Cache
from nic_edge.comms.outbox import Outbox
from nic_edge.errors import StorageError
from tests.support.tmpfs import tmpfs


@pytest.mark.parametrize("store", ["outbox", "cache"])
def test_every_nearly_full_size_gives_storage_error_or_a_store(tmp_path: Path, store: str) -> None:
    outcomes = {}
    for kib in range(12, 84, 4):
        with tmpfs(tmp_path / f"disk{kib}", f"{kib}k") as disk:
            try:
                if store == "outbox":
                    Outbox(disk / "outbox", 1 << 20).close()
                else:
                    L2Cache(disk / "cache", 1 << 20, 3600).close()
                outcomes[kib] = "ok"
            except StorageError:
                outcomes[kib] = "StorageError"
                # a full disk is not a damaged store: nothing moved aside as "corrupt"
                assert [p.name for p in disk.iterdir()] == [store], (kib, list(disk.iterdir()))
        subprocess.run(["rmdir", str(tmp_path / f"disk{kib}")], check=False)
    assert set(outcomes.values()) == {"ok", "StorageError"}, outcomes  # both ends were reached
