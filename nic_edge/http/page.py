"""The status page: one server-rendered HTML document, inline CSS, no scripts or external assets.

Written for a technician on a phone in a cab or plant room: the answer first (safety notices on
top, each quote with its [n] marker, each source once), then the manuals on the box by name and
a few lines of device health in human units. Everything else sits in a collapsed "Diagnostics"
section (and in ``/api/status``). The ask box is a plain form, so it works without JavaScript.
Everything that comes from the app is escaped; the status dict is read defensively because its
inner sections belong to other parts and may grow.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from nic_edge.app import wording
from nic_edge.core.tabletext import header_like, is_rule, is_table_row

# Defence in depth for text from manuals, file names and questions: the page runs no script at
# all, loads nothing, posts only to itself and is not framed.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

CSS = """
*{box-sizing:border-box}body{font:16px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24}
header{background:#1f3a5f;color:#fff;padding:.7rem 1rem;overflow-wrap:anywhere}header h1{margin:0;font-size:1.15rem}header small{opacity:.85}
main{padding:.7rem;max-width:56rem;margin:auto}
section{background:#fff;border-radius:8px;padding:.8rem 1rem;margin:0 0 .8rem;box-shadow:0 1px 2px #0002;overflow-wrap:break-word}
h2{font-size:1.05rem;margin:.1rem 0 .6rem}
form{display:flex;flex-wrap:wrap;gap:.5rem}input[type=text]{flex:1 1 12rem;min-width:0;font-size:1rem;padding:.55rem}
button{font-size:1rem;padding:.55rem 1.1rem;background:#1f3a5f;color:#fff;border:0;border-radius:4px}
blockquote{margin:.5rem 0;padding:.5rem .8rem;border-left:4px solid #1f3a5f;background:#f0f4fa;white-space:pre-line}
.qt{margin:.5rem 0;padding:.3rem .5rem;border-left:4px solid #1f3a5f;background:#f0f4fa;overflow-x:auto}.qt table{width:auto}
.mk{font-weight:600;color:#1f3a5f;white-space:nowrap}
.warn{background:#fff4d6;border-left:4px solid #d98c00;padding:.5rem .8rem;margin:0 0 .5rem}
.abstain{background:#eef1f5;border-left:4px solid #6b7785;padding:.6rem .8rem;margin:0}
.err{background:#fde8e8;border-left:4px solid #c62828;padding:.5rem .8rem}
ol.src{padding-left:0;list-style:none;margin:.4rem 0}ol.src li{margin:.25rem 0}
.muted{color:#5b6370;font-size:.88rem}.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}
.warning{color:#a86400;font-weight:600}.critical{color:#c62828;font-weight:600}.info{color:#5b6370;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{padding:.3rem .4rem;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{color:#5b6370;font-weight:600;white-space:nowrap}td{overflow-wrap:anywhere}.lat{white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
dl.h{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.3rem .8rem;margin:0}dl.h dt{color:#5b6370}dl.h dd{margin:0}
details summary{cursor:pointer;font-weight:600}details table{font-size:.82rem;margin-top:.4rem}details td:first-child{color:#5b6370;width:45%}
"""


STORES = {"audit": "audit log", "cache": "answer cache", "outbox": "fleet reports"}
TIER_SOURCES = {"detected": "detected from the hardware", "config": "set in the config file",
                "env": "set by NIC_EDGE_TIER", "override": "set by the fleet", "local": "set on this box"}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ms(v: Any) -> str:
    if not _num(v):
        return "—"
    return f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"


def _mib(nbytes: Any) -> str:
    if not _num(nbytes):
        return "—"
    if 0 < nbytes < 1048576:  # a small index or cache is not "0 MiB"
        return f"{nbytes / 1024:,.0f} KiB"
    return f"{nbytes / 1073741824:.1f} GiB" if nbytes >= 10 * 1073741824 else f"{nbytes / 1048576:,.0f} MiB"


def _when(ts: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(ts)) if _num(ts) and ts > 0 else "—"


def _duration(s: Any) -> str:
    if not _num(s):
        return "—"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h" if s < 172800 else f"{s / 86400:.1f} days"


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


# -- the answer --------------------------------------------------------------------------------
def _quotes_html(quotes: list[tuple[str, int]]) -> str:
    """Quotes as blockquotes, with the table rows among them (the header row a quote of its
    own, then the rows: engine/tables.py) drawn as one table: "| E21 | Pump blocked |" in
    pipes is hard to read on a phone. Each block ends with the [n] of the places it quotes."""
    blocks: list[tuple[bool, list[str], list[int], bool]] = []   # (table?, lines, marks, header?)
    for text, n in quotes:
        lines = text.split("\n")
        rows = [is_table_row(x) or (is_rule(x) and k > 0 and is_table_row(lines[k - 1])) for k, x in enumerate(lines)]
        if sum(rows) < 2 and not all(rows):
            rows = [False] * len(lines)   # one row among prose lines stays in its quote
        for k, line in enumerate(lines):
            is_row = rows[k]
            if not blocks or blocks[-1][0] != is_row or (k == 0 and not is_row):
                # a table's first row is its header when it is a quote of its own that reads as
                # column names (the engine's header quote) or a Markdown rule follows it
                head = is_row and ((len(lines) == 1 and header_like(line))
                                   or (k + 1 < len(lines) and is_rule(lines[k + 1])))
                blocks.append((is_row, [], [], head))
            blocks[-1][1].append(line)
            if n and n not in blocks[-1][2]:
                blocks[-1][2].append(n)
    out = []
    for is_table, lines, marks, head in blocks:
        mk = "".join(f' <span class="mk">[{n}]</span>' for n in sorted(marks))
        rows = [x for x in lines if not is_rule(x)]
        if not is_table or len(rows) < 2:
            out.append(f"<blockquote>{escape(chr(10).join(lines).strip())}{mk}</blockquote>")
            continue
        html = []
        for i, line in enumerate(rows):
            tag = "th" if i == 0 and head else "td"
            cells = line.strip()[1:-1].split("|")
            html.append("<tr>" + "".join(f"<{tag}>{escape(c.strip())}</{tag}>" for c in cells) + "</tr>")
        out.append(f'<div class="qt"><table>{"".join(html)}</table>{mk}</div>')
    return "".join(out)


def _answer(answer: dict[str, Any], manuals: Any) -> str:
    parts = [f'<div class="warn"><b>Safety notice:</b> {escape(str(w))}</div>'
             for w in answer.get("warnings") or []]
    quotes, sources = wording.numbered(answer)
    if answer.get("abstained") or not answer.get("answer"):
        parts.append(f'<p class="abstain">{escape(wording.abstention(answer, manuals))}</p>')
    elif quotes:
        parts.append(_quotes_html(quotes))
    else:
        parts.append(f"<blockquote>{escape(str(answer['answer']))}</blockquote>")
    if sources:
        items = "".join(f'<li><span class="mk">[{n}]</span> {escape(wording.where(c))}</li>' for n, c in sources)
        parts.append(f'<h2>Sources</h2><ol class="src">{items}</ol>')
    conf = answer.get("confidence")
    meta = [f"confidence {conf * 100:.0f} %" if _num(conf) else None,
            f"answered in {_ms(answer.get('latency_ms'))}",
            "from the answer cache" if answer.get("cached") else None,
            "keyword search only (lexical mode)" if answer.get("mode") == "lexical" else None]
    parts.append(f'<p class="muted">{escape(" · ".join(m for m in meta if m))}</p>')
    return "".join(parts)


# -- the box -----------------------------------------------------------------------------------
def _start_state(status: dict[str, Any]) -> tuple[bool, str | None]:
    """(still starting, why start-up failed): /healthz's state, which /api/status carries as ``health``."""
    health = status.get("health") if isinstance(status.get("health"), dict) else {}
    if health.get("status") != "starting":
        return False, None
    reason = str(health.get("reason") or "")
    return True, (reason.removeprefix("startup failed: ") if reason.startswith("startup failed") else None)


def _damaged(status: dict[str, Any]) -> str | None:
    """The index's problem when it cannot be read at all (nothing can be answered)."""
    return str(_get(status, "index", "problem")) if _get(status, "index", "damaged") else None


def _manuals(manuals: Any, status: dict[str, Any]) -> str:
    rows = [m for m in manuals if isinstance(m, dict)] if isinstance(manuals, list) else []
    if not rows:
        damaged, (starting, failed) = _damaged(status), _start_state(status)
        if damaged:
            return (f'<p class="err">The index on this box cannot be read, so no question can be answered: '
                    f'{escape(damaged)}</p>')
        if starting and not failed:
            return "<p>The manuals are being indexed now; questions are answered as soon as that finishes.</p>"
        return '<p>No manuals are indexed yet. Add them with <code>nic-edge index PATH...</code>.</p>'
    body = "".join(f"<tr><td>{escape(str(wording.name(m)))}</td><td class=n>{escape(str(m.get('sections') or '—'))}</td>"
                   f"<td>{escape(_when(m.get('indexed_at')))}</td></tr>" for m in rows[:200])
    more = f'<p class="muted">and {len(rows) - 200} more (nic-edge manuals)</p>' if len(rows) > 200 else ""
    return f"<table><tr><th>Manual</th><th>Sections</th><th>Indexed</th></tr>{body}</table>{more}"


def _health(status: dict[str, Any], alerts: dict[str, Any]) -> str:
    mode = status.get("mode")
    mem = _get(status, "resources", "budget") or {}
    health = status.get("health") if isinstance(status.get("health"), dict) else {}
    # lexical by design (no index yet, no model configured) is not a degradation, as for /healthz
    lexical = mode == "lexical" and (not health or (_get(status, "model", "available") is not False
                                                    and bool(_get(status, "index", "generation"))))
    over = bool(mem.get("degraded") or mem.get("over_budget"))
    # a full disk: audit log, answer cache or fleet report writes failing (/healthz "storage")
    failing = health.get("storage") if isinstance(health.get("storage"), dict) else {}
    # and why, which says what to do: the model's load error, or an index made with another model
    cause = _get(status, "model", "error") or _get(status, "index", "problem")
    lexical_why = "answers use keyword search only" + (f" ({cause})" if cause else "")
    why = (([lexical_why] if lexical else [])
           + (["over its memory budget, caches shrunk"] if over else [])
           + [f"{STORES.get(str(k), str(k))} not being saved ({v}); answers go on" for k, v in failing.items()])
    (starting, failed), damaged = _start_state(status), _damaged(status)
    if damaged:
        state = ('<span class="bad">not answering</span>: the index cannot be read; re-index the manuals '
                 'with <code>nic-edge index</code>')
    elif failed:  # it may still answer from the index it has: say what failed, not more
        state = '<span class="bad">start-up failed</span>: ' + escape(failed)
    elif starting:
        state = '<span class="warning">starting</span>: indexing the manuals'
    elif why:
        state = '<span class="bad">degraded</span>: ' + escape("; ".join(why))
    else:
        state = '<span class="ok">working normally</span>'
    lat = _get(status, "latency", "answer") or {}
    count = lat.get("count")
    # one item per percentile, each kept on one line: a narrow screen wraps between them only
    latency = ("no questions answered yet" if not count else " · ".join(
        f'<span class="lat">{label} {_ms(lat.get(key))}</span>'
        for label, key in (("typical", "p50_ms"), ("95 % within", "p95_ms"), ("99 % within", "p99_ms")))
        + f' <span class="muted lat">({count:,} answer{"" if count == 1 else "s"})</span>')
    res = status.get("resources") if isinstance(status.get("resources"), dict) else {}
    rss = res.get("rss_bytes") if _num(res.get("rss_bytes")) else (res["rss_mib"] * 1048576 if _num(res.get("rss_mib")) else None)
    budget = res.get("budget_mib")
    memory = f"{_mib(rss)} of {budget:,} MiB budget" if _num(budget) else _mib(rss)
    tier = status.get("tier") if isinstance(status.get("tier"), dict) else {"name": status.get("tier")}
    mqtt = status.get("mqtt") if isinstance(status.get("mqtt"), dict) else {}
    link = str(mqtt.get("state") or "—")
    if link == "disabled":
        link = "not configured (no [mqtt] host)"
    elif _num(mqtt.get("backlog")) and mqtt["backlog"]:
        link += f", {mqtt['backlog']} reports waiting on disk"
    if mqtt.get("spool") == "off":  # the outbox could not be opened; retried until it is
        link += ", metrics not kept until the disk has room (alerts held in memory)"
    rows = [("Status", state), ("Answer time", latency), ("Memory", escape(memory)),
            ("Disk free", escape(_mib(res.get("disk_free_bytes"))))]
    if _num(res.get("cpu_temp_c")):
        rows.append(("CPU temperature", escape(f"{res['cpu_temp_c']:.0f} °C")))
    source = str(tier.get("source") or "?")
    reasons = tier.get("reasons") if isinstance(tier.get("reasons"), list) else []
    if source == "override" and reasons and str(reasons[0]).startswith("local "):
        source = "local"  # POST /api/tier: the decision's source is "override" either way
    how = TIER_SOURCES.get(source, source)
    rows += [("Hardware tier", escape(f"{tier.get('name') or '—'} ({how})")),
             ("Fleet link", escape(link)), ("Running for", escape(_duration(status.get("uptime_s")))),
             ("Alerts", _alerts(alerts))]
    return '<dl class="h">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>" + _calibration(status)


def _calibration(status: dict[str, Any]) -> str:
    """The index's abstain threshold and where it came from (per-index calibration), one line."""
    cal = _get(status, "index", "calibration")
    if not isinstance(cal, dict) or not cal.get("summary"):
        return ""
    t = cal.get("threshold_in_use")
    value = f"{t:.3g}" if _num(t) else "—"
    return (f'<p class="muted">Abstain threshold {escape(value)} ({escape(str(cal.get("threshold_source") or "?"))}): '
            f'{escape(str(cal["summary"]))}</p>')


def _alerts(alerts: dict[str, Any]) -> str:
    active = alerts.get("active") if isinstance(alerts, dict) else None
    if not active:
        return "none"
    items = []
    for a in active[:20]:
        a = a if isinstance(a, dict) else {"message": a}
        sev = a.get("severity") if a.get("severity") in ("critical", "info") else "warning"  # info is not a warning
        items.append(f'<div><span class="{sev}">{sev}</span> {escape(str(a.get("message") or a.get("rule") or ""))}</div>')
    return "".join(items)


# -- diagnostics (collapsed) -------------------------------------------------------------------
def _human(key: str, v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if _num(v):
        if key.endswith("_bytes") or key in ("l2_map_size",):
            return _mib(v)
        if key in ("ts", "since", "indexed_at") or key.endswith("_at"):
            return _when(v)
        if key.endswith("_ms"):
            return _ms(v)
        if key.endswith(("_s", "_seconds")) or key == "uptime_s":
            return _duration(v) if v >= 1 else f"{v * 1000:.0f} ms"
        return f"{v:.3g}" if isinstance(v, float) else f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_human(key, x) for x in v) if len(v) <= 6 else f"{len(v)} items"
    text = str(v)
    return text[:12] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in (data.items() if isinstance(data, dict) else []):
        name = f"{prefix} › {key}" if prefix else str(key)
        if isinstance(value, dict):
            rows.extend(_flatten(value, name))
        else:
            rows.append((name, _human(str(key), value)))
    return rows


def _diagnostics(status: dict[str, Any]) -> str:
    skip = {"manuals", "alerts", "device_id", "version"}
    rows = _flatten({k: v for k, v in status.items() if k not in skip})
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows[:400])
    return (f'<details><summary>Diagnostics</summary><p class="muted">For maintainers; the same as '
            f'<a href="/api/status">/api/status</a> (JSON).</p><table>{body}</table></details>')


def _shown(question: str) -> str:
    """The question put back in the box: control characters (a rejected "%00abc") and lone
    surrogates left out, so the page itself stays valid text."""
    return "".join(ch for ch in question if ch in "\t" or (ord(ch) >= 32 and ord(ch) != 127
                                                         and not 0xD800 <= ord(ch) <= 0xDFFF))


def render(status: dict[str, Any], alerts: dict[str, Any], *, question: str = "",
           answer: dict[str, Any] | None = None, error: str | None = None) -> str:
    """The whole page. ``answer``/``error`` are set after a POST /ask."""
    status = status if isinstance(status, dict) else {}
    alerts = alerts if isinstance(alerts, dict) else {}
    device = escape(str(status.get("device_id") or "nic-edge"))
    version = escape(str(status.get("version") or "?"))
    manuals = status.get("manuals")
    result = ""
    if error:
        result = f'<section><div class="err">{escape(error)}</div></section>'
    elif answer is not None:
        result = f'<section id="answer"><h2>Answer</h2>{_answer(answer, manuals)}</section>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nic-edge · {device}</title><style>{CSS}</style></head>
<body><header><h1>{device}</h1><small>manual assistant · nic-edge {version}</small></header><main>
<section><h2>Ask the manuals</h2>
<form method="post" action="/ask"><input type="text" name="question" maxlength="2000" required
 value="{escape(_shown(question))}" placeholder="e.g. How do I adjust the carburetor?" aria-label="Question">
<button type="submit">Ask</button></form></section>
{result}
<section id="manuals"><h2>Manuals on this box</h2>{_manuals(manuals, status)}</section>
<section id="health"><h2>Device health</h2>{_health(status, alerts)}</section>
<section id="diagnostics">{_diagnostics(status)}</section>
</main></body></html>
"""
