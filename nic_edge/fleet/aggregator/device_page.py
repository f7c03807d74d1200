"""One device's page: current values, inline SVG charts (last hour at 10 s, last 30 days at 1 h),
anomalies and trends, alert history. Percentiles per point come from each bucket's merged sketch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from nic_edge.fleet.aggregator import html as H
from nic_edge.fleet.aggregator import overview
from nic_edge.fleet.aggregator.analytics import gauge

if TYPE_CHECKING:
    from nic_edge.fleet.aggregator.render import Renderer

WINDOWS = (("last hour", "10s", 3600), ("last 30 days", "1h", 30 * 86400))


def _charts(recs: list[dict[str, Any]], t0: float, t1: float, step: int, budget: float | None) -> list[str]:
    lat = [(name, [(r["t"], r[k]) for r in recs if r.get(k) is not None])
           for name, k in (("p50", "p50"), ("p95", "p95"), ("p99", "p99"))]
    per_h = 3600.0 / step
    mib = 1048576.0
    return [
        H.chart("Answer latency (ms)", lat, t0, t1, step, " ms"),
        H.chart("Cache hit rate (%)", [("hit rate", [(r["t"], v * 100) for r in recs if (v := gauge(r, "hit")) is not None])],
                t0, t1, step, " %"),
        H.chart("Memory (MiB)", [("RSS", [(r["t"], v / mib) for r in recs if (v := gauge(r, "rss")) is not None])],
                t0, t1, step, "", hline=("budget", budget / mib) if budget else None),
        H.chart("CPU temperature (°C)", [("temp", [(r["t"], v) for r in recs if (v := gauge(r, "temp")) is not None])],
                t0, t1, step, "", y_min=None),
        H.chart("Questions per hour", [("questions", [(r["t"], r["q"] * per_h) for r in recs])], t0, t1, step),
    ]


def device_html(rd: "Renderer", r: dict[str, Any], now: float) -> str:
    store = rd.state.store
    dev = r["id"]
    st_cls = {"online": "on", "offline": "off", "stale": "stale"}.get(r["status"], "mut")
    h = r["health"]
    built = time.strftime("%H:%M:%S %Z", time.localtime(now))
    seen = ("never" if r["last_seen"] is None else
            H.when(r["last_seen"], "%H:%M:%S") + f", {H.age(now - r['last_seen'])} before that")
    body = [f'<p class="mut">Data as of {H.esc(built)} (last report {H.esc(seen)}). This page is rebuilt at '
            f'once when the status, tier or alerts change, otherwise at most every {rd.page_interval:.0f} s; '
            f'the <a href="../index.html">overview</a> is rebuilt every {rd.interval:.0f} s.</p>',
            f'<p><b class="{overview.CSS_CLASS[h["level"]]}">{H.esc(h["level"])}</b>: {H.esc(h["text"])}</p>']
    body += [H.cards([
        ("health (connection)", f'<span class="{overview.CSS_CLASS[h["level"]]}">{H.esc(h["level"])}</span> '
                                f'<small class="{st_cls}">{H.esc(r["status"])}</small>'),
        ("tier (source)", f'{H.esc(r["tier"] or "?")} <small class="mut">{H.esc(r["tier_source"] or "")}</small>'),
        ("answer p95 (10 min)", H.fmt(r["latency_p95_ms"], 0, " ms")),
        ("cache hit rate", H.pct(r["cache_hit_rate"])),
        ("memory / budget", H.mib(r["memory_bytes"]) + " / " + H.mib(r["memory_budget_bytes"])),
        ("CPU temperature", H.fmt(r["cpu_temp_c"], 1, " °C")),
        ("disk free", H.mib(r["disk_free_bytes"])),
        ("spool backlog", H.fmt(r["spool_backlog"], 0)),
        ("version · mode", f'{H.esc(r["version"] or "?")} · {H.esc(r["mode"] or "?")}'),
        ("content (last report)", f'{H.esc(str(r.get("content_version") or "-"))} '
                                  f'<small class="mut">{H.esc(r.get("content_status") or "")}</small>'),
    ])]
    body.append(f'<p class="mut">Board: {H.esc(r["board"] or "unknown")}. Reports lost in transit: '
                f'{H.fmt(r["missing_seq"])}; repeated: {H.fmt(r["duplicates"])}; unreadable: '
                f'{H.fmt(r["bad_payloads"])}. Last tier change: {H.esc(r["tier_status"] or "none")}.</p>')
    for title, res, span in WINDOWS:
        step = store.step(res)
        t1 = now
        t0 = now - span
        recs = store.series(dev, res, t0, t1)
        body.append(f"<h2>Charts, {H.esc(title)}</h2><div class=\"charts\">"
                    + "".join(_charts(recs, t0, t1, step, r["memory_budget_bytes"])) + "</div>")
    a = rd.analytics["devices"].get(dev)
    if a:
        rows = [[H.esc(x["metric"]), H.fmt(x["value"], 2), H.fmt(x["median"], 2), H.fmt(x["z"])] for x in a["anomalies"]]
        body.append("<h2>Anomalies against own history</h2>" + (H.table(["metric", "value", "median", "robust z"], rows)
                                                             if rows else '<p class="mut">none</p>'))
        tr, u = a["trends"], a["usage"]
        disk, mem = tr.get("disk", {}), tr.get("memory", {})
        body.append("<h2>Trends and usage</h2>" + H.table(["measure", "value"], [
            ["disk full in (24 h trend)", _dur(disk.get("exhausted_in_s"))],
            ["memory budget reached in (24 h trend)", _dur(mem.get("budget_reached_in_s"))],
            ["questions per day (7 d)", H.fmt(u.get("questions_per_day"), 1)],
            ["abstain rate (7 d)", H.pct(u.get("abstain_rate"))],
            ["cache hit rate (7 d)", H.pct(u.get("cache_hit_rate"))]]))
    hist = list(reversed(rd.state.alert_history(dev)))
    body.append("<h2>Alert history</h2>")
    body.append(H.table(["time", "rule", "severity", "state", "value", "threshold", "message"], (
        [H.ago(now, e["ts"]), H.esc(e["rule"]), f'<span class="sev-{H.esc(e["severity"])}">{H.esc(e["severity"])}</span>',
         H.esc(e["state"]), H.fmt(e["value"], 2), H.fmt(e["threshold"], 2), H.esc(e["message"])] for e in hist))
        if hist else '<p class="mut">no alerts recorded</p>')
    return H.page(f"Device {dev}", "".join(body), now, rd.interval, up='<a href="../index.html">fleet</a> › ')


def _dur(s: float | None) -> str:
    if s is None:
        return '<span class="mut">not trending there</span>'
    return H.esc(f"{s / 86400:.1f} days" if s >= 86400 else f"{s / 3600:.1f} hours")
