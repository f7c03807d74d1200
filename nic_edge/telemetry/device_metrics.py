"""DeviceMetrics: the nic_edge metric families, plus a sliding window that alert rules read.

Built on the generic ``Registry`` (metrics.py). Stage latencies come from the engine's
``on_timing`` callback, question outcomes from the ask path, resources from the ResourceSampler,
memory state from the BudgetEnforcer. The alert window (default 5 min, two rotating halves) keeps
its own small sketch of answer latency so alert p95 reflects recent questions, not the whole
uptime; that costs one extra ``add`` per question (not per stage).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from nic_edge.core.sketch import LatencySketch
from nic_edge.telemetry.metrics import Registry, sketch_entry

STAGES = ("tokenize", "embed", "bm25", "vector", "fuse", "answer", "cache")
OUTCOMES = ("answered", "abstained", "invalid", "error")
CACHE_RESULTS = ("l1", "l2", "miss")
# Writes that may fail (a full disk, the data dir gone) without failing an answer.
STORES = ("audit", "cache", "outbox", "data_dir")
# Resource sample key -> (gauge name, help). Values come from ResourceSampler.sample().
RESOURCE_GAUGES = {
    "rss_bytes": ("nic_edge_resident_memory_bytes", "Resident set size of the runtime process"),
    "cpu_percent": ("nic_edge_cpu_percent", "CPU use of the runtime process (100 = one core)"),
    "cpu_temp_c": ("nic_edge_cpu_temperature_celsius", "CPU temperature"),
    "throttled": ("nic_edge_throttled_flags", "Firmware throttling flags (get_throttled bits)"),
    "disk_free_bytes": ("nic_edge_disk_free_bytes", "Free bytes on the data dir's filesystem"),
    "model_load_s": ("nic_edge_model_load_seconds", "Time the embedding model took to load"),
    "index_bytes": ("nic_edge_index_bytes", "Size of the index on disk"),
    "memory_budget_bytes": ("nic_edge_memory_budget_bytes", "Tier memory budget for the process"),
    "degraded_level": ("nic_edge_memory_degraded_level", "Budget enforcement: 0 ok, 1 small L1, 2 lexical"),
}


class _Half:
    """One half of the sliding alert window: latency sketch plus counts."""

    __slots__ = ("sketch", "questions", "errors", "lookups", "hits", "write_failures")

    def __init__(self) -> None:
        self.sketch = LatencySketch()
        self.questions = self.errors = self.lookups = self.hits = self.write_failures = 0


class DeviceMetrics:
    """The nic_edge metric families plus a sliding window (``window_s``) for alert rules.

    Feed it from the engine (``observe_stage`` is an ``on_timing`` callback), the ask path
    (``record_answer`` / ``record_error``), the resource sampler (``set_resources``) and the
    budget enforcer (``set_budget``); read ``snapshot()``, ``prometheus_text()``, ``alert_values()``.
    """

    def __init__(self, registry: Registry | None = None, clock: Callable[[], float] = time.monotonic,
                 window_s: float = 300.0, min_samples: int = 5) -> None:
        self.registry = r = registry or Registry()
        self.answer_latency = r.histogram("nic_edge_answer_latency_seconds",
                                          "Time from question received to answer ready", ("outcome",))
        self.stage_latency = r.histogram("nic_edge_stage_latency_seconds",
                                         "Time spent in each answer pipeline stage", ("stage",))
        self.questions = r.counter("nic_edge_questions_total", "Questions by outcome", ("outcome",))
        self.cache_lookups = r.counter("nic_edge_cache_lookups_total", "Answer cache lookups by result", ("result",))
        self.lexical = r.gauge("nic_edge_lexical_mode", "1 while answering lexically (no embeddings)")
        self.alerts_firing = r.gauge("nic_edge_alerts_firing", "Alert rules currently firing")
        self.write_failures = r.counter(
            "nic_edge_storage_write_failures_total",
            "Failed audit, cache or outbox writes (e.g. disk full); data_dir: the data dir was removed",
            ("store",))
        self._write_failures = {w: self.write_failures.labels(w) for w in STORES}
        self._resource_gauges = {k: r.gauge(name, doc) for k, (name, doc) in RESOURCE_GAUGES.items()}
        # Pre-create label sets so /metrics lists every stage and outcome from the start.
        self._stages = {s: self.stage_latency.labels(s) for s in STAGES}
        self._outcomes = {o: (self.answer_latency.labels(o), self.questions.labels(o)) for o in OUTCOMES}
        self._cache = {c: self.cache_lookups.labels(c) for c in CACHE_RESULTS}
        self.lexical.set(0)
        self.alerts_firing.set(0)
        self._clock = clock
        self._half_s = window_s / 2.0
        self._min = min_samples
        self._wlock = threading.Lock()
        self._cur, self._prev = _Half(), _Half()
        self._half_start = clock()
        self._resources: dict[str, Any] = {}
        self._budget: dict[str, Any] = {}

    # -- recording ---------------------------------------------------------------------------
    def observe_stage(self, stage: str, seconds: float) -> None:
        """Engine ``on_timing`` callback: one stage took ``seconds``."""
        child = self._stages.get(stage)
        if child is None:
            child = self._stages[stage] = self.stage_latency.labels(stage)
        with child.lock:  # inlined _SketchChild.observe: this runs several times per question
            child.interval.add(seconds)

    def record_answer(self, answer: dict[str, Any], cache_consulted: bool = True) -> None:
        """Count one Answer dict (DESIGN.md): outcome, latency and cache level."""
        if answer.get("reason") == "invalid_input":
            outcome, cache = "invalid", None
        else:
            outcome = "abstained" if answer.get("abstained") else "answered"
            cache = (answer.get("cached") or "miss") if cache_consulted else None
        latency = answer.get("latency_ms")
        seconds = float(latency) / 1000.0 if isinstance(latency, (int, float)) else None
        self.record_question(outcome, seconds, cache)

    def record_error(self, seconds: float | None = None) -> None:
        """A question failed with an unexpected error (HTTP 500-class or CLI failure)."""
        self.record_question("error", seconds, None)

    def record_write_failure(self, store: str) -> None:
        """An audit/cache/outbox write failed; the answer was still given (alert + degraded)."""
        self._write_failures[store].inc()
        with self._wlock:
            self._rotate()
            self._cur.write_failures += 1

    def record_question(self, outcome: str, seconds: float | None, cache: str | None) -> None:
        hist, count = self._outcomes[outcome]
        count.inc()
        if seconds is not None:
            hist.observe(seconds)
        if cache is not None:
            self._cache[cache].inc()
        with self._wlock:
            half = self._rotate()
            if outcome != "invalid":
                half.questions += 1
                if outcome == "error":
                    half.errors += 1
                elif seconds is not None:
                    half.sketch.add(seconds)
            if cache is not None:
                half.lookups += 1
                half.hits += cache != "miss"

    def _rotate(self) -> _Half:
        now = self._clock()
        elapsed = now - self._half_start
        if elapsed >= self._half_s:
            self._prev = self._cur if elapsed < 2 * self._half_s else _Half()
            self._cur = _Half()
            self._half_start = now
        return self._cur

    def set_resources(self, sample: dict[str, Any]) -> None:
        """ResourceSampler ``on_sample`` callback."""
        self._resources = dict(sample)
        for key, gauge in self._resource_gauges.items():
            if key in ("memory_budget_bytes", "degraded_level"):
                continue
            v = sample.get(key)
            if isinstance(v, (int, float)):
                gauge.set(v)
            else:
                gauge.clear()

    def set_budget(self, state: dict[str, Any]) -> None:
        """BudgetEnforcer ``state()`` after each reading."""
        self._budget = dict(state)
        self._resource_gauges["memory_budget_bytes"].set(state.get("budget_bytes") or 0)
        self._resource_gauges["degraded_level"].set(state.get("level") or 0)

    def set_mode(self, mode: str) -> None:
        """Engine mode: 'hybrid' or 'lexical'."""
        self.lexical.set(1 if mode == "lexical" else 0)

    # -- reading -----------------------------------------------------------------------------
    def resources(self) -> dict[str, Any]:
        """The last resource sample given to ``set_resources`` (for /api/status)."""
        return dict(self._resources)

    def alert_values(self) -> dict[str, float | None]:
        """Values alert rules compare (see alerts.METRICS); None = no data yet."""
        with self._wlock:
            self._rotate()
            halves = (self._prev, self._cur)
            sk = halves[0].sketch.copy()
            sk.merge(halves[1].sketch)
            q = sum(h.questions for h in halves)
            errors = sum(h.errors for h in halves)
            lookups = sum(h.lookups for h in halves)
            hits = sum(h.hits for h in halves)
            failures = sum(h.write_failures for h in halves)
        p95 = sk.quantile(0.95) if sk.count >= self._min else None
        res, bud = self._resources, self._budget
        rss, budget = res.get("rss_bytes"), bud.get("budget_bytes")
        disk = res.get("disk_free_bytes")
        level = bud.get("level")
        return {
            "answer_latency_p95_ms": None if p95 is None else p95 * 1000.0,
            "error_rate": errors / q if q >= self._min else None,
            "cache_hit_rate": hits / lookups if lookups >= self._min else None,
            "questions_in_window": float(q),
            "rss_mib": None if rss is None else rss / 1048576.0,
            "memory_budget_ratio": rss / budget if rss is not None and budget else None,
            "memory_degraded_level": None if level is None else float(level),
            "lexical_mode": self.lexical.labels().value,
            "cpu_temp_c": res.get("cpu_temp_c"),
            "cpu_percent": res.get("cpu_percent"),
            "throttled_now": None if res.get("throttled_now") is None else float(res["throttled_now"]),
            "disk_free_mib": None if disk is None else disk / 1048576.0,
            "storage_write_failures": float(failures),
        }

    def latency_summary(self) -> dict[str, Any]:
        """Cumulative p50/p95/p99 (seconds) and counts for /api/status, without sketches."""
        snap = self.snapshot()["latency"]
        strip = lambda e: {k: e[k] for k in ("p50", "p95", "p99", "count")}  # noqa: E731
        return {"answer": strip(snap["answer"]), "stages": {s: strip(e) for s, e in snap["stages"].items()}}

    def snapshot(self, reset_interval: bool = False) -> dict[str, Any]:
        """JSON-able metrics: {"window","latency":{"answer","outcomes","stages"},"counters","gauges"}.

        ``reset_interval=True`` (the MQTT metrics message) gives the sketches since the last
        reset and starts a new interval; otherwise the cumulative sketches since start.
        Latency is in seconds; ``answer`` merges every outcome except ``invalid``.
        """
        raw = self.registry.snapshot(reset_interval)
        hist = raw["histograms"]
        outcomes = hist.get("nic_edge_answer_latency_seconds", {})
        merged = LatencySketch()
        for o in ("answered", "abstained", "error"):
            if o in outcomes:
                merged.merge(LatencySketch.from_dict(outcomes[o]["sketch"]))
        answer = sketch_entry(merged)
        answer["sketch"] = merged.to_compact()  # what the MQTT snapshot carries (half the bytes of v1)
        return {
            "window": "interval" if reset_interval else "cumulative",
            "latency": {"answer": answer, "outcomes": outcomes,
                        "stages": hist.get("nic_edge_stage_latency_seconds", {})},
            "counters": raw["counters"],
            "gauges": raw["gauges"],
        }

    def prometheus_text(self) -> str:
        return self.registry.prometheus_text()
