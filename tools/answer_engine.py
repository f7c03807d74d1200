"""Engine-side helpers of tools/eval_answers.py: cached real engines, the verbatim-quote check,
and the two BM25 baselines (whole top section; best 1-3 sentence window of the top 3 sections).

Indexes are cached under ``$NIC_EDGE_ANSWER_CACHE`` (default /tmp/nic_edge_answer_cache), one
data dir per (corpus bytes, model sha256, engine code) key, so a changed manual, model or engine
(chunking, index format, reader) is re-indexed and an unchanged one is reopened in a second.
Chunk vectors are also cached by text (tools/evaluate.py CachedEmbedder).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from evaluate import build_engine
from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.bm25 import analyze, top_k
from nic_edge.engine.engine import Engine
from nic_edge.engine.sections import SectionText, normalize_ws, section_text
from nic_edge.engine.store import Snapshot

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("NIC_EDGE_ANSWER_CACHE", "/tmp/nic_edge_answer_cache"))
WHOLE = 1 << 20   # section_text limit meaning "the whole section"
TIER = "standard"
_UNIT_SPLIT = re.compile(r"(?<=[.!?:;])\s+(?=\S)|\n\s*(?=[A-Z0-9(\[\-*\u2022\u26a0])")


def code_version() -> str:
    """Hash of the engine's sources: any change to ingest, index or answer code re-indexes."""
    h = hashlib.sha256()
    for p in sorted((ROOT / "nic_edge" / "engine").rglob("*.py")):
        h.update(p.relative_to(ROOT).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cpu_info() -> str:
    model, flags = "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware") and model == "?":
                model = val.strip()
            elif key in ("flags", "features"):
                flags |= set(val.split())
    except OSError:
        pass
    int8 = [f for f in ("avx512_vnni", "avx_vnni", "asimddp") if f in flags] or ["none"]
    return f"{model}; {os.cpu_count()} CPUs; int8 dot-product: {', '.join(int8)}"


def open_engine(paths: list[Path], embedder: Any | None, cache: bool = True) -> Engine:
    """A real engine over ``paths`` with the tier's defaults, indexed once per cache key."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    sha = getattr(embedder, "model_sha256", None) or "lexical"
    key = f"{h.hexdigest()[:16]}-{sha[:12]}-{code_version()}"
    data_dir = CACHE / key
    done = data_dir / "complete"
    prof = load_profiles()[TIER]
    if cache and done.is_file():
        print(f"index: reusing {data_dir}", file=sys.stderr)
        return Engine(data_dir, prof, EngineConfig(), embedder)
    # Built aside and renamed into place: two runs at once (the lead's and a helper's) never
    # see or delete each other's half-built index.
    tmp = CACHE / f"{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    eng = build_engine(tmp, list(paths), tier=TIER, embedder=embedder)
    (tmp / "complete").write_text(key)
    eng.snapshot().close()
    shutil.rmtree(data_dir, ignore_errors=True)
    try:
        os.rename(tmp, data_dir)
    except OSError:  # another run put its copy in place first: use that one
        shutil.rmtree(tmp, ignore_errors=True)
    return Engine(data_dir, prof, EngineConfig(), embedder)


def force_threshold(eng: Engine, threshold: float) -> float:
    """Make ``eng`` answer at ``threshold``; returns the threshold it had (the shipped one)."""
    before = eng.threshold
    eng.cfg = dataclasses.replace(eng.cfg, abstain_threshold=threshold)
    return before


def row_index(snap: Snapshot) -> dict[str, int]:
    return {snap.chunk_id(i): i for i in range(snap.n)}


def verbatim_violations(snap: Snapshot, answer: dict, rows: dict[str, int] | None = None) -> list[dict]:
    """Quotes of ``answer`` not found verbatim (after whitespace normalisation) in the section
    of the chunk they cite. An answer without ``quotes`` (older engine) is checked line by line
    against all of its cited sections."""
    rows = rows if rows is not None else row_index(snap)
    cits = answer.get("citations") or []
    if answer.get("abstained") or not answer.get("answer"):
        return []
    quotes = answer.get("quotes")
    if quotes is None:
        quotes = [{"text": ln, "citation": None} for ln in answer["answer"].split("\n") if ln.strip()]
    cache: dict[int, str] = {}

    def section_of(ci: int) -> str | None:
        if not 0 <= ci < len(cits) or cits[ci].get("chunk_id") not in rows:
            return None
        if ci not in cache:
            cache[ci] = normalize_ws(section_text(snap, rows[cits[ci]["chunk_id"]], WHOLE).text)
        return cache[ci]

    bad = []
    for q in quotes:
        text = normalize_ws(q.get("text") or "")
        ci = q.get("citation")
        targets = [ci] if isinstance(ci, int) else list(range(len(cits)))
        secs = [s for s in (section_of(c) for c in targets) if s is not None]
        if not text or not any(text in s for s in secs):
            bad.append({"id": answer.get("id"), "quote": q.get("text"), "citation": ci,
                        "why": "citation not found" if not secs else "not verbatim in the cited section"})
    return bad


def bm25_sections(snap: Snapshot, question: str, n: int = 3) -> list[SectionText]:
    """The sections of the top BM25 chunks, best first, each once."""
    terms = analyze(question)
    if not terms:
        return []
    scores = snap.bm25.scores(terms)
    out: list[SectionText] = []
    seen: set[tuple[int, ...]] = set()
    for r in top_k(scores, 10 * n):
        if scores[int(r)] <= 0:
            break
        st = section_text(snap, int(r), WHOLE)
        if st.rows not in seen:
            seen.add(st.rows)
            out.append(st)
            if len(out) == n:
                break
    return out


def units(text: str) -> list[str]:
    """Sentences, and lines that open an item (steps, bullets, table rows), of a section."""
    return [u.strip() for u in _UNIT_SPLIT.split(text) if u and u.strip()]


def baseline_whole_section(snap: Snapshot, question: str) -> tuple[str, int | None]:
    secs = bm25_sections(snap, question, 1)
    return (secs[0].text, secs[0].rows[0]) if secs else ("", None)


def baseline_best_window(snap: Snapshot, question: str, max_units: int = 3) -> tuple[str, int | None]:
    """The 1-3 consecutive sentences of the top 3 BM25 sections that cover most of the
    question's content words (IDF-weighted); ties go to the shorter window, then the better
    section. Chosen by the question only, never by the gold."""
    terms = list(dict.fromkeys(analyze(question)))
    idf = {t: snap.bm25.term_idf(t) for t in terms}
    total = sum(idf.values()) or 1.0
    best: tuple[float, int, int] | None = None
    pick = ("", None)
    for rank, st in enumerate(bm25_sections(snap, question, 3)):
        us = units(st.text)
        sets = [set(analyze(u)) for u in us]
        for i in range(len(us)):
            for k in range(1, max_units + 1):
                if i + k > len(us):
                    break
                have = set().union(*sets[i:i + k])
                cov = sum(w for t, w in idf.items() if t in have) / total
                text = " ".join(us[i:i + k])
                key = (round(cov, 9), -len(text), -rank)
                if best is None or key > best:
                    best, pick = key, (text, st.rows[0])
    return pick
