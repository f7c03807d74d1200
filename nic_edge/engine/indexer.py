"""Add, replace and remove manuals: builds the next index generation from the current one.

Files are identified by their resolved path (see catalog.py). Unchanged files (same path, same
sha256, and the index still holds all their chunks) are skipped without parsing; a changed
file's old chunks are dropped and its new documents added. Records of different files never
replace each other; within one BEIR file a later record with a duplicate ``_id`` replaces the
earlier one (``duplicates_replaced``). Chunk ids stay unique across files: a chunk whose id is
already held by another file's chunk gets the file's tag (``<id>@<tag>``). Kept chunks keep
their int8 embedding rows, so only new chunks are embedded, in batches of the tier's
``batch_size``. When the model cannot load the index is built without vectors (lexical) and
the next run with a model fills them in. An index of another format, or a damaged one, is
rebuilt from the files it names that still exist (the rest are reported).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from nic_edge.engine import capacity, catalog
from nic_edge.engine.bm25 import ANALYZER, build_arrays, chunk_terms
from nic_edge.engine.ingest import INGEST_VERSION, text_size
from nic_edge.engine.store import FormatMismatch, GenerationData, IndexStore, Snapshot
from nic_edge.engine.openings import opening_vectors
from nic_edge.engine.vectors import EMBED_TEXT, embed_quantized, embed_text, heading_meaning, quantize
from nic_edge.engine.walk import SUFFIXES, expand  # noqa: F401  (expand: also serve's and bundles')
from nic_edge.errors import IndexStoreError, IngestError, MissingDependencyError, ModelError
from nic_edge.core.storage import file_sha256

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
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
    reanalyzed: bool = False  # the BM25 terms were made again by today's analysis (bm25.ANALYZER)
    vectors_kept: int = 0     # chunks of files read again that came out the same (not embedded again)
    vectors: bool = False
    warnings: list[str] = field(default_factory=list)
    calibration: dict | None = None   # of the generation written (None: nothing was written)

    def __str__(self) -> str:
        parts = [f"{len(self.indexed_files)} file(s) indexed", f"{self.chunks_added} chunks added",
                 f"{len(self.unchanged)} unchanged", f"{len(self.removed)} removed",
                 f"{len(self.skipped)} skipped", f"{self.duplicates_replaced} duplicates replaced",
                 f"{self.chunks_total} chunks in the index"]
        if self.vectors_kept:
            parts.append(f"{self.vectors_kept} of them unchanged (vectors kept)")
        if self.reembedded:
            parts.append(f"{self.reembedded} chunks re-embedded for the current model or embedding rule")
        if self.reanalyzed:
            parts.append("words indexed again by the current text analysis")
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
    file: str = ""
    page_kind: str | None = None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reported as unreadable by the loop


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
        while (j < len(rows) and rows[j].file == rows[i].file and rows[j].source == rows[i].source
               and rows[j].section == rows[i].section):
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
                 calibrate: Callable[[Snapshot], dict | None] | None = None,
                 memory_budget: int | None = None, openings: bool = False) -> None:
        self.store = store
        self.embedder_fn = embedder_fn
        self.loader = loader
        self.calibrate = calibrate
        self.memory_budget = memory_budget  # the tier's RSS budget: files that cannot fit are skipped
        self.openings = openings  # store paragraph openings' vectors (a box that reranks, rerank.py)

    def index_paths(self, paths: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        load_documents = self.loader
        if load_documents is None:
            from nic_edge.engine.ingest import load_documents
        report = IndexReport()
        other: dict[str, int] = {}
        files_list = expand(paths, report.skipped, other)
        if other:
            kinds = ", ".join(f"{k} x{v}" for k, v in sorted(other.items(), key=lambda kv: (-kv[1], kv[0])))
            report.warnings.append(f"{sum(other.values())} file(s) in the folder(s) given are not of a manual "
                                   f"type and were left out ({kinds}); manual files are "
                                   + " ".join(sorted(SUFFIXES)))
        capacity.check_free_space(self.store.root, sum(_size(p) for p in files_list))
        stale = self.store.stale_files()
        if stale is not None:
            files_list = self._migrate(files_list, stale, report, "index of an older format rebuilt")
        snap, rebuild = None, stale is not None
        try:
            snap = self.store.open_current() if stale is None else None
        except FormatMismatch:
            raise
        except IndexStoreError as exc:  # damaged (a file cut short, CURRENT naming nothing): rebuild
            log.warning("%s: rebuilding from the files it names", exc)
            rebuild = True
            files_list = self._migrate(files_list, self.store.named_files(), report,
                                       f"damaged index rebuilt ({exc.message})")
        files: catalog.Files = dict(snap.file_info()) if snap else {}
        held = snap.file_rows() if snap else {}
        new_docs: dict[str, list[Any]] = {}
        now = self.store.clock()
        read_bytes = 0  # of files read in this run: their documents stay in memory until the commit
        for n, path in enumerate(files_list):
            if progress:
                progress(n, len(files_list), f"reading {path.name}")
            key = str(path.resolve())
            if key in new_docs:
                continue  # the same file named twice in one run
            try:
                sha = file_sha256(path)
            except OSError as exc:
                report.skipped.append((str(path), f"cannot read: {exc.strerror or exc}"))
                continue
            old = files.get(key)
            if old is not None and old["sha256"] == sha and held.get(key, 0) == old.get("file_chunks") \
                    and old.get("ingest") == INGEST_VERSION:   # read by today's parser
                report.unchanged.append(str(path))
                continue
            holds = text_size(path)   # a .docx unpacks to more than its size
            too_big = capacity.memory_problem(holds, read_bytes, self.memory_budget)
            if too_big:
                report.skipped.append((str(path), too_big))
                continue
            read_bytes += holds
            try:
                docs = [d for d in load_documents(path) if d.chunks]
            except (IngestError, MissingDependencyError) as exc:
                # One bad file (or one needing an extra that is not installed) is skipped and
                # named; the rest of the batch is indexed (exit 3, DESIGN).
                report.skipped.append((str(path), str(exc)))
                continue
            if not docs:
                report.skipped.append((str(path), "no text found"))
                continue
            report.duplicates_replaced += sum(d.duplicates_replaced for d in docs)
            new_docs[key] = docs
            files[key] = catalog.file_entry(path, sha, docs, now)
            report.indexed_files.append(str(path))
        if progress:
            progress(len(files_list), len(files_list), "read")
        return self._commit(snap, files, new_docs, set(new_docs), set(), report, progress,
                            force=rebuild)

    def _migrate(self, files_list: list[Path], stale: list[str], report: IndexReport, what: str) -> list[Path]:
        """Rebuild from the files the index names (and the ones given)."""
        given = {str(p.resolve()) for p in files_list}
        extra = [Path(f) for f in stale if f not in given and Path(f).is_file()]
        gone = [f for f in stale if f not in given and not Path(f).is_file()]
        report.warnings.append(f"{what}: {len(extra)} file(s) it named re-read"
                               + (f"; {len(gone)} no longer exist and must be indexed again: "
                                  + ", ".join(gone) if gone else ""))
        return files_list + extra

    def remove(self, names: Iterable[str]) -> IndexReport:
        """Remove indexed files (by path or source name) or single BEIR records (by ``_id``)."""
        report = IndexReport()
        names = list(names)
        snap = self.store.open_current()
        if snap is None:
            report.skipped.extend((n, "nothing is indexed") for n in names)
            return report
        files = {k: dict(v) for k, v in snap.file_info().items()}
        drop_files, drop_records, report.skipped = catalog.resolve_removals(names, files)
        for key in sorted(drop_files):
            report.removed.append(files.pop(key)["source"])
        for key, rid in sorted(drop_records):
            files[key]["records"] = dict(files[key]["records"])
            catalog.drop_record(files[key], rid)
            report.removed.append(rid)
            if not files[key]["records"]:
                files.pop(key)
                drop_files.add(key)
        return self._commit(snap, files, {}, drop_files, drop_records, report, None)

    def _commit(self, snap: Snapshot | None, files: catalog.Files, new_docs: dict[str, list[Any]],
                drop_files: set[str], drop_records: set[tuple[str, str]], report: IndexReport,
                progress: Progress | None, force: bool = False) -> IndexReport:
        embedder = self.embedder_fn()
        model_sha = getattr(embedder, "model_sha256", None) if embedder is not None else None
        old_vec_ok = bool(snap and snap.has_vectors and model_sha and snap.model_sha256 == model_sha)
        needs_vectors = bool(snap and model_sha and not old_vec_ok and snap.n)
        # a box that now reranks fills in the openings an index built without them lacks
        needs_vectors |= bool(self.openings and snap and old_vec_ok and snap.n and not snap.openings)
        # vectors embedded by an older rule for what a chunk is embedded as (vectors.EMBED_TEXT):
        # the rows and headings whose text the rule changes are embedded again, the rest kept
        stale = bool(old_vec_ok and snap and snap.embed_text != EMBED_TEXT)
        needs_vectors |= bool(stale and snap and any(heading_meaning(h) != h for h in snap.headings))
        # BM25 terms made by an older analysis ("45W" one term, "45 W" two): made again from
        # the stored chunks, the vectors kept
        report.reanalyzed = bool(snap and snap.n and snap.analyzer != ANALYZER)
        if snap is not None and not new_docs and not drop_files and not drop_records \
                and not needs_vectors and not force and not report.reanalyzed:
            report.chunks_total = snap.n
            report.vectors = snap.has_vectors
            return report  # nothing changed: no new generation
        rows: list[_Row] = []
        # A file read again (edited, or read by a newer parser) keeps the vectors of the chunks
        # that came out the same: only what changed is embedded again.
        same: dict[tuple[str, str | None, str], int] = {}
        if snap is not None:
            for i in range(snap.n):
                key, src = snap.file(i), snap.source(i)
                if key in new_docs:
                    same.setdefault((key, snap.section(i), snap.text(i)), i)
                if key in drop_files or (key, src) in drop_records:
                    continue
                rows.append(_Row(snap.chunk_id(i), src, snap.section(i), snap.page(i), snap.ordinal(i),
                                 snap.text(i), snap.notices(i), i, key, snap.page_kind(i)))
        used = {r.chunk_id for r in rows}
        new_rows: list[_Row] = []
        for key, docs in new_docs.items():
            tag = catalog.file_tag(key)
            for d in docs:
                for c in d.chunks:
                    cid = c.chunk_id
                    if cid in used:  # another file holds this id: namespace ours
                        cid = f"{c.chunk_id}@{tag}"
                    used.add(cid)
                    new_rows.append(_Row(cid, d.source, c.section, c.page, c.ordinal, c.text,
                                         file=key, page_kind=getattr(d, "page_kind", None)
                                         or ("counted" if c.page is not None else None),
                                         old_row=same.pop((key, c.section, c.text), -1)))
        _section_notices(new_rows)
        rows.extend(new_rows)
        if stale:
            for r in rows:
                if r.section and r.old_row >= 0 and heading_meaning(r.section) != r.section:
                    r.old_row = -1
                    report.reembedded += 1
        report.chunks_added = len(new_rows)
        report.vectors_kept = sum(1 for r in new_rows if r.old_row >= 0) if old_vec_ok else 0
        emb, scale, sha = self._vectors(snap, rows, embedder, model_sha, old_vec_ok, report, progress)
        heads = self._heading_vectors(snap if old_vec_ok else None, rows, embedder, progress, stale) if sha else {}
        opens = opening_vectors(snap if old_vec_ok else None, rows, embedder, progress) \
            if sha and self.openings else {}
        terms = (chunk_terms(r.section, r.text) for r in rows)
        data = GenerationData(
            chunk_ids=[r.chunk_id for r in rows], sources=[r.source for r in rows],
            sections=[r.section for r in rows], pages=[r.page for r in rows],
            ordinals=[r.ordinal for r in rows], texts=[r.text for r in rows],
            notices=[r.notices or [] for r in rows], bm25=build_arrays(terms),
            files=[r.file for r in rows],
            page_kinds=[r.page_kind if r.page is not None else None for r in rows],
            emb=emb, emb_scale=scale, heading_emb=heads, openings=opens, model_sha256=sha, file_info=files,
            embed_text=EMBED_TEXT if sha else None)
        new_snap = self.store.write(data, self.calibrate)
        report.chunks_total = new_snap.n
        report.vectors = new_snap.has_vectors
        report.calibration = new_snap.calibration
        new_snap.close()
        if snap is not None:
            snap.close()
        return report

    def _heading_vectors(self, snap: Snapshot | None, rows: list[_Row], embedder: Any,
                         progress: Progress | None, stale: bool = False) -> dict[str, tuple[np.ndarray, float]]:
        """An int8 vector per distinct section heading, for the reader's heading match (a
        paraphrased question is closest in meaning to the heading that names it); the old
        generation's are kept, only new headings are embedded (a few tokens each: ~1 % of
        what the chunks cost); with ``stale`` (an older embedding rule) not those whose meaning
        the rule changes."""
        out: dict[str, tuple[np.ndarray, float]] = {}
        old = snap.heading_vectors if snap is not None else None
        if old is not None and snap is not None:
            for i, h in enumerate(snap.headings):
                if not stale or heading_meaning(h) == h:
                    out[h] = (np.array(old.mat[i]), float(old.scale[i]))
        todo = sorted({r.section for r in rows if r.section and r.section not in out})
        tokenizer = getattr(embedder, "tokenizer", None)
        texts = [heading_meaning(t) for t in todo]
        if tokenizer is not None and INDEX_MAX_TOKENS:
            texts = [clip_tokens(t, tokenizer, INDEX_MAX_TOKENS) for t in texts]
        try:
            embed_quantized(embedder.embed_many, todo, texts, out, EMBED_SLICE, progress, "embedding headings")
        except (MissingDependencyError, ModelError) as exc:
            # Headings without vectors match nothing (cosine 0): answers lose the heading
            # match, nothing else.
            log.warning("headings not embedded: %s", exc)
        return out

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
                texts = [embed_text(rows[i].section, rows[i].text) for i in part]
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
