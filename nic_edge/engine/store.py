"""On-disk index: generations of immutable files switched atomically through ``CURRENT``.

Layout under ``<data_dir>/index``::

    CURRENT                 name of the live generation (replaced with os.replace)
    gen-<ns>/manifest.json  format, chunk count, model sha256 + dim, BM25 params
    gen-<ns>/sources.json   per indexed file (key: resolved path): source name, sha256, chunks,
                            sections, time; a BEIR file also per record
    gen-<ns>/texts.bin      all chunk texts, UTF-8, one after another (+ texts_off.npy)
    gen-<ns>/ids.bin        chunk ids (+ ids_off.npy); strings.json: sources, sections, notices, files
    gen-<ns>/*.npy          per-chunk columns (source, section, page, page kind, file, ...), BM25
                            postings, int8 embeddings + row scales
    gen-<ns>/calibration.json  this index's abstain threshold (see calibrate.py)

A writer builds a complete generation in a ``.tmp-*`` directory, fsyncs every file, renames the
directory, then swaps ``CURRENT``. A crash at any point leaves ``CURRENT`` naming the previous,
complete generation. Readers map the files read-only, so an index of thousands of chunks costs a
few MiB of RSS: texts are decoded only for the chunks an answer touches.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nic_edge.engine.bm25 import B, K1, TITLE_BOOST, BM25Arrays, BM25Index
from nic_edge.engine.vectors import VectorIndex
from nic_edge.errors import IndexStoreError

log = logging.getLogger(__name__)

# The index format version. Bump it with EVERY change to what a generation stores or means
# (new or changed files, columns, sources.json layout, chunk id rules): a reader refuses another
# version with one "re-index needed" line, and `nic-edge index` rebuilds from the files the old
# index names (see Indexer). History:
#   1  first release
#   2  rows carry their file (records of different files never replace each other; chunk ids
#      unique across files), printed/counted page kind per row, sources.json keyed by file
#   3  calibration.json: the index's own abstain threshold (engine/calibrate.py)
FORMAT = 3
PAGE_KINDS = ("counted", "printed")  # stored as 0/1 in page_kind.npy, -1 for no page
ANALYZER = "alnum-stop-stemlite-v1"
CURRENT = "CURRENT"


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
    model_sha256: str | None = None
    file_info: dict[str, dict[str, Any]] = field(default_factory=dict)


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


class _Blob:
    """Strings stored back to back in one mapped file, found through an offsets array."""

    def __init__(self, path: Path, offsets: np.ndarray) -> None:
        self._off = offsets
        self._fh = open(path, "rb")
        size = os.fstat(self._fh.fileno()).st_size
        self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    def get(self, i: int) -> str:
        a, b = int(self._off[i]), int(self._off[i + 1])
        return self._mm[a:b].decode("utf-8") if self._mm is not None else ""

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
        self._fh.close()


class FormatMismatch(IndexStoreError):
    """The generation was written by a version with another index format."""

    def __init__(self, found: object) -> None:
        super().__init__(f"re-index needed: the index has format {found}, this nic-edge reads "
                         f"format {FORMAT}; run `nic-edge index PATH...` (it re-reads the manuals "
                         "the old index names)")
        self.found = found


def read_manifest(path: Path) -> dict[str, Any]:
    return json.loads((path / "manifest.json").read_text("utf-8"))


class Snapshot:
    """One generation, mapped read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        try:
            self.manifest: dict[str, Any] = read_manifest(path)
            if self.manifest.get("format") != FORMAT:
                raise FormatMismatch(self.manifest.get("format"))
            self.n = int(self.manifest["chunks"])
            load = self._load
            strings = json.loads((path / "strings.json").read_text("utf-8"))
            self._sources: list[str] = strings["sources"]
            self._sections: list[str] = strings["sections"]
            self._notice_groups: list[list[str]] = strings["notices"]
            self._files: list[str] = strings["files"]
            self._src, self._sec, self._page = load("src"), load("sec"), load("page")
            self._pkind, self._file = load("page_kind"), load("file")
            self._ord, self._ngrp = load("ord"), load("ngrp")
            self._texts = _Blob(path / "texts.bin", load("texts_off"))
            self._ids = _Blob(path / "ids.bin", load("ids_off"))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexStoreError(f"index generation {path} is unreadable: {exc}",
                                  "re-index the manuals with `nic-edge index`") from exc
        self._bm25: BM25Index | None = None
        self._vectors: VectorIndex | None = None
        self._source_info: dict[str, Any] | None = None
        self._calibration: tuple[dict[str, Any] | None] | None = None

    @property
    def format(self) -> int:
        return int(self.manifest.get("format") or 0)

    @property
    def calibration(self) -> dict[str, Any] | None:
        """This generation's calibration record, None when it has none (format 1)."""
        if self._calibration is None:
            from nic_edge.engine.calibrate import read
            self._calibration = (read(self.path),)
        return self._calibration[0]

    def _load(self, name: str) -> np.ndarray:
        # A plain ndarray view of the read-only mapping (the view keeps the mapping alive):
        # indexing a np.memmap wraps every result in a new memmap object, which cost ~0.4 ms
        # per answer in per-row lookups (profiled on the 6.7k-chunk bench index).
        return np.load(self.path / f"{name}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)

    @property
    def model_sha256(self) -> str | None:
        return self.manifest.get("model_sha256")

    @property
    def has_vectors(self) -> bool:
        return bool(self.manifest.get("model_sha256")) and self.n > 0

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            terms = (self.path / "bm25_terms.txt").read_text("utf-8").split("\n") if self.n else []
            arrays = BM25Arrays(terms if terms != [""] else [], self._load("bm25_ptr"),
                                self._load("bm25_doc"), self._load("bm25_w"),
                                self._load("bm25_df"), self._load("doclen"))
            self._bm25 = BM25Index(arrays, k1=float(self.manifest["bm25"]["k1"]))
        return self._bm25

    @property
    def vectors(self) -> VectorIndex | None:
        if self._vectors is None and self.has_vectors:
            self._vectors = VectorIndex(self._load("emb"), self._load("emb_scale"))
        return self._vectors

    def file_info(self) -> dict[str, dict[str, Any]]:
        """Per indexed file (resolved path): source, kind, sha256, chunks, sections, indexed_at,
        and for BEIR files ``records`` (read on demand: large for BEIR sets)."""
        if self._source_info is None:
            self._source_info = json.loads((self.path / "sources.json").read_text("utf-8"))
        return self._source_info["files"]

    def file_rows(self) -> dict[str, int]:
        """Rows the index holds per file: compared with file_info's counts to spot a file
        whose content in the index no longer matches what was indexed."""
        counts = np.bincount(self._file, minlength=len(self._files)) if self.n else []
        return {f: int(c) for f, c in zip(self._files, counts)}

    def text(self, i: int) -> str:
        return self._texts.get(i)

    def chunk_id(self, i: int) -> str:
        return self._ids.get(i)

    def source(self, i: int) -> str:
        return self._sources[int(self._src[i])]

    def section(self, i: int) -> str | None:
        s = int(self._sec[i])
        return None if s < 0 else self._sections[s]

    def page(self, i: int) -> int | None:
        p = int(self._page[i])
        return None if p < 0 else p

    def page_kind(self, i: int) -> str | None:
        k = int(self._pkind[i])
        return None if k < 0 or self.page(i) is None else PAGE_KINDS[k]

    def file(self, i: int) -> str:
        return self._files[int(self._file[i])]

    def ordinal(self, i: int) -> int:
        return int(self._ord[i])

    def notices(self, i: int) -> list[str]:
        g = int(self._ngrp[i])
        return [] if g < 0 else list(self._notice_groups[g])

    def close(self) -> None:
        self._texts.close()
        self._ids.close()


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
        name = self.current_name()
        if name is None:
            return None
        path = self.root / name
        if not path.is_dir():
            raise IndexStoreError(f"index generation {name} named by CURRENT is missing",
                                  "re-index the manuals with `nic-edge index`")
        return Snapshot(path)

    def stale_files(self) -> list[str] | None:
        """When CURRENT names a generation of another format: the manual files it names (so
        `nic-edge index` can rebuild from them); None when there is nothing stale."""
        name = self.current_name()
        if name is None:
            return None
        try:
            fmt = read_manifest(self.root / name).get("format")
        except (OSError, ValueError):
            return None  # unreadable, not stale: open_current says why
        if fmt == FORMAT:
            return None
        try:
            info = json.loads((self.root / name / "sources.json").read_text("utf-8"))
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
        self._cleanup(keep={name})
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
        # Readers in other processes may still map an old generation: on POSIX their mappings
        # stay valid after unlink, so old generations can go at once.
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
        put_bytes("sources.json", json.dumps({"files": data.file_info}).encode("utf-8"))
        self._fault("manifest")
        manifest = {
            "format": FORMAT, "generation": name, "created_at": self.clock(), "chunks": n,
            "sources": len(sources), "files": len(files), "model_sha256": data.model_sha256 if dim else None, "dim": dim,
            "bm25": {"k1": K1, "b": B, "title_boost": TITLE_BOOST, "analyzer": ANALYZER},
        }
        put_bytes("manifest.json", json.dumps(manifest, indent=1).encode("utf-8"))
