"""On-disk index: generations of immutable files switched atomically through ``CURRENT``.

Layout under ``<data_dir>/index``::

    CURRENT                 name of the live generation (replaced with os.replace)
    gen-<ns>/manifest.json  format, chunk count, model sha256 + dim, BM25 params
    gen-<ns>/sources.json   per indexed file (key: resolved path): source name, sha256, chunks,
                            sections, time; a BEIR file also per record
    gen-<ns>/texts.bin      all chunk texts, UTF-8, one after another (+ texts_off.npy)
    gen-<ns>/ids.bin        chunk ids (+ ids_off.npy); strings.json: sources, sections, notices, files
    gen-<ns>/*.npy          per-chunk columns (source, section, page, page kind, file, ...), BM25
                            postings, int8 embeddings + row scales, int8 heading embeddings,
                            int8 paragraph-opening embeddings under their keys (boxes that rerank)
    gen-<ns>/calibration.json  this index's abstain threshold (see calibrate.py)

A writer builds a complete generation in a ``.tmp-*`` directory, fsyncs every file, renames the
directory, then swaps ``CURRENT``. A crash at any point leaves ``CURRENT`` naming the previous,
complete generation. Readers (snapshot.py) map the files read-only, lazily; the generation
before the current one is kept, so a reader that opened it just before a switch can finish.
Writers take ``writing()`` (an flock on ``index/.writer.lock``) around their whole
read-modify-write: two index runs, in one process or two, take turns instead of one deleting
the other's staging directory or dropping the other's manuals.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from nic_edge.engine.bm25 import ANALYZER, B, K1, TITLE_BOOST, BM25Arrays
# The reading side lives in snapshot.py; its names are re-exported here for existing callers.
from nic_edge.engine.snapshot import FORMAT, PAGE_KINDS, FormatMismatch, Snapshot, read_manifest
from nic_edge.errors import IndexStoreError

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
WRITER_LOCK = ".writer.lock"


@dataclass
class GenerationData:
    """Everything one generation holds, columns in row order (sources contiguous)."""
    chunk_ids: list[str]
    sources: list[str]
    sections: list[str | None]
    pages: list[int | None]
    ordinals: list[int]
    texts: list[str]
    notices: list[list[str]]          # notices of each chunk's section ([] when none)
    bm25: BM25Arrays
    files: list[str] = field(default_factory=list)            # resolved path of each row's file
    page_kinds: list[str | None] = field(default_factory=list)  # "printed" | "counted" | None
    emb: np.ndarray | None = None      # int8 (n, dim)
    emb_scale: np.ndarray | None = None
    heading_emb: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)  # heading -> int8 row, scale
    openings: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)  # snapshot.opening_key -> int8 row, scale
    model_sha256: str | None = None
    file_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    embed_text: str | None = None      # the rule chunks and headings were embedded by (vectors.EMBED_TEXT)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _intern(values: list[str | None]) -> tuple[list[str], np.ndarray]:
    table: dict[str, int] = {}
    idx = np.fromiter((-1 if v is None else table.setdefault(v, len(table)) for v in values),
                      dtype=np.int32, count=len(values))
    return list(table), idx


class IndexStore:
    """Generations under ``root``; ``fault_hook(step)`` lets tests crash a write mid-way.

    ``clock`` (default ``time.time``) dates what a write records (generation name, manifest
    ``created_at``, per-source ``indexed_at``): a content bundle build passes a fixed clock so the
    same inputs give byte-identical files.
    """

    def __init__(self, root: Path, fault_hook: Callable[[str], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.root = Path(root)
        self._fault = fault_hook or (lambda step: None)
        self._clock = clock
        self._current: tuple[tuple[int, int, int], str | None] | None = None

    def clock(self) -> float:
        return time.time() if self._clock is None else self._clock()

    @property
    def fixed_clock(self) -> Callable[[], float] | None:
        """The injected clock (a reproducible bundle build), None on a box (wall time)."""
        return self._clock

    def _new_name(self) -> str:
        return f"gen-{time.time_ns() if self._clock is None else int(round(self._clock() * 1e9))}"

    def current_name(self) -> str | None:
        # Asked several times per question: re-read CURRENT only when its inode/mtime/size
        # changed (it is replaced with os.replace, so a switch always gives a new inode).
        path = self.root / CURRENT
        try:
            st = os.stat(path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if self._current is not None and self._current[0] == key:
                return self._current[1]
            name = path.read_text("utf-8").strip() or None
        except FileNotFoundError:
            self._current = None
            return None
        except OSError as exc:
            raise IndexStoreError(f"cannot read {path}: {exc}",
                                  "check the data dir permissions") from exc
        self._current = (key, name)
        return name

    def open_current(self) -> Snapshot | None:
        for _attempt in range(5):
            name = self.current_name()
            if name is None:
                return None
            path = self.root / name
            try:
                if not path.is_dir():
                    raise IndexStoreError(f"index generation {name} named by CURRENT is missing",
                                          "re-index the manuals with `nic-edge index`")
                return Snapshot(path)
            except FormatMismatch:
                raise
            except IndexStoreError:
                # Two re-indexes in another process may have replaced and deleted the
                # generation between reading CURRENT and opening its files: open the new one.
                if self.current_name() == name:
                    raise
        raise IndexStoreError(f"the index in {self.root} kept changing while it was opened",
                              "try again once indexing has finished")

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held around a whole index change. Waits for a writer in another process or thread
        (saying so once in the log); the kernel drops the lock if its holder dies."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / WRITER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                log.warning("waiting for another index change to finish (pid %s) ...", holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def stale_files(self) -> list[str] | None:
        """When CURRENT names a generation of another format: the manual files it names (so
        `nic-edge index` can rebuild from them); None when there is nothing stale."""
        name = self.current_name()
        if name is None:
            return None
        try:
            fmt = read_manifest(self.root / name).get("format")
        except (OSError, ValueError, AttributeError):
            return None  # unreadable, not stale: open_current says why
        return None if fmt == FORMAT else self.named_files()

    def named_files(self) -> list[str]:
        """The manual files the current generation names, as far as its sources.json can still
        be read ([] when it cannot)."""
        name = self.current_name()
        try:
            info = json.loads((self.root / str(name) / "sources.json").read_text("utf-8"))
            files = info.get("files", {}) if isinstance(info, dict) else {}
            return sorted(str(k) for k in files) if isinstance(files, dict) else []
        except (OSError, ValueError):
            return []

    def write(self, data: GenerationData,
              before_switch: Callable[[Snapshot], dict[str, Any] | None] | None = None) -> Snapshot:
        """Write a new generation and make it current atomically.

        ``before_switch(snapshot)`` sees the complete generation before it is renamed and made
        current (calibration asks it questions); what it returns is stored in the generation
        as ``calibration.json``."""
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self.current_name()
        name = self._new_name()
        tmp = self.root / f".tmp-{name}"
        tmp.mkdir()
        try:
            self._write_files(tmp, name, data)
            if before_switch is not None:
                self._finish(tmp, name, before_switch)
            _fsync_dir(tmp)
            self._fault("rename")
            os.rename(tmp, self.root / name)
            _fsync_dir(self.root)
            self._fault("switch")
            self._switch(name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._cleanup(keep={name} | ({previous} if previous else set()))
        return Snapshot(self.root / name)

    def _finish(self, tmp: Path, name: str, hook: Callable[[Snapshot], dict[str, Any] | None]) -> None:
        from nic_edge.engine.calibrate import FILE

        snap = Snapshot(tmp)
        snap.name = name  # what it will be called once current (cache fingerprints use it)
        try:
            record = hook(snap)
        finally:
            snap.close()
        if record is not None:
            self._fault("calibration")
            with open(tmp / FILE, "wb") as fh:
                fh.write(json.dumps(record, indent=1).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())

    def install(self, staged: Path, name: str) -> str:
        """Make a complete, fsynced generation directory ``staged`` (on this file system) the
        current one as ``name``, atomically; the previous generation is kept for a roll-back.
        A crash before the CURRENT swap leaves the old generation current."""
        if not name.startswith("gen-") or "/" in name:
            raise IndexStoreError(f"bad generation name {name!r}", "generation names start with gen-")
        Snapshot(staged).close()  # refuse anything this build cannot read, before it is current
        previous = self.current_name()
        if (self.root / name).exists():
            name = f"{name}-{time.time_ns()}"
        os.rename(staged, self.root / name)
        _fsync_dir(self.root)
        self._fault("switch")
        self._switch(name)
        self._cleanup(keep={name} | ({previous} if previous else set()))
        return name

    def _switch(self, name: str) -> None:
        ptr_tmp = self.root / f"{CURRENT}.tmp"
        with open(ptr_tmp, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(ptr_tmp, self.root / CURRENT)
        _fsync_dir(self.root)

    def _cleanup(self, keep: set[str]) -> None:
        # A reader's mappings stay valid after unlink, but it maps files lazily: the generation
        # before the new one stays (``keep``) for readers that opened it just before the switch.
        # Staging directories are only ever a writer's, and writers hold writing().
        for p in self.root.iterdir():
            if p.is_dir() and p.name not in keep and (p.name.startswith("gen-") or p.name.startswith(".tmp-")):
                shutil.rmtree(p, ignore_errors=True)

    def _write_files(self, d: Path, name: str, data: GenerationData) -> None:
        n = len(data.texts)

        def put_npy(fname: str, arr: np.ndarray) -> None:
            with open(d / f"{fname}.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())

        def put_bytes(fname: str, payload: bytes) -> None:
            with open(d / fname, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())

        def put_blob(fname: str, values: list[str]) -> None:
            encoded = [v.encode("utf-8") for v in values]
            off = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(e) for e in encoded], out=off[1:])
            put_bytes(f"{fname}.bin", b"".join(encoded))
            put_npy(f"{fname}_off", off)

        self._fault("texts")
        put_blob("texts", data.texts)
        put_blob("ids", data.chunk_ids)
        sources, src = _intern(list(data.sources))
        sections, sec = _intern(list(data.sections))
        files, fil = _intern(list(data.files))
        groups: dict[tuple[str, ...], int] = {}
        ngrp = np.fromiter((groups.setdefault(tuple(ns), len(groups)) if ns else -1 for ns in data.notices),
                           dtype=np.int32, count=n)
        put_bytes("strings.json", json.dumps({"sources": sources, "sections": sections,
                                              "notices": [list(g) for g in groups],
                                              "files": files}).encode("utf-8"))
        put_npy("src", src)
        put_npy("sec", sec)
        put_npy("page", np.asarray([-1 if p is None else p for p in data.pages], dtype=np.int32))
        put_npy("page_kind", np.asarray([PAGE_KINDS.index(k) if k in PAGE_KINDS else -1
                                         for k in data.page_kinds], dtype=np.int8))
        put_npy("file", fil)
        put_npy("ord", np.asarray(data.ordinals, dtype=np.int32))
        put_npy("ngrp", ngrp)
        self._fault("bm25")
        bm = data.bm25
        put_bytes("bm25_terms.txt", "\n".join(bm.terms).encode("utf-8"))
        for fname, arr in (("bm25_ptr", bm.ptr), ("bm25_doc", bm.doc), ("bm25_w", bm.w),
                           ("bm25_df", bm.df), ("doclen", bm.doc_len)):
            put_npy(fname, arr)
        self._fault("vectors")
        dim = None
        if data.emb is not None and data.emb_scale is not None and data.model_sha256:
            put_npy("emb", data.emb.astype(np.int8, copy=False))
            put_npy("emb_scale", data.emb_scale.astype(np.float32, copy=False))
            dim = int(data.emb.shape[1])
            # One vector per heading, in strings.json "sections" order (a missing one is zero:
            # cosine 0, as for a heading that means nothing).
            head = np.zeros((len(sections), dim), dtype=np.int8)
            head_scale = np.ones(len(sections), dtype=np.float32)
            for i, h in enumerate(sections):
                got = data.heading_emb.get(h)
                if got is not None:
                    head[i], head_scale[i] = got
            put_npy("head_emb", head)
            put_npy("head_emb_scale", head_scale)
            if data.openings:   # paragraph openings, sorted by key (Snapshot.opening_vector)
                keys = sorted(data.openings)
                put_npy("open_key", np.asarray(keys, dtype=np.uint64))
                put_npy("open_emb", np.stack([data.openings[k][0] for k in keys]).astype(np.int8, copy=False))
                put_npy("open_emb_scale", np.asarray([data.openings[k][1] for k in keys], dtype=np.float32))
        put_bytes("sources.json", json.dumps({"files": data.file_info}).encode("utf-8"))
        self._fault("manifest")
        manifest = {
            "format": FORMAT, "generation": name, "created_at": self.clock(), "chunks": n,
            "sources": len(sources), "files": len(files), "model_sha256": data.model_sha256 if dim else None, "dim": dim,
            "embed_text": data.embed_text if dim else None,
            "openings": len(data.openings) if dim else 0,
            "bm25": {"k1": K1, "b": B, "title_boost": TITLE_BOOST, "analyzer": ANALYZER},
        }
        put_bytes("manifest.json", json.dumps(manifest, indent=1).encode("utf-8"))
