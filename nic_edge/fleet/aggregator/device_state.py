"""One device's state as the aggregator holds it, and its persisted record (state.py owns the fleet)."""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

HISTORY = 50            # alert events kept per device in memory (all are in LMDB)


def num(v: Any) -> float | None:
    """A finite number or None (payload sub-objects are only loosely typed by the schema)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def small_count(v: Any) -> int | None:
    """A count a box reports (JSON may carry 2 as 2.0), or None unless it is a plausible one."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 10_000 and v == int(v):
        return int(v)
    return None


@dataclass
class DeviceState:
    id: str
    online: bool | None = None
    status_ts: float | None = None
    first_seen: float | None = None
    last_seen: float | None = None
    info: dict[str, Any] | None = None
    reported: dict[str, Any] | None = None
    content: dict[str, Any] | None = None  # the last content/reported
    metrics: dict[str, Any] = field(default_factory=dict)
    alerts_active: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq_max: int | None = None
    seq_bits: int = 0
    missing: int = 0
    seq_rejected: int = 0   # implausible jumps refused
    resync: bool = False    # the box (re)connected: a seq outside the window starts a new count
    counts: dict[str, int] = field(default_factory=lambda: {"messages": 0, "duplicates": 0, "bad": 0})
    # not persisted:
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    alert_seen: OrderedDict = field(default_factory=OrderedDict)
    bad_logged: bool = False

    def record(self, pack: Callable[[Any], bytes]) -> bytes:
        d = {k: getattr(self, k) for k in ("id", "online", "status_ts", "first_seen", "last_seen", "info", "reported",
                                            "content", "metrics", "alerts_active", "seq_max", "missing", "seq_rejected",
                                            "counts")}
        d["seq_bits"] = format(self.seq_bits, "x")
        return pack(d)

    @classmethod
    def from_record(cls, raw: bytes, unpack: Callable[[bytes], Any]) -> "DeviceState":
        d = unpack(raw)
        bits = int(d.pop("seq_bits", "0"), 16)
        st = cls(**d)
        st.seq_bits = bits
        return st

    def tier(self) -> tuple[str | None, str | None]:
        if self.reported and self.reported.get("tier"):
            return self.reported["tier"], self.reported.get("source")
        t = self.metrics.get("tier") or (self.info or {}).get("tier")
        return t, ("info" if t else None)


def unknown(st: DeviceState) -> bool:
    """Never sent info or a metrics snapshot: nothing shows it is one of ours."""
    return st.info is None and st.seq_max is None


def last_activity(st: DeviceState) -> float:
    return max(t for t in (st.first_seen, st.status_ts, st.last_seen, 0.0) if t is not None)
