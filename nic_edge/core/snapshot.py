"""Consistent copies of live stores, for backups taken while the owner keeps writing.

- LMDB: the store is opened read-only beside its owner (LMDB is multi-process safe through its
  lock file) and copied with LMDB's own ``mdb_env_copy2`` (py-lmdb ``env.copy(compact=True)``):
  one read transaction, so the copy is the state of one commit, and free pages are left out.
- Append-only logs (the audit log): read up to the size seen when opened, cut at the last
  newline, so a line being appended is never copied half-way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nic_edge.core.storage import FORMAT_KEY, META_DB, import_lmdb
from nic_edge.errors import BackupError


def is_lmdb_dir(path: Path) -> bool:
    return path.is_dir() and (path / "data.mdb").is_file()


def copy_lmdb(src: Path, work: Path) -> tuple[Path, str | None]:
    """Compacted copy of the LMDB store in ``src``; returns (copied data.mdb, format marker)."""
    lmdb = import_lmdb()
    dst = Path(tempfile.mkdtemp(prefix="lmdb-", dir=work))
    try:
        # max_dbs only bounds handles this process opens; lock=True registers us as a reader so
        # the owner does not reuse pages our copy still walks.
        env = lmdb.open(str(src), readonly=True, lock=True, subdir=True, max_dbs=2, readahead=False)
    except lmdb.Error as exc:
        raise BackupError(f"cannot open LMDB store {src}: {exc}", "check the data dir and its permissions") from None
    try:
        marker = _marker(env, lmdb)
        env.copy(str(dst), compact=True)
    except lmdb.Error as exc:
        raise BackupError(f"copying LMDB store {src} failed: {exc}", "check free space beside the backup file") from None
    finally:
        env.close()
    return dst / "data.mdb", marker


def _marker(env: Any, lmdb: Any) -> str | None:
    try:
        meta = env.open_db(META_DB, create=False)
    except lmdb.NotFoundError:
        return None
    with env.begin() as txn:
        raw = txn.get(FORMAT_KEY, db=meta)
    return None if raw is None else bytes(raw).decode("utf-8", "replace")


def read_marker(path: Path) -> str | None:
    """The format marker of the LMDB store in ``path`` (used to check a restored store)."""
    lmdb = import_lmdb()
    env = lmdb.open(str(path), readonly=True, lock=False, subdir=True, max_dbs=2)
    try:
        return _marker(env, lmdb)
    finally:
        env.close()


def open_log_prefix(path: Path) -> tuple[Any, int]:
    """Open an append-only text log; return (handle, length up to the last complete line)."""
    fh = open(path, "rb")
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return fh, 0
    # Look back for the last newline in blocks (lines are short; a few KiB is plenty).
    end, step = size, 8192
    while end > 0:
        start = max(0, end - step)
        fh.seek(start)
        chunk = fh.read(end - start)
        pos = chunk.rfind(b"\n")
        if pos >= 0:
            fh.seek(0)
            return fh, start + pos + 1
        end = start
    fh.seek(0)
    return fh, 0
