"""Paragraph openings stored with the index (format 5, engine/openings.py): a box that reranks
(engine/rerank.py) looks up its close candidates' vectors instead of embedding them at answer
time; what the index lacks is still embedded, so the answer never depends on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine import rerank
from nic_edge.engine.engine import Engine
from nic_edge.engine.reader import SECTION_ROWS
from nic_edge.engine.sections import section_text
from nic_edge.engine.snapshot import opening_key
from nic_edge.engine.store import IndexStore
from tests.engine.test_engine_support import HashEmbedder, fake_load, write_manual
from tests.engine.test_rerank import PRINTER_MANUAL, QUESTION
from tests.support.engines import answered, model_engine

OPEN_FILES = {"open_key.npy", "open_emb.npy", "open_emb_scale.npy"}


def _engine(data: Path, tier: str, embedder: HashEmbedder) -> Engine:
    return Engine(data, load_profiles()[tier], EngineConfig(abstain_threshold=0.0), embedder,
                  store=IndexStore(data / "index"), loader=fake_load)


def _gen(eng: Engine) -> Path:
    return eng.store.root / eng.store.current_name()


def _reader_openings(snap) -> set[str]:
    """Every opening an answer can ask for: each paragraph of each section as the reader reads
    it around each of its rows."""
    out = set()
    for r in range(snap.n):
        text = section_text(snap, r, SECTION_ROWS).text
        out |= {rerank.opening(text, a) for a in rerank.paragraph_starts(text)}
    return out - {""}


def test_opening_is_the_paragraph_a_window_starts_in() -> None:
    text = "Intro line one.\nstill intro.\n\n  Second para starts here. More of it.\n\nThird."
    starts = rerank.paragraph_starts(text)
    assert [text[a:a + 6] for a in starts] == ["Intro ", "Second", "Third."]
    mid = text.index("More of it")
    # read on to the section's end, whitespace normalised (a line break is a space)
    assert rerank.window_opening(text, mid) == "Second para starts here. More of it. Third."
    assert rerank.window_opening(text, 0) == "Intro line one. still intro. Second para starts here. More of it. Third."
    long = " ".join(f"w{i}" for i in range(300))
    assert rerank.opening(long, 0).split() == [f"w{i}" for i in range(rerank.WORDS)]
    assert opening_key("abc") == opening_key("abc") != opening_key("abd")
    assert 0 <= opening_key("abc") < 2 ** 64


def test_a_box_that_reranks_stores_every_opening_an_answer_can_ask_for(tmp_path: Path) -> None:
    """Format 5's files are there on standard, with one vector per distinct opening, and every
    opening the reader can form from any row's section window is among them (a long section is
    read as windows of SECTION_ROWS rows: their first paragraphs are openings too)."""
    long = "\n\n".join(f"Para 9-{i}: Step {i}\nDo part {i} of the long job with tool {i}." for i in range(40))
    manual = write_manual(tmp_path)
    manual.write_text(manual.read_text() + "\n\nSECTION 9: LONG JOB\n\n" + long + "\n")
    emb = HashEmbedder()
    eng = _engine(tmp_path / "data", "standard", emb)
    assert eng.rerank
    eng.index_paths([manual])
    snap = eng.snapshot()
    gen = _gen(eng)
    assert OPEN_FILES <= {p.name for p in gen.iterdir()}
    wanted = _reader_openings(snap)
    assert snap.openings == len(wanted) == json.loads((gen / "manifest.json").read_text())["openings"]
    for t in wanted:
        v = snap.opening_vector(t)
        assert v is not None and float(np.dot(v, emb.embed(t))) > 0.99, t
    assert snap.opening_vector("no such paragraph") is None


def test_openings_are_kept_across_generations_and_filled_in_for_a_box_that_starts_reranking(tmp_path: Path) -> None:
    """An index built without openings (ultra_lite) has none; the same data dir on a box that
    reranks fills them in at its next index run, though no manual changed. Adding a manual
    then embeds only the new manual's openings."""
    manual = write_manual(tmp_path)
    data = tmp_path / "data"
    emb = HashEmbedder()
    lite = _engine(data, "ultra_lite", emb)
    assert not lite.rerank
    lite.index_paths([manual])
    assert lite.snapshot().openings == 0 and not OPEN_FILES & {p.name for p in _gen(lite).iterdir()}

    std = _engine(data, "standard", emb)
    before = std.store.current_name()
    std.index_paths([manual])
    assert std.store.current_name() != before
    n = std.snapshot().openings
    assert n == len(_reader_openings(std.snapshot())) > 0

    other = tmp_path / "other.txt"
    other.write_text("SECTION 1: HOSES\n\nPara 1-1: Hose Clamps\nTighten hose clamps a quarter turn past snug.\n")
    old = _reader_openings(std.snapshot())
    batches: list[list[str]] = []
    real = emb.embed_many
    emb.embed_many = lambda texts, progress=None: batches.append(list(texts)) or real(texts)
    std.index_paths([other])
    snap = std.snapshot()
    new = _reader_openings(snap) - old
    assert snap.openings == n + len(new) and new and all("HOSES" in t or "Hose" in t for t in new)
    embedded = {t for b in batches for t in b}
    assert new <= embedded and not old & embedded   # the old manual's openings were kept, not embedded


def test_an_answer_looks_its_candidates_up_instead_of_embedding_them(tmp_path: Path) -> None:
    """The real model on two printer-manual sections: with the openings stored, the answer
    that meaning decides (tests/engine/test_rerank.py) embeds the question only, and is the
    same answer; without them (an index from before, or a cut paragraph) the openings are
    embedded, as before."""
    eng = model_engine(tmp_path, "printer.md", PRINTER_MANUAL)
    assert eng.snapshot().openings > 0
    model = eng.embedder
    seen: list[str] = []
    real = model.embed

    def counting(text: str) -> np.ndarray:
        seen.append(text)
        return real(text)

    model.embed = counting
    out = answered(eng, QUESTION)
    assert out["citations"][out["quotes"][0]["citation"]]["section"] == "Paper Guide Cleaning"
    assert seen == [QUESTION], seen

    seen.clear()
    eng.snapshot().manifest["openings"] = 0   # as an index without them reads
    eng.ask(QUESTION + " please")
    # the question, then the openings of the candidate windows (at most rerank.EMBEDDED)
    assert seen[0] == QUESTION + " please" and 2 <= len(seen) - 1 <= rerank.EMBEDDED, seen
    assert set(seen[1:]) <= _reader_openings(eng.snapshot())


class _NoOpenings:
    """A snapshot that holds no openings (an index built before format 5, or without rerank)."""

    def opening_vector(self, text: str) -> None:
        return None


def test_an_index_without_openings_costs_at_most_three_embeddings_per_answer() -> None:
    """Openings the index lacks are embedded, at most ``rerank.EMBEDDED`` per answer (what
    reader-30 cost); a candidate past that keeps its words' score and is not read for meaning."""
    emb = HashEmbedder()
    look = rerank.Openings(_NoOpenings(), emb)
    got = [look(f"opening number {i}") for i in range(5)]
    assert [g is not None for g in got] == [True] * rerank.EMBEDDED + [False] * (5 - rerank.EMBEDDED)
    assert emb.calls == rerank.EMBEDDED == 3

    from nic_edge.engine.quote import Quote
    cands = [Quote(0, f"window {w}", 1.0 - 0.01 * i, ("m", w, i), 1.0, 0.5, i, opening=f"{w} text")
             for i, w in enumerate(["pump", "filter", "hose", "valve", "drain"])]
    qvec = emb.embed("drain text")
    read = rerank.rerank(cands, qvec, rerank.Openings(_NoOpenings(), emb))
    assert read == 3 and {c.section_key[1] for c in cands if c.meaning is not None} == {"pump", "filter", "hose"}
    assert [c.section_key[1] for c in cands][3:] == ["valve", "drain"]   # unread: the words' order
