"""TieredCache and serve_cached on real LMDB in temp dirs."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from nic_edge.cache.tiered import TieredCache, serve_cached

from .conftest import FakeClock, make_answer


def _cache(tmp_path: Path | None, clock: FakeClock, **kw) -> TieredCache:
    args = dict(l1_items=64, l1_bytes=256 << 10, l2_max_bytes=4 << 20, l2_ttl_s=3600,
                compress_min_bytes=512, clock=clock)
    args.update(kw)
    return TieredCache(tmp_path, **args)


def test_l1_then_l2_after_reboot_and_promotion(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock)
    assert c.get("How do I start?", "fp") is None
    c.put("How do I start?", "fp", make_answer())
    answer, level = c.get("how do i START", "fp")
    assert level == "l1" and answer["answer"] == "Turn the crank."
    c.close()
    c = _cache(tmp_path, clock)  # a reboot: L1 is empty, L2 still has it
    answer, level = c.get("How do I start?", "fp")
    assert level == "l2"
    assert c.get("How do I start?", "fp")[1] == "l1"  # promoted
    s = c.stats()
    assert (s["l1_hits"], s["l2_hits"], s["l1_misses"]) == (1, 1, 1)
    c.close()


def test_returned_answers_are_copies(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock)
    c.put("q", "fp", make_answer())
    a, _ = c.get("q", "fp")
    a["citations"][0]["snippet"] = "mutated"
    a["warnings"].append("x")
    b, _ = c.get("q", "fp")
    assert b == {**make_answer(), "cached": None}
    c.close()


def test_invalid_input_never_cached_abstained_cached(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock)
    c.put("", "fp", make_answer("", text=None, reason="invalid_input"))
    assert c.get("", "fp") is None
    c.put("unknown thing", "fp", make_answer("unknown thing", text=None, reason="no_match"))
    answer, level = c.get("unknown thing", "fp")
    assert answer["abstained"] and answer["reason"] == "no_match"
    assert c.stats()["skipped_invalid"] == 1
    c.close()


def test_fingerprint_change_invalidates_and_purge(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock)
    for i in range(5):
        c.put(f"q{i}", "index-v1", make_answer(f"q{i}"))
    assert c.get("q1", "index-v2") is None  # re-index: unreachable at once
    c.put("q1", "index-v2", make_answer("q1", text="New text."))
    assert c.purge_stale("index-v2") == {"l1": 5, "l2": 5}
    assert c.get("q1", "index-v2")[0]["answer"] == "New text."
    assert c.stats()["l2_items"] == 1
    c.close()


def test_ttl_with_fake_clock(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock, l2_ttl_s=60)
    c.put("q", "fp", make_answer())
    clock.advance(61)
    assert c.get("q", "fp") is None
    s = c.stats()
    assert s["l1_expired"] == 1 and s["l2_expired"] == 1
    c.close()


def test_clear_resize_stats(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock)
    for i in range(100):
        c.put(f"q{i}", "fp", make_answer(f"q{i}"))
    s = c.stats()
    assert s["l1_items"] == 64 and s["l1_evictions"] == 36 and s["l2_items"] == 100
    ev = c.resize(l1_items=10, l1_bytes=1 << 20, l2_max_bytes=2048, l2_ttl_s=10)
    assert ev["l1"] == 54 and ev["l2"] > 0
    assert c.stats()["l2_bytes"] <= 2048
    l2_items = c.stats()["l2_items"]
    assert c.clear() == {"l1": 10, "l2": l2_items}
    assert c.stats()["l1_items"] == 0 and c.stats()["l2_items"] == 0
    c.close()


def test_corrupt_l2_recovered_with_event(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock)
    for i in range(50):
        c.put(f"q{i}", "fp", make_answer(f"q{i}"))
    c.close()
    data = tmp_path / "cache" / "data.mdb"
    os.truncate(data, data.stat().st_size // 3)
    events: list[tuple[str, dict]] = []
    c = _cache(tmp_path, clock, on_event=lambda name, d: events.append((name, d)))
    assert [e[0] for e in events] == ["cache_l2_recovered"]
    assert c.stats()["corruption_recoveries"] == 1 and c.stats()["last_event"]["event"] == "cache_l2_recovered"
    c.put("q", "fp", make_answer())
    assert c.get("q", "fp") is not None
    c.close()


def test_l2_unavailable_runs_with_l1(tmp_path: Path, clock: FakeClock) -> None:
    blocker = tmp_path / "ro"
    blocker.write_text("x")
    events: list[str] = []
    c = _cache(blocker, clock, on_event=lambda name, d: events.append(name))  # data dir is a file
    assert events == ["cache_l2_unavailable"] and not c.stats()["l2_enabled"]
    c.put("q", "fp", make_answer())
    assert c.get("q", "fp")[1] == "l1"
    c.close()
    c = _cache(None, clock)  # no data dir: L1 only, silently
    assert not c.stats()["l2_enabled"]


def test_threads_smoke(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock, l1_items=64, l2_max_bytes=64 << 10)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(300):
                q = f"q{(seed * 13 + i) % 150}"
                hit = c.get(q, "fp")
                if hit is None:
                    c.put(q, "fp", make_answer(q))
                else:
                    assert hit[0]["question"] == q and hit[1] in ("l1", "l2")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s = c.stats()
    assert s["l2_bytes"] <= 64 << 10 and s["l2_errors"] == 0
    c.close()


def test_serve_cached(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock)
    calls: list[str] = []

    def compute() -> dict:
        calls.append("x")
        return make_answer("How do I start?")

    first = serve_cached(c, "How do I start?", "fp", compute, qid="a")
    assert first["cached"] is None and len(calls) == 1
    second = serve_cached(c, "how do i start", "fp", compute, qid="b")
    assert second["cached"] == "l1" and len(calls) == 1
    assert second["question"] == "how do i start" and second["id"] == "b"
    assert second["latency_ms"] >= 0
    # no id given: a hit gets one of its own, never the id of the request that filled the cache
    third, fourth = (serve_cached(c, "How do I start?", "fp", compute) for _ in range(2))
    assert third["cached"] and fourth["cached"] and len({first["id"], third["id"], fourth["id"]}) == 3
    strip = lambda a: {k: v for k, v in a.items() if k not in ("cached", "latency_ms", "question", "id")}
    assert strip(first) == strip(second)
    bad = serve_cached(c, "", "fp", lambda: make_answer("", text=None, reason="invalid_input"))
    assert bad["reason"] == "invalid_input" and c.get("", "fp") is None
    assert serve_cached(None, "q", "fp", compute)["cached"] is None
    c.close()


def test_write_behind_batches_l2_writes(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock, l1_items=64, write_behind_s=3600)
    for i in range(10):
        c.put(f"question {i}", "fp", make_answer(text=f"Answer {i}."))
    assert c._l2.stats()["writes"] == 0  # nothing committed yet: still pending
    assert c.get("question 3", "fp")[1] == "l1"
    assert c.flush() == 10
    st = c._l2.stats()
    assert st["writes"] == 10 and st["items"] == 10
    c.close()


def test_write_behind_serves_pending_after_l1_eviction_and_flushes_on_close(tmp_path: Path, clock: FakeClock) -> None:
    c = _cache(tmp_path, clock, l1_items=1, l1_bytes=256 << 10, write_behind_s=3600)
    c.put("first question", "fp", make_answer(text="First."))
    c.put("second question", "fp", make_answer(text="Second."))  # evicts the first from L1
    answer, level = c.get("first question", "fp")
    assert answer["answer"] == "First." and level == "l2"
    c.close()  # flushes
    c = _cache(tmp_path, clock)
    assert c.get("first question", "fp")[0]["answer"] == "First."
    assert c.get("second question", "fp")[0]["answer"] == "Second."
    c.close()


def test_write_behind_flusher_thread_writes_within_interval(tmp_path: Path, clock: FakeClock) -> None:
    import time as _time
    c = _cache(tmp_path, clock, write_behind_s=0.05)
    c.put("q", "fp", make_answer())
    deadline = _time.monotonic() + 5
    while c._l2.stats()["writes"] == 0 and _time.monotonic() < deadline:
        _time.sleep(0.01)
    assert c._l2.stats()["writes"] == 1
    assert any(t.name == "nic-cache-flush" for t in threading.enumerate())
    c.close()
    assert not any(t.name == "nic-cache-flush" and t.is_alive() for t in threading.enumerate())
