"""Storage helpers shared by the answer cache, the MQTT outbox and the aggregator.

``open_env`` opens an LMDB environment and checks it *before* anything reads data pages: a
truncated ``data.mdb`` would otherwise kill the process with SIGBUS on the first read through
the memory map. An unusable environment (not an LMDB file, wrong LMDB version, truncated, a
wrong format marker, a failing ``verify`` walk) is moved aside to ``<name>.corrupt-<ts>`` and
recreated empty; the result says so, so the caller can raise an alert-worthy event.

Default flags are chosen for an SD card (see docs/benchmarks/cache.md):
``metasync=False`` (MDB_NOMETASYNC) keeps one fsync per commit instead of two, and LMDB
documents that this "maintains database integrity, but a system crash may undo the last
committed transaction". ``sync=False`` (MDB_NOSYNC) is NOT used: LMDB documents that a system
crash can then corrupt the database unless the filesystem preserves write order.
``readahead=False`` because random small reads on an SD card gain nothing from readahead and
it inflates the page cache (and so RSS-like accounting) on small boards.

``lmdb`` is imported lazily: ``import nic_edge.core.storage`` stays cheap.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nic_edge.errors import MissingDependencyError, StorageError

log = logging.getLogger(__name__)

META_DB = b"__meta__"
FORMAT_KEY = b"format"
MIN_MAP_SIZE = 1 << 20
# A 32-bit userland (older Pi OS images) cannot map more than a few hundred MiB in one piece.
_MAX_MAP_32BIT = 512 << 20
# Moved-aside copies kept per store; older ones are deleted so repeated corruption cannot
# fill the SD card.
_KEEP_CORRUPT = 1


def import_lmdb() -> Any:
    """Import py-lmdb or raise MissingDependencyError with the install hint."""
    try:
        import lmdb  # noqa: PLC0415 - lazy on purpose (keeps CLI start fast)
    except ImportError as exc:
        raise MissingDependencyError(
            "the LMDB binding (python package 'lmdb') is not installed",
            "pip install lmdb  (or reinstall nic-edge, which depends on it)",
        ) from exc
    return lmdb


def clamp_map_size(size: int) -> int:
    """At least 1 MiB, rounded up to 64 KiB, capped on 32-bit Python."""
    size = max(MIN_MAP_SIZE, int(size))
    size = (size + 0xFFFF) & ~0xFFFF
    if sys.maxsize < 2**32:
        size = min(size, _MAX_MAP_32BIT)
    return size


def data_size(path: Path) -> int:
    """Bytes of the store's ``data.mdb`` in ``path`` (0 when there is none yet). A map smaller
    than the file cannot give a single page: a store written under a larger budget (a lower
    tier, a lowered spool cap) is mapped at least this large plus room to trim it."""
    try:
        return (Path(path) / "data.mdb").stat().st_size
    except OSError:
        return 0


@dataclass
class OpenedEnv:
    """An open environment; ``recovered`` is True when the old one was moved aside."""

    env: Any
    path: Path
    recovered: bool = False
    moved_to: Path | None = None
    reason: str | None = None


class _Unusable(Exception):
    """Internal: the environment on disk cannot be used as is."""


def _check_not_truncated(env: Any, path: Path) -> None:
    # Reading a page past the end of a truncated data.mdb through the mmap raises SIGBUS, so
    # the file is checked before anything reads data pages. Fast path: the file holds every
    # page LMDB ever numbered (last_pgno). A shorter file is not necessarily truncated: pages
    # allocated and freed within one transaction are numbered but never written, so LMDB's
    # file can end before last_pgno (lmdb_extent.py); then the pages readers can reach are
    # walked with pread and must all be inside the file.
    from nic_edge.core.lmdb_extent import Truncated, needed_pages

    psize = int(env.stat()["psize"])
    data = path / "data.mdb"
    actual = data.stat().st_size if data.exists() else 0
    if actual >= (int(env.info()["last_pgno"]) + 1) * psize:
        return
    try:
        needed_pages(str(data), psize)
    except Truncated as exc:
        raise _Unusable(f"data.mdb truncated ({actual} bytes): {exc}") from exc
    except (OSError, ValueError, struct.error) as exc:
        raise _Unusable(f"data.mdb pages unreadable: {exc}") from exc


def _check_marker(env: Any, marker: bytes) -> None:
    meta = env.open_db(META_DB)
    with env.begin(write=True) as txn:
        found = txn.get(FORMAT_KEY, db=meta)
        if found is None:
            # Named databases are keys of the unnamed one: any besides __meta__ means the
            # store holds data written without a marker (foreign or older format).
            names = [bytes(k) for k in txn.cursor().iternext(values=False)]
            if any(name != META_DB for name in names):
                raise _Unusable("format marker missing on a non-empty store")
            txn.put(FORMAT_KEY, marker, db=meta)
        elif bytes(found) != marker:
            raise _Unusable(f"format marker {bytes(found)!r}, expected {marker!r}")


def _move_aside(path: Path) -> Path:
    # The name sorts chronologically, so pruning keeps the newest copies.
    now_ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ns / 1e9)) + f".{now_ns % 10**9:09d}"
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.rename(path, target)
    siblings = sorted(path.parent.glob(f"{path.name}.corrupt-*"))
    for old in siblings[:-_KEEP_CORRUPT]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _reserve_lock_file(path: Path, max_readers: int) -> None:
    """Give ``lock.mdb`` real disk blocks before LMDB maps it.

    LMDB sizes a new lock file with ftruncate (a hole) and then writes it through a shared
    mmap; on a full disk (ext4, tmpfs) the first store into that hole is SIGBUS, which kills the
    process instead of failing the open. Allocating the blocks first turns a full disk into an
    ENOSPC here. The size is LMDB's ``(maxreaders - 1) * sizeof(MDB_reader) +
    sizeof(MDB_txninfo)``: 64-byte reader slots and a 192-byte header. A lock file already on
    disk (in use by serve while ``ask`` opens the cache) is left alone: where a file system
    cannot fallocate, glibc emulates it by writing bytes. One left sparse by a crash is filled.
    """
    lock = path / "lock.mdb"
    need = (max_readers - 1) * 64 + 192
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        st = os.fstat(fd)
        if st.st_size >= need and st.st_blocks * 512 >= need:
            return  # in use or made before: already on disk (and left alone while others use it)
        os.posix_fallocate(fd, 0, need)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise  # ENOSPC, EDQUOT, EIO, EROFS: the caller says the disk is the problem
    finally:
        os.close(fd)


def _open_once(
    path: Path, map_size: int, marker: bytes | None, verify: Callable[[Any], None] | None,
    kwargs: dict[str, Any],
) -> Any:
    lmdb = import_lmdb()
    if kwargs["lock"]:
        _reserve_lock_file(path, kwargs["max_readers"])
    data = path / "data.mdb"
    if data.exists():
        # LMDB reports a data file it may not write (another user's, e.g. made by a command run
        # with sudo; a read-only or immutable file) like a damaged one, and the store - an
        # outbox backlog included - was moved aside as "corrupt". It is not: say so instead.
        os.close(os.open(data, os.O_RDWR))
    if data.exists() and 0 < data.stat().st_size < 2 * 4096:
        raise _Unusable(f"data.mdb too short ({data.stat().st_size} bytes)")
    # A store this call creates holds no data to be damaged: failing to create it (a full
    # disk: ENOSPC, or EIO for LMDB's short writes) must not read as corruption and leave a
    # ".corrupt-*" copy on the full disk.
    fresh = not data.exists()
    try:
        env = lmdb.open(str(path), map_size=map_size, subdir=True, **kwargs)
    except lmdb.Error as exc:
        if fresh or isinstance(exc, lmdb.DiskError):
            raise OSError(f"cannot write the store: {exc}") from exc
        raise _Unusable(f"{type(exc).__name__}: {exc}") from exc
    try:
        # Reader slots of killed processes stay taken until someone checks; free them so
        # repeated crashes cannot exhaust max_readers.
        env.reader_check()
        _check_not_truncated(env, path)
        if marker is not None:
            _check_marker(env, marker)
        if verify is not None:
            verify(env)
    except (lmdb.Error, StorageError, _Unusable, ValueError) as exc:
        env.close()
        if isinstance(exc, _Unusable):
            raise
        if fresh or isinstance(exc, lmdb.DiskError):  # e.g. the marker's commit, disk full
            raise OSError(f"cannot write the store: {exc}") from exc
        raise _Unusable(f"{type(exc).__name__}: {exc}") from exc
    return env


def open_env(
    path: Path | str,
    map_size: int,
    *,
    marker: bytes | None = None,
    verify: Callable[[Any], None] | None = None,
    max_dbs: int = 4,
    max_readers: int = 32,
    sync: bool = True,
    metasync: bool = False,
    readahead: bool = False,
    writemap: bool = False,
    lock: bool = True,
) -> OpenedEnv:
    """Open (creating if needed) the LMDB environment in directory ``path``.

    ``marker`` is a format/version tag kept under ``__meta__/format``; a different tag means
    the store is unusable. ``verify(env)`` may walk the data and raise ``lmdb.Error``,
    ``StorageError`` or ``ValueError`` to reject it. An unusable store is moved aside and
    recreated once; StorageError when even a fresh one cannot be created (disk full,
    permissions).
    """
    path = Path(path)
    kwargs = dict(max_dbs=max_dbs + 1, max_readers=max_readers, sync=sync, metasync=metasync,
                  readahead=readahead, writemap=writemap, lock=lock)
    size = clamp_map_size(map_size)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {path}: {exc}", "check the data dir exists, is writable and has free space") from exc
    try:
        return OpenedEnv(_open_once(path, size, marker, verify, kwargs), path)
    except _Unusable as exc:
        reason = str(exc)
    except OSError as exc:  # a full or read-only disk, another user's files: not a damaged store
        raise StorageError(f"cannot open LMDB store {path}: {exc}",
                           "check free space and permissions on the data dir (files made by "
                           "another user, e.g. a command run with sudo?)") from exc
    log.warning("LMDB store %s is unusable (%s); moving it aside and starting empty", path, reason)
    try:
        moved = _move_aside(path)
        path.mkdir(parents=True, exist_ok=True)
        env = _open_once(path, size, marker, None, kwargs)
    except (OSError, _Unusable) as exc:
        raise StorageError(
            f"cannot recreate LMDB store {path}: {exc}",
            "check free space and permissions on the data dir",
        ) from exc
    return OpenedEnv(env, path, recovered=True, moved_to=moved, reason=reason)


def atomic_write_bytes(path: Path | str, data: bytes, mode: int = 0o644, durable: bool = True,
                       tmp_tag: str = "") -> None:
    """Write ``data`` so that ``path`` holds either the old or the new content after a crash.

    ``durable=False`` skips the fsyncs: readers still never see a half-written file, but a power
    cut may bring back the old content (fine for a dashboard re-rendered every few seconds, and
    spares an SD card).

    Temp file in the same directory, fsync, ``os.replace``, then fsync of the directory so the
    rename itself survives a power cut. ``tmp_tag`` goes into the temp name (``.NAME.~TAG~XXXX.tmp``)
    so that a writer sharing the directory with others can find its own leftovers.
    """
    path = Path(path)
    prefix = f".{path.name}.~{tmp_tag}~" if tmp_tag else f".{path.name}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(directory: Path | str) -> None:
    """fsync a directory (makes renames/creates durable); a no-op where unsupported."""
    try:
        dfd = os.open(str(directory), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some filesystems (e.g. vfat boot partitions) refuse fsync on directories
    finally:
        os.close(dfd)


def file_sha256(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (model check, unchanged-manual check)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
