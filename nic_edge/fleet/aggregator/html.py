"""HTML building blocks for the static dashboard: page shell, CSS, tables, inline SVG charts.

Self-contained on purpose: no JavaScript, no external fonts, images or stylesheets, so the
pages work from ``file://``, behind any static web server, and on a phone without network.
Every value that came from a device (ids, messages, versions) goes through ``esc``.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import time
from typing import Any, Iterable, Sequence
from urllib.parse import quote

CSS = """
:root{--bg:#f6f7f9;--fg:#1d232b;--mut:#5b6573;--card:#fff;--ok:#1a7f37;--bad:#c62828;--warn:#b26a00;--line:#d8dde3}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{background:#14213d;color:#fff;padding:.7rem 1rem}header a{color:#fff}h1{font-size:1.25rem;margin:0}
main{padding:.8rem;max-width:1200px;margin:auto}h2{font-size:1.05rem;margin:1.2rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.5rem .7rem}
.card>b{display:block;font-size:1.3rem}.card>span{color:var(--mut);font-size:.85rem}
.tw{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.35rem .5rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#eef1f4;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.w{white-space:normal;min-width:9rem;max-width:22rem}td small{color:var(--mut)}
.note{background:#fff;border:1px solid var(--line);border-left:4px solid var(--mut);border-radius:6px;padding:.5rem .7rem}
.bad-note{border-left-color:var(--bad);background:#fdf0f0}
.on{color:var(--ok);font-weight:600}.off{color:var(--bad);font-weight:600}.stale{color:var(--warn);font-weight:600}
.sev-critical{color:var(--bad);font-weight:600}.sev-warning{color:var(--warn);font-weight:600}.mut{color:var(--mut)}
.bar{display:inline-block;width:60px;height:8px;background:#e3e7ec;border-radius:4px;vertical-align:middle;margin-right:.3rem}
.bar i{display:block;height:8px;border-radius:4px;background:var(--ok)}.bar i.hi{background:var(--warn)}.bar i.over{background:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(340px,100%),1fr));gap:.6rem}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.4rem}
figcaption{font-size:.85rem;color:var(--mut);margin-bottom:.2rem}svg{width:100%;height:auto;display:block}
.lg{font-size:.8rem;margin-right:.6rem}footer{color:var(--mut);font-size:.8rem;padding:1rem}
@media (max-width:600px){main{padding:.4rem}th,td{padding:.3rem}}
"""

COLORS = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd")
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,80}")


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def page_name(device: str) -> str:
    """A file name for a device page that is safe on any filesystem and unique per id."""
    if _SAFE.fullmatch(device) and device not in (".", ".."):
        return f"{device}.html"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", device)[:40].strip(".") or "device"
    return f"{slug}-{hashlib.sha256(device.encode()).hexdigest()[:10]}.html"


def href(device: str) -> str:
    return "devices/" + quote(page_name(device))


def page(title: str, body: str, generated_at: float, refresh_s: float | None, up: str = "") -> str:
    # <meta refresh> reloads without JavaScript; the page is re-rendered on the same cadence.
    meta = f'<meta http-equiv="refresh" content="{max(5, int(refresh_s))}">' if refresh_s else ""
    stamp = when(generated_at, "%Y-%m-%d %H:%M:%S %Z")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">{meta}'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{up}{esc(title)}</h1></header><main>{body}</main>"
            f"<footer>Generated {esc(stamp)} by nic-aggregator. Static page: no scripts, no external assets.</footer>"
            f"</body></html>")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (),
          wrap: Sequence[int] = ()) -> str:
    """``numeric`` columns align right; ``wrap`` columns (free text) wrap instead of widening the table."""
    def cls(i: int) -> str:
        return ' class="n"' if i in numeric else ' class="w"' if i in wrap else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def cards(items: Iterable[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{esc(k)}</span></div>'
                                           for k, v in items) + "</div>"


def fmt(v: Any, digits: int = 1, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '<span class="mut">–</span>'
    if isinstance(v, float):
        return esc(f"{v:.{digits}f}{unit}")
    return esc(f"{v}{unit}")


def pct(v: float | None) -> str:
    return fmt(None if v is None else v * 100.0, 0, " %")


def mib(v: float | None) -> str:
    return fmt(None if v is None else v / 1048576.0, 0, " MiB")


def bar(ratio: float | None) -> str:
    if ratio is None:
        return ""
    cls = "over" if ratio > 1.0 else "hi" if ratio > 0.85 else ""
    return f'<span class="bar"><i class="{cls}" style="width:{min(100.0, ratio * 100):.0f}%"></i></span>'


def age(seconds: float) -> str:
    s = max(0.0, seconds)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.0f} h" if s < 172800 else f"{s / 86400:.0f} d"


def when(ts: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Local time of ``ts``, or "?" when it is no time the platform can show: a record stored
    before ingestion bounded device clocks (comms.checks.timestamp) must not stop a render."""
    try:
        return time.strftime(fmt, time.localtime(ts))
    except (OverflowError, OSError, ValueError, TypeError):
        return "?"


def ago(now: float, ts: float | None) -> str:
    if ts is None:
        return '<span class="mut">never</span>'
    if not isinstance(ts, (int, float)) or not math.isfinite(ts):
        return '<span class="mut">?</span>'
    return f'<span title="{esc(when(ts))}">{esc(age(now - ts))} ago</span>'


def chart(title: str, series: Sequence[tuple[str, Sequence[tuple[float, float]]]], t0: float, t1: float,
          step: float, unit: str = "", hline: tuple[str, float] | None = None, y_min: float | None = 0.0) -> str:
    """A line chart as inline SVG; a gap longer than two steps breaks the line."""
    w, h, left, bottom, top = 360.0, 150.0, 44.0, 18.0, 6.0
    # a non-finite value (a record stored before ingestion bounded gauges) would poison the scale
    series = [(label, [(t, v) for t, v in pts if math.isfinite(v)]) for label, pts in series]
    values = [v for _, pts in series for _, v in pts]
    if hline:
        values.append(hline[1])
    if not values:
        body = f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle" font-size="11" fill="#5b6573">no data</text>'
        return f"<figure><figcaption>{esc(title)}</figcaption><svg viewBox=\"0 0 {w:.0f} {h:.0f}\" role=\"img\">{body}</svg></figure>"
    lo = min(values) if y_min is None else min(y_min, min(values))
    hi = max(values)
    if hi - lo < 1e-9:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    sx = (w - left - 4) / max(t1 - t0, 1e-9)
    sy = (h - bottom - top) / (hi - lo)
    X = lambda t: left + (t - t0) * sx  # noqa: E731
    Y = lambda v: h - bottom - (v - lo) * sy  # noqa: E731
    parts = [f'<line x1="{left}" y1="{h - bottom}" x2="{w - 4}" y2="{h - bottom}" stroke="#d8dde3"/>',
             f'<line x1="{left}" y1="{top}" x2="{w - 4}" y2="{top}" stroke="#eef1f4"/>',
             f'<text x="{left - 3}" y="{top + 8}" text-anchor="end" font-size="9" fill="#5b6573">{esc(_num(hi))}{esc(unit)}</text>',
             f'<text x="{left - 3}" y="{h - bottom}" text-anchor="end" font-size="9" fill="#5b6573">{esc(_num(lo))}{esc(unit)}</text>',
             f'<text x="{left}" y="{h - 4}" font-size="9" fill="#5b6573">{esc(_when(t0, t1 - t0))}</text>',
             f'<text x="{w - 4}" y="{h - 4}" text-anchor="end" font-size="9" fill="#5b6573">{esc(_when(t1, t1 - t0))}</text>']
    if hline:
        y = Y(hline[1])
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - 4}" y2="{y:.1f}" stroke="#c62828" stroke-dasharray="4 3"/>'
                     f'<text x="{w - 6}" y="{y + 10:.1f}" text-anchor="end" font-size="9" fill="#c62828">{esc(hline[0])}</text>')
    legend = []
    for i, (label, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        legend.append(f'<span class="lg" style="color:{color}">&#9632; {esc(label)}</span>')
        run: list[str] = []
        prev = None
        for t, v in pts:
            if prev is not None and t - prev > 2 * step and run:
                parts.append(_line(run, color))
                run = []
            run.append(f"{X(t):.1f},{Y(v):.1f}")
            prev = t
        if run:
            parts.append(_line(run, color))
    return (f"<figure><figcaption>{esc(title)} {''.join(legend)}</figcaption>"
            f'<svg viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="{esc(title)}">{"".join(parts)}</svg></figure>')


def _line(run: list[str], color: str) -> str:
    if len(run) == 1:
        x, y = run[0].split(",")
        return f'<circle cx="{x}" cy="{y}" r="1.8" fill="{color}"/>'
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.4" points="{" ".join(run)}"/>'


def _num(v: float) -> str:
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 1 else f"{v:.2f}"


def _when(t: float, span: float) -> str:
    return when(t, "%H:%M" if span <= 86400 else "%m-%d")
