"""TieredCache: L1 (in-process LRU) over L2 (LMDB), and ``serve_cached`` for the ask path.

Keys carry the engine fingerprint (see keys.py), so entries computed against another index or
model are never served; ``purge_stale`` reclaims them after a re-index. Answers with reason
``invalid_input`` are never cached; abstained answers are. The L2 store lives in
``<data_dir>/cache``; when it cannot be opened at all, answering goes on with L1 only and an
event says why.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nic_edge.cache.keys import make_key
from nic_edge.cache.l1 import LRUCache
from nic_edge.cache.codec import to_builtin
from nic_edge.cache.l2 import L2Cache
from nic_edge.errors import MissingDependencyError, StorageError

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict], None]
L2_DIRNAME = "cache"
_BATCH = 64  # pending answers that trigger a flush before the interval ends


@dataclass(frozen=True)
class _Entry:
    answer: dict
    fingerprint: str
    stored_at: float


def copy_answer(answer: dict) -> dict:
    """A copy safe to hand out: the top dict, its lists and the dicts inside them."""
    out = dict(answer)
    for k, v in out.items():
        if isinstance(v, list):
            out[k] = [dict(x) if isinstance(x, dict) else x for x in v]
    return out


class TieredCache:
    def __init__(
        self,
        data_dir: Path | None,
        l1_items: int,
        l1_bytes: int,
        l2_max_bytes: int,
        l2_ttl_s: float,
        compress_min_bytes: int = 512,
        clock: Callable[[], float] = time.time,
        on_event: EventSink | None = None,
        l2_map_size: int | None = None,
        write_behind_s: float = 0.0,
    ) -> None:
        import msgpack  # noqa: PLC0415 - lazy: importing nic_edge.cache stays light

        self._msgpack = msgpack
        self._clock = clock
        self._on_event = on_event
        self._ttl_s = float(l2_ttl_s)
        self._l1: LRUCache[_Entry] = LRUCache(l1_items, l1_bytes)
        self._lock = threading.Lock()  # guards the counters below
        self._c: dict[str, int] = dict.fromkeys(
            ("l1_hits", "l1_misses", "l2_hits", "l2_misses", "misses", "puts", "skipped_invalid",
             "unencodable", "corruption_recoveries", "l1_expired"), 0)
        self.last_event: dict | None = None
        self._l2: Any = None
        # Write-behind (SD cards): new answers reach L1 at once and L2 in one commit per
        # ``write_behind_s`` (or per _BATCH answers) from a small flusher thread, instead of one
        # fsync per answer on the request path. A crash loses at most that window of cache writes.
        self._write_behind_s = float(write_behind_s)
        self._pending: dict[bytes, tuple[str, dict, bytes]] = {}
        self._pending_lock = threading.Lock()
        self._flush_now = threading.Event()
        self._stop_flusher = threading.Event()
        self._flusher: threading.Thread | None = None
        if data_dir is not None and l2_max_bytes > 0:
            self._open_l2(Path(data_dir) / L2_DIRNAME, l2_max_bytes, l2_ttl_s,
                          compress_min_bytes, l2_map_size)

    def _open_l2(self, path: Path, max_bytes: int, ttl_s: float, compress_min: int,
                 map_size: int | None) -> None:
        try:
            self._l2 = L2Cache(path, max_bytes, ttl_s, compress_min, self._clock, map_size)
        except (StorageError, MissingDependencyError) as exc:
            log.error("L2 answer cache unavailable, running with L1 only: %s", exc)
            self._event("cache_l2_unavailable", {"path": str(path), "error": str(exc)})
            return
        if self._l2.recovered:
            self._c["corruption_recoveries"] += 1
            self._event("cache_l2_recovered", {
                "path": str(path), "moved_to": str(self._l2.moved_to),
                "reason": self._l2.recovery_reason})

    def _event(self, name: str, detail: dict) -> None:
        self.last_event = {"event": name, "ts": self._clock(), **detail}
        if self._on_event is not None:
            self._on_event(name, detail)

    def _count(self, name: str) -> None:
        with self._lock:
            self._c[name] += 1

    # -- ask path ----------------------------------------------------------------------
    def get(self, question: str, fingerprint: str) -> tuple[dict, str] | None:
        """(answer copy, "l1" | "l2") or None."""
        if not isinstance(question, str):
            return None
        key = make_key(question, fingerprint)
        entry = self._l1.get(key)
        if entry is not None:
            if not self._expired(entry.stored_at):
                self._count("l1_hits")
                return copy_answer(entry.answer), "l1"
            self._l1.pop(key)
            self._count("l1_expired")
        self._count("l1_misses")
        if self._pending:
            with self._pending_lock:
                waiting = self._pending.get(key)
            if waiting is not None:  # evicted from L1 before the flusher wrote it
                self._count("l2_hits")
                return copy_answer(waiting[1]), "l2"
        if self._l2 is not None:
            found = self._l2.get(key)
            if found is not None:
                answer, fp, stored_at, size = found
                self._count("l2_hits")
                # Promote: the decoded dict becomes the L1 copy; callers get their own copy.
                self._l1.put(key, _Entry(answer, fp, stored_at), size)
                return copy_answer(answer), "l2"
            self._count("l2_misses")
        self._count("misses")
        return None

    def put(self, question: str, fingerprint: str, answer: dict) -> None:
        if not isinstance(question, str) or not isinstance(answer, dict):
            return
        if answer.get("reason") == "invalid_input":
            self._count("skipped_invalid")
            return
        stored = copy_answer(answer)
        stored["cached"] = None
        try:
            raw = self._msgpack.packb(stored, use_bin_type=True, default=to_builtin)
        except (TypeError, ValueError, OverflowError) as exc:
            log.warning("answer not cacheable: %s", exc)
            self._count("unencodable")
            return
        key = make_key(question, fingerprint)
        now = self._clock()
        self._count("puts")
        self._l1.put(key, _Entry(stored, fingerprint, now), len(raw))
        if self._l2 is None:
            return
        if self._write_behind_s <= 0:
            self._l2.put(key, fingerprint, stored, raw=raw)
            return
        with self._pending_lock:
            self._pending[key] = (fingerprint, stored, raw)
            n = len(self._pending)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="nic-cache-flush", daemon=True)
                self._flusher.start()
        if n >= _BATCH:
            self._flush_now.set()

    @property
    def write_errors(self) -> int:
        """L2 storage errors (e.g. a full disk); the answer was served anyway."""
        return 0 if self._l2 is None else self._l2.counters["errors"]

    def flush(self) -> int:
        """Write pending answers to L2 in one transaction; returns how many were stored."""
        with self._pending_lock:
            items, self._pending = self._pending, {}
        if not items or self._l2 is None:
            return 0
        return self._l2.put_many([(k, fp, ans, raw) for k, (fp, ans, raw) in items.items()])

    def _flush_loop(self) -> None:
        while not self._stop_flusher.is_set():
            self._flush_now.wait(self._write_behind_s)
            self._flush_now.clear()
            try:
                self.flush()
            except Exception:  # boundary: a failed flush loses cache entries, never the thread
                log.exception("answer cache flush failed")

    def _expired(self, stored_at: float) -> bool:
        return self._ttl_s > 0 and self._clock() - stored_at > self._ttl_s

    # -- admin -------------------------------------------------------------------------
    def clear(self) -> dict:
        with self._pending_lock:
            self._pending.clear()
        n1 = self._l1.clear()
        n2 = self._l2.clear() if self._l2 is not None else 0
        log.info("answer cache cleared: %d L1, %d L2 entries", n1, n2)
        return {"l1": n1, "l2": n2}

    def purge_stale(self, fingerprint: str) -> dict:
        """Drop entries of any other fingerprint (after a re-index or model change)."""
        self.flush()
        n1 = self._l1.remove_if(lambda e: e.fingerprint != fingerprint)
        n2 = self._l2.purge(fingerprint) if self._l2 is not None else 0
        if n1 or n2:
            log.info("purged %d L1 and %d L2 stale cache entries", n1, n2)
        return {"l1": n1, "l2": n2}

    def resize(self, l1_items: int, l1_bytes: int, l2_max_bytes: int, l2_ttl_s: float) -> dict:
        """Live tier change; returns evictions per level."""
        self._ttl_s = float(l2_ttl_s)
        e1 = self._l1.resize(l1_items, l1_bytes)
        e2 = self._l2.resize(l2_max_bytes, l2_ttl_s) if self._l2 is not None else 0
        return {"l1": e1, "l2": e2}

    def stats(self) -> dict:
        self.flush()
        with self._lock:
            c = dict(self._c)
        l2 = self._l2.stats() if self._l2 is not None else None
        lookups = c["l1_hits"] + c["l1_misses"]
        out: dict[str, Any] = {
            **c,
            "hits": c["l1_hits"] + c["l2_hits"],
            "hit_ratio": round((c["l1_hits"] + c["l2_hits"]) / lookups, 4) if lookups else 0.0,
            "l1_items": len(self._l1), "l1_bytes": self._l1.bytes,
            "l1_max_items": self._l1.max_items, "l1_max_bytes": self._l1.max_bytes,
            "l1_evictions": self._l1.evictions,
            "l2_enabled": l2 is not None,
            "l2_items": l2["items"] if l2 else 0, "l2_bytes": l2["bytes"] if l2 else 0,
            "l2_max_bytes": l2["max_bytes"] if l2 else 0,
            "l2_ttl_s": l2["ttl_s"] if l2 else self._ttl_s,
            "l2_map_size": l2["map_size"] if l2 else 0,
            "l2_evictions": l2["evictions"] if l2 else 0,
            "l2_expired": l2["expired"] if l2 else 0,
            "l2_errors": l2["errors"] if l2 else 0,
            "l2_mapfull": l2["mapfull"] if l2 else 0,
            "writes_dropped": l2["writes_dropped"] if l2 else 0,
            "compression_ratio": l2["compression_ratio"] if l2 else 1.0,
            "l2_compressed_writes": l2["compressed_writes"] if l2 else 0,
            "l2_writes": l2["writes"] if l2 else 0,
            "last_event": self.last_event,
        }
        return out

    def close(self) -> None:
        self._stop_flusher.set()
        self._flush_now.set()
        if self._flusher is not None:
            self._flusher.join(10)
        self.flush()
        if self._l2 is not None:
            self._l2.close()


def serve_cached(
    cache: TieredCache | None,
    question: object,
    fingerprint: str,
    compute: Callable[[], dict],
    qid: str | None = None,
) -> dict:
    """The ask path with the cache: hit -> stored answer, else compute and store.

    ``latency_ms`` runs from entry to the answer being ready (cache lookup included; the store
    of a freshly computed answer happens after, outside the measured span). A hit echoes the
    question as asked now and ``qid`` when given, else an id of its own (never the id of the
    request that filled the cache); ``cached`` says which level answered.
    """
    t0 = time.perf_counter()
    if cache is not None and isinstance(question, str):
        hit = cache.get(question, fingerprint)
        if hit is not None:
            answer, level = hit
            answer["cached"] = level
            answer["question"] = question
            answer["id"] = qid if qid is not None else uuid.uuid4().hex[:12]
            answer["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 4)
            return answer
    answer = dict(compute())
    answer["cached"] = None
    answer["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 4)
    if cache is not None and isinstance(question, str):
        cache.put(question, fingerprint, answer)
    return answer
