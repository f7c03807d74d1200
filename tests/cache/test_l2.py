"""L2 on real LMDB in temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import lmdb
import pytest

from nic_edge.cache.keys import make_key
from nic_edge.cache.l2 import L2Cache, default_map_size

from .conftest import FakeClock, make_answer


def _l2(tmp_path: Path, clock: FakeClock, **kw) -> L2Cache:
    args = dict(max_bytes=1 << 20, ttl_s=3600, compress_min_bytes=512, clock=clock)
    args.update(kw)
    return L2Cache(tmp_path / "cache", **args)


def test_put_get_and_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    c = _l2(tmp_path, clock)
    k = make_key("q", "fp")
    assert c.put(k, "fp", make_answer())
    c.close()
    c.close()  # twice is harmless
    c = _l2(tmp_path, clock)
    assert not c.recovered
    answer, fp, stored_at, size = c.get(k)
    assert answer == make_answer() and fp == "fp" and stored_at == clock.now
    assert c.stats()["items"] == 1 and c.stats()["bytes"] == size
    c.close()


def test_ttl_expiry_deletes(tmp_path: Path, clock: FakeClock) -> None:
    c = _l2(tmp_path, clock, ttl_s=100)
    k = make_key("q", "fp")
    c.put(k, "fp", make_answer())
    clock.advance(99)
    assert c.get(k) is not None
    clock.advance(2)
    assert c.get(k) is None
    s = c.stats()
    assert s["expired"] == 1 and s["items"] == 0 and s["bytes"] == 0
    c.close()


def test_compression_only_when_it_saves_space(tmp_path: Path, clock: FakeClock) -> None:
    c = _l2(tmp_path, clock, compress_min_bytes=512)
    small = make_answer(snippet_len=10, n_citations=1)
    value, raw, compressed = c.encode(small, "fp", 0.0)
    assert raw < 512 and not compressed
    big = make_answer(snippet_len=2000, n_citations=5)  # repetitive text: compresses well
    value, raw, compressed = c.encode(big, "fp", 0.0)
    assert raw >= 512 and compressed and len(value) < raw
    # Incompressible body above the threshold stays raw.
    noise = make_answer()
    noise["citations"] = [{"snippet": os.urandom(3000)}]
    value, raw, compressed = c.encode(noise, "fp", 0.0)
    assert raw >= 512 and not compressed
    # Round trip through LMDB of each kind.
    for i, a in enumerate((small, big)):
        c.put(make_key(str(i), "fp"), "fp", a)
        assert c.get(make_key(str(i), "fp"))[0] == a
    assert c.stats()["compressed_writes"] == 1 and c.stats()["compression_ratio"] > 1.0
    c.close()


def test_byte_budget_evicts_oldest(tmp_path: Path, clock: FakeClock) -> None:
    c = _l2(tmp_path, clock, max_bytes=20_000, compress_min_bytes=1 << 20)
    keys = []
    for i in range(60):
        k = make_key(f"q{i}", "fp")
        keys.append(k)
        assert c.put(k, "fp", make_answer(question=f"q{i}", snippet_len=300))
        clock.advance(1)
    s = c.stats()
    assert s["bytes"] <= 20_000 and s["evictions"] > 0
    assert c.get(keys[0]) is None and c.get(keys[-1]) is not None
    # Survivors are exactly the newest ones.
    alive = [c.get(k) is not None for k in keys]
    first_alive = alive.index(True)
    assert all(alive[first_alive:])
    c.close()
    c = _l2(tmp_path, clock, max_bytes=20_000)  # accounting is rebuilt at open
    assert c.stats()["bytes"] == s["bytes"] and c.stats()["items"] == s["items"]
    c.close()


def test_mapfull_evicts_and_never_raises(tmp_path: Path, clock: FakeClock) -> None:
    # A 64 KiB map (clamped up to the 1 MiB minimum would hide the case, so it is given raw)
    # with a budget far above it: LMDB fills the map long before the budget evicts.
    c = L2Cache(tmp_path / "cache", max_bytes=100 << 20, ttl_s=0, compress_min_bytes=1 << 20,
                clock=clock, map_size=64 << 10)
    c.map_size = 64 << 10
    c.env.set_mapsize(64 << 10)
    ok = 0
    for i in range(300):
        ok += c.put(make_key(f"q{i}", "fp"), "fp", make_answer(question=f"q{i}", snippet_len=400))
        clock.advance(1)
    s = c.stats()
    assert s["mapfull"] > 0 and s["evictions"] > 0
    assert ok + s["writes_dropped"] == 300 and ok > 250
    assert c.get(make_key("q299", "fp")) is not None
    c.close()


def test_purge_other_fingerprints(tmp_path: Path, clock: FakeClock) -> None:
    c = _l2(tmp_path, clock)
    for i in range(5):
        c.put(make_key(f"q{i}", "old"), "old", make_answer())
        c.put(make_key(f"q{i}", "new"), "new", make_answer())
    assert c.purge("new") == 5
    assert c.stats()["items"] == 5
    assert c.get(make_key("q1", "old")) is None and c.get(make_key("q1", "new")) is not None
    c.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage_header", "tiny", "garbage_pages"])
def test_corrupt_store_is_moved_aside(tmp_path: Path, clock: FakeClock, damage: str) -> None:
    c = _l2(tmp_path, clock, max_bytes=4 << 20)
    for i in range(400):
        c.put(make_key(f"q{i}", "fp"), "fp", make_answer(question=f"q{i}", snippet_len=300))
    c.close()
    data = tmp_path / "cache" / "data.mdb"
    size = data.stat().st_size
    if damage == "truncate":
        os.truncate(data, size // 2)
    elif damage == "tiny":
        os.truncate(data, 100)
    else:
        with open(data, "r+b") as fh:
            if damage == "garbage_pages":
                fh.seek(3 * 4096)
            fh.write(os.urandom(size // 2 if damage == "garbage_pages" else 8192))
    c = _l2(tmp_path, clock, max_bytes=4 << 20)
    assert c.recovered and c.recovery_reason
    assert c.moved_to is not None and c.moved_to.name.startswith("cache.corrupt-")
    assert c.stats()["items"] == 0
    k = make_key("again", "fp")
    assert c.put(k, "fp", make_answer()) and c.get(k) is not None
    c.close()


def test_wrong_format_marker_is_moved_aside(tmp_path: Path, clock: FakeClock) -> None:
    c = _l2(tmp_path, clock)
    c.put(make_key("q", "fp"), "fp", make_answer())
    meta = c.env.open_db(b"__meta__")
    with c.env.begin(write=True) as txn:
        txn.put(b"format", b"nic_edge.cache.l2/999", db=meta)
    c.close()
    c = _l2(tmp_path, clock)
    assert c.recovered and "marker" in c.recovery_reason
    c.close()


def test_default_map_size() -> None:
    assert default_map_size(0) == 1 << 20
    assert default_map_size(16 << 20) >= 32 << 20


def test_unreadable_entry_is_a_miss(tmp_path: Path, clock: FakeClock) -> None:
    c = _l2(tmp_path, clock)
    k = make_key("q", "fp")
    c.put(k, "fp", make_answer())
    main = c.env.open_db(b"main")
    with c.env.begin(write=True) as txn:
        txn.put(k, b"\xc1not msgpack", db=main)
    assert c.get(k) is None and c.stats()["bad_entries"] == 1
    c.close()
