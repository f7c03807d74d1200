"""Downsampled per-device time series in LMDB, one database pair per resolution.

Each resolution (10 s kept 6 h, 5 min kept 30 days, 1 h kept 400 days) has two databases keyed
``<device>\\0<bucket index, big-endian u32>``: ``s:<res>`` holds the plain numbers a chart needs
(msgpack, buckets.store_codec: snapshot count, questions, outcomes, p50/p95/p99 in ms, gauge sums), ``k:<res>`` holds the
merged latency sketch (buckets.py), so charts never decode sketches and percentiles of a bucket
are exact (sketch merge, never an average of percentiles).

Write path (the aggregator's per-message cost): a message folds into its bucket of every
resolution in memory. ``flush`` (every 0.5 s) writes in ONE transaction, with what the caller
passes (device records holding the de-dup window), the finest buckets touched since the last
flush and each coarse bucket once, when it closes (its end + CLOSE_GRACE_S has passed;
``series-meta`` keeps each coarse resolution's closed-through index). A message for a closed
bucket (a replay, a queue drained after an outage) reloads, merges and rewrites it. Writing the
5 min and 1 h buckets at every flush cost twice the finest resolution's work per message.

Crash consistency: the finest buckets and the de-dup state are written together. Open coarse
buckets live in memory only; ``recover`` (at start) rebuilds them, and any that closed while the
aggregator was down, from the next finer resolution: a replayed message is counted at every
resolution exactly once, or nowhere. Coarse steps must nest (10 s | 5 min | 1 h).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from nic_edge.core.sketch import LatencySketch
from nic_edge.core.storage import import_lmdb, open_env
from nic_edge.fleet.aggregator.buckets import Bucket, Point, store_codec

log = logging.getLogger(__name__)

MARKER = b"nic-aggregator-series-v1"
_IDX = struct.Struct(">I")
CLOSE_GRACE_S = 30.0  # a coarse bucket is written this long after its end (late ones: rewritten)
_META_DB = b"series-meta"


@dataclass(frozen=True)
class Resolution:
    name: str
    step_s: int
    retention_s: int


DEFAULT_RESOLUTIONS = (
    Resolution("10s", 10, 6 * 3600),
    Resolution("5m", 300, 30 * 86400),
    Resolution("1h", 3600, 400 * 86400),
)


def key(device: str, idx: int) -> bytes:
    return device.encode("utf-8") + b"\x00" + _IDX.pack(idx)


class SeriesStore:
    """The LMDB environment of the aggregator: time series plus caller-managed side databases.

    ``lock`` guards the in-memory buckets; FleetState shares it.
    """

    def __init__(self, path: Path | str, map_size: int = 8 << 30,
                 resolutions: tuple[Resolution, ...] = DEFAULT_RESOLUTIONS,
                 side_dbs: tuple[str, ...] = ("devices", "alerts")) -> None:
        for fine, coarse in zip(resolutions, resolutions[1:]):
            if coarse.step_s % fine.step_s or fine.retention_s < coarse.step_s + 2 * CLOSE_GRACE_S:
                raise ValueError(f"resolution {coarse.name} must nest in {fine.name}, within its retention")
        self.lmdb = import_lmdb()
        self.resolutions = resolutions
        opened = open_env(path, map_size, marker=MARKER, max_dbs=2 * len(resolutions) + len(side_dbs) + 2)
        if opened.recovered:
            log.error("aggregator store %s was unusable (%s); history restarted empty (old copy: %s)",
                      path, opened.reason, opened.moved_to)
        self.recovered = opened.recovered
        self.env = opened.env
        self._scal = {r.name: self.env.open_db(f"s:{r.name}".encode()) for r in resolutions}
        self._sk = {r.name: self.env.open_db(f"k:{r.name}".encode()) for r in resolutions}
        self._meta = self.env.open_db(_META_DB)
        self.dbs = {name: self.env.open_db(name.encode()) for name in side_dbs}
        self.lock = threading.RLock()
        self._flush_lock = threading.Lock()  # one flush at a time (it runs partly without ``lock``)
        self._mem: dict[str, dict[str, dict[int, Bucket]]] = {r.name: {} for r in resolutions}
        with self.env.begin() as txn:
            stored = {r.name: txn.get(r.name.encode(), db=self._meta) for r in resolutions[1:]}
        # coarse resolution -> highest closed (final, in LMDB) bucket index; None: not known yet
        self._closed: dict[str, int | None] = {n: None if v is None else int(v) for n, v in stored.items()}
        self._hi: dict[str, int] = {}  # device -> highest finest-bucket index stored or in memory
        # (res, device, idx, bucket) to write at the next flush: finest buckets touched since the
        # last one and closed coarse buckets touched by a late point; and those written last time.
        self._dirty: list[tuple[str, str, int, Bucket]] = []
        self._prev: list[tuple[str, str, int, Bucket]] = []
        self._rebuilt = False
        self.points_dropped_old = 0
        self.flush_errors = 0
        self.pack, self.unpack = store_codec()

    # -- writing --------------------------------------------------------------------------
    def add(self, device: str, p: Point, now: float) -> None:
        """Fold one point into each resolution's bucket (points past retention are ignored)."""
        if not self._rebuilt:
            self.recover(now)
        ts = min(p.ts, now + 300.0)  # a box clock far in the future must not pin a bucket forever
        fine = True
        for r in self.resolutions:
            if ts < now - r.retention_s:
                self.points_dropped_old += 1
                fine = False
                continue
            idx = int(ts // r.step_s)
            mem = self._mem[r.name]
            per = mem.get(device)
            if per is None:
                per = mem[device] = {}
            b = per.get(idx)
            if b is None:
                b = per[idx] = self._load(r.name, device, idx, fine)
                if fine or idx <= self._closed[r.name]:  # type: ignore[operator]  # set by recover
                    self._dirty.append((r.name, device, idx, b))
            elif not b.touched and (fine or idx <= self._closed[r.name]):  # type: ignore[operator]
                self._dirty.append((r.name, device, idx, b))  # written last flush, touched again
            b.add(p)
            fine = False

    def _load(self, res: str, device: str, idx: int, fine: bool) -> Bucket:
        if fine:
            hi = self._hi.get(device)
            if hi is None:
                hi = self._last_idx(res, device)
            if idx > hi:  # past anything stored: certainly a new bucket, no read
                self._hi[device] = idx
                return Bucket()
            self._hi[device] = hi
        else:
            closed = self._closed[res]
            if closed is not None and idx > closed:
                return Bucket()  # open coarse buckets live in memory only (recover rebuilt them)
        kk = key(device, idx)
        with self.env.begin() as txn:
            scal = txn.get(kk, db=self._scal[res])
            sk = txn.get(kk, db=self._sk[res])
        return Bucket.load(scal, sk, self.unpack) if scal is not None else Bucket()

    def _last_idx(self, res: str, device: str) -> int:
        with self.env.begin() as txn:
            cur = txn.cursor(db=self._scal[res])
            prefix = key(device, 0)[:-4]
            found = cur.prev() if cur.set_range(prefix[:-1] + b"\x01") else cur.last()  # device's last key
            k = bytes(cur.key()) if found else b""
        return _IDX.unpack(k[-4:])[0] if k.startswith(prefix) else -1

    def _closable(self, r: Resolution, now: float) -> int:
        return int((now - CLOSE_GRACE_S) // r.step_s) - 1

    def _rows(self, res: str, device: str, idx: int, b: Bucket) -> list[tuple[Any, bytes, bytes]]:
        """(db, key, value) records of one bucket: its scalars and, if any, its sketch."""
        kk = key(device, idx)
        rows = [(self._scal[res], kk, self.pack(b.scalars()))]
        skd = b.sketch_dict()
        if skd is not None:
            rows.append((self._sk[res], kk, self.pack(skd)))
        return rows

    def flush(self, puts: Callable[[], list[tuple[str, bytes, bytes]]] | None = None,
              now: float | None = None) -> int:
        """Write touched finest buckets, coarse ones that closed, and ``puts()`` (db name, key,
        value; called under the lock) in one transaction; returns how many buckets were written.

        The records are encoded under the lock (a consistent snapshot); the transaction and its
        fsync run without it, so ingestion goes on meanwhile. Not to be called holding ``lock``."""
        now = time.time() if now is None else now
        with self._flush_lock:
            with self.lock:
                if not self._rebuilt:
                    self.recover(now)
                closing: dict[str, int] = {}
                dirty = self._dirty
                for r in self.resolutions[1:]:
                    was = -1 if self._closed[r.name] is None else self._closed[r.name]
                    w = closing[r.name] = max(was, self._closable(r, now))  # type: ignore[type-var]
                    if w != was:  # open buckets that closed since the last flush: written once, now
                        dirty += [(r.name, dev, idx, b) for dev, per in self._mem[r.name].items()
                                  for idx, b in per.items() if was < idx <= w]
                extra = puts() if puts is not None else []
                if not dirty and not extra and closing == self._closed:
                    return 0
                rows = []
                for res, dev, idx, b in dirty:
                    rows += self._rows(res, dev, idx, b)
                    b.touched = False  # touched again from here on: written by the next flush
                rows += [(self._meta, name.encode(), str(w).encode()) for name, w in closing.items()]
                rows += [(self.dbs[db], k, v) for db, k, v in extra]
                self._closed.update(closing)  # a late point for these now counts as late
                self._dirty = []
            try:
                with self.env.begin(write=True) as txn:
                    for db, k, v in rows:
                        txn.put(k, v, db=db)
            except self.lmdb.MapFullError:
                self.flush_errors += 1
                log.error("aggregator store is full; history not written this cycle (prune runs next)")
                with self.lock:
                    for t in dirty:
                        if not t[3].touched:
                            t[3].touched = True
                            self._dirty.append(t)
                return 0
            with self.lock:
                # Written by the previous flush, untouched since: closed in practice, dropped.
                now_written = {id(t[3]) for t in dirty}
                self._forget([t for t in self._prev if not t[3].touched and id(t[3]) not in now_written])
                self._prev = dirty
            return len(dirty)

    def _forget(self, buckets: list[tuple[str, str, int, Bucket]]) -> None:
        for res, dev, idx, b in buckets:
            mem = self._mem[res]
            per = mem.get(dev)
            if per is not None and per.get(idx) is b:
                del per[idx]
                if not per:
                    del mem[dev]

    def recover(self, now: float) -> None:
        """Rebuild the coarse buckets left open by the last run from the finer resolution:
        open ones into memory, ones that closed while the aggregator was down into LMDB."""
        with self.lock, self.env.begin(write=True) as txn:
            self._rebuilt = True
            devices = self._devices(txn)
            for fine, r in zip(self.resolutions, self.resolutions[1:]):
                stored = self._closed[r.name]
                closable = self._closable(r, now)
                # No watermark yet (a new store, or one written before them): every stored
                # bucket up to now's closable index is taken as final.
                first_open = stored + 1 if stored is not None else closable + 1
                w = max(first_open - 1, closable)
                ratio = r.step_s // fine.step_s
                for dev in devices:
                    rebuilt: dict[int, Bucket] = {}
                    for fidx, fb in self._finer(txn, fine.name, dev, first_open * ratio):
                        rebuilt.setdefault(fidx // ratio, Bucket()).absorb(fb)
                    for idx, b in rebuilt.items():
                        if idx <= w:
                            for db, k, v in self._rows(r.name, dev, idx, b):
                                txn.put(k, v, db=db)
                        else:
                            self._mem[r.name].setdefault(dev, {})[idx] = b
                txn.put(r.name.encode(), str(w).encode(), db=self._meta)
                self._closed[r.name] = w

    def _devices(self, txn: Any) -> list[str]:
        """Every device with finest-resolution history (one cursor jump per device)."""
        out = []
        cur = txn.cursor(db=self._scal[self.resolutions[0].name])
        ok = cur.first()
        while ok:
            dev = bytes(cur.key())[:-5]
            out.append(dev.decode("utf-8"))
            ok = cur.set_range(dev + b"\x01")
        return out

    def _finer(self, txn: Any, res: str, device: str, start: int) -> Iterator[tuple[int, Bucket]]:
        """Buckets of ``res`` from index ``start`` on: final ones from LMDB, open ones from memory."""
        closed = self._closed.get(res)
        mem = self._mem[res].get(device, {})
        cur = txn.cursor(db=self._scal[res])
        prefix = key(device, 0)[:-4]
        if cur.set_range(key(device, start)):
            for k, v in cur:
                k = bytes(k)
                if not k.startswith(prefix):
                    break
                idx = _IDX.unpack(k[-4:])[0]
                if idx in mem or (closed is not None and idx > closed):
                    continue
                yield idx, Bucket.load(v, txn.get(k, db=self._sk[res]), self.unpack)
        for idx in sorted(mem):
            if idx >= start:
                yield idx, mem[idx]

    def prune(self, now: float, devices: Iterable[str]) -> int:
        """Delete buckets older than each resolution's retention; returns how many."""
        deleted = 0
        with self.env.begin(write=True) as txn:
            for r in self.resolutions:
                cutoff = int((now - r.retention_s) // r.step_s)
                for dev in devices:
                    for db in (self._scal[r.name], self._sk[r.name]):
                        cur = txn.cursor(db=db)
                        start = key(dev, 0)
                        if not cur.set_range(start):
                            continue
                        while True:
                            k = bytes(cur.key())
                            if not k.startswith(start[:-4]) or _IDX.unpack(k[-4:])[0] >= cutoff:
                                break
                            if not cur.delete():
                                break
                            deleted += 1
        return deleted

    def delete_device(self, device: str) -> None:
        with self.lock:
            for per_dev in self._mem.values():
                per_dev.pop(device, None)
            self._hi.pop(device, None)
            self._dirty = [t for t in self._dirty if t[1] != device]
            self._prev = [t for t in self._prev if t[1] != device]
        with self.env.begin(write=True) as txn:
            for r in self.resolutions:
                for db in (self._scal[r.name], self._sk[r.name]):
                    cur = txn.cursor(db=db)
                    start = key(device, 0)
                    while cur.set_range(start) and bytes(cur.key()).startswith(start[:-4]):
                        cur.delete()

    # -- reading --------------------------------------------------------------------------
    def step(self, res: str) -> int:
        return next(r.step_s for r in self.resolutions if r.name == res)

    def _range(self, device: str, res: str, since: float, until: float | None) -> tuple[int, int]:
        step = self.step(res)
        return max(0, int(since // step)), 0xFFFFFFFF if until is None else int(until // step)

    def _stored(self, db: Any, res: str, device: str, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
        """LMDB rows of ``device`` in [lo, hi]; coarse rows past the closed index are stale."""
        closed = self._closed.get(res)
        hi = hi if closed is None else min(hi, closed)
        if hi < lo:
            return
        with self.env.begin() as txn:
            cur = txn.cursor(db=db)
            end = key(device, hi)
            if cur.set_range(key(device, lo)):
                for k, v in cur:
                    if bytes(k) > end:
                        break
                    yield _IDX.unpack(bytes(k[-4:]))[0], bytes(v)

    def _in_memory(self, device: str, res: str, lo: int, hi: int) -> dict[int, Bucket]:
        with self.lock:
            return {i: b for i, b in self._mem[res].get(device, {}).items() if lo <= i <= hi}

    def series(self, device: str, res: str, since: float, until: float | None = None) -> list[dict[str, Any]]:
        """Buckets of ``device`` from ``since`` on, oldest first, each with ``t`` (start); buckets
        still in memory (not yet flushed, or open coarse ones) are included."""
        step = self.step(res)
        lo, hi = self._range(device, res, since, until)
        with self.lock:  # memory first: a bucket flushed meanwhile is then read from memory
            rows = {i: self.unpack(self.pack(b.scalars()))  # the same shape as a stored row
                    for i, b in self._in_memory(device, res, lo, hi).items()}
        for i, v in self._stored(self._scal[res], res, device, lo, hi):
            if i not in rows:
                rows[i] = self.unpack(v)
        out = []
        for i in sorted(rows):
            d = rows[i]
            d["t"] = i * step
            out.append(d)
        return out

    def merged_sketch(self, device: str, res: str, since: float, until: float | None = None) -> LatencySketch:
        lo, hi = self._range(device, res, since, until)
        out = LatencySketch()
        with self.lock:
            mem = self._in_memory(device, res, lo, hi)
            for b in mem.values():
                sk = b.sketch()
                if sk is not None:
                    out.merge(sk)
        for i, v in self._stored(self._sk[res], res, device, lo, hi):
            if i not in mem:
                out.merge(LatencySketch.from_dict(self.unpack(v)))
        return out

    def items(self, db: str) -> list[tuple[bytes, bytes]]:
        with self.env.begin() as txn:
            return [(bytes(k), bytes(v)) for k, v in txn.cursor(db=self.dbs[db])]

    def prefix_items(self, db: str, prefix: bytes) -> list[tuple[bytes, bytes]]:
        out = []
        with self.env.begin() as txn:
            cur = txn.cursor(db=self.dbs[db])
            if cur.set_range(prefix):
                for k, v in cur:
                    if not bytes(k).startswith(prefix):
                        break
                    out.append((bytes(k), bytes(v)))
        return out

    def close(self) -> None:
        self.env.close()
