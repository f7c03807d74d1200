"""What one metrics message contributes (Point) and one time bucket accumulates (Bucket).

A bucket holds plain sums (snapshot count, questions, outcomes, gauge sums and counts) and the
merged answer-latency sketch, so its percentiles are exact up to the sketch's alpha (a merge,
never an average of percentiles). Its stored form is two records (``store_codec``): ``scalars()``
(what a chart needs, percentiles in ms) and ``sketch_dict()`` (the compact sketch), keyed by
``key(device, bucket index)`` at each ``Resolution``.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Callable

from nic_edge.core.sketch import DEFAULT_ALPHA, LatencySketch


Codec = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]
IDX = struct.Struct(">I")  # a bucket's index in an LMDB key, big-endian: keys sort by time
# Every box records latency with the default alpha (telemetry.metrics); sketches merge only
# bucket for bucket, so one of another gamma cannot join a bucket, a device or the fleet.
FLEET_GAMMA = (1.0 + DEFAULT_ALPHA) / (1.0 - DEFAULT_ALPHA)


@dataclass(frozen=True)
class Resolution:
    """One downsampling level: bucket width and how long its buckets are kept."""

    name: str
    step_s: int
    retention_s: int


DEFAULT_RESOLUTIONS = (
    Resolution("10s", 10, 6 * 3600),
    Resolution("5m", 300, 30 * 86400),
    Resolution("1h", 3600, 400 * 86400),
)


def key(device: str, idx: int) -> bytes:
    """LMDB key of bucket ``idx`` of ``device``: ``<device>\\0<idx, u32 big-endian>``."""
    return device.encode("utf-8") + b"\x00" + IDX.pack(idx)


def mergeable(sk: LatencySketch) -> bool:
    """Whether ``sk`` has the fleet's bucket layout (``LatencySketch.merge`` accepts it)."""
    return math.isclose(sk.gamma, FLEET_GAMMA, rel_tol=1e-12, abs_tol=0.0)


def read_sketch(d: Any) -> LatencySketch | None:
    """A stored sketch, or None for one of another gamma: ingestion refuses those now, but a
    store written before it did may hold some, and one must not fail every read of its device."""
    sk = LatencySketch.from_dict(d)
    return sk if mergeable(sk) else None


def store_codec() -> Codec:
    """(pack, unpack) for the aggregator's LMDB records: msgpack, as DESIGN.md says for data on
    disk (packing a bucket costs ~2 us against ~15 us for JSON). A value msgpack cannot hold (an
    integer beyond 64 bits, a string with a lone surrogate: JSON payloads can carry both) is
    stored as ASCII JSON; ``unpack`` reads both, and the JSON records of older versions."""
    import msgpack  # noqa: PLC0415 - lazy: heavy imports stay out of module import time

    packb, unpackb = msgpack.packb, msgpack.unpackb

    def pack(obj: Any) -> bytes:
        try:
            return packb(obj)  # type: ignore[no-any-return]
        except (OverflowError, TypeError, ValueError):
            return json.dumps(obj, separators=(",", ":")).encode()

    def unpack(raw: bytes) -> Any:
        raw = bytes(raw)
        return json.loads(raw) if raw[:1] == b"{" else unpackb(raw)  # a msgpack map never starts with "{"

    return pack, unpack


@dataclass(slots=True)
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
    """Sums of the points that fell into one time bucket. A bucket holding one point (the
    common 10 s case) only keeps that point (``lazy``) and reads its sums from it."""

    __slots__ = ("n", "q", "an", "ab", "er", "sk", "owned", "single", "g", "touched", "lazy")

    def __init__(self) -> None:
        self.n = self.q = self.an = self.ab = self.er = 0
        self.sk: LatencySketch | None = None
        self.owned = False              # False while sk is borrowed from a Point
        self.single: Point | None = None  # the only point so far (its raw/pct are exact)
        self.g: dict[str, list[float]] = {}
        self.touched = True
        self.lazy = False               # True: n == 1 and the sums are still only in ``single``

    def _merge_sketch(self, sk: LatencySketch | None, borrow: bool = True) -> None:
        """Merge ``sk`` in; borrow it (no copy) only when it is never mutated (a Point's)."""
        if sk is None or not sk.count:
            return
        if self.sk is None:
            self.sk, self.owned = (sk, False) if borrow else (sk.copy(), True)
            return
        if not self.owned:
            self.sk, self.owned = self.sk.copy(), True
        self.sk.merge(sk)

    def add(self, p: Point) -> None:
        self.touched = True
        if self.n == 0:
            self.single, self.n, self.lazy = p, 1, True
            return
        if self.lazy:
            self._materialise()
        self.single = None
        self._sum(p)

    def _materialise(self) -> None:
        p = self.single
        assert p is not None
        self.lazy, self.n = False, 0
        self._sum(p)

    def _sum(self, p: Point) -> None:
        self.n += 1
        self.q += p.questions
        self.an += p.answered
        self.ab += p.abstained
        self.er += p.errors
        self._merge_sketch(p.sketch)
        if p.gauges:
            g = self.g
            for k, v in p.gauges.items():
                acc = g.get(k)
                if acc is None:
                    g[k] = [v, 1]
                else:
                    acc[0] += v
                    acc[1] += 1

    def absorb(self, other: "Bucket") -> None:
        """Add a finer bucket's totals (rebuilding a coarse bucket from the finer resolution)."""
        if other.lazy:
            assert other.single is not None
            self.add(other.single)
            return
        if not other.n:
            return
        if self.lazy:
            self._materialise()
        self.single = None
        self.n += other.n
        self.q += other.q
        self.an += other.an
        self.ab += other.ab
        self.er += other.er
        self._merge_sketch(other.sk, borrow=False)  # other may still grow
        for k, (s, c) in other.g.items():
            acc = self.g.setdefault(k, [0.0, 0])
            acc[0] += s
            acc[1] += c
        self.touched = True

    def scalars(self) -> dict[str, Any]:
        p = self.single
        if self.lazy:
            assert p is not None
            g = {k: [v, 1] for k, v in p.gauges.items()} if p.gauges else {}
            out: dict[str, Any] = {"n": 1, "q": p.questions, "an": p.answered, "ab": p.abstained,
                                   "er": p.errors, "g": g}
            sk = p.sketch
        else:
            out = {"n": self.n, "q": self.q, "an": self.an, "ab": self.ab, "er": self.er, "g": self.g}
            sk = self.sk
        if sk is not None and sk.count:
            pct = p.pct if p is not None and p.sketch is sk else None
            p50, p95, p99 = pct or sk.quantiles((0.5, 0.95, 0.99))
            out.update(p50=p50 * 1000.0, p95=p95 * 1000.0, p99=p99 * 1000.0)
        return out

    def sketch(self) -> LatencySketch | None:
        if self.lazy:
            assert self.single is not None
            return self.single.sketch if self.single.sketch is not None and self.single.sketch.count else None
        return self.sk

    def sketch_dict(self) -> dict[str, Any] | None:
        sk = self.sketch()
        if sk is None:
            return None
        p = self.single
        if p is not None and p.sketch is sk and p.raw is not None and p.raw.get("v") == 2:
            return p.raw  # the device's own compact encoding of this very sketch
        return sk.to_compact()

    @classmethod
    def load(cls, scal: bytes | None, sk: bytes | None, unpack: Callable[[bytes], Any]) -> "Bucket":
        b = cls()
        if scal is not None:
            d = unpack(scal)
            b.n, b.q, b.an, b.ab, b.er = d["n"], d["q"], d["an"], d["ab"], d["er"]
            b.g = {k: list(v) for k, v in d.get("g", {}).items()}
        if sk is not None:
            b.sk, b.owned = read_sketch(unpack(sk)), True
        b.touched = False
        return b


def drop_unwritable(by_db: dict[Any, list[tuple[bytes, bytes]]], limit: int) -> list[bytes]:
    """Remove (and return the keys of) records whose key LMDB cannot hold (over ``limit``, its
    511-byte maximum, or empty): one such record would fail the whole transaction."""
    bad: list[bytes] = []
    for db, items in by_db.items():
        if any(not 0 < len(k) <= limit for k, _ in items):
            bad += [k for k, _ in items if not 0 < len(k) <= limit]
            by_db[db] = [(k, v) for k, v in items if 0 < len(k) <= limit]
    return bad
