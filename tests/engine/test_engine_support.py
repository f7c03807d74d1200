"""Fakes shared by the engine tests: a tiny document loader and a hashing embedder.

The loader stands in for the ingest package (tested on its own) so these tests pin the index,
retrieval and answer behaviour on inputs they fully control. The embedder is a deterministic
feature-hashing bag of words: similar texts get similar vectors, like a real model, at no cost.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from nic_edge.engine.bm25 import analyze
from nic_edge.engine.document import Chunk, Document
from nic_edge.errors import IngestError, ModelError

HEADING = re.compile(r"^(Para \d+-\d+:.*|SECTION \d+:.*)$")


def fake_load(path: Path) -> list[Document]:
    """Text: paragraphs separated by blank lines, ``Para x-y:`` lines open sections. JSONL: BEIR."""
    path = Path(path)
    raw = path.read_bytes()
    if b"\x00" in raw or not raw.strip():
        raise IngestError(f"{path.name}: binary or empty file", "give a text manual")
    sha = hashlib.sha256(raw).hexdigest()
    if path.suffix == ".jsonl":
        docs: dict[str, Document] = {}
        for line in raw.decode().splitlines():
            r = json.loads(line)
            c = Chunk(f"{r['_id']}#0", r["_id"], r.get("title") or None, None, r["text"], 0)
            dup = 1 if r["_id"] in docs else 0
            docs.pop(r["_id"], None)
            docs[r["_id"]] = Document(r["_id"], [c], sha, "beir", duplicates_replaced=dup)
        return list(docs.values())
    chunks: list[Chunk] = []
    section = None
    for para in re.split(r"\n\s*\n", raw.decode()):
        para = para.strip()
        if not para:
            continue
        first = para.splitlines()[0]
        if HEADING.match(first):
            section = first
        chunks.append(Chunk(Chunk.make_id(path.name, len(chunks)), path.name, section, 1, para, len(chunks)))
    return [Document(path.name, chunks, sha, "text")]


class HashEmbedder:
    """Feature-hashed bag of stemmed words, L2-normalised (interface of engine.embedder.Embedder)."""

    dim = 64

    def __init__(self, sha: str = "fake-model-1", fail: bool = False) -> None:
        self.model_sha256 = sha
        self.fail = fail
        self.loaded = False
        self.load_seconds = None
        self.last_error = None
        self.loads = 0
        self.calls = 0

    def _load(self) -> None:
        if self.fail:
            self.last_error = "runtime missing"
            raise ModelError("cannot load the fake model", "it is configured to fail")
        if not self.loaded:
            self.loaded = True
            self.loads += 1

    def embed(self, text: str) -> np.ndarray:
        self._load()
        self.calls += 1
        v = np.zeros(self.dim, dtype=np.float32)
        for t in analyze(text):
            h = int.from_bytes(hashlib.md5(t.encode()).digest()[:4], "little")
            v[h % self.dim] += 1.0 if h & (1 << 31) else -1.0
        n = float(np.linalg.norm(v))
        if n == 0:
            v[0] = 1.0
            n = 1.0
        return v / n

    def embed_many(self, texts, progress=None) -> np.ndarray:
        return np.stack([self.embed(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def unload(self) -> None:
        self.loaded = False

    def set_threads(self, n: int) -> None:
        pass


MANUAL = """SECTION 1: ENGINE STARTING SYSTEM

Para 1-1: Engine Cranks But Won't Start
Check the fuel level first. Test fuel pressure at the rail: it should read 40-50 PSI. Check for spark at the plugs.

WARNING: Fuel system under pressure. Wear eye protection.

Para 1-2: Battery Charging
A healthy battery reads 12.6 volts at rest. With the engine running the alternator charges at 13.5-14.5 volts.

SECTION 2: WHEELS

Para 2-1: Lug Nut Torque
Tighten lug nuts to 85-95 ft-lbs in a star pattern. Re-check the torque after 50 miles.

Para 2-2: Tire Rotation
Rotate the tires every 5,000 miles. Move the front tires straight back and cross the rear tires to the front.

CAUTION: Never work under a vehicle supported only by a jack.
"""


def write_manual(dir_: Path, name: str = "manual.txt", text: str = MANUAL) -> Path:
    p = Path(dir_) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p
