"""L2: answers in LMDB on the SD card, bounded by a byte budget, with a TTL.

Layout (one environment, three named databases):
  ``main``  key (32 bytes) -> msgpack [format, stored_at, fingerprint, raw_size, compressed, body]
  ``idx``   stored_at ms (8 bytes big-endian) + key -> size (4 bytes BE) + fingerprint
  ``__meta__`` format marker (core.storage)
``idx`` is ordered oldest first, so evicting the oldest entries costs O(evicted) and purging
other fingerprints never decodes a value. ``body`` is the msgpack-encoded answer, zlib'd when it
is at least ``compress_min_bytes`` long and compressing actually makes it smaller (codec.py).

Every LMDB operation runs under one lock: the HTTP threads share one Environment (one per
process, as LMDB requires), writes are serialised anyway, and ``set_mapsize`` on a live resize
needs no transaction open in the process. Reads take microseconds, so the lock costs nothing
measurable under the GIL. Failures never reach the question: an LMDB error is a miss or a
dropped write, counted and logged.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge.cache.codec import decode_entry, encode_entry, entry_stored_at
from nic_edge.core.storage import clamp_map_size, data_size, import_lmdb, open_env

log = logging.getLogger(__name__)

MARKER = b"nic_edge.cache.l2/1"
_IDX_TS = struct.Struct(">Q")
_IDX_SIZE = struct.Struct(">I")
_KEY_LEN = 32
# Evict down to this fraction of the budget, so a full cache does not evict on every put.
_LOW_WATER = 0.9
# Deletions per write transaction during purges: keeps the dirty-page list of one txn small.
_BATCH = 1000


def default_map_size(max_bytes: int) -> int:
    """Map size for a byte budget: twice the budget (page overhead, overflow pages rounding up
    to 4 KiB, copy-on-write free pages) plus 1 MiB, at least 1 MiB."""
    return clamp_map_size(2 * max(0, int(max_bytes)) + (1 << 20))


def _delete_and_next(cur: Any) -> bool:
    """Delete the cursor's entry; True while it is still on an entry (py-lmdb moves it to the
    next one, and leaves it unpositioned with an empty key after the last)."""
    cur.delete()
    return bool(cur.key())


class L2Cache:
    def __init__(
        self,
        path: Path,
        max_bytes: int,
        ttl_s: float,
        compress_min_bytes: int = 512,
        clock: Callable[[], float] = time.time,
        map_size: int | None = None,
        max_readers: int = 32,
    ) -> None:
        import msgpack  # noqa: PLC0415 - lazy: importing nic_edge.cache stays light

        self._msgpack = msgpack
        self._lmdb = import_lmdb()
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.ttl_s = float(ttl_s)
        self.compress_min_bytes = int(compress_min_bytes)
        self._clock = clock
        self._lock = threading.RLock()
        self._bytes = 0
        self._items = 0
        self.map_size = clamp_map_size(map_size) if map_size else default_map_size(max_bytes)
        used = data_size(self.path)
        if used:
            # A store filled under a larger budget (a restart on a lower tier): a map smaller than
            # the file cannot give a single page, so every write, eviction and clear failed with
            # MDB_MAP_FULL for good. Map the file, and room to trim it, instead.
            self.map_size = max(self.map_size, clamp_map_size(2 * used + (1 << 20)))
        self.counters: dict[str, int] = dict.fromkeys(
            ("hits", "misses", "expired", "evictions", "writes", "writes_dropped", "mapfull",
             "errors", "bad_entries", "compressed_writes", "raw_bytes_written",
             "stored_bytes_written"), 0)
        opened = open_env(self.path, self.map_size, marker=MARKER, verify=self._verify,
                          max_dbs=3, max_readers=max_readers)
        self.env = opened.env
        self.recovered = opened.recovered
        self.recovery_reason = opened.reason
        self.moved_to = opened.moved_to
        if opened.recovered:
            self._bytes = self._items = 0
        self._main = self.env.open_db(b"main")
        self._idx = self.env.open_db(b"idx")
        self._closed = False

    # -- open-time check ---------------------------------------------------------------
    def _verify(self, env: Any) -> None:
        """Walk the index (and main keys): raises lmdb.Error/ValueError on a damaged store."""
        main = env.open_db(b"main")
        idx = env.open_db(b"idx")
        total = items = 0
        with env.begin() as txn:
            for k, v in txn.cursor(db=idx):
                if len(k) != 8 + _KEY_LEN or len(v) < _IDX_SIZE.size:
                    raise ValueError("malformed index entry")
                total += _IDX_SIZE.unpack_from(v)[0]
                items += 1
            n_main = sum(1 for _ in txn.cursor(db=main).iternext(values=False))
        if n_main != items:
            raise ValueError(f"index has {items} entries, main has {n_main}")
        self._bytes, self._items = total, items

    # -- encoding (codec.py) -----------------------------------------------------------
    def encode(self, answer: dict, fingerprint: str, stored_at: float,
               raw: bytes | None = None) -> tuple[bytes, int, bool]:
        """(value, raw_size, compressed) for an answer; ``raw`` is its msgpack if known."""
        return encode_entry(self._msgpack, answer, fingerprint, stored_at,
                            self.compress_min_bytes, raw)

    def decode(self, value: bytes) -> tuple[dict, str, float]:
        """(answer, fingerprint, stored_at); ValueError for anything malformed."""
        return decode_entry(self._msgpack, value)

    def _expired(self, stored_at: float, now: float) -> bool:
        return self.ttl_s > 0 and now - stored_at > self.ttl_s

    @staticmethod
    def _idx_key(stored_at: float, key: bytes) -> bytes:
        return _IDX_TS.pack(max(0, int(stored_at * 1000))) + key

    # -- operations --------------------------------------------------------------------
    def get(self, key: bytes) -> tuple[dict, str, float, int] | None:
        """(answer, fingerprint, stored_at, stored_size) or None; expired entries are deleted."""
        with self._lock:
            if self._closed:
                return None
            try:
                with self.env.begin(db=self._main) as txn:
                    value = txn.get(key)
                if value is None:
                    self.counters["misses"] += 1
                    return None
                try:
                    answer, fp, stored_at = self.decode(value)
                except ValueError as exc:
                    log.warning("dropping unreadable L2 entry: %s", exc)
                    self.counters["bad_entries"] += 1
                    self._delete_key(key, value)
                    self.counters["misses"] += 1
                    return None
                if self._expired(stored_at, self._clock()):
                    self._delete_key(key, value, stored_at)
                    self.counters["expired"] += 1
                    self.counters["misses"] += 1
                    return None
            except self._lmdb.Error as exc:
                self._count_error("get", exc)
                return None
            self.counters["hits"] += 1
            return answer, fp, stored_at, len(value)

    def put(self, key: bytes, fingerprint: str, answer: dict, raw: bytes | None = None) -> bool:
        """Store an answer; False (counted in writes_dropped) when it cannot be stored."""
        return self.put_many([(key, fingerprint, answer, raw)]) == 1

    def put_many(self, items: list[tuple[bytes, str, dict, bytes | None]]) -> int:
        """Store several answers in ONE transaction (one fsync); returns how many were stored.

        The write-behind of TieredCache uses this so an SD card sees one commit per flush
        interval instead of one per answer."""
        now = self._clock()
        encoded: list[tuple[bytes, str, bytes, int, bool]] = []
        for key, fingerprint, answer, raw in items:
            try:
                value, raw_size, compressed = self.encode(answer, fingerprint, now, raw)
            except (TypeError, ValueError, OverflowError) as exc:
                log.warning("answer not cacheable in L2: %s", exc)
                self.counters["writes_dropped"] += 1
                continue
            if len(value) > self.max_bytes:
                self.counters["writes_dropped"] += 1
                continue
            encoded.append((key, fingerprint, value, raw_size, compressed))
        if not encoded:
            return 0
        with self._lock:
            if self._closed:
                self.counters["writes_dropped"] += len(encoded)
                return 0
            for attempt in range(3):
                try:
                    self._put_once([(k, fp, v) for k, fp, v, _, _ in encoded], now)
                except self._lmdb.MapFullError:
                    # The map holds more than the budget suggests (page overhead, free pages
                    # not yet reusable): make room and retry, never fail the question.
                    self.counters["mapfull"] += 1
                    self._make_room(0.25 * (attempt + 1))
                    continue
                except self._lmdb.Error as exc:
                    self._count_error("put", exc)
                    break
                for _, _, value, raw_size, compressed in encoded:
                    self.counters["writes"] += 1
                    self.counters["raw_bytes_written"] += raw_size
                    self.counters["stored_bytes_written"] += len(value)
                    self.counters["compressed_writes"] += int(compressed)
                return len(encoded)
            self.counters["writes_dropped"] += len(encoded)
            return 0

    def _put_once(self, entries: list[tuple[bytes, str, bytes]], now: float) -> None:
        delta_bytes = delta_items = evicted = 0
        with self.env.begin(write=True) as txn:
            for key, fingerprint, value in entries:
                old = txn.get(key, db=self._main)
                if old is not None:
                    txn.delete(self._idx_key(self._stored_at_of(old), key), db=self._idx)
                    delta_bytes -= len(old)
                    delta_items -= 1
                txn.put(key, value, db=self._main)
                txn.put(self._idx_key(now, key), _IDX_SIZE.pack(len(value)) + fingerprint.encode(),
                        db=self._idx)
                delta_bytes += len(value)
                delta_items += 1
                if self._bytes + delta_bytes > self.max_bytes:
                    target = self._bytes + delta_bytes - int(self.max_bytes * _LOW_WATER)
                    freed, n = self._evict_oldest(txn, target, keep=key)
                    delta_bytes -= freed
                    delta_items -= n
                    evicted += n
        # Only a committed transaction changes the accounting.
        self._bytes += delta_bytes
        self._items += delta_items
        self.counters["evictions"] += evicted

    def _stored_at_of(self, value: bytes) -> float:
        return entry_stored_at(self._msgpack, value)

    def _evict_oldest(self, txn: Any, need: int, keep: bytes | None = None) -> tuple[int, int]:
        freed = count = 0
        cur = txn.cursor(db=self._idx)
        ok = cur.first()
        while ok and freed < need:
            ikey = bytes(cur.key())
            mkey = ikey[8:]
            if mkey == keep:
                ok = cur.next()
                continue
            size = _IDX_SIZE.unpack_from(cur.value())[0]
            txn.delete(mkey, db=self._main)
            ok = _delete_and_next(cur)
            freed += size
            count += 1
        return freed, count

    def _make_room(self, fraction: float) -> None:
        need = max(1, int(self._bytes * min(1.0, fraction)))
        try:
            with self.env.begin(write=True) as txn:
                freed, count = self._evict_oldest(txn, need)
            self._bytes -= freed
            self._items -= count
            self.counters["evictions"] += count
        except self._lmdb.MapFullError:
            # Even deleting needs fresh pages (copy-on-write); dropping whole trees needs the
            # fewest. Losing the cache is acceptable, failing the question is not.
            log.warning("L2 map full even for eviction; clearing the L2 cache")
            self.clear()

    def _delete_key(self, key: bytes, value: bytes, stored_at: float | None = None) -> None:
        if stored_at is None:
            stored_at = self._stored_at_of(value)
        with self.env.begin(write=True) as txn:
            if txn.delete(key, db=self._main):
                self._bytes -= len(value)
                self._items -= 1
            txn.delete(self._idx_key(stored_at, key), db=self._idx)

    def purge(self, keep_fingerprint: str | None) -> int:
        """Delete entries of other fingerprints (and expired ones); returns how many."""
        keep = None if keep_fingerprint is None else keep_fingerprint.encode()
        now_ms = self._clock() * 1000
        removed = 0
        with self._lock:
            if self._closed:
                return 0
            try:
                while True:
                    batch = 0
                    with self.env.begin(write=True) as txn:
                        cur = txn.cursor(db=self._idx)
                        ok = cur.first()
                        while ok and batch < _BATCH:
                            ikey, ival = bytes(cur.key()), bytes(cur.value())
                            stored_ms = _IDX_TS.unpack_from(ikey)[0]
                            expired = self.ttl_s > 0 and now_ms - stored_ms > self.ttl_s * 1000
                            if ival[_IDX_SIZE.size:] != keep or expired:
                                txn.delete(ikey[8:], db=self._main)
                                ok = _delete_and_next(cur)
                                self._bytes -= _IDX_SIZE.unpack_from(ival)[0]
                                self._items -= 1
                                batch += 1
                            else:
                                ok = cur.next()
                    removed += batch
                    if batch < _BATCH:
                        break
            except self._lmdb.Error as exc:
                self._count_error("purge", exc)
                self._recount()
        return removed

    def clear(self) -> int:
        with self._lock:
            if self._closed:
                return 0
            n = self._items
            try:
                with self.env.begin(write=True) as txn:
                    txn.drop(self._main, delete=False)
                    txn.drop(self._idx, delete=False)
            except self._lmdb.Error as exc:
                self._count_error("clear", exc)
                return 0
            self._bytes = self._items = 0
            return n

    def resize(self, max_bytes: int, ttl_s: float) -> int:
        """New budget and TTL, live; grows the map if the budget needs it. Returns evictions."""
        with self._lock:
            self.max_bytes, self.ttl_s = int(max_bytes), float(ttl_s)
            if self._closed:
                return 0
            wanted = default_map_size(max_bytes)
            if wanted > self.map_size:
                try:
                    # Safe: every transaction of this process runs under self._lock.
                    self.env.set_mapsize(wanted)
                    self.map_size = wanted
                except self._lmdb.Error as exc:
                    self._count_error("set_mapsize", exc)
            if self._bytes <= self.max_bytes:
                return 0
            try:
                with self.env.begin(write=True) as txn:
                    freed, count = self._evict_oldest(txn, self._bytes - int(self.max_bytes * _LOW_WATER))
            except self._lmdb.Error as exc:
                self._count_error("resize", exc)
                return 0
            self._bytes -= freed
            self._items -= count
            self.counters["evictions"] += count
            return count

    def _recount(self) -> None:
        try:
            self._verify(self.env)
        except (self._lmdb.Error, ValueError) as exc:
            self._count_error("recount", exc)

    def _count_error(self, op: str, exc: Exception) -> None:
        self.counters["errors"] += 1
        log.warning("L2 cache %s failed: %s", op, exc)

    def stats(self) -> dict[str, Any]:
        c = self.counters
        ratio = (c["raw_bytes_written"] / c["stored_bytes_written"]) if c["stored_bytes_written"] else 1.0
        return {"items": self._items, "bytes": self._bytes, "max_bytes": self.max_bytes,
                "ttl_s": self.ttl_s, "map_size": self.map_size,
                "compression_ratio": round(ratio, 3), **c}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self.env.sync(True)  # flush the deferred meta page (MDB_NOMETASYNC)
            except self._lmdb.Error as exc:
                self._count_error("sync", exc)
            self.env.close()
