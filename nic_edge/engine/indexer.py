"""Add, replace and remove manuals: builds the next index generation from the current one.

Unchanged files (same path, same sha256) are skipped without parsing; a changed file's old
sources are dropped and its new documents added; a source that reappears (a JSONL ``_id`` seen
in another file, or the same file name again) replaces the earlier one and is counted in
``duplicates_replaced``. Kept chunks keep their int8 embedding rows, so only new chunks are
embedded, in batches of the tier's ``batch_size``. When the model cannot load the index is
built without vectors (lexical) and the next run with a model fills them in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from nic_edge.engine.bm25 import build_arrays, chunk_terms
from nic_edge.engine.store import FORMAT, GenerationData, IndexStore, Snapshot
from nic_edge.engine.vectors import quantize
from nic_edge.errors import IngestError, MissingDependencyError, ModelError
from nic_edge.core.storage import file_sha256

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"}
EMBED_SLICE = 512  # progress granularity; the embedder sorts each slice by length
# Chunks are embedded from their first 80 tokens (None: the model's max length, 256). BM25 still
# sees the whole chunk; questions are never clipped. One-core embedding cost per bench chunk
# (median 145 tokens, `tools/bench_engine.py clip`): 36.7 ms at 128, 21.6 ms at 80 -- what
# brings one-core indexing of the 6,610 bench chunks from 260 s to ~146 s (and cuts a Pi
# Zero 2 W's hours by ~40 %).
# Hybrid retrieval held (docs/benchmarks/engine.md): MTRAG R@5 0.930 at 128/96/80 (MRR@10
# 0.850 -> 0.836), nic_qa 1.000, out-of-manual 0.917 vs 0.915 at 128; the vector side alone
# loses on MTRAG's longer prose (R@5 0.872 -> 0.826), where BM25 carries the hybrid.
INDEX_MAX_TOKENS: int | None = 80


@dataclass
class IndexReport:
    indexed_files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks_added: int = 0
    duplicates_replaced: int = 0
    chunks_total: int = 0
    reembedded: int = 0
    vectors: bool = False
    warnings: list[str] = field(default_factory=list)
    calibration: dict | None = None   # of the generation written (None: nothing was written)

    def __str__(self) -> str:
        parts = [f"{len(self.indexed_files)} file(s) indexed", f"{self.chunks_added} chunks added",
                 f"{len(self.unchanged)} unchanged", f"{len(self.removed)} removed",
                 f"{len(self.skipped)} skipped", f"{self.duplicates_replaced} duplicates replaced",
                 f"{self.chunks_total} chunks in the index"]
        if self.reembedded:
            parts.append(f"{self.reembedded} chunks re-embedded for the current model")
        parts.append("vectors: yes" if self.vectors else "vectors: no (lexical only)")
        return ", ".join(parts)


@dataclass
class _Row:
    chunk_id: str
    source: str
    section: str | None
    page: int | None
    ordinal: int
    text: str
    notices: list[str] | None = None
    old_row: int = -1


def expand(paths: Iterable[Path | str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES))
        else:
            out.append(p)
    return out


def clip_tokens(text: str, tokenizer: Any, limit: int) -> str:
    """The longest whitespace-word prefix of ``text`` the model sees as <= ``limit`` tokens
    (incl. [CLS]/[SEP]). BERT splits on whitespace before anything else, so per-word counts add
    up exactly; the embedder then gets the same tokens its own truncation would keep, minus
    any partial last word."""
    budget = limit - 2
    words = text.split()
    used = 0
    for i, w in enumerate(words):
        used += tokenizer.count(w) - 2
        if used > budget:
            return " ".join(words[:i])
    return text


def _section_notices(rows: list[_Row]) -> None:
    """Notices of each run of chunks sharing a section, attached to every chunk of the run."""
    from nic_edge.engine.notices import find_notices

    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j].source == rows[i].source and rows[j].section == rows[i].section:
            j += 1
        found: dict[str, None] = {}
        for r in rows[i:j]:
            for n in find_notices(r.text):
                found.setdefault(n, None)
        for r in rows[i:j]:
            r.notices = list(found)
        i = j


class Indexer:
    """Writes generations; ``embedder_fn`` returns the embedder or None (lexical).

    ``loader`` turns a path into Documents (default: the ingest package); ``calibrate``
    (a new generation -> its calibration record) runs before the generation becomes current.
    """

    def __init__(self, store: IndexStore, embedder_fn: Callable[[], Any],
                 loader: Callable[[Path], list[Any]] | None = None,
                 calibrate: Callable[[Snapshot], dict | None] | None = None) -> None:
        self.store = store
        self.embedder_fn = embedder_fn
        self.loader = loader
        self.calibrate = calibrate

    def index_paths(self, paths: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        load_documents = self.loader
        if load_documents is None:
            from nic_edge.engine.ingest import load_documents
        report = IndexReport()
        snap = self.store.open_current()
        info = snap.source_info() if snap else {"sources": {}, "files": {}}
        sources: dict[str, dict[str, Any]] = dict(info["sources"])
        files: dict[str, dict[str, Any]] = dict(info["files"])
        files_list = expand(paths)
        new_docs: list[Any] = []
        drop: set[str] = set()
        for n, path in enumerate(files_list):
            if progress:
                progress(n, len(files_list), f"reading {path.name}")
            key = str(path.resolve())
            try:
                sha = file_sha256(path)
            except OSError as exc:
                report.skipped.append((str(path), f"cannot read: {exc.strerror or exc}"))
                continue
            if key in files and files[key]["sha256"] == sha:
                report.unchanged.append(str(path))
                continue
            try:
                docs = [d for d in load_documents(path) if d.chunks]
            except IngestError as exc:
                report.skipped.append((str(path), str(exc)))
                continue
            if not docs:
                report.skipped.append((str(path), "no text found"))
                continue
            drop.update(files.get(key, {}).get("sources", []))
            batch_seen: set[str] = set()
            for d in docs:
                report.duplicates_replaced += d.duplicates_replaced
                if d.source in batch_seen or (d.source in sources and d.source not in drop):
                    report.duplicates_replaced += 1
                    new_docs = [x for x in new_docs if x.source != d.source]
                batch_seen.add(d.source)
                new_docs.append(d)
                sources[d.source] = {"file": key, "sha256": d.sha256, "kind": d.kind,
                                     "chunks": len(d.chunks), "sections": len(d.sections)}
            files[key] = {"sha256": sha, "sources": sorted(batch_seen)}
            report.indexed_files.append(str(path))
        if progress:
            progress(len(files_list), len(files_list), "read")
        replaced = {d.source for d in new_docs}
        for s in drop - replaced:
            sources.pop(s, None)
        return self._commit(snap, sources, files, new_docs, drop | replaced, report, progress)

    def remove(self, names: Iterable[str]) -> IndexReport:
        """Remove sources by name, or every source of an indexed file (by path)."""
        report = IndexReport()
        snap = self.store.open_current()
        if snap is None:
            report.skipped.extend((n, "nothing is indexed") for n in names)
            return report
        info = snap.source_info()
        sources, files = dict(info["sources"]), dict(info["files"])
        drop: set[str] = set()
        for name in names:
            key = str(Path(name).resolve())
            if name in sources:
                drop.add(name)
            elif key in files:
                drop.update(files[key]["sources"])
            else:
                report.skipped.append((name, "not indexed"))
        for s in drop:
            sources.pop(s, None)
            report.removed.append(s)
        for key in [k for k, v in files.items() if set(v["sources"]) <= drop]:
            files.pop(key)
        for v in files.values():
            v["sources"] = [s for s in v["sources"] if s not in drop]
        return self._commit(snap, sources, files, [], drop, report, None)

    def _commit(self, snap: Snapshot | None, sources: dict, files: dict, new_docs: list, drop: set[str],
                report: IndexReport, progress: Progress | None) -> IndexReport:
        import time

        embedder = self.embedder_fn()
        model_sha = getattr(embedder, "model_sha256", None) if embedder is not None else None
        old_vec_ok = bool(snap and snap.has_vectors and model_sha and snap.model_sha256 == model_sha)
        needs_vectors = bool(snap and model_sha and not old_vec_ok and snap.n)
        if snap is not None and not new_docs and not drop and not needs_vectors and snap.format == FORMAT:
            report.chunks_total = snap.n
            report.vectors = snap.has_vectors
            return report  # nothing changed: no new generation
        rows: list[_Row] = []
        if snap is not None:
            for i in range(snap.n):
                src = snap.source(i)
                if src in drop:
                    continue
                rows.append(_Row(snap.chunk_id(i), src, snap.section(i), snap.page(i), snap.ordinal(i),
                                 snap.text(i), snap.notices(i), i))
        new_rows: list[_Row] = []
        now = time.time()
        for d in new_docs:
            sources[d.source]["indexed_at"] = now
            for c in d.chunks:
                new_rows.append(_Row(c.chunk_id, d.source, c.section, c.page, c.ordinal, c.text))
        _section_notices(new_rows)
        rows.extend(new_rows)
        report.chunks_added = len(new_rows)
        emb, scale, sha = self._vectors(snap, rows, embedder, model_sha, old_vec_ok, report, progress)
        terms = (chunk_terms(r.section, r.text) for r in rows)
        data = GenerationData(
            chunk_ids=[r.chunk_id for r in rows], sources=[r.source for r in rows],
            sections=[r.section for r in rows], pages=[r.page for r in rows],
            ordinals=[r.ordinal for r in rows], texts=[r.text for r in rows],
            notices=[r.notices or [] for r in rows], bm25=build_arrays(terms),
            emb=emb, emb_scale=scale, model_sha256=sha, source_info=sources, file_info=files)
        new_snap = self.store.write(data, self.calibrate)
        report.chunks_total = new_snap.n
        report.vectors = new_snap.has_vectors
        report.calibration = new_snap.calibration
        new_snap.close()
        if snap is not None:
            snap.close()
        return report

    def _vectors(self, snap: Snapshot | None, rows: list[_Row], embedder: Any, model_sha: str | None,
                 old_ok: bool, report: IndexReport, progress: Progress | None
                 ) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
        if embedder is None or not model_sha or not rows:
            if rows:
                report.warnings.append("no embedding model: index built for lexical search only")
            return None, None, None
        old_vec = snap.vectors if (old_ok and snap is not None) else None
        todo = [i for i, r in enumerate(rows) if old_vec is None or r.old_row < 0]
        if old_vec is None and snap is not None and any(r.old_row >= 0 for r in rows):
            report.reembedded = sum(1 for r in rows if r.old_row >= 0)
        dim = int(getattr(embedder, "dim", 384))
        emb = np.zeros((len(rows), dim), dtype=np.int8)
        scale = np.ones(len(rows), dtype=np.float32)
        if old_vec is not None:
            keep = np.array([i for i, r in enumerate(rows) if r.old_row >= 0], dtype=np.int64)
            if keep.size:
                src = np.array([rows[i].old_row for i in keep], dtype=np.int64)
                emb[keep] = old_vec.mat[src]
                scale[keep] = old_vec.scale[src]
        tokenizer = getattr(embedder, "tokenizer", None)
        limit = INDEX_MAX_TOKENS if tokenizer is not None else None
        try:
            for a in range(0, len(todo), EMBED_SLICE):
                part = todo[a:a + EMBED_SLICE]
                texts = [(rows[i].section + "\n" + rows[i].text) if rows[i].section else rows[i].text
                         for i in part]
                if limit:
                    texts = [clip_tokens(t, tokenizer, limit) for t in texts]
                vecs = np.asarray(embedder.embed_many(texts), dtype=np.float32)
                q, s = quantize(vecs)
                emb[part], scale[part] = q, s
                if progress:
                    progress(a + len(part), len(todo), "embedding")
        except (MissingDependencyError, ModelError) as exc:
            log.warning("embedding model unavailable, index is lexical only: %s", exc)
            report.warnings.append(f"embedding model unavailable ({exc}); index is lexical only")
            return None, None, None
        return emb, scale, model_sha
