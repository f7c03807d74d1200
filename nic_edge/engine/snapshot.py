"""Reading one index generation: a ``Snapshot`` maps its files read-only.

Readers map the files, so an index of thousands of chunks costs a few MiB of RSS: texts are
decoded only for the chunks an answer touches. The layout and the writer are in store.py.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

from nic_edge.engine import labels
from nic_edge.engine.bm25 import BM25Index, BM25Arrays
from nic_edge.engine.vectors import VectorIndex
from nic_edge.errors import IndexStoreError

# The index format version. Bump it with EVERY change to what a generation stores or means
# (new or changed files, columns, sources.json layout, chunk id rules): a reader refuses another
# version with one "re-index needed" line, and `nic-edge index` rebuilds from the files the old
# index names (see Indexer). History:
#   1  first release
#   2  rows carry their file (records of different files never replace each other; chunk ids
#      unique across files), printed/counted page kind per row, sources.json keyed by file
#   3  calibration.json: the index's own abstain threshold (engine/calibrate.py)
#   4  head_emb.npy + head_emb_scale.npy: an int8 vector per section heading (row i = the
#      i-th string of strings.json "sections"), for the reader's heading match
#   5  open_key.npy + open_emb.npy + open_emb_scale.npy (manifest "openings": their count): an
#      int8 vector per paragraph opening of the manuals, under its 64-bit key (sorted), for
#      the reader's close candidates on boxes that rerank (engine/rerank.py); none elsewhere
FORMAT = 5
PAGE_KINDS = ("counted", "printed")  # stored as 0/1 in page_kind.npy, -1 for no page


def opening_key(text: str) -> int:
    """The 64-bit key a paragraph opening's vector is stored under (blake2b of its text; format 5)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class _Blob:
    """Strings stored back to back in one mapped file, found through an offsets array."""

    def __init__(self, path: Path, offsets: np.ndarray) -> None:
        self._off = offsets
        self._fh = open(path, "rb")
        size = os.fstat(self._fh.fileno()).st_size
        self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    def check(self, n: int, name: str) -> None:
        """A file cut short (or grown) no longer matches its offsets: refuse it at open."""
        size = len(self._mm) if self._mm is not None else 0
        if len(self._off) != n + 1 or int(self._off[-1]) != size:
            raise ValueError(f"{name} holds {size} bytes, its offsets say {int(self._off[-1])}")

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
            for blob, name in ((self._texts, "texts.bin"), (self._ids, "ids.bin")):
                blob.check(self.n, name)
            # the lazily mapped files too: mapping checks each file's size against its header
            lazy = ["bm25_ptr", "bm25_doc", "bm25_w", "bm25_df"]
            rows = {"doclen": self.n} | ({"emb": self.n, "emb_scale": self.n} if self.has_vectors else {})
            if self.has_vectors and self._sections:
                rows |= {"head_emb": len(self._sections), "head_emb_scale": len(self._sections)}
            if self.openings:
                rows |= {"open_key": self.openings, "open_emb": self.openings, "open_emb_scale": self.openings}
            cols = [self._src, self._sec, self._page, self._pkind, self._file, self._ord, self._ngrp]
            for col, want in [(c, self.n) for c in cols] + [(load(k), v) for k, v in rows.items()]:
                if len(col) != want:
                    raise ValueError(f"a column holds {len(col)} rows where {want} belong")
            for name in lazy:
                load(name)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexStoreError(f"index generation {path} is unreadable: {exc}",
                                  "re-index the manuals with `nic-edge index`") from exc
        self._bm25: BM25Index | None = None
        self._vectors: VectorIndex | None = None
        self._headings: VectorIndex | None = None
        self._openings: tuple[np.ndarray, VectorIndex] | None = None
        self._source_info: dict[str, Any] | None = None
        self._calibration: tuple[dict[str, Any] | None] | None = None
        self._labels: dict[tuple[int, int], str] | None = None

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
        try:
            return np.load(self.path / f"{name}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
        except (OSError, ValueError) as exc:  # also when mapped lazily, after the open
            raise IndexStoreError(f"index generation {self.path} is unreadable: {name}.npy: {exc}",
                                  "re-index the manuals with `nic-edge index`") from exc

    @property
    def model_sha256(self) -> str | None:
        return self.manifest.get("model_sha256")

    @property
    def embed_text(self) -> str | None:
        """The rule its vectors were embedded by (vectors.EMBED_TEXT; None before outline-free-1)."""
        return self.manifest.get("embed_text")

    @property
    def analyzer(self) -> str | None:
        """The text analysis its BM25 terms were made by (bm25.ANALYZER)."""
        bm = self.manifest.get("bm25")
        return bm.get("analyzer") if isinstance(bm, dict) else None

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

    @property
    def heading_vectors(self) -> VectorIndex | None:
        """One vector per section heading (``section_id`` indexes it); None when lexical."""
        if self._headings is None and self.has_vectors and self._sections:
            self._headings = VectorIndex(self._load("head_emb"), self._load("head_emb_scale"))
        return self._headings

    @property
    def openings(self) -> int:
        """How many paragraph openings have a vector (0: none stored, rerank embeds them)."""
        return int(self.manifest.get("openings") or 0) if self.has_vectors else 0

    def opening_entry(self, text: str) -> tuple[np.ndarray, float] | None:
        """(int8 vector, scale) stored for a paragraph opening (rerank.opening), None when absent."""
        if not self.openings:
            return None
        if self._openings is None:
            self._openings = (self._load("open_key"), VectorIndex(self._load("open_emb"), self._load("open_emb_scale")))
        keys, vecs = self._openings
        k = np.uint64(opening_key(text))
        i = int(np.searchsorted(keys, k))
        if i >= keys.shape[0] or keys[i] != k:
            return None
        return np.array(vecs.mat[i]), float(vecs.scale[i])

    def opening_vector(self, text: str) -> np.ndarray | None:
        """The stored float32 vector of a paragraph opening, None when absent."""
        got = self.opening_entry(text)
        return None if got is None else got[0].astype(np.float32) * got[1]

    def section_id(self, i: int) -> int:
        """Index of row ``i``'s section heading among the generation's headings, -1 for none."""
        return int(self._sec[i])

    @property
    def headings(self) -> list[str]:
        return self._sections

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

    def label(self, i: int) -> str:
        """Row ``i``'s source as a person can tell it apart (labels.py): the source, or for
        a source other files' rows hold too, the shortest trailing path that tells them apart.
        Worked out once per generation from the rows' (source, file) pairs."""
        if self._labels is None:
            if self.n:
                width = max(1, len(self._files))
                pairs = np.unique(self._src.astype(np.int64) * width + self._file)
                self._labels = labels.row_labels(self._sources, self._files,
                                                 ((int(p) // width, int(p) % width) for p in pairs))
            else:
                self._labels = {}
        return self._labels.get((int(self._src[i]), int(self._file[i]))) or labels.visible(self.source(i))

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
