"""The status page: one server-rendered HTML document, inline CSS, no scripts or external assets.

It must stay readable on a phone in a cab or plant room, and the ask box is a plain form so it
works without JavaScript. Everything that comes from the app is escaped; the status dict is
rendered defensively because its inner sections belong to other parts and may grow.
"""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24}
header{background:#1f3a5f;color:#fff;padding:.8rem 1rem}header h1{margin:0;font-size:1.2rem}
header small{opacity:.8}main{padding:.8rem;max-width:60rem;margin:auto}
section{background:#fff;border-radius:8px;padding:.8rem 1rem;margin:0 0 .8rem;box-shadow:0 1px 2px #0002}
h2{font-size:1rem;margin:.1rem 0 .6rem}.cards{display:flex;flex-wrap:wrap;gap:.5rem}
.card{flex:1 1 8rem;background:#eef2f7;border-radius:6px;padding:.5rem}.card b{display:block;font-size:1.1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td{padding:.2rem .4rem;border-bottom:1px solid #e3e6ea;
vertical-align:top;word-break:break-word}td:first-child{color:#555;width:40%}
form{display:flex;flex-wrap:wrap;gap:.5rem}input[type=text]{flex:1 1 14rem;font-size:1rem;padding:.5rem}
button{font-size:1rem;padding:.5rem 1rem;background:#1f3a5f;color:#fff;border:0;border-radius:4px}
blockquote{margin:.5rem 0;padding:.5rem .8rem;border-left:4px solid #1f3a5f;background:#f0f4fa}
.warn{background:#fff4d6;border-left:4px solid #d98c00;padding:.5rem .8rem;margin:.4rem 0}
.err{background:#fde8e8;border-left:4px solid #c62828;padding:.5rem .8rem}
.alert-critical{color:#c62828}.alert-warning{color:#a86400}.muted{color:#666;font-size:.85rem}
ol{padding-left:1.2rem}li{margin:.3rem 0}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if len(value) <= 8 else f"{len(value)} items"
    return str(value)


def _flatten(data: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    if not isinstance(data, dict):
        return [(prefix or "value", data)]
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and depth < 2:
            rows.extend(_flatten(value, name, depth + 1))
        else:
            rows.append((name, value))
    return rows


def _table(data: Any) -> str:
    rows = _flatten(data)
    if not rows:
        return '<p class="muted">no data</p>'
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(_fmt(v))}</td></tr>" for k, v in rows[:60])
    return f"<table>{body}</table>"


def _find(data: Any, *names: str) -> Any:
    """First value under any of ``names``, searched breadth-first through nested dicts."""
    queue = [data]
    while queue:
        item = queue.pop(0)
        if not isinstance(item, dict):
            continue
        for name in names:
            if item.get(name) is not None:
                return item[name]
        queue.extend(v for v in item.values() if isinstance(v, dict))
    return None


def _card(label: str, value: str) -> str:
    return f'<div class="card">{escape(label)}<b>{escape(value)}</b></div>'


def _percent(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value * 100:.0f}%" if value <= 1 else f"{value:.0f}%"
    return _fmt(value)


def _ms(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def _summary(status: dict[str, Any]) -> str:
    tier = status.get("tier") if isinstance(status.get("tier"), dict) else {"name": status.get("tier")}
    latency = status.get("latency")
    mqtt = status.get("mqtt")
    rss = _find(status.get("resources"), "rss_mib")
    budget = _find(status.get("resources"), "budget_mib", "memory_budget_mib")
    mqtt_state = _find(mqtt, "state", "connected") if isinstance(mqtt, dict) else mqtt
    cards = [
        _card("Tier", _fmt(tier.get("name"))),
        _card("Mode", _fmt(status.get("mode") or _find(status, "mode"))),
        _card("Cache hit rate", _percent(_find(status.get("cache"), "hit_rate"))),
        _card("p50 / p95 / p99", " / ".join(_ms(_find(latency, k, k + "_ms")) for k in ("p50", "p95", "p99"))),
        _card("Memory", f"{_fmt(rss)} / {_fmt(budget)} MiB" if rss is not None else "—"),
        _card("MQTT", _fmt(mqtt_state)),
    ]
    reasons = tier.get("reasons") or []
    if isinstance(reasons, str):
        reasons = [reasons]
    why = "".join(f"<li>{escape(_fmt(r))}</li>" for r in reasons)
    source = escape(_fmt(tier.get("source")))
    cal = _find(status.get("index"), "calibration")
    cal_line = ""
    if isinstance(cal, dict) and cal.get("summary"):
        cal_line = (f'<p class="muted">Abstain threshold {escape(_fmt(cal.get("threshold_in_use")))} '
                    f'({escape(_fmt(cal.get("threshold_source")))}): {escape(_fmt(cal.get("summary")))}</p>')
    return (f'<div class="cards">{"".join(cards)}</div>'
            f'<p class="muted">Tier source: {source}</p>' + (f"<ul class=muted>{why}</ul>" if why else "")
            + cal_line)


def _alerts(alerts: dict[str, Any]) -> str:
    active = alerts.get("active") if isinstance(alerts, dict) else None
    if not active:
        return '<p class="muted">No active alerts.</p>'
    items = []
    for a in active[:50]:
        a = a if isinstance(a, dict) else {"message": a}
        sev = str(a.get("severity", "warning"))
        items.append(f'<li class="alert-{escape(sev)}"><b>{escape(sev)}</b> {escape(_fmt(a.get("rule")))}: '
                     f'{escape(_fmt(a.get("message")))}</li>')
    return f"<ul>{''.join(items)}</ul>"


def _answer(answer: dict[str, Any]) -> str:
    parts: list[str] = []
    for w in answer.get("warnings") or []:
        parts.append(f'<div class="warn"><b>Safety notice:</b> {escape(_fmt(w))}</div>')
    if answer.get("abstained") or not answer.get("answer"):
        reason = answer.get("reason") or "no_match"
        parts.append(f"<p><b>Not in the manuals.</b> <span class=muted>({escape(str(reason))})</span></p>")
    else:
        parts.append(f"<blockquote>{escape(str(answer['answer']))}</blockquote>")
    cites = []
    for c in (answer.get("citations") or [])[:20]:
        if not isinstance(c, dict):
            continue
        where = ", ".join(escape(_fmt(x)) for x in (c.get("source"), c.get("section")) if x)
        if c.get("page") is not None:
            where += f", page {escape(_fmt(c.get('page')))}"
            if c.get("page_kind") == "counted":  # not the number printed in the manual
                where += " (counted)"
        cites.append(f"<li><b>{where}</b><br><q>{escape(_fmt(c.get('snippet')))}</q></li>")
    if cites:
        parts.append(f"<h2>Sources</h2><ol>{''.join(cites)}</ol>")
    meta = (f"confidence {_fmt(answer.get('confidence'))} · {_ms(answer.get('latency_ms'))} · "
            f"cache {_fmt(answer.get('cached'))} · {_fmt(answer.get('mode'))}")
    parts.append(f'<p class="muted">{escape(meta)}</p>')
    return "".join(parts)


def render(status: dict[str, Any], alerts: dict[str, Any], *, question: str = "",
           answer: dict[str, Any] | None = None, error: str | None = None) -> str:
    """The whole page. ``answer``/``error`` are set after a POST /ask."""
    status = status if isinstance(status, dict) else {}
    device = escape(_fmt(status.get("device_id")))
    version = escape(_fmt(status.get("version")))
    result = ""
    if error:
        result = f'<section><div class="err">{escape(error)}</div></section>'
    elif answer is not None:
        result = f"<section><h2>Answer</h2>{_answer(answer)}</section>"
    sections = "".join(
        f"<section><h2>{title}</h2>{_table(status.get(key))}</section>"
        for title, key in (("Index", "index"), ("Model", "model"), ("Cache", "cache"),
                           ("Latency", "latency"), ("Resources", "resources"), ("MQTT", "mqtt"))
        if status.get(key) is not None)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nic-edge · {device}</title><style>{CSS}</style></head>
<body><header><h1>nic-edge · {device}</h1><small>version {version}</small></header><main>
<section><h2>Ask the manuals</h2>
<form method="post" action="/ask"><input type="text" name="question" maxlength="2000" required
 value="{escape(question)}" placeholder="e.g. How do I adjust the carburetor?" aria-label="Question">
<button type="submit">Ask</button></form></section>
{result}
<section><h2>Device</h2>{_summary(status)}</section>
<section><h2>Active alerts</h2>{_alerts(alerts)}</section>
{sections}
</main></body></html>
"""
