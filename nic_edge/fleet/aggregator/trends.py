"""Fleet trends for the overview: answer p95, devices reporting and active alerts, per hour over
the last 24 h.

Computed at the analytics cadence (a minute or more), not every render: two range reads per
device (the hour buckets' numbers and their sketches). The fleet p95 of an hour merges the devices' latency sketches of
that hour (never an average of percentiles); "reporting" counts devices that sent at least one
snapshot in the hour; active alerts are replayed from each device's firing/resolved events and
sampled at the end of each hour.
"""

from __future__ import annotations

from typing import Any, Iterable

from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator.series import SeriesStore

HOURS = 24
STEP_S = 3600


def fleet_trends(store: SeriesStore, devices: Iterable[str], alert_events: dict[str, list[dict[str, Any]]],
                 now: float, hours: int = HOURS) -> dict[str, Any]:
    first = (int(now) // STEP_S - hours + 1) * STEP_S  # start of the oldest hour shown
    starts = [first + i * STEP_S for i in range(hours)]
    sketches = [LatencySketch() for _ in starts]
    reporting = [0] * hours
    base = first // STEP_S
    for dev in devices:
        for rec in store.series(dev, "1h", first, now):
            i = (int(rec["t"]) - first) // STEP_S
            if 0 <= i < hours and rec.get("n"):
                reporting[i] += 1
        for idx, sk in store.sketches(dev, "1h", first, now).items():
            if 0 <= idx - base < hours and sk.count:
                sketches[idx - base].merge(sk)
    p95 = []
    for t, sk in zip(starts, sketches):
        if sk.count:
            (q,) = sk.quantiles((0.95,))
            p95.append((t + STEP_S / 2, q * 1000.0))
    return {"from": first, "to": now, "step": STEP_S,
            "p95_ms": p95,
            "reporting": [(t + STEP_S / 2, float(n)) for t, n in zip(starts, reporting)],
            "alerts": _active_alerts(alert_events, starts, now)}


def _active_alerts(events: dict[str, list[dict[str, Any]]], starts: list[int],
                   now: float) -> list[tuple[float, float]]:
    """Active alerts across the fleet at the end of each hour (the last point: now)."""
    marks = [min(t + STEP_S, now) for t in starts]
    counts = [0] * len(marks)
    for evs in events.values():
        active: set[str] = set()
        ordered = sorted((e for e in evs if isinstance(e.get("ts"), (int, float))), key=lambda e: e["ts"])
        j = 0
        for i, m in enumerate(marks):
            while j < len(ordered) and ordered[j]["ts"] <= m:
                e = ordered[j]
                (active.add if e.get("state") == "firing" else active.discard)(str(e.get("alert_id")))
                j += 1
            counts[i] += len(active)
    return [(float(m), float(c)) for m, c in zip(marks, counts)]
