"""Fleet analytics, kept small: robust anomalies, trends to exhaustion, usage, a periodic report.

* Anomalies use the robust z-score ``0.6745 * (x - median) / MAD`` (Iglewicz & Hoaglin; |z| > 3.5
  flags), so a few extreme boxes or bad hours do not hide themselves by inflating a standard
  deviation. Per device: the last complete 5-minute bucket against that device's previous 24 h.
  Against the fleet: each online device's current value against all online devices (needs 5+).
* Trends: least-squares slope over the last 24 h of 5-minute means; disk free falling -> time
  until 0; memory (RSS) rising -> time until the tier budget.
* Usage: questions/day, abstain rate, cache hit rate from the 1-hour buckets of the last 7 days.
  Top abstained questions are not available: boxes never publish question text (privacy).
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

from nic_edge.fleet.aggregator.series import SeriesStore

Z_LIMIT = 3.5
MIN_HISTORY = 24        # 2 h of 5-minute buckets before a device is judged against itself
MIN_FLEET = 5
DEVICE_METRICS = {"p95": "answer p95 (ms)", "temp": "CPU temperature (°C)", "rss": "memory (MiB)",
                  "cpu": "CPU (%)", "hit": "cache hit rate"}
FLEET_METRICS = {"latency_p95_ms": "answer p95 (ms)", "memory_bytes": "memory (MiB)",
                 "cpu_temp_c": "CPU temperature (°C)", "cache_hit_rate": "cache hit rate"}


def robust_z(x: float, values: Sequence[float]) -> float | None:
    """Robust z-score of ``x`` against ``values``; None when the spread is unknowable."""
    if len(values) < 3:
        return None
    med = statistics.median(values)
    mad = statistics.median([abs(v - med) for v in values])
    if mad > 0:
        return 0.6745 * (x - med) / mad
    # More than half the values identical: fall back to the mean absolute deviation.
    mean_ad = sum(abs(v - med) for v in values) / len(values)
    if mean_ad > 0:
        return (x - med) / (1.2533 * mean_ad)
    return 0.0 if x == med else None


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope (units per second) of (t, v) points; None with fewer than 6."""
    if len(points) < 6:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return None if den == 0 else sum((t - mt) * (v - mv) for t, v in points) / den


def gauge(rec: dict[str, Any], name: str) -> float | None:
    acc = rec.get("g", {}).get(name)
    return acc[0] / acc[1] if acc and acc[1] else None


def _value(rec: dict[str, Any], name: str) -> float | None:
    if name == "p95":
        return rec.get("p95")
    v = gauge(rec, name)
    return v / 1048576.0 if v is not None and name == "rss" else v


def device_analytics(store: SeriesStore, device: str, now: float) -> dict[str, Any]:
    recs = store.series(device, "5m", now - 86400 - 600, now)
    complete = [r for r in recs if r["t"] + 300 <= now]
    out: dict[str, Any] = {"anomalies": [], "trends": {}}
    if len(complete) > MIN_HISTORY:
        last, hist = complete[-1], complete[:-1]
        for name, label in DEVICE_METRICS.items():
            x = _value(last, name)
            values = [v for r in hist if (v := _value(r, name)) is not None]
            if x is None or len(values) < MIN_HISTORY:
                continue
            z = robust_z(x, values)
            if z is not None and abs(z) > Z_LIMIT:
                out["anomalies"].append({"device": device, "scope": "own history", "metric": label,
                                         "value": x, "median": statistics.median(values), "z": round(z, 1)})
    disk = [(r["t"], v) for r in recs if (v := gauge(r, "disk_free")) is not None]
    s = slope(disk)
    if s is not None and disk:
        eta = disk[-1][1] / -s if s < 0 else None
        out["trends"]["disk"] = {"slope_bytes_per_h": s * 3600, "free_bytes": disk[-1][1], "exhausted_in_s": eta}
    mem = [(r["t"], v) for r in recs if (v := gauge(r, "rss")) is not None]
    budget = next((b for r in reversed(recs) if (b := gauge(r, "budget"))), None)
    s = slope(mem)
    if s is not None and mem:
        eta = (budget - mem[-1][1]) / s if s > 0 and budget and budget > mem[-1][1] else None
        out["trends"]["memory"] = {"slope_bytes_per_h": s * 3600, "rss_bytes": mem[-1][1],
                                   "budget_bytes": budget, "budget_reached_in_s": eta}
    return out


def usage(store: SeriesStore, device: str, now: float, days: int = 7) -> dict[str, Any]:
    recs = store.series(device, "1h", now - days * 86400, now)
    q = sum(r["q"] for r in recs)
    an, ab = sum(r["an"] for r in recs), sum(r["ab"] for r in recs)
    hits = [(a[0], a[1]) for r in recs if (a := r.get("g", {}).get("hit"))]
    span_days = max(1.0 / 24, (now - recs[0]["t"]) / 86400) if recs else None
    return {"questions": q, "questions_per_day": q / span_days if span_days else None,
            "abstain_rate": ab / (an + ab) if an + ab else None,
            "cache_hit_rate": sum(s for s, _ in hits) / sum(n for _, n in hits) if hits else None}


def fleet_anomalies(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    online = [r for r in rows if r["online"]]
    for key, label in FLEET_METRICS.items():
        scale = 1048576.0 if key == "memory_bytes" else 1.0
        values = [r[key] / scale for r in online if r.get(key) is not None]
        if len(values) < MIN_FLEET:
            continue
        med = statistics.median(values)
        for r in online:
            x = None if r.get(key) is None else r[key] / scale
            z = None if x is None else robust_z(x, values)
            if z is not None and abs(z) > Z_LIMIT:
                out.append({"device": r["id"], "scope": "fleet", "metric": label, "value": x, "median": med,
                            "z": round(z, 1)})
    return out


def run(store: SeriesStore, rows: list[dict[str, Any]], now: float | None = None) -> dict[str, Any]:
    """Everything the dashboard and the report show; costs one series read per device."""
    now = time.time() if now is None else now
    per: dict[str, Any] = {}
    anomalies = fleet_anomalies(rows)
    for r in rows:
        d = device_analytics(store, r["id"], now)
        d["usage"] = usage(store, r["id"], now)
        anomalies += d["anomalies"]
        per[r["id"]] = d
    total_q = sum(d["usage"]["questions"] for d in per.values())
    qpd = [u for d in per.values() if (u := d["usage"]["questions_per_day"]) is not None]
    return {"computed_at": now, "devices": per, "anomalies": anomalies,
            "fleet": {"questions_7d": total_q, "questions_per_day": sum(qpd) if qpd else None}}


def _dur(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    return f"{s / 86400:.1f} d" if s >= 86400 else f"{s / 3600:.1f} h"


def report_markdown(result: dict[str, Any], rows: list[dict[str, Any]], fleet: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(result["computed_at"]))
    lines = [f"# nic_edge fleet report — {when}", "",
             f"- Devices: {fleet['devices']} ({fleet['online']} online, {fleet['offline']} offline)",
             f"- Active alerts: {fleet['alerts_active']}",
             f"- Fleet answer latency (merged histograms, last 10 min): p50 {_ms(fleet.get('latency_p50_ms'))}, "
             f"p95 {_ms(fleet.get('latency_p95_ms'))}, p99 {_ms(fleet.get('latency_p99_ms'))}",
             f"- Questions, last 7 days: {result['fleet']['questions_7d']}", "",
             "## Anomalies (robust z-score, |z| > 3.5)", ""]
    if result["anomalies"]:
        lines += ["| device | against | metric | value | median | z |", "|---|---|---|---|---|---|"]
        lines += [f"| {a['device']} | {a['scope']} | {a['metric']} | {a['value']:.3g} | {a['median']:.3g} | {a['z']} |"
                  for a in result["anomalies"]]
    else:
        lines.append("None.")
    lines += ["", "## Trends and usage (last 24 h trend, last 7 days usage)", "",
              "| device | questions/day | abstain rate | cache hit rate | disk full in | memory budget in |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        d = result["devices"].get(r["id"], {})
        u, t = d.get("usage", {}), d.get("trends", {})
        lines.append(f"| {r['id']} | {_f(u.get('questions_per_day'))} | {_p(u.get('abstain_rate'))} | "
                     f"{_p(u.get('cache_hit_rate'))} | {_dur(t.get('disk', {}).get('exhausted_in_s'))} | "
                     f"{_dur(t.get('memory', {}).get('budget_reached_in_s'))} |")
    lines += ["", "Top abstained questions: not available (boxes do not publish question text).", ""]
    return "\n".join(lines)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _p(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f} %"


def write_report(out: Path, result: dict[str, Any], rows: list[dict[str, Any]], fleet: dict[str, Any],
                 write: Any) -> None:
    """report.md and report.html (the Markdown in a <pre>, readable and mail-friendly)."""
    from nic_edge.fleet.aggregator.html import esc, page  # noqa: PLC0415 - avoid a cycle at import
    md = report_markdown(result, rows, fleet)
    write(out / "report.md", md.encode())
    body = f'<p><a href="index.html">Fleet overview</a></p><pre style="white-space:pre-wrap">{esc(md)}</pre>'
    write(out / "report.html", page("Fleet report", body, result["computed_at"], None).encode())
