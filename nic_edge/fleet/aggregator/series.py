"""Downsampled per-device time series in LMDB, one database pair per resolution.

Each resolution (10 s kept 6 h, 5 min kept 30 days, 1 h kept 400 days) has two databases keyed
``<device>\\0<bucket index, big-endian u32>``: ``s:<res>`` holds the plain numbers a chart needs
(msgpack, buckets.store_codec: snapshot count, questions, outcomes, p50/p95/p99 in ms, gauge sums), ``k:<res>`` holds the
merged latency sketch (buckets.py), so charts never decode sketches and percentiles of a bucket
are exact (sketch merge, never an average of percentiles).

Write path (the aggregator's per-message cost), three kinds of resolution:
- the finest (10 s): a message's bucket is normally new and holds that message alone, so its two
  records are packed at once (bytes, not objects: nothing per message outlives the call for the
  garbage collector to scan again and again) and written at the next ``flush`` (every 0.5 s),
  with what the caller passes (device records holding the de-dup window), in ONE transaction.
  A second message for the same bucket merges with the pending or stored record;
- the first coarse one (5 min): a message folds into its open bucket in memory;
- coarser ones (1 h): fed by the finer coarse buckets as they close, not per message.
Coarse buckets are written once, when they close (their end + CLOSE_GRACE_S has passed;
``series-meta`` keeps each coarse resolution's closed-through index). A message for a closed
bucket (a replay, a queue drained after an outage) reloads, merges and rewrites it, and goes
straight into the next coarser bucket too (the closed one already passed its contents on).
Readers (series_read.py) see open coarse buckets with the open finer ones not yet passed on.

Crash consistency: the finest buckets and the de-dup state are written together. Open coarse
buckets live in memory only; ``recover`` (at start) rebuilds them, and any that closed while the
aggregator was down, from the next finer resolution (the first coarse one from all finest
buckets, coarser ones from closed finer ones): a replayed message is counted at every
resolution exactly once, or nowhere. Coarse steps must nest (10 s | 5 min | 1 h).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from nic_edge.core.storage import import_lmdb, open_env
from nic_edge.fleet.aggregator.buckets import (DEFAULT_RESOLUTIONS, IDX, Bucket, Point, Resolution,
                                               drop_unwritable, key, store_codec)
from nic_edge.fleet.aggregator.series_read import SeriesReads

log = logging.getLogger(__name__)

MARKER = b"nic-aggregator-series-v1"
CLOSE_GRACE_S = 30.0  # a coarse bucket is written this long after its end (late ones: rewritten)
_META_DB = b"series-meta"


class SeriesStore(SeriesReads):
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
        self._fine = resolutions[0]
        self._coarse = resolutions[1:]
        # finest resolution: device -> bucket index -> packed (scalars, sketch) records waiting
        # for the next flush, and those of the flush being committed right now
        self._pending: dict[str, dict[int, tuple[bytes, bytes | None]]] = {}
        self._writing: dict[str, dict[int, tuple[bytes, bytes | None]]] = {}
        # coarse resolutions: open buckets, and closed ones touched lately
        self._mem: dict[str, dict[str, dict[int, Bucket]]] = {r.name: {} for r in self._coarse}
        with self.env.begin() as txn:
            stored = {r.name: txn.get(r.name.encode(), db=self._meta) for r in resolutions[1:]}
        # coarse resolution -> highest closed (final, in LMDB) bucket index; None: not known yet
        self._closed: dict[str, int | None] = {n: None if v is None else int(v) for n, v in stored.items()}
        self._hi: dict[str, int] = {}  # device -> highest finest-bucket index stored or in memory
        # (res, device, idx, bucket) to write at the next flush: closed coarse buckets touched by
        # a late point (and, during a flush, the ones closing); and those written last time.
        self._dirty: list[tuple[str, str, int, Bucket]] = []
        self._prev: list[tuple[str, str, int, Bucket]] = []
        self._rebuilt = False
        self.points_dropped_old = 0
        self.flush_errors = 0
        self.records_dropped = 0  # records LMDB could not hold (see _drop_unwritable)
        self.pack, self.unpack = store_codec()

    # -- writing --------------------------------------------------------------------------
    def add(self, device: str, p: Point, now: float) -> None:
        """Fold one point into the finest bucket and the first coarse one (coarser ones get it
        when that closes, or now if it is closed already); points past retention are ignored."""
        if not self._rebuilt:
            self.recover(now)
        ts = min(p.ts, now + 300.0)  # a box clock far in the future must not pin a bucket forever
        r = self._fine
        if ts >= now - r.retention_s:
            self._add_fine(device, int(ts // r.step_s), p)
        else:
            self.points_dropped_old += 1
        carried = False  # True once an open coarse bucket holds the point: it passes it on
        for r in self._coarse:
            if ts < now - r.retention_s:
                self.points_dropped_old += 1
                carried = False
                continue
            if carried:
                continue
            idx = int(ts // r.step_s)
            b, closed = self._bucket(r.name, device, idx)
            b.add(p)
            carried = not closed

    def _add_fine(self, device: str, idx: int, p: Point) -> None:
        pend = self._pending.get(device)
        if pend is None:
            pend = self._pending[device] = {}
        prev = pend.get(idx)
        if prev is None:
            prev = self._writing.get(device, {}).get(idx)  # being committed by a flush right now
        if prev is None and self._maybe_stored(device, idx):
            kk = key(device, idx)
            with self.env.begin() as txn:
                scal = txn.get(kk, db=self._scal[self._fine.name])
                prev = None if scal is None else (scal, txn.get(kk, db=self._sk[self._fine.name]))
        b = Bucket() if prev is None else Bucket.load(prev[0], prev[1], self.unpack)
        b.add(p)  # the common case: a new bucket holding this one point
        skd = b.sketch_dict()
        pend[idx] = (self.pack(b.scalars()), None if skd is None else self.pack(skd))

    def _maybe_stored(self, device: str, idx: int) -> bool:
        """False when ``idx`` is past every finest bucket of ``device`` stored (no read needed)."""
        hi = self._hi.get(device)
        if hi is None:
            hi = self._last_idx(self._fine.name, device)
        self._hi[device] = max(hi, idx)
        return idx <= hi

    def _bucket(self, res: str, device: str, idx: int) -> tuple[Bucket, bool]:
        """The coarse bucket ``idx`` of ``device`` (from memory, LMDB or new) and whether it is
        closed; a closed one is queued to be rewritten at the next flush."""
        mem = self._mem[res]
        per = mem.get(device)
        if per is None:
            per = mem[device] = {}
        closed = idx <= self._closed[res]  # type: ignore[operator]  # set by recover
        b = per.get(idx)
        if b is None:
            b = per[idx] = self._load(res, device, idx) if closed else Bucket()
            if closed:
                self._dirty.append((res, device, idx, b))
        elif closed and not b.touched:
            self._dirty.append((res, device, idx, b))  # written last flush, touched again
        return b, closed

    def _load(self, res: str, device: str, idx: int) -> Bucket:
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
        return IDX.unpack(k[-4:])[0] if k.startswith(prefix) else -1

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
        """Write pending finest buckets, coarse ones that closed (passing each on to the next
        coarser resolution first) or were touched late, and ``puts()`` (db name, key, value;
        called under the lock) in one transaction; returns how many buckets were written.

        The records are encoded under the lock (a consistent snapshot); the transaction and its
        fsync run without it, so ingestion goes on meanwhile. Not to be called holding ``lock``."""
        now = time.time() if now is None else now
        with self._flush_lock:
            with self.lock:
                if not self._rebuilt:
                    self.recover(now)
                closing: dict[str, int] = {}
                moved = False
                dirty = self._dirty
                for i, r in enumerate(self._coarse):  # finer first: they feed the coarser ones
                    was = -1 if self._closed[r.name] is None else self._closed[r.name]
                    w = closing[r.name] = max(was, self._closable(r, now))  # type: ignore[type-var]
                    if w == was:
                        continue
                    moved = True
                    # open buckets that closed since the last flush: written once, now
                    closed_now = [(r.name, dev, idx, b) for dev, per in self._mem[r.name].items()
                                  for idx, b in per.items() if was < idx <= w]
                    dirty += closed_now
                    self._closed[r.name] = w  # a late point for these now counts as late
                    if i + 1 < len(self._coarse):
                        up = self._coarse[i + 1]
                        ratio = up.step_s // r.step_s
                        for _, dev, idx, b in closed_now:
                            self._bucket(up.name, dev, idx // ratio)[0].absorb(b)
                extra = puts() if puts is not None else []
                writing = self._pending
                if not dirty and not extra and not writing and not moved:
                    return 0
                fine = self._fine.name
                scal, sk = self._scal[fine], self._sk[fine]
                by_db: dict[Any, list[tuple[bytes, bytes]]] = {scal: [], sk: []}
                scal_rows, sk_rows = by_db[scal], by_db[sk]
                written = 0
                for dev, per in writing.items():
                    prefix = dev.encode("utf-8") + b"\x00"  # key(dev, idx)
                    for idx, (sv, kv) in per.items():
                        kk = prefix + IDX.pack(idx)
                        scal_rows.append((kk, sv))
                        if kv is not None:
                            sk_rows.append((kk, kv))
                    written += len(per)
                rows = []
                for res, dev, idx, b in dirty:
                    rows += self._rows(res, dev, idx, b)
                    b.touched = False  # touched again from here on: written by the next flush
                rows += [(self._meta, name.encode(), str(w).encode()) for name, w in closing.items()]
                rows += [(self.dbs[db], k, v) for db, k, v in extra]
                for db, k, v in rows:
                    by_db.setdefault(db, []).append((k, v))
                bad = drop_unwritable(by_db, self.env.max_key_size())
                if bad:  # one record LMDB cannot hold must not fail every commit (and render)
                    self.records_dropped += len(bad)
                    log.error("aggregator: %d record(s) with an unusable key dropped (e.g. %r)", len(bad), bad[0][:80])
                self._dirty = []
                self._pending, self._writing = {}, writing
            try:
                with self.env.begin(write=True) as txn:
                    for db, items in by_db.items():  # one C loop per database
                        if items:
                            txn.cursor(db=db).putmulti(items)
            except Exception as exc:  # nothing was written: everything goes back for the next flush
                self.flush_errors += 1
                full = isinstance(exc, self.lmdb.MapFullError)
                if full:
                    log.error("aggregator store is full; history not written this cycle (prune runs next)")
                with self.lock:
                    for t in dirty:
                        if not t[3].touched:
                            t[3].touched = True
                            self._dirty.append(t)
                    for dev, per in writing.items():  # a newer pending record already holds these
                        newer = self._pending.setdefault(dev, {})
                        for idx, recs in per.items():
                            newer.setdefault(idx, recs)
                    self._writing = {}
                if not full:
                    raise
                return 0
            with self.lock:
                self._writing = {}
                # Written by the previous flush, untouched since: closed in practice, dropped.
                now_written = {id(t[3]) for t in dirty}
                self._forget([t for t in self._prev if not t[3].touched and id(t[3]) not in now_written])
                self._prev = dirty
            return written + len(dirty)

    def _forget(self, buckets: list[tuple[str, str, int, Bucket]]) -> None:
        for res, dev, idx, b in buckets:
            mem = self._mem[res]
            per = mem.get(dev)
            if per is not None and per.get(idx) is b:
                del per[idx]
                if not per:
                    del mem[dev]

    def recover(self, now: float) -> None:
        """Rebuild the coarse buckets left open by the last run from the finer resolution (the
        first coarse one from every finest bucket, coarser ones from closed finer buckets):
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
                    for fidx, fb in self._finer(txn, fine, dev, first_open * ratio):
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

    def _finer(self, txn: Any, r: Resolution, device: str, start: int) -> Iterator[tuple[int, Bucket]]:
        """Buckets of ``r`` from index ``start`` on that feed the next coarser resolution: every
        finest one (LMDB, or pending in memory), or the closed ones of a coarse resolution."""
        res = r.name
        if r is self._fine:
            closed, mem = None, {i: Bucket.load(*recs, self.unpack)
                                 for i, recs in {**self._writing.get(device, {}), **self._pending.get(device, {})}.items()}
        else:
            closed = self._closed[res]
            mem = {i: b for i, b in self._mem[res].get(device, {}).items() if closed is not None and i <= closed}
        cur = txn.cursor(db=self._scal[res])
        prefix = key(device, 0)[:-4]
        if cur.set_range(key(device, start)):
            for k, v in cur:
                k = bytes(k)
                if not k.startswith(prefix):
                    break
                idx = IDX.unpack(k[-4:])[0]
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
                            if not k.startswith(start[:-4]) or IDX.unpack(k[-4:])[0] >= cutoff:
                                break
                            if not cur.delete():
                                break
                            deleted += 1
        return deleted

    def delete_device(self, device: str) -> None:
        with self.lock:
            for per_dev in (*self._mem.values(), self._pending, self._writing):
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

    def close(self) -> None:
        self.env.close()
