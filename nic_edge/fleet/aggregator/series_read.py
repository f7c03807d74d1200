"""Reading the aggregator's time series: what charts, analytics and the overview ask for.

``SeriesReads`` is a mixin of ``SeriesStore`` (series.py, which owns the state it reads): a
bucket is read from memory while it is there (a finest one pending a flush; an open coarse one
together with the open finer buckets it has not been passed yet), else from LMDB, where coarse
rows past their resolution's closed index are stale.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator

from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator.buckets import IDX, Bucket, Resolution, key, read_sketch


class SeriesReads:
    # provided by SeriesStore
    env: Any
    lock: threading.RLock
    resolutions: tuple[Resolution, ...]
    dbs: dict[str, Any]
    _fine: Resolution
    _coarse: tuple[Resolution, ...]
    _scal: dict[str, Any]
    _sk: dict[str, Any]
    _closed: dict[str, int | None]
    _mem: dict[str, dict[str, dict[int, Bucket]]]
    _pending: dict[str, dict[int, tuple[bytes, bytes | None]]]
    _writing: dict[str, dict[int, tuple[bytes, bytes | None]]]
    pack: Any
    unpack: Any

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
                    yield IDX.unpack(bytes(k[-4:]))[0], bytes(v)

    def _in_memory(self, device: str, res: str, lo: int, hi: int) -> dict[int, Bucket]:
        """Buckets of ``res`` in [lo, hi] not (or not yet) in LMDB, as a reader should see them:
        finest ones pending a flush, and coarse ones with what their open finer buckets hold
        and have not passed on yet. Not to be mutated."""
        with self.lock:
            if res == self._fine.name:
                recs = {**self._writing.get(device, {}), **self._pending.get(device, {})}
                return {i: Bucket.load(*v, self.unpack) for i, v in recs.items() if lo <= i <= hi}
            mem = self._mem[res].get(device, {})
            out = {i: b for i, b in mem.items() if lo <= i <= hi}
            level = next(i for i, r in enumerate(self._coarse) if r.name == res)
            if level == 0:
                return out
            finer = self._coarse[level - 1]
            ratio = self.step(res) // finer.step_s
            closed = self._closed[finer.name]
            for fi, fb in self._in_memory(device, finer.name, lo * ratio, hi * ratio + ratio - 1).items():
                if closed is not None and fi <= closed:
                    continue  # closed: already passed on
                i = fi // ratio
                view = out.get(i)
                if view is None or view is mem.get(i):  # a copy: the stored bucket stays as it is
                    fresh = Bucket()
                    if view is not None:
                        fresh.absorb(view)
                    out[i] = view = fresh
                view.absorb(fb)
            return out

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
        out = LatencySketch()
        for sk in self.sketches(device, res, since, until).values():
            out.merge(sk)
        return out

    def sketches(self, device: str, res: str, since: float, until: float | None = None) -> dict[int, LatencySketch]:
        """Each bucket's latency sketch in the range, by bucket index (one read for all of them).
        Sketches of buckets still in memory are theirs: merge from them, never into them."""
        lo, hi = self._range(device, res, since, until)
        out: dict[int, LatencySketch] = {}
        with self.lock:
            mem = self._in_memory(device, res, lo, hi)
            for i, b in mem.items():
                sk = b.sketch()
                if sk is not None:
                    out[i] = sk
        for i, v in self._stored(self._sk[res], res, device, lo, hi):
            if i not in mem and (sk := read_sketch(self.unpack(v))) is not None:
                out[i] = sk
        return out

    def items(self, db: str) -> list[tuple[bytes, bytes]]:
        with self.env.begin() as txn:
            return [(bytes(k), bytes(v)) for k, v in txn.cursor(db=self.dbs[db])]

    def delete_side(self, db: str, keys: list[bytes], prefix: bool = False) -> None:
        """Delete side records in one transaction: these keys, or with ``prefix`` every record
        whose key starts with one of them."""
        with self.env.begin(write=True) as txn:
            cur = txn.cursor(db=self.dbs[db])
            for k in keys:
                if not prefix:
                    txn.delete(k, db=self.dbs[db])
                    continue
                while cur.set_range(k) and bytes(cur.key()).startswith(k):
                    cur.delete()

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
