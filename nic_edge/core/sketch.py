"""LatencySketch: a mergeable, fixed-memory quantile sketch (DDSketch-style), pure Python.

Values above ``tiny`` fall into logarithmic buckets: bucket ``i`` holds ``(gamma**(i-1), gamma**i]``
with ``gamma = (1 + alpha) / (1 - alpha)``, and is reported as ``2 * gamma**i / (gamma + 1)``, so
every quantile is within ``alpha`` relative error of a true sample value (alpha = 1 % by default).
Values ``<= tiny`` (and negatives) count in a zero bucket. Count, sum, min and max are exact.

Why this shape: the device records latencies on the hot path (``add`` must cost ~1 µs in
CPython), the MQTT snapshot ships the buckets, and the fleet aggregator merges sketches from many
boxes bucket by bucket, so fleet-wide p99 is exact up to alpha instead of an average of p99s.

Memory is bounded: beyond ``max_bins`` buckets the lowest ones are folded into the lowest kept
bucket (only the low quantiles lose accuracy). With alpha = 1 % and tiny = 1 ns, 2048 buckets span
1 ns .. ~10^9 s, so latency data never collapses in practice and merging is exact.

No numpy: this module is imported by the device core and by the fleet aggregator alike.
"""

from __future__ import annotations

import math
from typing import Any

WIRE_VERSION = 1
DEFAULT_ALPHA = 0.01
DEFAULT_MAX_BINS = 2048
DEFAULT_TINY = 1e-9
# Accepted from the wire: a peer may use a larger max_bins, but not an unbounded one.
MAX_WIRE_BINS = 8192
_MAX_LOG_VALUE = 700.0  # gamma**i must stay a finite float


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
        if not math.isclose(self.gamma, other.gamma, rel_tol=1e-12, abs_tol=0.0):
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
        out = LatencySketch(max_bins=self.max_bins, tiny=self.tiny, gamma=self.gamma)
        out.merge(self)
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
            rank = q * (n - 1)
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

    @classmethod
    def from_dict(cls, d: Any, max_bins: int = DEFAULT_MAX_BINS) -> "LatencySketch":
        """Rebuild a sketch from ``to_dict`` output; anything malformed raises ValueError."""
        if not isinstance(d, dict):
            raise ValueError("sketch must be an object")
        unknown = set(d) - {"v", "g", "b", "z", "n", "s", "mn", "mx"}
        if unknown:
            raise ValueError(f"sketch has unknown keys: {sorted(unknown)}")
        if d.get("v") != WIRE_VERSION or isinstance(d.get("v"), bool):
            raise ValueError(f"sketch version must be {WIRE_VERSION}")
        g = _number(d.get("g"), "g")
        if not 1.0 < g <= 2.0:
            raise ValueError("sketch g (gamma) must be in (1, 2]")
        raw_bins = d.get("b")
        if not isinstance(raw_bins, dict):
            raise ValueError("sketch b must be an object")
        if len(raw_bins) > MAX_WIRE_BINS:
            raise ValueError(f"sketch has too many buckets ({len(raw_bins)} > {MAX_WIRE_BINS})")
        log_g = math.log(g)
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
        z, n = d.get("z"), d.get("n")
        if not _count_ok(z):
            raise ValueError("sketch z must be a non-negative integer")
        if not _count_ok(n) or n != z + sum(bins.values()):
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
        out = cls(max_bins=max(max_bins, len(bins), 2), gamma=g)
        out.bins = bins
        out._keys = None
        out.zero, out.count, out.sum = z, n, s
        if n:
            out.min, out.max = mn, mx
        return out


def merge_all(sketches: list[LatencySketch]) -> LatencySketch:
    """A new sketch holding every observation of ``sketches`` (fleet-wide percentiles)."""
    out = LatencySketch(gamma=sketches[0].gamma) if sketches else LatencySketch()
    for sk in sketches:
        out.merge(sk)
    return out


def _number(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"sketch {name} must be a finite number")
    return float(v)


def _count_ok(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _bin_key(key: Any) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and 0 < len(key) <= 12 and key.isascii() and key.lstrip("-").isdigit():
        return int(key, 10)
    raise ValueError(f"sketch bucket key {key!r} must be an integer")
