"""Prometheus text exposition format 0.0.4 for a metrics Registry.

Latency histograms are exported as ``summary`` (quantile 0.5/0.95/0.99 plus ``_sum`` and
``_count``): the sketch already holds true percentiles within 1 %, and a summary is a handful of
lines where fixed ``le`` buckets would be either coarse or hundreds of lines per label set on a
small box. Fleet-wide percentiles come from merging the sketches (aggregator), not from PromQL.
The output passes ``promtool check metrics`` (a test runs it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from nic_edge.telemetry.metrics import Registry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUANTILES = (0.5, 0.95, 0.99)


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _labels(names: Iterable[str], values: Iterable[str], extra: str = "") -> str:
    parts = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def render(registry: "Registry") -> str:
    """The whole registry as exposition text (cumulative histograms, current counters/gauges)."""
    lines: list[str] = []
    for fam in registry.families():
        kind = "summary" if fam.kind == "histogram" else fam.kind
        lines.append(f"# HELP {fam.name} {escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {kind}")
        for key, child in fam.children():
            if fam.kind == "histogram":
                sk = child.cumulative_view()
                values = sk.quantiles(QUANTILES)
                for q, v in zip(QUANTILES, values):
                    lbl = _labels(fam.labelnames, key, f'quantile="{q}"')
                    lines.append(f"{fam.name}{lbl} {format_value(v)}")
                lbl = _labels(fam.labelnames, key)
                lines.append(f"{fam.name}_sum{lbl} {format_value(sk.sum)}")
                lines.append(f"{fam.name}_count{lbl} {sk.count}")
            else:
                lines.append(f"{fam.name}{_labels(fam.labelnames, key)} {format_value(child.value)}")
    return "\n".join(lines) + "\n"
