"""Build a signed content bundle: index manuals with the real engine and model, once, on the
fleet box, so boxes download embeddings instead of computing them (hours on a Pi Zero 2 W).

Same inputs and key give a byte-identical bundle: inputs are sorted, the index store gets a fixed
clock (``created_at`` = ``SOURCE_DATE_EPOCH`` when set, else the newest input file's mtime), the
fleet box's own paths are replaced by ``bundle:<file name>`` in the generation's file records,
and the bundle writer (``core.bundle``) fixes everything else. Whatever files the engine writes
into the generation (calibration included) travel in the bundle.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from nic_edge.core import bundle as bundle_file
from nic_edge.core.storage import file_sha256
from nic_edge.engine.indexer import Progress, expand
from nic_edge.engine.store import FORMAT, IndexStore
from nic_edge.errors import NicEdgeError

log = logging.getLogger(__name__)

FILE_PREFIX = "bundle:"


def created_at(files: list[Path], env: dict[str, str] | None = None) -> int:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org) when set, else the newest input mtime."""
    env = os.environ if env is None else env
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError as exc:
            raise NicEdgeError(f"SOURCE_DATE_EPOCH={raw!r} is not an integer",
                               hint="seconds since 1970, e.g. $(git log -1 --format=%ct)") from exc
    return max(int(f.stat().st_mtime) for f in files)


def _relabel_files(gen_dir: Path) -> None:
    """Fleet-box paths mean nothing on a device (and differ between build machines): name each
    indexed file ``bundle:<file name>`` wherever the generation records it (the catalog in
    sources.json, each row's file in strings.json)."""
    src_path, str_path = gen_dir / "sources.json", gen_dir / "strings.json"
    info, strings = json.loads(src_path.read_text("utf-8")), json.loads(str_path.read_text("utf-8"))
    files = info.get("files")
    if not isinstance(files, dict):
        return
    names = {key: FILE_PREFIX + Path(key).name for key in files}
    if len(set(names.values())) != len(names):
        raise NicEdgeError("two manuals share a file name", hint="rename one: a bundle names files by name")
    info["files"] = {names[k]: v for k, v in files.items()}
    if isinstance(strings.get("files"), list):
        strings["files"] = [names.get(k, k) for k in strings["files"]]
    src_path.write_text(json.dumps(info), "utf-8")
    str_path.write_text(json.dumps(strings), "utf-8")


def build(manuals: list[Path], private_key: Any, out: Path, embedder: Any, *,
          version: int | None = None, env: dict[str, str] | None = None,
          loader: Any = None, progress: Progress | None = None, tier: str = "lite",
          trusted_keys: list[bytes] | None = None,
          device_keys: dict[str, str] | None = None) -> dict[str, Any]:
    """Index ``manuals`` into a temporary store with ``embedder``; write the signed bundle.

    ``trusted_keys`` (PEM public keys; default: the signing key's own) are what a box trusts
    after applying the bundle: a key rotation lists the old and the new key (fleet/rotation.py).
    ``device_keys`` ({device: wrapped next HMAC key}) travel during a fleet HMAC key rotation.
    The index is built and calibrated by an ``Engine`` with ``tier``'s profile, as a box would.
    """
    from nic_edge.core.config import EngineConfig
    from nic_edge.core.tiers import load_profiles
    from nic_edge.engine.engine import Engine

    from nic_edge.core import ed25519

    pems = trusted_keys if trusted_keys is not None else [ed25519.public_pem(private_key)]
    files = sorted(expand(manuals), key=lambda p: (p.name, str(p.resolve())))
    if not files:
        raise NicEdgeError("no manuals given", hint="name .txt/.md/.mdx/.rst/.adoc/.html/.pdf/.docx/.odt/.jsonl files or folders")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise NicEdgeError(f"not a file: {missing[0]}", hint="check the path")
    when = created_at(files, env)
    with tempfile.TemporaryDirectory(prefix="nic-content-") as tmp:
        store = IndexStore(Path(tmp) / "index", clock=lambda: float(when))
        engine = Engine(Path(tmp), load_profiles()[tier], EngineConfig(), embedder, store=store, loader=loader)
        report = engine.index_paths(files, progress)
        if report.skipped:
            path, why = report.skipped[0]
            raise NicEdgeError(f"{len(report.skipped)} manual(s) could not be indexed, first {path}: {why}",
                               hint="a bundle replaces the box's manual set: fix or drop the file")
        snap = store.open_current()
        if snap is None or not snap.has_vectors:
            raise NicEdgeError("the index has no embeddings (model unavailable)",
                               hint="content bundles carry embeddings: install the model runtime on the fleet box")
        files_info = snap.file_info()
        gen_dir, model_sha, chunks = snap.path, snap.model_sha256, snap.n
        snap.close()
        sources = [{"source": f.get("source"), "file": Path(key).name, "sha256": f.get("sha256"),
                    "chunks": f.get("chunks")}
                   for key, f in sorted(files_info.items(), key=lambda kv: (Path(kv[0]).name, kv[0]))]
        file_shas = {f.name: file_sha256(f) for f in files}
        _relabel_files(gen_dir)
        calibration = (report.calibration or {}).get("status")
        manifest = {"version": int(version if version is not None else when), "created_at": when,
                    "calibration": calibration, "calibrated_for_tier": tier,
                    "model_sha256": model_sha, "index_format": FORMAT, "chunks": chunks,
                    "sources": sources, "inputs": [{"file": n, "sha256": s} for n, s in sorted(file_shas.items())],
                    "trusted_keys": [pem.decode("ascii") for pem in pems]}
        if device_keys:
            manifest["device_keys"] = dict(sorted(device_keys.items()))
        out.parent.mkdir(parents=True, exist_ok=True)
        final = bundle_file.write_bundle(out, gen_dir, manifest, private_key)
    log.info("content bundle %s: version %d, %d chunks, %d bytes of index", out, final["version"],
             chunks, final["total_bytes"])
    return final
