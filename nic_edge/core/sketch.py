"""LatencySketch: a mergeable, fixed-memory quantile sketch (DDSketch-style), pure Python.

Values above ``tiny`` fall into logarithmic buckets: bucket ``i`` holds ``(gamma**(i-1), gamma**i]``
with ``gamma = (1 + alpha) / (1 - alpha)``, and is reported as ``2 * gamma**i / (gamma + 1)``, so
every quantile is within ``alpha`` relative error of a true sample value (alpha = 1 % by default):
the nearest-rank sample (the smallest sample with at least a share q of all samples at or below it).
Values ``<= tiny`` (and negatives) count in a zero bucket. Count, sum, min and max are exact.

Why this shape: the device records latencies on the hot path (``add`` must cost ~1 µs in
CPython), the MQTT snapshot ships the buckets, and the fleet aggregator merges sketches from many
boxes bucket by bucket, so fleet-wide p99 is exact up to alpha instead of an average of p99s.

Two wire forms, both accepted by ``from_dict``: v1 ``to_dict`` (bucket keys as JSON object
keys) and v2 ``to_compact`` (sorted keys delta-encoded and counts as two integer arrays), which is
what MQTT snapshots and the aggregator's store carry: about half the bytes, and a decoder does
no per-bucket string parsing (the fleet aggregator decodes one per message).

Memory is bounded: beyond ``max_bins`` buckets the lowest ones are folded into the lowest kept
bucket (only the low quantiles lose accuracy). With alpha = 1 % and tiny = 1 ns, 2048 buckets span
1 ns .. ~10^9 s, so latency data never collapses in practice and merging is exact.

No numpy: this module is imported by the device core and by the fleet aggregator alike.
"""

from __future__ import annotations

import math
from itertools import accumulate, islice
from typing import Any

WIRE_VERSION = 1
COMPACT_VERSION = 2
DEFAULT_ALPHA = 0.01
DEFAULT_MAX_BINS = 2048
DEFAULT_TINY = 1e-9
# Accepted from the wire: a peer may use a larger max_bins, but not an unbounded one.
MAX_WIRE_BINS = 8192
_MAX_LOG_VALUE = 700.0  # gamma**i must stay a finite float
_KEYS_V1 = frozenset({"v", "g", "b", "z", "n", "s", "mn", "mx"})
_KEYS_V2 = frozenset({"v", "g", "k", "c", "z", "n", "s", "mn", "mx"})
_INT_ONLY = {int}
_FLOATY = (float, int)  # exact JSON number types (not bool)
_DERIVED: dict[float, tuple[float, float, float]] = {}  # gamma -> (alpha, log gamma, 1 / log gamma)


class LatencySketch:
    """Log-bucketed histogram with bounded relative error; see the module docstring."""

    __slots__ = ("alpha", "gamma", "max_bins", "tiny", "_inv_log_gamma", "_log_gamma",
                 "bins", "zero", "count", "sum", "min", "max", "_keys")

    def __init__(self, rel_err: float = DEFAULT_ALPHA, max_bins: int = DEFAULT_MAX_BINS,
                 tiny: float = DEFAULT_TINY, *, gamma: float | None = None) -> None:
        if gamma is None:
            if not (isinstance(rel_err, (int, float)) and 0.0 < rel_err < 1.0):
                raise ValueError("rel_err must be between 0 and 1 (exclusive)")
            gamma = (1.0 + rel_err) / (1.0 - rel_err)
        if not (math.isfinite(gamma) and gamma > 1.0):
            raise ValueError("gamma must be a finite number > 1")
        if not (isinstance(max_bins, int) and max_bins >= 2):
            raise ValueError("max_bins must be an integer >= 2")
        if not (math.isfinite(tiny) and tiny > 0.0):
            raise ValueError("tiny must be a finite number > 0")
        self.gamma = float(gamma)
        self.alpha = (self.gamma - 1.0) / (self.gamma + 1.0)
        self.max_bins = max_bins
        self.tiny = float(tiny)
        self._log_gamma = math.log(self.gamma)
        self._inv_log_gamma = 1.0 / self._log_gamma  # multiply, not divide, on the hot path
        self.bins: dict[int, int] = {}
        self.zero = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._keys: list[int] | None = []  # sorted bucket keys; None = stale

    # -- recording -------------------------------------------------------------------------
    def add(self, v: float) -> None:
        """Record one value. NaN and infinities raise ValueError; negatives count as zero."""
        if self.tiny < v < math.inf:
            k = math.ceil(math.log(v) * self._inv_log_gamma)
            bins = self.bins
            c = bins.get(k)
            if c is None:
                bins[k] = 1
                self._keys = None  # only a new key changes the sorted key list
                if len(bins) > self.max_bins:
                    self._collapse()
            else:
                bins[k] = c + 1
        elif -math.inf < v <= self.tiny:
            self.zero += 1
        else:
            raise ValueError(f"cannot record non-finite value {v!r}")
        self.count += 1
        self.sum += v
        if v < self.min:
            self.min = v
        if v > self.max:
            self.max = v

    def _collapse(self) -> None:
        """Fold the lowest buckets into the lowest kept one (bounded memory)."""
        keys = sorted(self.bins)
        cut = len(keys) - self.max_bins
        target = keys[cut]
        moved = 0
        for k in keys[:cut]:
            moved += self.bins.pop(k)
        self.bins[target] += moved
        self._keys = keys[cut:]

    def merge(self, other: "LatencySketch") -> None:
        """Add ``other``'s observations into this sketch (exact, bucket by bucket)."""
        if not isinstance(other, LatencySketch):
            raise TypeError("can only merge another LatencySketch")
        if self.gamma != other.gamma and not math.isclose(self.gamma, other.gamma, rel_tol=1e-12, abs_tol=0.0):
            raise ValueError(f"cannot merge sketches with different gamma ({self.gamma} vs {other.gamma})")
        if other.count == 0:
            return
        bins = self.bins
        for k, c in other.bins.items():
            bins[k] = bins.get(k, 0) + c
        self._keys = None
        if len(bins) > self.max_bins:
            self._collapse()
        self.zero += other.zero
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def copy(self) -> "LatencySketch":
        out = LatencySketch._blank(self.gamma, self.max_bins)
        out.tiny = self.tiny
        out.bins, out._keys = dict(self.bins), None if self._keys is None else list(self._keys)
        out.zero, out.count, out.sum, out.min, out.max = self.zero, self.count, self.sum, self.min, self.max
        return out

    # -- reading ---------------------------------------------------------------------------
    def _sorted_keys(self) -> list[int]:
        keys = self._keys
        if keys is None:
            keys = self._keys = sorted(self.bins)
        return keys

    def quantiles(self, qs: list[float] | tuple[float, ...]) -> list[float | None]:
        """Several quantiles (each in [0, 1]) in one pass over the buckets."""
        n = self.count
        if n == 0:
            return [None for _ in qs]
        if any(a > b for a, b in zip(qs, qs[1:])):
            order = sorted(range(len(qs)), key=qs.__getitem__)
            values = self.quantiles([qs[i] for i in order])
            result: list[float | None] = [None] * len(qs)
            for i, v in zip(order, values):
                result[i] = v
            return result
        out: list[float | None] = []
        bins = self.bins
        keys = self._sorted_keys()
        gamma_mid = 2.0 / (self.gamma + 1.0)
        cum = self.zero
        pos = 0
        nkeys = len(keys)
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError("quantile must be within [0, 1]")
            if q == 0.0 or q == 1.0:
                out.append(self.min if q == 0.0 else self.max)  # exact extremes
                continue
            # Nearest rank (0-based ceil(q*n) - 1): the value at or below which a share q of the
            # samples lie. The lower rank q*(n-1) hid the top of a small window: p99 of 80
            # samples with one slow answer reported the second slowest, p95 of [10, 20] ms 10.
            rank = math.ceil(q * n - 1e-9) - 1
            if rank < self.zero:
                out.append(min(max(0.0, self.min), self.max))
                continue
            # cum counts everything up to and including keys[pos - 1]; qs ascend, so resume.
            while cum <= rank and pos < nkeys:
                cum += bins[keys[pos]]
                pos += 1
            est = gamma_mid * math.exp(keys[pos - 1] * self._log_gamma)
            # Clamping to the exact extremes removes the bucket error at both ends.
            out.append(min(max(est, self.min), self.max))
        return out

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1) within alpha relative error; None when empty."""
        return self.quantiles((q,))[0]

    def percentiles(self) -> dict[str, float | None]:
        p50, p95, p99 = self.quantiles((0.5, 0.95, 0.99))
        return {"p50": p50, "p95": p95, "p99": p99}

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"LatencySketch(n={self.count}, alpha={self.alpha:.4g}, bins={len(self.bins)})"

    # -- wire format -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"v","g","b":{idx: count},"z","n","s","mn","mx"}`` (keys as strings)."""
        empty = self.count == 0
        return {
            "v": WIRE_VERSION, "g": self.gamma,
            "b": {str(k): c for k, c in self.bins.items()},
            "z": self.zero, "n": self.count, "s": self.sum,
            "mn": None if empty else self.min, "mx": None if empty else self.max,
        }

    def to_compact(self) -> dict[str, Any]:
        """Compact JSON-able form (v2): ``{"v":2,"g","k":[first key, deltas...],"c":[counts],"z","n","s","mn","mx"}``."""
        keys = self._sorted_keys()
        bins = self.bins
        empty = self.count == 0
        return {
            "v": COMPACT_VERSION, "g": self.gamma,
            "k": keys[:1] + [b - a for a, b in zip(keys, islice(keys, 1, None))],
            "c": [bins[k] for k in keys],
            "z": self.zero, "n": self.count, "s": self.sum,
            "mn": None if empty else self.min, "mx": None if empty else self.max,
        }

    @classmethod
    def from_dict(cls, d: Any, max_bins: int = DEFAULT_MAX_BINS) -> "LatencySketch":
        """Rebuild a sketch from ``to_dict`` (v1) or ``to_compact`` (v2) output; anything
        malformed raises ValueError."""
        if not isinstance(d, dict):
            raise ValueError("sketch must be an object")
        if type(d) is dict and len(d) == len(_KEYS_V2) and d.get("v") == COMPACT_VERSION:
            fast = cls._from_compact(d, max_bins)  # the common case, checked at C speed
            if fast is not None:
                return fast
        v = d.get("v")
        if v == COMPACT_VERSION and type(v) is int:
            unknown = d.keys() - _KEYS_V2
        elif v == WIRE_VERSION and type(v) is int:
            unknown = d.keys() - _KEYS_V1
        else:
            raise ValueError(f"sketch version must be {WIRE_VERSION} or {COMPACT_VERSION}")
        if unknown:
            raise ValueError(f"sketch has unknown keys: {sorted(unknown)}")
        g = _number(d.get("g"), "g")
        if not 1.0 < g <= 2.0:
            raise ValueError("sketch g (gamma) must be in (1, 2]")
        log_g = math.log(g)
        keys: list[int] | None
        if v == COMPACT_VERSION:
            bins, keys, total = _compact_bins(d.get("k"), d.get("c"), log_g)
        else:
            bins, keys, total = _v1_bins(d.get("b"), log_g), None, None
        z, n = d.get("z"), d.get("n")
        if not _count_ok(z):
            raise ValueError("sketch z must be a non-negative integer")
        if not _count_ok(n) or n != z + (sum(bins.values()) if total is None else total):
            raise ValueError("sketch n must equal z plus the bucket counts")
        s = _number(d.get("s"), "s")
        mn, mx = d.get("mn"), d.get("mx")
        if n == 0:
            if mn is not None or mx is not None or s != 0.0:
                raise ValueError("an empty sketch must have s=0 and mn/mx null")
        else:
            mn, mx = _number(mn, "mn"), _number(mx, "mx")
            if mn > mx:
                raise ValueError("sketch mn must be <= mx")
        out = cls._blank(g, max(max_bins, len(bins), 2))
        out.bins = bins
        out._keys = keys  # v2 keys arrive sorted; v1 sorts on first read
        out.zero, out.count, out.sum = z, n, s
        if n:
            out.min, out.max = mn, mx
        return out

    @classmethod
    def _from_compact(cls, d: dict[str, Any], max_bins: int) -> "LatencySketch | None":
        """``from_dict`` of a well-formed non-empty v2 sketch with exact JSON types, in few
        calls (the fleet aggregator decodes one per message); None for anything else, which
        ``from_dict``'s full checks then accept or reject with their own messages."""
        if d.keys() != _KEYS_V2 or type(d["v"]) is not int:
            return None
        g, z, n, s, mn, mx = d["g"], d["z"], d["n"], d["s"], d["mn"], d["mx"]
        if not (type(g) is float and 1.0 < g <= 2.0 and type(z) is int and type(n) is int and z >= 0
                and type(s) in _FLOATY and type(mn) in _FLOATY and type(mx) in _FLOATY and mn <= mx):
            return None
        try:
            if not (math.isfinite(s) and math.isfinite(mn) and math.isfinite(mx)):
                return None
            bins, keys, total = _compact_bins(d["k"], d["c"], _derived(g)[1])
        except (ValueError, OverflowError):
            return None
        if n != z + total or n == 0:
            return None
        out = cls._blank(g, max(max_bins, len(bins), 2))
        out.bins, out._keys = bins, keys
        out.zero, out.count, out.sum, out.min, out.max = z, n, float(s), float(mn), float(mx)
        return out

    @classmethod
    def _blank(cls, gamma: float, max_bins: int) -> "LatencySketch":
        """An empty sketch without ``__init__``'s argument checks (``gamma`` is checked by the
        caller); the gamma-derived constants are computed once per gamma (a decoder's hot path)."""
        derived = _derived(gamma)
        out = cls.__new__(cls)
        out.gamma, out.max_bins, out.tiny = gamma, max_bins, DEFAULT_TINY
        out.alpha, out._log_gamma, out._inv_log_gamma = derived
        out.bins, out._keys = {}, []
        out.zero, out.count, out.sum, out.min, out.max = 0, 0, 0.0, math.inf, -math.inf
        return out


def _derived(gamma: float) -> tuple[float, float, float]:
    """(alpha, log gamma, 1 / log gamma), computed once per gamma (a decoder's hot path)."""
    derived = _DERIVED.get(gamma)
    if derived is None:
        log_g = math.log(gamma)
        derived = (gamma - 1.0) / (gamma + 1.0), log_g, 1.0 / log_g
        if len(_DERIVED) < 64:  # a handful of gammas in practice; bounded anyway
            _DERIVED[gamma] = derived
    return derived


def merge_all(sketches: list[LatencySketch]) -> LatencySketch:
    """A new sketch holding every observation of ``sketches`` (fleet-wide percentiles)."""
    out = LatencySketch(gamma=sketches[0].gamma) if sketches else LatencySketch()
    for sk in sketches:
        out.merge(sk)
    return out


def _v1_bins(raw_bins: Any, log_g: float) -> dict[int, int]:
    if not isinstance(raw_bins, dict):
        raise ValueError("sketch b must be an object")
    if len(raw_bins) > MAX_WIRE_BINS:
        raise ValueError(f"sketch has too many buckets ({len(raw_bins)} > {MAX_WIRE_BINS})")
    bins: dict[int, int] = {}
    for key, c in raw_bins.items():
        k = _bin_key(key)
        if abs(k * log_g) > _MAX_LOG_VALUE:
            raise ValueError(f"sketch bucket {key!r} is out of range")
        if not _count_ok(c) or c == 0:
            raise ValueError(f"sketch bucket {key!r} count must be a positive integer")
        if k in bins:
            raise ValueError(f"sketch bucket {key!r} appears twice")
        bins[k] = c
    return bins


def _compact_bins(ks: Any, cs: Any, log_g: float) -> tuple[dict[int, int], list[int], int]:
    """v2 arrays -> (bins, sorted keys, total count). Checks run at C speed (set of types,
    min, sum): this is the aggregator's per-message path."""
    if type(ks) is not list or type(cs) is not list or len(ks) != len(cs):
        raise ValueError("sketch k and c must be integer arrays of the same length")
    if len(ks) > MAX_WIRE_BINS:
        raise ValueError(f"sketch has too many buckets ({len(ks)} > {MAX_WIRE_BINS})")
    if not ks:
        return {}, [], 0
    if set(map(type, ks)) != _INT_ONLY or set(map(type, cs)) != _INT_ONLY:  # type(True) is bool
        raise ValueError("sketch k and c must hold integers only")
    if min(cs) <= 0:
        raise ValueError("sketch bucket counts must be positive integers")
    if len(ks) > 1 and min(islice(ks, 1, None)) <= 0:
        raise ValueError("sketch bucket keys must be strictly ascending (deltas > 0)")
    keys = list(accumulate(ks))
    if abs(keys[0] * log_g) > _MAX_LOG_VALUE or abs(keys[-1] * log_g) > _MAX_LOG_VALUE:
        raise ValueError("sketch bucket key is out of range")
    return dict(zip(keys, cs)), keys, sum(cs)


def _number(v: Any, name: str) -> float:
    try:
        if not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v):
            return float(v)
    except OverflowError:  # an integer beyond float range
        pass
    raise ValueError(f"sketch {name} must be a finite number")


def _count_ok(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _bin_key(key: Any) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and 0 < len(key) <= 12 and key.isascii() and key.lstrip("-").isdigit():
        return int(key, 10)
    raise ValueError(f"sketch bucket key {key!r} must be an integer")
