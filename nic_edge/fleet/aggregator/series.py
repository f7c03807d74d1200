"""Downsampled per-device time series in LMDB, one database per resolution.

Each resolution (10 s kept 6 h, 5 min kept 30 days, 1 h kept 400 days) has two databases keyed
``<device>\\0<bucket index, big-endian u32>``: ``s:<res>`` holds the plain numbers a chart needs
(JSON: snapshot count, questions, outcomes, p50/p95/p99 in ms, gauge sums), ``k:<res>`` holds the
merged latency sketch, so charts never decode sketches and percentiles of a bucket are exact
(sketch merge, never an average of percentiles).

Buckets being filled live in memory and are written by ``flush`` in ONE write transaction
together with whatever the caller passes (device records holding the de-dup window), so after a
crash the store and the de-dup state agree: a replayed message is either fully counted or not at
all. A bucket not touched during one flush cycle is dropped from memory; a late message for it
reloads it from LMDB first, so merges accumulate across restarts.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from nic_edge.core.sketch import LatencySketch
from nic_edge.core.storage import import_lmdb, open_env

log = logging.getLogger(__name__)

MARKER = b"nic-aggregator-series-v1"
_IDX = struct.Struct(">I")
GAUGES = ("hit", "rss", "budget", "temp", "cpu", "disk_free", "disk_total")


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


@dataclass
class Point:
    """What one metrics message contributes to every bucket it lands in.

    ``sketch`` is shared by every bucket it lands in (copied on the first merge, never
    mutated); ``raw`` is its wire dict and ``pct`` the box's own p50/p95/p99 of it (seconds),
    used as they are while a bucket holds that one snapshot (the common 10 s case), which
    saves a quantile pass and a re-encode per point.
    """

    ts: float
    questions: int = 0
    answered: int = 0
    abstained: int = 0
    errors: int = 0
    sketch: LatencySketch | None = None
    gauges: dict[str, float] | None = None
    raw: dict[str, Any] | None = None
    pct: tuple[float, float, float] | None = None


class Bucket:
    __slots__ = ("n", "q", "an", "ab", "er", "sk", "owned", "single", "g", "touched")

    def __init__(self) -> None:
        self.n = self.q = self.an = self.ab = self.er = 0
        self.sk: LatencySketch | None = None
        self.owned = False              # False while sk is borrowed from a Point
        self.single: Point | None = None  # the only point so far (its raw/pct are exact)
        self.g: dict[str, list[float]] = {}
        self.touched = True

    def add(self, p: Point) -> None:
        self.single = p if self.n == 0 else None
        self.n += 1
        self.q += p.questions
        self.an += p.answered
        self.ab += p.abstained
        self.er += p.errors
        if p.sketch is not None and p.sketch.count:
            if self.sk is None:
                self.sk, self.owned = p.sketch, False
            else:
                if not self.owned:
                    self.sk, self.owned = self.sk.copy(), True
                self.sk.merge(p.sketch)
        if p.gauges:
            g = self.g
            for k, v in p.gauges.items():
                acc = g.get(k)
                if acc is None:
                    g[k] = [v, 1]
                else:
                    acc[0] += v
                    acc[1] += 1
        self.touched = True

    def scalars(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "q": self.q, "an": self.an, "ab": self.ab, "er": self.er, "g": self.g}
        if self.sk is not None and self.sk.count:
            single = self.single
            pct = single.pct if single is not None and single.sketch is self.sk else None
            p50, p95, p99 = pct or self.sk.quantiles((0.5, 0.95, 0.99))
            out.update(p50=p50 * 1000.0, p95=p95 * 1000.0, p99=p99 * 1000.0)
        return out

    def sketch_dict(self) -> dict[str, Any] | None:
        if self.sk is None:
            return None
        single = self.single
        if single is not None and single.sketch is self.sk and single.raw is not None:
            return single.raw
        return self.sk.to_dict()

    @classmethod
    def load(cls, scal: bytes | None, sk: bytes | None) -> "Bucket":
        b = cls()
        if scal is not None:
            d = json.loads(bytes(scal))
            b.n, b.q, b.an, b.ab, b.er = d["n"], d["q"], d["an"], d["ab"], d["er"]
            b.g = {k: list(v) for k, v in d.get("g", {}).items()}
        if sk is not None:
            b.sk, b.owned = LatencySketch.from_dict(json.loads(bytes(sk))), True
        return b


def json_dumps() -> Callable[[Any], bytes]:
    try:
        import orjson  # noqa: PLC0415 - optional accelerator (several times faster on sketches)
    except ImportError:
        return lambda obj: json.dumps(obj, separators=(",", ":")).encode()
    return orjson.dumps


def key(device: str, idx: int) -> bytes:
    return device.encode("utf-8") + b"\x00" + _IDX.pack(idx)


class SeriesStore:
    """The LMDB environment of the aggregator: time series plus caller-managed side databases."""

    def __init__(self, path: Path | str, map_size: int = 8 << 30,
                 resolutions: tuple[Resolution, ...] = DEFAULT_RESOLUTIONS,
                 side_dbs: tuple[str, ...] = ("devices", "alerts")) -> None:
        self.lmdb = import_lmdb()
        self.resolutions = resolutions
        opened = open_env(path, map_size, marker=MARKER, max_dbs=2 * len(resolutions) + len(side_dbs) + 1)
        if opened.recovered:
            log.error("aggregator store %s was unusable (%s); history restarted empty (old copy: %s)",
                      path, opened.reason, opened.moved_to)
        self.recovered = opened.recovered
        self.env = opened.env
        self._scal = {r.name: self.env.open_db(f"s:{r.name}".encode()) for r in resolutions}
        self._sk = {r.name: self.env.open_db(f"k:{r.name}".encode()) for r in resolutions}
        self.dbs = {name: self.env.open_db(name.encode()) for name in side_dbs}
        self._open: dict[tuple[str, str, int], Bucket] = {}
        self.points_dropped_old = 0
        self.flush_errors = 0
        self._dumps = json_dumps()

    # -- writing --------------------------------------------------------------------------
    def add(self, device: str, p: Point, now: float) -> None:
        """Fold one point into each resolution's bucket (points past retention are ignored)."""
        ts = min(p.ts, now + 300.0)  # a box clock far in the future must not pin a bucket forever
        for r in self.resolutions:
            if ts < now - r.retention_s:
                self.points_dropped_old += 1
                continue
            idx = int(ts // r.step_s)
            k = (r.name, device, idx)
            b = self._open.get(k)
            if b is None:
                b = self._open[k] = self._load(r.name, device, idx)
            b.add(p)

    def _load(self, res: str, device: str, idx: int) -> Bucket:
        kk = key(device, idx)
        with self.env.begin() as txn:
            scal = txn.get(kk, db=self._scal[res])
            sk = txn.get(kk, db=self._sk[res])
        return Bucket.load(scal, sk) if scal is not None else Bucket()

    def flush(self, puts: Iterable[tuple[str, bytes, bytes]] = ()) -> int:
        """Write touched buckets plus ``puts`` (db name, key, value) in one transaction."""
        dirty = [(k, b) for k, b in self._open.items() if b.touched]
        puts = list(puts)
        if not dirty and not puts:
            return 0
        dumps = self._dumps
        try:
            with self.env.begin(write=True) as txn:
                for (res, device, idx), b in dirty:
                    kk = key(device, idx)
                    txn.put(kk, dumps(b.scalars()), db=self._scal[res])
                    skd = b.sketch_dict()
                    if skd is not None:
                        txn.put(kk, dumps(skd), db=self._sk[res])
                for db, k, v in puts:
                    txn.put(k, v, db=self.dbs[db])
        except self.lmdb.MapFullError:
            self.flush_errors += 1
            log.error("aggregator store is full; history not written this cycle (prune runs next)")
            return 0
        # Buckets untouched for a whole cycle are closed in practice; drop them from memory.
        for k in [k for k, b in self._open.items() if not b.touched]:
            del self._open[k]
        for _, b in dirty:
            b.touched = False
        return len(dirty)

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

    def series(self, device: str, res: str, since: float, until: float | None = None) -> list[dict[str, Any]]:
        """Stored buckets of ``device`` from ``since`` on, oldest first, each with ``t`` (start)."""
        step = self.step(res)
        lo, hi = key(device, max(0, int(since // step))), key(device, 0xFFFFFFFF if until is None else int(until // step))
        out: list[dict[str, Any]] = []
        with self.env.begin() as txn:
            cur = txn.cursor(db=self._scal[res])
            if cur.set_range(lo):
                for k, v in cur:
                    if bytes(k) > hi:
                        break
                    d = json.loads(bytes(v))
                    d["t"] = _IDX.unpack(bytes(k[-4:]))[0] * step
                    out.append(d)
        return out

    def merged_sketch(self, device: str, res: str, since: float, until: float | None = None) -> LatencySketch:
        step = self.step(res)
        lo, hi = key(device, max(0, int(since // step))), key(device, 0xFFFFFFFF if until is None else int(until // step))
        out = LatencySketch()
        with self.env.begin() as txn:
            cur = txn.cursor(db=self._sk[res])
            if cur.set_range(lo):
                for k, v in cur:
                    if bytes(k) > hi:
                        break
                    out.merge(LatencySketch.from_dict(json.loads(bytes(v))))
        return out

    def recent_sketch(self, device: str, res: str, since: float, now: float) -> LatencySketch:
        """Merged sketch of the buckets from ``since`` to ``now``; open buckets from memory."""
        step = self.step(res)
        out = LatencySketch()
        missing = []
        for idx in range(int(since // step), int(now // step) + 1):
            b = self._open.get((res, device, idx))
            if b is None:
                missing.append(idx)
            elif b.sk is not None:
                out.merge(b.sk)
        if missing:
            with self.env.begin() as txn:
                for idx in missing:
                    raw = txn.get(key(device, idx), db=self._sk[res])
                    if raw is not None:
                        out.merge(LatencySketch.from_dict(json.loads(bytes(raw))))
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
