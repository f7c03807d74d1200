"""Sentence embeddings from the bundled int8 TFLite all-MiniLM-L6-v2 (384-d, L2-normalised).

The model loads lazily on first use, once, behind a lock; the TFLite interpreter is not
thread-safe, so every invoke holds the same lock. Runtime: ``NIC_EDGE_TFLITE`` (or the
``runtime`` argument) forces ``ai_edge_litert`` or ``tflite_runtime``; otherwise the faster
one measured on our targets (ai_edge_litert, see docs/benchmarks/embedder.md) is tried first.
Both runtimes load the same model file, so an index embedded under one stays valid under the
other (the index binds to the manifest's model sha256); their int8 kernels round differently
(same sentence, litert vs tflite-runtime: cosine mean 0.9997, min 0.995), well inside what
retrieval tolerates, so switching runtime does not force re-embedding.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nic_edge.errors import MissingDependencyError, ModelError
from nic_edge.engine.tokenizer import WordPieceTokenizer
from nic_edge.core.storage import file_sha256
from nic_edge.core.native_log import native_stderr_to_log
from nic_edge.core.resources import models_dir

log = logging.getLogger(__name__)

ENV_RUNTIME = "NIC_EDGE_TFLITE"
# Preference order when nothing is forced: ai_edge_litert measured 3-9x faster than
# tflite-runtime 2.14 on this model (its XNNPACK takes the dynamic-shape graph) and works
# with numpy 2; tflite-runtime stays as the fallback for old images that already have it.
RUNTIMES: dict[str, tuple[str, str]] = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite_runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
}
DIM = 384

TimingHook = Callable[[str, float], None]
ProgressHook = Callable[[int, int], None]


def default_model_dir() -> Path:
    """The model directory shipped inside the package (``nic_edge.models``)."""
    return models_dir()


def _import_interpreter(name: str) -> type:
    if name not in RUNTIMES:
        raise MissingDependencyError(
            f"unknown TFLite runtime {name!r}", hint=f"set {ENV_RUNTIME} to one of {', '.join(RUNTIMES)}")
    module, pip_name = RUNTIMES[name]
    try:
        return importlib.import_module(module).Interpreter
    except ImportError as exc:
        raise MissingDependencyError(
            f"TFLite runtime {name} is not installed ({exc})", hint=f"pip install {pip_name}") from exc


def resolve_runtime(forced: str | None = None) -> tuple[str, type]:
    """(name, Interpreter class) of the runtime to use; forced > NIC_EDGE_TFLITE > preference."""
    forced = forced or os.environ.get(ENV_RUNTIME) or None
    if forced:
        return forced, _import_interpreter(forced)
    errors = []
    for name in RUNTIMES:
        try:
            return name, _import_interpreter(name)
        except MissingDependencyError as exc:
            errors.append(exc.message)
    raise MissingDependencyError(
        "no TFLite runtime installed: " + "; ".join(errors),
        hint="pip install ai-edge-litert (or tflite-runtime on Python 3.11 with numpy<2)")


def quantize_int8(vecs: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric per-array int8 quantisation of unit vectors: (int8 array, scale)."""
    vecs = np.asarray(vecs, dtype=np.float32)
    peak = float(np.abs(vecs).max()) if vecs.size else 0.0
    scale = peak / 127.0 if peak > 0 else 1.0
    return np.clip(np.rint(vecs / scale), -127, 127).astype(np.int8), scale


class Embedder:
    """Lazy, thread-safe int8 TFLite sentence embedder (see module doc)."""

    def __init__(self, model_dir: Path | None = None, threads: int = 1, runtime: str | None = None,
                 batch_size: int = 1, on_timing: TimingHook | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.threads = max(1, int(threads))
        self.batch_size = max(1, int(batch_size))
        self.on_timing = on_timing
        self._forced_runtime = runtime
        self._lock = threading.Lock()
        self._interp: Any = None
        self._shape: tuple[int, int] | None = None
        self._one_row = False
        self._manifest: dict[str, Any] | None = None
        self._tokenizer: WordPieceTokenizer | None = None
        self.runtime_name: str | None = None
        self.load_seconds: float | None = None
        self.last_error: str | None = None

    # --- bundled files ---------------------------------------------------------------
    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            path = self.model_dir / "manifest.json"
            try:
                self._manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot read model manifest {path}: {exc}",
                                 hint="reinstall nic-edge; the model directory is incomplete") from exc
        return self._manifest

    @property
    def model_sha256(self) -> str:
        """sha256 of the model file as recorded in the manifest (checked at load)."""
        return str(self.manifest["sha256"])

    @property
    def max_length(self) -> int:
        return int(self.manifest.get("max_length", 256))

    @property
    def dim(self) -> int:
        return int(self.manifest.get("dim", DIM))

    @property
    def tokenizer(self) -> WordPieceTokenizer:
        if self._tokenizer is None:
            vocab = self.model_dir / self.manifest.get("vocab", "vocab.txt")
            try:
                self._tokenizer = WordPieceTokenizer.from_file(vocab, max_length=self.max_length)
            except (OSError, KeyError) as exc:
                raise ModelError(f"cannot read vocabulary {vocab}: {exc}", hint="reinstall nic-edge") from exc
        return self._tokenizer

    def tokenize_count(self, text: str) -> int:
        """Tokens the model would see for ``text`` before truncation, incl. [CLS]/[SEP]."""
        return self.tokenizer.count(text)

    # --- lifecycle -------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._interp is not None

    def load(self) -> None:
        """Load the model now (otherwise the first embed does)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._interp is not None:
            return
        t0 = time.perf_counter()
        try:
            name, interpreter_cls = resolve_runtime(self._forced_runtime)
            path = self.model_dir / self.manifest["file"]
            actual = file_sha256(path) if path.is_file() else None
            if actual is None:
                raise ModelError(f"model file {path} is missing", hint="reinstall nic-edge")
            if actual != self.model_sha256:
                raise ModelError(f"model file {path} sha256 {actual[:12]}... does not match the manifest "
                                 f"({self.model_sha256[:12]}...)", hint="the model is corrupt; reinstall nic-edge")
            _ = self.tokenizer
            try:
                with native_stderr_to_log():  # the runtime's own INFO lines: only with -v
                    interp = interpreter_cls(model_path=str(path), num_threads=self.threads)
                    interp.allocate_tensors()  # the XNNPACK delegate is created (and announced) here
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"{name} cannot load {path.name}: {exc}",
                                 hint=f"use the other runtime ({ENV_RUNTIME}) or upgrade {name}") from exc
            inputs = interp.get_input_details()
            self._ids_idx = next(d["index"] for d in inputs if "input_ids" in d["name"])
            self._mask_idx = next(d["index"] for d in inputs if "attention_mask" in d["name"])
            self._out_idx = interp.get_output_details()[0]["index"]
            # The shipped model has a fixed batch of 1 (static reshapes keep the whole encoder in
            # one XNNPACK partition); older exports take any batch.
            sig = next(d for d in inputs if d["index"] == self._ids_idx).get("shape_signature")
            self._one_row = sig is not None and len(sig) == 2 and int(sig[0]) == 1
        except (MissingDependencyError, ModelError) as exc:
            self.last_error = str(exc)
            log.error("embedding model not loaded: %s", exc)
            raise
        self._interp, self._shape, self.runtime_name = interp, None, name
        self.load_seconds = time.perf_counter() - t0
        self.last_error = None
        log.info("embedding model loaded with %s (%d threads) in %.2fs", name, self.threads, self.load_seconds)

    def unload(self) -> None:
        """Drop the interpreter (frees its memory); the next embed loads it again."""
        with self._lock:
            self._interp = None
            self._shape = None

    def set_threads(self, threads: int) -> None:
        """Change the thread count; the model reloads lazily if it was loaded."""
        threads = max(1, int(threads))
        with self._lock:
            if threads != self.threads:
                self.threads = threads
                self._interp = None
                self._shape = None

    # --- inference -------------------------------------------------------------------
    def _timing(self, stage: str, seconds: float) -> None:
        if self.on_timing is not None:
            self.on_timing(stage, seconds)

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        t0 = time.perf_counter()
        tok = self.tokenizer
        out = [tok.encode(t) for t in texts]
        self._timing("tokenize", time.perf_counter() - t0)
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Invoke on one [batch, length] block; caller holds the lock and has loaded the model."""
        interp = self._interp
        if self._shape != ids.shape:
            # Resizing re-plans the graph; embed_many sorts by length so it happens rarely.
            interp.resize_tensor_input(self._ids_idx, list(ids.shape))
            interp.resize_tensor_input(self._mask_idx, list(ids.shape))
            interp.allocate_tensors()
            self._shape = ids.shape
        interp.set_tensor(self._ids_idx, ids)
        interp.set_tensor(self._mask_idx, mask)
        interp.invoke()
        return np.array(interp.get_tensor(self._out_idx), dtype=np.float32)

    def embed_ids(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """Embeddings for already-tokenised inputs (rows may differ in length).

        With a batch-1 model each row runs alone at its own length (the same result as padding
        with attention mask 0, without the wasted work); otherwise rows are padded to the longest."""
        t0 = time.perf_counter()
        with self._lock:
            self._load_locked()
            if self._one_row:
                out = np.concatenate([self._run(*self._block([seq])) for seq in batch])
            else:
                out = self._run(*self._block(batch))
        self._timing("embed", time.perf_counter() - t0)
        return out

    @staticmethod
    def _block(batch: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """[rows, longest] int32 ids and attention mask, padded with 0."""
        length = max(len(x) for x in batch)
        ids = np.zeros((len(batch), length), dtype=np.int32)
        mask = np.zeros((len(batch), length), dtype=np.int32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return ids, mask

    def embed(self, text: str) -> np.ndarray:
        """float32 (384,) unit vector for ``text`` (truncated to max_length tokens)."""
        return self.embed_ids(self._encode([text]))[0]

    def embed_many(self, texts: Sequence[str], progress: ProgressHook | None = None) -> np.ndarray:
        """float32 (n, 384) unit vectors. Runs in token-length order so the interpreter is
        resized only when the length changes; ``batch_size`` > 1 groups similar lengths (one
        invoke per group only for models with a dynamic batch, see embed_ids)."""
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        encoded = self._encode(texts)
        order = sorted(range(n), key=lambda i: len(encoded[i]))
        done = 0
        step = self.batch_size
        for start in range(0, n, step):
            rows = order[start: start + step]
            out[rows] = self.embed_ids([encoded[i] for i in rows])
            done += len(rows)
            if progress is not None:
                progress(done, n)
        return out
