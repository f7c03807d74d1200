"""Metrics registry: counters, gauges and latency histograms (LatencySketch per label set).

Cheap to record: one lock and one sketch ``add`` per observation. Each histogram child keeps
an *interval* sketch (what ``snapshot(reset_interval=True)`` returns and restarts, for the MQTT
metrics message every interval) and a *cumulative* sketch (Prometheus ``/metrics``, /api/status).
Observations only touch the interval sketch; a reset folds it into the cumulative one, and a
cumulative read merges the two, so recording never pays for two sketches.

``device_metrics.DeviceMetrics`` predeclares the nic_edge families (stages, outcomes, cache,
resources) and turns them into the values alert rules read (``alert_values``).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterator

from nic_edge.core.sketch import LatencySketch

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelKey = tuple[str, ...]


class _Family:
    kind = ""

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...]) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for ln in labelnames:
            if not _LABEL_RE.match(ln) or ln.startswith("__") or ln == "quantile":
                raise ValueError(f"invalid label name {ln!r} for {name}")
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self._children: dict[LabelKey, Any] = {}
        self._lock = threading.Lock()

    def labels(self, *values: str) -> Any:
        """The child for these label values (created on first use)."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values!r}")
            values = tuple(str(v) for v in values)
            with self._lock:
                child = self._children.get(values)
                if child is None:
                    child = self._children[values] = self._new_child()
        return child

    def _new_child(self) -> Any:
        raise NotImplementedError

    def children(self) -> list[tuple[LabelKey, Any]]:
        with self._lock:
            return sorted(self._children.items())

    def clear(self) -> None:
        """Forget every label set (e.g. an info gauge whose label value changed)."""
        with self._lock:
            self._children.clear()


class _Value:
    __slots__ = ("value", "lock")

    def __init__(self) -> None:
        self.value = 0.0
        self.lock = threading.Lock()

    def inc(self, n: float = 1.0) -> None:
        with self.lock:
            self.value += n

    def set(self, v: float) -> None:
        self.value = float(v)  # a single store is atomic under the GIL


class Counter(_Family):
    kind = "counter"

    def _new_child(self) -> _Value:
        return _Value()

    def inc(self, n: float = 1.0) -> None:
        if n < 0:
            raise ValueError("counters only go up")
        self.labels().inc(n)


class Gauge(_Family):
    kind = "gauge"

    def _new_child(self) -> _Value:
        return _Value()

    def set(self, v: float) -> None:
        self.labels().set(v)

    def inc(self, n: float = 1.0) -> None:
        self.labels().inc(n)


class _SketchChild:
    __slots__ = ("interval", "cumulative", "lock", "rel_err")

    def __init__(self, rel_err: float) -> None:
        self.rel_err = rel_err
        self.interval = LatencySketch(rel_err)
        self.cumulative = LatencySketch(rel_err)
        self.lock = threading.Lock()

    def observe(self, v: float) -> None:
        with self.lock:
            self.interval.add(v)

    def cumulative_view(self) -> LatencySketch:
        with self.lock:
            out = self.cumulative.copy()
            out.merge(self.interval)
        return out

    def interval_view(self, reset: bool) -> LatencySketch:
        with self.lock:
            cur = self.interval
            if reset:
                self.cumulative.merge(cur)
                self.interval = LatencySketch(self.rel_err)
                return cur
            return cur.copy()


class Histogram(_Family):
    """Latency histogram; exported to Prometheus as a summary (quantiles + _sum/_count)."""

    kind = "histogram"

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...], rel_err: float = 0.01) -> None:
        super().__init__(name, help, labelnames)
        self.rel_err = rel_err

    def _new_child(self) -> _SketchChild:
        return _SketchChild(self.rel_err)

    def observe(self, v: float) -> None:
        self.labels().observe(v)


def sketch_entry(sk: LatencySketch) -> dict[str, Any]:
    """The JSON-able summary of one sketch used in snapshots: percentiles plus the sketch."""
    entry: dict[str, Any] = sk.percentiles()
    entry.update(count=sk.count, sum=sk.sum, sketch=sk.to_dict())
    return entry


def label_key(values: LabelKey) -> str:
    """Snapshot key of a label set: '' unlabelled, the value for one label, else 'a,b'."""
    return ",".join(values)


class Registry:
    """Thread-safe collection of metric families, rendered as JSON snapshots or Prometheus text."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    def _register(self, cls: type, name: str, help: str, labels: tuple[str, ...], **kw: Any) -> Any:
        with self._lock:
            fam = self._families.get(name)
            if fam is not None:
                if type(fam) is not cls or fam.labelnames != tuple(labels):
                    raise ValueError(f"metric {name} already registered as another type or labels")
                return fam
            fam = self._families[name] = cls(name, help, tuple(labels), **kw)
            return fam

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Counter:
        return self._register(Counter, name, help, labels)

    def gauge(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Gauge:
        return self._register(Gauge, name, help, labels)

    def histogram(self, name: str, help: str, labels: tuple[str, ...] = (), rel_err: float = 0.01) -> Histogram:
        return self._register(Histogram, name, help, labels, rel_err=rel_err)

    def families(self) -> Iterator[_Family]:
        with self._lock:
            fams = list(self._families.values())
        return iter(sorted(fams, key=lambda f: f.name))

    def get(self, name: str) -> _Family | None:
        return self._families.get(name)

    def snapshot(self, reset_interval: bool = False) -> dict[str, Any]:
        """{"counters","gauges","histograms"}: {name: value or {label_key: value}}.

        Histograms give the interval sketches (reset afterwards) when ``reset_interval``,
        else the cumulative ones. Counters and gauges are always current totals.
        """
        out: dict[str, dict[str, Any]] = {"counters": {}, "gauges": {}, "histograms": {}}
        for fam in self.families():
            section = {"counter": "counters", "gauge": "gauges", "histogram": "histograms"}[fam.kind]
            values: dict[str, Any] = {}
            for key, child in fam.children():
                if isinstance(child, _SketchChild):
                    sk = child.interval_view(True) if reset_interval else child.cumulative_view()
                    values[label_key(key)] = sketch_entry(sk)
                else:
                    values[label_key(key)] = child.value
            if not fam.labelnames:
                # An unset gauge is None (unknown), not 0: no temperature sensor is not 0 °C.
                empty: Any = {"counters": 0.0, "gauges": None}.get(section)
                out[section][fam.name] = values.get("", empty if empty is not None or section == "gauges"
                                                    else sketch_entry(LatencySketch()))
            else:
                out[section][fam.name] = values
        return out

    def prometheus_text(self) -> str:
        from nic_edge.telemetry.prometheus import render
        return render(self)
