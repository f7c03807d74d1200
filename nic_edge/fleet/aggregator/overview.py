"""The overview page (index.html) and the one health verdict per device it sorts by.

Health combines reachability, the worst active alert and the answer mode into one column, so a
device with a critical alert, or answering from keywords only, never reads as a green "online".
Rows come worst first. The page states its data age and the broker connection, so an
unreachable broker does not read as an empty fleet, and links only to files that exist.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterable

from nic_edge.fleet.aggregator import html as H

if TYPE_CHECKING:
    from nic_edge.fleet.aggregator.render import Renderer

# rank: higher is worse; the table sorts on it
LEVELS = {"critical": 5, "offline": 4, "silent": 3, "warning": 2, "degraded": 1, "ok": 0, "unknown": 3}
CSS_CLASS = {"critical": "off", "offline": "off", "silent": "stale", "unknown": "stale", "warning": "stale",
             "degraded": "stale", "ok": "on"}


def health(status: str, mode: Any, memory_state: Any, alerts: Iterable[dict[str, Any]],
           unseen: int = 0) -> dict[str, Any]:
    """``{"level", "rank", "text"}`` from reachability, active alerts and mode.

    ``unseen``: alerts the device counts as active (its snapshots' ``summary.alerts_active``) that
    this aggregator never received, e.g. raised before it started (alerts are not retained). Their
    severity is unknown, so they count as a warning: never green, never a false "critical".
    Info alerts are listed but leave the level alone."""
    sev = [a.get("severity") for a in alerts]
    n_crit, n_warn, n_info = sev.count("critical"), sev.count("warning"), sev.count("info")
    notes = {"online": [], "offline": ["disconnected from the broker"], "stale": ["online but sending no reports"],
             "unknown": ["no status received yet"]}[status]
    if mode == "lexical":
        notes.append("keyword answers only (lexical mode)")
    if memory_state not in (None, "ok"):
        notes.append(f"memory {memory_state}")
    if n_crit:
        notes.append(f"{n_crit} critical alert" + ("s" if n_crit > 1 else ""))
    if n_warn:
        notes.append(f"{n_warn} warning" + ("s" if n_warn > 1 else ""))
    if n_info:
        notes.append(f"{n_info} info alert" + ("s" if n_info > 1 else ""))
    if unseen:
        notes.append(f"{unseen} more active alert" + ("s" if unseen > 1 else "") + " reported by the device")
    levels = [{"offline": "offline", "stale": "silent", "unknown": "unknown"}.get(status, "ok")]
    if n_crit:
        levels.append("critical")
    if n_warn or unseen:
        levels.append("warning")
    if mode == "lexical" or memory_state not in (None, "ok"):
        levels.append("degraded")
    level = max(levels, key=LEVELS.__getitem__)
    return {"level": level, "rank": LEVELS[level], "text": ", ".join(notes) or "online, answering normally"}


def _alerts(now: float, alerts: list[dict[str, Any]], unseen: int = 0) -> str:
    extra = (f'<div class="sev-warning">{unseen} more active on the device</div>'
             '<div class="mut">raised before this aggregator listened</div>') if unseen else ""
    if not alerts:
        return extra or '<span class="mut">none</span>'
    out = []
    for a in sorted(alerts, key=lambda a: (a["severity"] != "critical", -(a.get("since") or 0)))[:4]:
        msg = a.get("message") or a.get("rule")
        out.append(f'<div><span class="sev-{H.esc(a["severity"])}">{H.esc(msg)}</span> '
                   f'<span class="mut">· {H.ago(now, a.get("since"))}</span></div>')
    if len(alerts) > 4:
        out.append(f'<div class="mut">and {len(alerts) - 4} more</div>')
    return "".join(out) + extra


def _broker(rd: "Renderer", now: float, n_devices: int) -> str:
    b = rd.broker_state()
    if b is None:
        return ('<p class="note">Rendered once from stored data (<code>nic-aggregator --once</code>): '
                'no live broker connection; device states are as last received.</p>')
    since = H.ago(now, b.get("since"))
    addr = H.esc(b.get("address"))
    if b.get("state") == "connected":
        return f'<p class="mut">Broker {addr}: <span class="on">connected</span> (since {since}).</p>'
    empty = " No device has reported yet: this is not an empty fleet." if not n_devices else ""
    return (f'<p class="note bad-note">Broker {addr}: <b class="off">{H.esc(b.get("state"))}</b> '
            f'since {since} ({H.esc(b.get("failures"))} failed attempts, retrying). '
            f"Device states below are as last received.{empty}</p>")


def overview_html(rd: "Renderer", rows: list[dict[str, Any]], fleet: dict[str, Any], now: float) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["health"]["level"]] = counts.get(r["health"]["level"], 0) + 1
    attention = sum(n for lvl, n in counts.items() if lvl != "ok")
    body = [_broker(rd, now, len(rows)), H.cards([
        ("devices online", f'{fleet["online"]} / {fleet["devices"]}'),
        ("need attention", f'<span class="{"off" if attention else "on"}">{attention}</span>'),
        ("active alerts", H.fmt(fleet["alerts_active"])),
        ("fleet answer p95 (10 min)", H.fmt(fleet["latency_p95_ms"], 0, " ms")),
        ("mean cache hit rate", H.pct(fleet["cache_hit_rate_mean"])),
        ("questions/day (7 d)", H.fmt(fleet["questions_per_day"], 0)),
    ])]
    tr = rd.trends
    if tr:
        t0, t1, step = tr["from"], tr["to"], tr["step"]
        body.append('<h2>Last 24 hours</h2><div class="charts">'
                    + H.chart("Fleet answer p95 per hour (ms)", [("p95", tr["p95_ms"])], t0, t1, step, " ms")
                    + H.chart("Devices reporting per hour", [("devices", tr["reporting"])], t0, t1, step)
                    + H.chart("Active alerts", [("alerts", tr["alerts"])], t0, t1, step) + "</div>")
    body.append("<h2>Devices, worst first</h2>")
    trs = []
    for r in rows:
        h = r["health"]
        spool = ("replaying, " + H.fmt(r["replay_lag_s"], 0, " s behind")) if r["replaying"] else H.fmt(r["spool_backlog"], 0)
        trs.append([
            f'<a href="{H.href(r["id"])}">{H.esc(r["id"])}</a>',
            f'<b class="{CSS_CLASS[h["level"]]}">{H.esc(h["level"])}</b><br><small>{H.esc(h["text"])}</small>',
            f'{H.esc(r["tier"] or "?")}<br><small class="mut">{H.esc(r["tier_source"] or "")}</small>',
            H.ago(now, r["last_seen"]), H.fmt(r["latency_p95_ms"], 0, " ms"), H.pct(r["cache_hit_rate"]),
            H.bar(r["memory_ratio"]) + H.mib(r["memory_bytes"]) + "<br>" + '<small class="mut">of '
            + H.mib(r["memory_budget_bytes"]) + "</small>",
            H.fmt(r["cpu_temp_c"], 0, " °C"), _alerts(now, r["alerts_active"], r["alerts_unseen"]), spool])
    body.append(H.table(["device", "health", "tier", "last seen", "answer p95", "cache hits", "memory",
                         "CPU", "active alerts", "spool"], trs, numeric=(4, 5, 7), wrap=(1, 8)))
    if fleet["anomalies"]:
        body.append("<h2>Anomalies</h2>")
        body.append(H.table(["device", "against", "metric", "value", "median", "robust z"],
                            ([H.esc(a["device"]), H.esc(a["scope"]), H.esc(a["metric"]), H.fmt(a["value"], 2),
                              H.fmt(a["median"], 2), H.fmt(a["z"])] for a in fleet["anomalies"][:100]),
                            numeric=(3, 4, 5)))
    ing = fleet["ingest"]
    report = (' · <a href="report.html">daily report</a>' if (rd.out / "report.html").exists()
              else ' · <span class="mut">daily report: first one after 24 h</span>')
    body.append(f'<p class="mut">Ingested {ing["messages"]} snapshots, {ing["alerts"]} alert events; '
                f'{ing["duplicates"]} duplicates and {ing["bad"]} bad payloads ignored. '
                f'<a href="fleet.json">fleet.json</a>{report}</p>')
    stamp = time.strftime("%H:%M:%S %Z", time.localtime(now))
    age = f"Data as of {stamp}; this page is rebuilt every {rd.interval:.0f} s."
    return H.page("nic_edge fleet", f'<p class="mut">{H.esc(age)}</p>' + "".join(body), now, rd.interval)
