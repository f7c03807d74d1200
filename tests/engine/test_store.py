"""Index store: atomic generations, crash safety, incremental re-index, model binding."""

from __future__ import annotations

import pytest

from nic_edge.core.config import EngineConfig
from nic_edge.core.tiers import load_profiles
from nic_edge.engine.engine import Engine
from nic_edge.engine.store import IndexStore
from tests.engine.test_engine_support import MANUAL, HashEmbedder, fake_load, write_manual


class Crash(Exception):
    pass


def make(tmp_path, embedder=None, fault=None):
    store = IndexStore(tmp_path / "data" / "index", fault_hook=fault)
    return Engine(tmp_path / "data", load_profiles()["ultra_lite"], EngineConfig(),
                  embedder if embedder is not None else HashEmbedder(), store=store, loader=fake_load)


@pytest.mark.parametrize("step", ["texts", "bm25", "vectors", "manifest", "calibration", "rename", "switch"])
def test_crash_mid_index_keeps_previous_index(tmp_path, step):
    eng = make(tmp_path)
    eng.index_paths([write_manual(tmp_path)])
    before = eng.ask("lug nut torque")
    assert not before["abstained"]
    gen = eng.store.current_name()

    def fault(s):
        if s == step:
            raise Crash(s)

    crashing = make(tmp_path, fault=fault)
    extra = write_manual(tmp_path, "other.txt", "Para 9-1: Wiper Blades\nReplace wiper blades yearly.\n")
    with pytest.raises(Crash):
        crashing.index_paths([extra])
    assert crashing.store.current_name() == gen
    fresh = make(tmp_path)  # a new process after the crash
    after = fresh.ask("lug nut torque")
    assert after["answer"] == before["answer"]
    assert [m["source"] for m in fresh.manuals()] == ["manual.txt"]
    # the leftover of the crashed write does not stop the next index
    assert fresh.index_paths([extra]).chunks_added == 1
    assert sorted(m["source"] for m in fresh.manuals()) == ["manual.txt", "other.txt"]
    leftovers = [p.name for p in (tmp_path / "data" / "index").iterdir() if p.is_dir()]
    # no staging left; the generation before the current one stays for readers that opened it
    assert sorted(leftovers) == sorted([gen, fresh.store.current_name()])


def test_reindex_unchanged_is_noop(tmp_path):
    eng = make(tmp_path)
    path = write_manual(tmp_path)
    first = eng.index_paths([path])
    assert first.indexed_files == [str(path)] and first.chunks_added > 0
    gen = eng.store.current_name()
    again = eng.index_paths([path])
    assert again.unchanged == [str(path)] and again.chunks_added == 0 and again.indexed_files == []
    assert eng.store.current_name() == gen


def test_changed_file_replaces_its_chunks(tmp_path):
    emb = HashEmbedder()
    eng = make(tmp_path, emb)
    path = write_manual(tmp_path)
    eng.index_paths([path])
    n_before = eng.status()["index"]["chunks"]
    path.write_text(MANUAL.replace("85-95 ft-lbs", "100-110 ft-lbs"), encoding="utf-8")
    rep = eng.index_paths([path])
    assert rep.indexed_files == [str(path)]
    assert eng.status()["index"]["chunks"] == n_before  # replaced, not appended
    a = eng.ask("lug nut torque")
    assert "100-110 ft-lbs" in a["answer"] and "85-95" not in a["answer"]


def test_kept_chunks_are_not_re_embedded(tmp_path):
    emb = HashEmbedder()
    eng = make(tmp_path, emb)
    eng.index_paths([write_manual(tmp_path)])
    calls = emb.calls
    eng.index_paths([write_manual(tmp_path, "b.txt", "Para 5-1: Horn\nThe horn button is on the wheel.\n")])
    assert emb.calls - calls == 2  # the new chunk and its new heading; nothing of manual.txt


def test_remove_by_source_and_by_path(tmp_path):
    eng = make(tmp_path)
    a = write_manual(tmp_path)
    b = write_manual(tmp_path, "b.txt", "Para 5-1: Horn\nThe horn button is on the steering wheel.\n")
    eng.index_paths([a, b])
    rep = eng.remove(["b.txt"])
    assert rep.removed == ["b.txt"]
    assert [m["source"] for m in eng.manuals()] == ["manual.txt"]
    assert eng.ask("where is the horn button")["abstained"]
    rep = eng.remove([str(a)])
    assert rep.removed == ["manual.txt"] and eng.manuals() == []
    assert eng.remove(["nope"]).skipped == [("nope", "not indexed")]


def test_bad_files_are_skipped_and_the_rest_indexed(tmp_path):
    eng = make(tmp_path)
    good = write_manual(tmp_path)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01\x02")
    rep = eng.index_paths([good, binary, tmp_path / "missing.txt"])
    assert rep.indexed_files == [str(good)]
    assert {p for p, _ in rep.skipped} == {str(binary), str(tmp_path / "missing.txt")}


def test_duplicate_ids_replace_within_a_file_only(tmp_path):
    eng = make(tmp_path)
    one = tmp_path / "one.jsonl"
    one.write_text('{"_id": "d1", "title": "Horn", "text": "old horn text"}\n'
                   '{"_id": "d1", "title": "Horn", "text": "new horn text"}\n', encoding="utf-8")
    two = tmp_path / "two.jsonl"
    two.write_text('{"_id": "d1", "title": "Horn", "text": "newest horn text"}\n', encoding="utf-8")
    assert eng.index_paths([one]).duplicates_replaced == 1
    rep = eng.index_paths([two])
    assert rep.duplicates_replaced == 0  # another file's record with the same _id is kept
    assert eng.status()["index"]["chunks"] == 2
    assert {h["source"] for h in eng.retrieve("horn", 2)} == {"d1"}


def test_index_from_other_model_is_not_used_then_re_embedded(tmp_path):
    eng = make(tmp_path, HashEmbedder(sha="model-A"))
    eng.index_paths([write_manual(tmp_path)])
    other = make(tmp_path, HashEmbedder(sha="model-B"))
    assert other.mode == "lexical"
    assert "re-embed" in other.status()["index"]["problem"]
    assert not other.ask("lug nut torque")["abstained"]  # still answers, lexically
    rep = other.index_paths([])  # nothing new: re-embeds with the loaded model
    assert rep.reembedded > 0
    assert other.mode == "hybrid" and other.status()["index"]["model_sha256"] == "model-B"


def test_lexical_index_gets_vectors_when_model_returns(tmp_path):
    eng = make(tmp_path, HashEmbedder(fail=True))
    rep = eng.index_paths([write_manual(tmp_path)])
    assert not rep.vectors and rep.warnings
    ok = make(tmp_path, HashEmbedder())
    assert ok.mode == "lexical"
    assert ok.index_paths([]).vectors
    assert ok.mode == "hybrid"


class _WordTokenizer:
    """Stand-in tokenizer: each whitespace word is one token, a hyphenated word two."""

    def count(self, text: str) -> int:
        return sum(1 + w.count("-") for w in text.split()) + 2


def test_clip_tokens_keeps_the_longest_prefix_under_the_limit():
    from nic_edge.engine.indexer import clip_tokens

    tok = _WordTokenizer()
    assert clip_tokens("a b c", tok, 10) == "a b c"
    assert clip_tokens("a b c d e", tok, 5) == "a b c"          # 3 words + [CLS]/[SEP]
    assert clip_tokens("a b-c d", tok, 4) == "a"                # "b-c" is two tokens: 1 + 2 > 2
    assert tok.count(clip_tokens("w " * 500, tok, 128)) <= 128


def test_index_max_tokens_clips_only_what_is_embedded(tmp_path, monkeypatch):
    from nic_edge.engine import indexer

    emb = HashEmbedder()
    emb.tokenizer = _WordTokenizer()
    seen: list[str] = []
    real = emb.embed_many
    monkeypatch.setattr(emb, "embed_many", lambda texts, progress=None: (seen.extend(texts), real(texts))[1])
    monkeypatch.setattr(indexer, "INDEX_MAX_TOKENS", 6)
    eng = make(tmp_path, emb)
    eng.index_paths([write_manual(tmp_path)])
    assert seen and all(emb.tokenizer.count(t) <= 6 for t in seen)
    snap = eng.snapshot()
    assert any(len(snap.text(i).split()) > 6 for i in range(snap.n))  # stored text is whole


class _ThreadRecorder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.threads_seen: list[int] = []
        self.threads = 1

    def set_threads(self, n: int) -> None:
        self.threads = n
        self.threads_seen.append(n)

    def embed(self, text):
        self.used_with = getattr(self, "used_with", set()) | {self.threads}
        return super().embed(text)


def test_indexing_embeds_with_the_indexing_thread_count(tmp_path):
    from nic_edge.core.threads import ThreadCounts

    emb = _ThreadRecorder()
    store = IndexStore(tmp_path / "data" / "index")
    eng = Engine(tmp_path / "data", load_profiles()["full"], EngineConfig(), emb, store=store,
                 loader=fake_load, threads=ThreadCounts(1, 4, "default"))
    eng.index_paths([write_manual(tmp_path)])
    assert emb.used_with == {4} and emb.threads_seen == [4, 1]  # back to 1 for questions


@pytest.mark.parametrize("left", [[], ["manifest.json"], ["manifest.json", "strings.json"]])
def test_generation_deleted_while_opened_opens_the_new_one(tmp_path, monkeypatch, left):
    """Another process re-indexed twice between our read of CURRENT and the open: the generation
    it named is gone or half deleted. open_current takes the live one instead of failing."""
    import shutil

    eng = make(tmp_path)
    eng.index_paths([write_manual(tmp_path)])
    store = eng.store
    live = store.current_name()
    torn = store.root / "gen-1"
    torn.mkdir()
    for name in left:
        shutil.copy(store.root / live / name, torn / name)
    real = IndexStore.current_name
    calls = []

    def current_name(self):
        calls.append(1)
        return "gen-1" if len(calls) == 1 else real(self)

    monkeypatch.setattr(IndexStore, "current_name", current_name)
    snap = store.open_current()
    assert snap is not None and snap.name == live and snap.n > 0
    snap.close()


def test_generation_named_by_current_and_torn_is_an_error_not_a_loop(tmp_path):
    eng = make(tmp_path)
    eng.index_paths([write_manual(tmp_path)])
    store = eng.store
    (store.root / "gen-1").mkdir()
    (store.root / "CURRENT").write_text("gen-1\n")
    from nic_edge.errors import IndexStoreError

    with pytest.raises(IndexStoreError, match="unreadable"):
        store.open_current()


def _cut(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("damage", ["texts cut", "emb cut", "strings garbled", "CURRENT dangling"])
def test_a_damaged_index_is_refused_then_rebuilt_by_index(tmp_path, damage):
    from nic_edge.errors import IndexStoreError

    eng = make(tmp_path)
    manual = write_manual(tmp_path)
    wipers = write_manual(tmp_path, "wipers.txt", "Para 9-1: Wiper Blades\nReplace wiper blades yearly.\n")
    eng.index_paths([manual, wipers])
    gen = tmp_path / "data" / "index" / eng.store.current_name()
    if damage == "texts cut":
        _cut(gen / "texts.bin")
    elif damage == "emb cut":
        _cut(gen / "emb.npy", 0.9)
    elif damage == "strings garbled":
        (gen / "strings.json").write_text("{not json")
    else:
        (gen.parent / "CURRENT").write_text("gen-gone\n")
    fresh = make(tmp_path)  # the next process to open it
    assert fresh.mode == "lexical"  # gauges and the status page read it: never an exception
    with pytest.raises(IndexStoreError) as err:  # one clear error, never an answer from garbage
        fresh.ask("lug nut torque")
    assert "nic-edge index" in str(err.value)
    report = make(tmp_path).index_paths([manual])  # what the error's hint says to run
    assert any(w.startswith("damaged index rebuilt") for w in report.warnings), report.warnings
    healed = make(tmp_path)
    # the other manual it named is re-read, except when nothing of the index could be read
    expect = ["manual.txt"] if damage == "CURRENT dangling" else ["manual.txt", "wipers.txt"]
    assert sorted(m["source"] for m in healed.manuals()) == expect
    assert not healed.ask("lug nut torque")["abstained"]
