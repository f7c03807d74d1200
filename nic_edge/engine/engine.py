"""The engine facade: ask, retrieve, index, remove, list manuals, status.

Modes: ``hybrid`` (BM25 + int8 vectors) when an embedder is given, not switched off with
``set_lexical_only(True)``, the index holds vectors built by the same model (sha256), and the
model loads; otherwise ``lexical`` (BM25 only). The model loads lazily on the first hybrid
question, never at construction. A model that fails to load (runtime missing, ModelError) is
remembered and the engine stays lexical instead of retrying on every question.

The index generation is re-opened when ``CURRENT`` changes (another process indexed manuals).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from nic_edge.core.threads import ThreadCounts, thread_counts
from nic_edge.engine import answer as ans
from nic_edge.engine import calibrate as calib
from nic_edge.engine import labels, messages
from nic_edge.engine import reader, synonyms
from nic_edge.engine.rerank import Openings, enabled as rerank_enabled
from nic_edge.engine.bm25 import ANALYZER, analyze
from nic_edge.engine.catalog import listing
from nic_edge.engine.indexer import Indexer, IndexReport, Progress
from nic_edge.engine.retrieval import DEFAULT_FUSION, Retrieval, retrieve
from nic_edge.engine.store import IndexStore, Snapshot
from nic_edge.engine.tables import row_narrower
from nic_edge.engine.validate import MAX_TOP_K, echo, validate_question
from nic_edge.errors import IndexStoreError, InvalidInputError, MissingDependencyError, ModelError

log = logging.getLogger(__name__)
# Query words the index lacks read as the manual's word for the same thing (synonyms.py); a
# module switch so the evaluation tools can measure the engine without it.
USE_SYNONYMS = True
NARROW_ROWS = True   # a quoted run of many table rows keeps those closest in meaning (tables.narrow_rows)
# A near miss, an abstention whose question words are all in the manuals (share of their IDF
# mass) and whose confidence reached POINT_SHARE of the threshold, names up to POINT_SECTIONS
# sections holding them instead of saying the manuals do not cover it ("brakes": 0.13 against
# 0.30). Far misses keep "does not cover" ("What is the price of the car?": 0.001).
POINT_COVERAGE, POINT_SHARE, POINT_SECTIONS = 0.999, 1 / 3, 3
Timing = Callable[[str, float], None]


class Engine:
    def __init__(self, data_dir: Path, profile: Any, engine_cfg: Any, embedder: Any | None,
                 on_timing: Timing | None = None, fusion: str = DEFAULT_FUSION,
                 store: IndexStore | None = None, loader: Callable[[Path], list] | None = None,
                 threads: ThreadCounts | None = None, words_file: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.store = store or IndexStore(self.data_dir / "index")
        self.embedder = embedder
        self.loader = loader  # Path -> list[Document]; None = the ingest package
        self.on_timing = on_timing
        self.fusion = fusion
        self.rerank = rerank_enabled(engine_cfg, profile)   # meaning between close candidates (rerank.py)
        self.cfg = engine_cfg
        self.profile = profile
        self.threads = threads or thread_counts(profile)
        self._lexical_only = False
        self.indexing = 0  # index runs under way in this process
        self._model_error: str | None = None
        self._lock = threading.RLock()
        self._snap: Snapshot | None = None
        self._snap_name: str | None = None
        self._snap_problem: str | None = None
        self._names: tuple[str | None, list[str]] | None = None
        self.words_file = words_file   # engine.words_file: the integrator's groups beside the bundled list
        self._words: synonyms.Groups | None = None

    # --- configuration ---------------------------------------------------------------
    def words(self) -> "synonyms.Groups":
        """The word groups questions are read with: the bundled list, and ``engine.words_file``
        when set (read once; an unusable file is logged and left out)."""
        if self._words is None:
            self._words = synonyms.groups(self.words_file)
        return self._words

    @property
    def top_k(self) -> int:
        k = int(getattr(self.cfg, "top_k", 0) or 0)
        return k if k > 0 else int(getattr(self.profile, "top_k", 5))

    @property
    def threshold(self) -> float:
        return self.threshold_source()[0]

    def threshold_source(self) -> tuple[float, str]:
        """(threshold, "config" | "calibration" | "default"): an explicit
        ``engine.abstain_threshold`` wins, then this index's calibration for the mode in use,
        then the fitted default."""
        t = float(getattr(self.cfg, "abstain_threshold", -1.0))
        if t >= 0:
            return t, "config"
        # Asked twice per answer: the generation ask() just opened, not another stat of CURRENT.
        snap = self._snap if self._snap is not None else self.snapshot()
        rec = snap.calibration if snap is not None else None
        if rec and rec.get("status") == "calibrated":
            lexical = (self.embedder is None or self._lexical_only or self._model_error
                       or self._snap_problem)
            m = (rec.get("modes") or {}).get("lexical" if lexical else "hybrid")
            if m:
                return float(m["threshold"]), "calibration"
        return ans.DEFAULT_THRESHOLD, "default"

    @property
    def max_chars(self) -> int:
        return int(getattr(self.cfg, "max_question_chars", 2000))

    def apply_profile(self, profile: Any, threads: ThreadCounts | None = None) -> None:
        """Live tier switch: top_k, threads (core.threads.thread_counts when None) and rerank follow it."""
        self.profile = profile
        self.rerank = rerank_enabled(self.cfg, profile)
        self.threads = threads or thread_counts(profile)
        if self.embedder is not None and hasattr(self.embedder, "set_threads"):
            self.embedder.set_threads(self.threads.question)
        if not getattr(profile, "embeddings", True):
            self.set_lexical_only(True)

    def set_lexical_only(self, on: bool) -> None:
        """Memory budget enforcement: stop using (and drop) the model, or allow it again."""
        with self._lock:
            self._lexical_only = bool(on)
            if on and self.embedder is not None and getattr(self.embedder, "loaded", False):
                self.embedder.unload()

    # --- index -----------------------------------------------------------------------
    def snapshot(self) -> Snapshot | None:
        with self._lock:
            name = self.store.current_name()
            if name != self._snap_name:
                if self._snap is not None:
                    self._snap.close()
                # the name is kept only once its generation opened: a damaged one fails every time
                self._snap, self._snap_name = None, None
                self._snap = self.store.open_current() if name is not None else None
                self._snap_name = self._snap.name if self._snap is not None else name
                self._check_model()
            return self._snap

    def _check_model(self) -> None:
        snap, self._snap_problem = self._snap, None
        if snap is None or self.embedder is None:
            return
        sha = getattr(self.embedder, "model_sha256", None)
        if not snap.has_vectors:
            self._snap_problem = "index has no embeddings; run `nic-edge index` with the model available"
        elif sha and snap.model_sha256 != sha:
            self._snap_problem = (f"index was embedded with model {str(snap.model_sha256)[:12]}, "
                                  f"loaded model is {sha[:12]}: answering lexically; re-run "
                                  "`nic-edge index` to re-embed")
            log.warning("%s", self._snap_problem)

    @property
    def mode(self) -> str:
        try:
            snap = self.snapshot()
        except IndexStoreError:  # damaged: asks say so; gauges and status must not die of it
            return "lexical"
        if (self.embedder is None or self._lexical_only or self._model_error
                or snap is None or self._snap_problem):
            return "lexical"
        return "hybrid"

    def _indexer(self) -> Indexer:
        return Indexer(self.store, lambda: None if self._lexical_only else self.embedder, self.loader, self._calibrate,
                       memory_budget=getattr(self.profile, "memory_budget_bytes", None), openings=self.rerank)

    def _calibrate(self, snap: Snapshot, pool: Any = None) -> dict:
        """Calibration of a generation that is not current yet: its questions go through this
        engine's own answer path (a twin engine pinned to ``snap``, threshold 0, no cache)."""
        asks = {}
        modes = ["hybrid", "lexical"] if snap.has_vectors and self.embedder is not None else ["lexical"]
        for mode in modes:
            twin = Engine(self.data_dir, self.profile, calib.ProbeConfig(self.cfg), self.embedder,
                          fusion=self.fusion, store=calib.PinnedStore(snap), loader=self.loader)
            twin._lexical_only = self._lexical_only or mode == "lexical"
            twin._model_error = self._model_error
            asks[mode] = twin.ask
        target = float(getattr(self.cfg, "target_abstain", 0.80))
        return calib.calibrate(snap, asks, target, ans.DEFAULT_THRESHOLD, pool, clock=self.store.fixed_clock)

    # Index changes hold the store's writer lock (one at a time, across processes), not the
    # answer lock: questions go on against the current generation while a new one is built
    # (minutes for a big manual on a Pi) and see the new one once CURRENT switches.
    @contextmanager
    def _changing(self) -> Iterator[None]:
        """The writer lock; the indexing thread count for embedding, the question count after it
        (the model reloads lazily; a question asked meanwhile shares it under its own lock); and
        ``indexing``, which a question asked while nothing is indexed yet reads."""
        emb = self.embedder
        switch = emb is not None and hasattr(emb, "set_threads") and self.threads.index != self.threads.question
        with self.store.writing():
            self.indexing += 1
            if switch:
                emb.set_threads(self.threads.index)
            try:
                yield
            finally:
                self.indexing -= 1
                if switch:
                    emb.set_threads(self.threads.question)

    def index_paths(self, paths: Iterable[Path | str], progress: Progress | None = None) -> IndexReport:
        with self._changing():
            return self._indexer().index_paths(paths, progress)

    def remove(self, sources: Iterable[str]) -> IndexReport:
        with self._changing():
            return self._indexer().remove(list(sources))

    def install(self, install: Callable[[IndexStore], str]) -> str:
        """Switch to a generation built elsewhere (a pushed content bundle) under the writer
        lock, so it never interleaves with a local index run."""
        with self.store.writing():
            return install(self.store)

    def manuals(self, records: bool = False) -> list[dict]:
        """One entry per indexed file (catalog.listing); ``records`` adds a BEIR file's records."""
        snap = self.snapshot()
        if snap is None:
            return []
        return listing(snap.file_info(), records)

    def calibration(self) -> dict:
        """This index's calibration for the mode in use, and the threshold actually used."""
        snap = self.snapshot()
        t, source = self.threshold_source()
        rec = snap.calibration if snap is not None else None
        out = calib.view(rec, self.mode)
        out.update({"threshold_in_use": t, "threshold_source": source,
                    "summary": calib.summary(rec, self.mode) if snap is not None else "no index"})
        return out

    def status(self) -> dict:
        snap = self.snapshot()
        emb = self.embedder
        model = {"available": emb is not None, "loaded": bool(getattr(emb, "loaded", False)),
                 "sha256": getattr(emb, "model_sha256", None) if emb is not None else None,
                 "load_seconds": getattr(emb, "load_seconds", None),
                 "error": self._model_error or (getattr(emb, "last_error", None) if emb else None)}
        index = {"generation": snap.name if snap else None, "chunks": snap.n if snap else 0,
                 "sources": snap.manifest.get("sources", 0) if snap else 0,
                 "vectors": bool(snap and snap.has_vectors),
                 "model_sha256": snap.model_sha256 if snap else None,
                 "built_at": snap.manifest.get("created_at") if snap else None,
                 "problem": self._snap_problem, "calibration": self.calibration()}
        return {"model": model, "index": index, "mode": self.mode, "lexical_only": self._lexical_only,
                "top_k": self.top_k, "threshold": self.threshold, "fusion": self.fusion,
                "rerank": self.rerank}

    @property
    def fingerprint(self) -> str:
        snap = self.snapshot()
        parts = [snap.name if snap else ("indexing" if self.indexing else "-"),
                 str(getattr(self.embedder, "model_sha256", None)),
                 str(self.top_k), f"{self.threshold:.4f}", self.mode, self.fusion + "+rerank" * self.rerank,
                 reader.VERSION, ans.VERSION, messages.VERSION, labels.VERSION, ANALYZER,
                 self.words().version if USE_SYNONYMS else "-"]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    # --- questions -------------------------------------------------------------------
    def _timing(self, stage: str, seconds: float) -> None:
        if self.on_timing is not None:
            self.on_timing(stage, seconds)

    def _query_vector(self, text: str) -> Any | None:
        """Embedding of the question, or None (lexical) when the model is unusable."""
        if self.mode != "hybrid":
            return None
        t0 = time.perf_counter()
        try:
            vec = self.embedder.embed(text)
        except (MissingDependencyError, ModelError) as exc:
            self._model_error = str(exc)
            log.warning("embedding model unavailable, answering lexically: %s", exc)
            return None
        self._timing("embed", time.perf_counter() - t0)
        return vec

    def _embed_for(self, hybrid: bool, snap: Snapshot) -> Any | None:  # the reader's close candidates
        return Openings(snap, self.embedder) if hybrid and self.rerank else None

    def _run(self, text: str, k: int) -> tuple[Snapshot | None, Retrieval | None, str]:
        snap = self.snapshot()
        if snap is None or snap.n == 0:
            return snap, None, "lexical" if self.mode == "lexical" else "hybrid"
        t0 = time.perf_counter()
        terms = analyze(text)
        swapped: frozenset[str] = frozenset()
        table = self.words().table if USE_SYNONYMS else None
        if table is not None:
            terms, swapped = synonyms.swap(terms, snap.bm25.vocab, snap.bm25.df, table,
                                           apart=synonyms.written_apart(snap.bm25, snap.text))
        self._timing("tokenize", time.perf_counter() - t0)
        qvec = self._query_vector(text)
        mode = "hybrid" if qvec is not None else "lexical"
        ret = retrieve(snap.bm25, terms, k, snap.vectors if qvec is not None else None, qvec,
                       fusion=self.fusion if qvec is not None else "bm25", timing=self._timing)
        ret.swapped = swapped
        ret.groups = table
        return snap, ret, mode

    def explain(self, question: str, k: int | None = None) -> dict:
        """Confidence features and ranked rows behind an answer (tools: fitting, debugging)."""
        text = validate_question(question, self.max_chars)
        snap, ret, mode = self._run(text, k or self.top_k)
        if snap is None or ret is None:
            return {"mode": mode, "features": None, "rows": [], "confidence": 0.0}
        quotes = reader.read(snap, ret, ans.content_terms(ret.terms), text, self._embed_for(mode == "hybrid", snap))
        f = ans.features(snap, ret, mode == "hybrid", quotes, text)
        return {"mode": mode, "features": f.vector(), "rows": [h.row for h in ret.hits],
                "sections": [snap.section(h.row) for h in ret.hits],
                "quoted_sections": [q.section_key[1] for q in quotes],
                "quoted_closest": bool(quotes) and quotes[0].closest,
                "quotes": [q.text for q in quotes],
                "confidence": ans.confidence(f, mode == "hybrid")}

    def retrieve(self, query: str, k: int) -> list[dict]:
        text = validate_question(query, self.max_chars)
        snap, ret, _ = self._run(text, max(1, int(k)))
        if snap is None or ret is None:
            return []
        return [{"chunk_id": snap.chunk_id(h.row), "source": snap.source(h.row), "label": snap.label(h.row),
                 "section": snap.section(h.row), "page": snap.page(h.row),
                 "score": round(float(h.score), 6)} for h in ret.hits]

    def ask(self, question: object, top_k: int | None = None, qid: str | None = None) -> dict:
        t0 = time.perf_counter()
        out: dict[str, Any] = {"id": qid or uuid.uuid4().hex[:12],
                               "question": question if isinstance(question, str) else repr(question)[:200],
                               "answer": None, "abstained": True, "reason": None, "message": None,
                               "confidence": 0.0, "quotes": [], "citations": [], "warnings": [], "cached": None,
                               "latency_ms": 0.0, "tier": str(getattr(self.profile, "name", "unknown")),
                               "mode": self.mode}
        try:
            text = validate_question(question, self.max_chars)
            if isinstance(question, (bytes, bytearray)):
                out["question"] = text
            if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool)
                                      or not 1 <= top_k <= MAX_TOP_K):
                raise InvalidInputError(f"top_k must be an integer 1-{MAX_TOP_K}", "omit top_k for the tier default")
        except InvalidInputError as exc:
            out["question"] = echo(out["question"])
            out["reason"] = "invalid_input"
            out["message"] = messages.invalid(exc.message)
            out["latency_ms"] = round((time.perf_counter() - t0) * 1000, 3)
            return out
        with self._lock:
            snap, ret, mode = self._run(text, top_k or self.top_k)
            out["mode"] = mode
            t1 = time.perf_counter()
            refers_back = False
            if snap is None or ret is None or not ret.hits:
                out["reason"] = "no_match"
            else:
                refers_back = self._fill(out, snap, ret, mode == "hybrid", text)
            if out["abstained"] and out["message"] is None:
                names = self._manual_names(snap)
                out["message"] = (messages.indexing() if self.indexing and not names
                                  else messages.not_named(names) if refers_back else messages.not_covered(names))
            self._timing("answer", time.perf_counter() - t1)
        out["latency_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        return out

    def _manual_names(self, snap: Snapshot | None) -> list[str]:  # once per generation (BEIR: large)
        name = snap.name if snap is not None else None
        if self._names is None or self._names[0] != name:
            self._names = (name, messages.manual_names(snap.file_info() if snap is not None else None))
        return self._names[1]

    def _fill(self, out: dict, snap: Snapshot, ret: Retrieval, hybrid: bool, question: str) -> bool:
        t0 = time.perf_counter()
        quotes = reader.read(snap, ret, ans.content_terms(ret.terms), question, self._embed_for(hybrid, snap))
        self._timing("read", time.perf_counter() - t0)
        f = ans.features(snap, ret, hybrid, quotes, question)
        conf = ans.confidence(f, hybrid)
        out["confidence"] = round(conf, 4)
        if f.cov_index == 0.0 and (not hybrid or f.cos_top < 0.2):
            out["reason"] = "no_match"  # not one question word is in the manuals
            return f.refers_back > 0
        if conf < self.threshold or not quotes:
            out["reason"] = "low_confidence"
            if not f.refers_back and f.cov_index >= POINT_COVERAGE and conf >= POINT_SHARE * self.threshold:
                heads = list(dict.fromkeys(h for h in ([q.section_key[1] for q in quotes]
                                                      + [snap.section(x.row) for x in ret.hits]) if h))
                if heads:
                    out["message"] = messages.unclear(self._manual_names(snap), heads[:POINT_SECTIONS],
                                                      keywords=len(question.split()) <= 2)
            return f.refers_back > 0
        narrow = row_narrower(self.embedder.embed_many, ret.qvec, self._timing) \
            if hybrid and ret.qvec is not None and NARROW_ROWS else None
        ans.answered(out, snap, ret, quotes, narrow)
        return f.refers_back > 0
