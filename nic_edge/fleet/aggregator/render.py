"""Render the static dashboard: index.html, fleet.json, devices/<id>.html, atomically.

Every file is written to a temp file in the same directory and ``os.replace``d, so a web server
or a browser never sees half a page. Several aggregators may render into one directory
(active-active, docs/FLEET_HA.md): each names its temp files with its own tag, each writes whole
files of its own complete copy of the fleet, and ``fleet.json`` says which one rendered it
(``rendered_by``). No fsync: the dashboard is re-derived from the LMDB store
at the next render, and 1,000 fsyncs per cycle would cost more than the render itself.

The overview and fleet.json are rebuilt every cycle. Device pages are rebuilt at once when
something visible changed (status, tier, alerts: ``FleetState.urgent``), otherwise at most every
``page_interval_s`` while new metrics arrive, so a 1,000-box fleet does not redraw 1,000 pages
of charts every 10 s.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge.core.storage import atomic_write_bytes
from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator import analytics
from nic_edge.fleet.aggregator import html as H
from nic_edge.fleet.aggregator.overview import health, overview_html
from nic_edge.fleet.aggregator.device_state import DeviceState
from nic_edge.fleet.aggregator.state import FleetState
from nic_edge.fleet.aggregator.trends import fleet_trends

log = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes, tag: str = "") -> None:
    """Temp file + rename, no fsync: re-rendered every few seconds, so durability buys nothing."""
    atomic_write_bytes(path, data, durable=False, tmp_tag=tag)


class Renderer:
    def __init__(self, state: FleetState, out: Path, render_interval_s: float = 10.0,
                 offline_after_s: float = 0.0, page_interval_s: float = 60.0,
                 broker: Callable[[], dict[str, Any]] | None = None,
                 instance: dict[str, Any] | None = None) -> None:
        self.state = state
        # {"id", "tag", ...}: which aggregator renders (fleet.json ``rendered_by``; temp file tag)
        self.instance = instance
        self.tag = (instance or {}).get("tag", "")
        self.broker = broker  # the live connection's state; None: rendered from stored data only
        self.out = Path(out)
        self.interval = render_interval_s
        self.offline_after = offline_after_s
        self.page_interval = max(page_interval_s, render_interval_s)
        self.analytics: dict[str, Any] = {"devices": {}, "anomalies": [], "fleet": {}, "computed_at": None}
        self.trends: dict[str, Any] | None = None
        self._page_at: dict[str, float] = {}
        self.failures = 0  # devices, pages or values a render had to leave out (logged)
        (self.out / "devices").mkdir(parents=True, exist_ok=True)

    # -- model -----------------------------------------------------------------------------
    def _row(self, st: DeviceState, now: float, sk: LatencySketch) -> dict[str, Any]:
        m = st.metrics
        silent = self.offline_after > 0 and (st.last_seen is None or now - st.last_seen > self.offline_after)
        online = bool(st.online) and not silent
        status = "online" if online else "stale" if st.online else "offline" if st.online is False else "unknown"
        tier, source = st.tier()
        p50, p95, p99 = sk.quantiles((0.5, 0.95, 0.99))
        rss, budget = m.get("rss_bytes"), m.get("budget_bytes")
        ratio = rss / budget if rss is not None and budget else None
        # what the device counts as firing and this aggregator never received (see overview.health)
        reported = m.get("alerts_active")
        unseen = max(0, reported - len(st.alerts_active)) if type(reported) is int else 0
        replay_lag = now - m["ts"] if m.get("replayed") and m.get("ts") else None
        return {
            "id": st.id, "online": online, "status": status, "tier": tier, "tier_source": source,
            "tier_status": (st.reported or {}).get("status"), "last_seen": st.last_seen,
            "status_since": st.status_ts, "version": (st.info or {}).get("version"),
            "board": (st.info or {}).get("board"), "mode": m.get("mode"),
            "latency_p50_ms": None if p50 is None else p50 * 1000, "latency_p95_ms": None if p95 is None else p95 * 1000,
            "latency_p99_ms": None if p99 is None else p99 * 1000, "latency_count": sk.count,
            "cache_hit_rate": m.get("cache_hit_rate"), "memory_bytes": rss, "memory_budget_bytes": budget,
            "memory_ratio": ratio if ratio is not None and math.isfinite(ratio) else None,
            "memory_state": m.get("memory_state"), "cpu_temp_c": m.get("cpu_temp_c"),
            "cpu_percent": m.get("cpu_percent"), "disk_free_bytes": m.get("disk_free_bytes"),
            "alerts_active": [{"alert_id": a["alert_id"], "rule": a["rule"], "severity": a["severity"],
                               "since": a["ts"], "message": a["message"]} for a in st.alerts_active.values()],
            "alerts_unseen": unseen,
            "spool_backlog": m.get("backlog"), "replaying": bool(m.get("replayed")), "replay_lag_s": replay_lag,
            "drops": m.get("drops"), "missing_seq": st.missing, "last_seq": st.seq_max, "seq_rejected": st.seq_rejected,
            "bad_payloads": st.counts["bad"], "duplicates": st.counts["duplicates"],
            "content_version": (st.content or {}).get("applied_version"),
            "content_status": (st.content or {}).get("status"), "content_reason": (st.content or {}).get("reason"),
        } | {"health": health(status, m.get("mode"), m.get("memory_state"), st.alerts_active.values(), unseen)}

    def model(self, now: float) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, LatencySketch]]:
        rows: list[dict[str, Any]] = []
        sketches: dict[str, LatencySketch] = {}
        with self.state.lock:
            for st in list(self.state.devices.values()):
                try:
                    sk = self.state.recent_sketch(st.id)
                    rows.append(self._row(st, now, sk))
                    sketches[st.id] = sk
                except Exception:  # boundary: one device's bad record must not blank the whole fleet
                    self._failed(f"device {st.id!r} left out of this render")
            stats = dict(self.state.stats)
        rows.sort(key=lambda r: (-r["health"]["rank"], r["id"]))  # worst first
        merged = LatencySketch()
        for r in rows:
            if r["online"]:
                merged.merge(sketches[r["id"]])
        p50, p95, p99 = merged.quantiles((0.5, 0.95, 0.99))
        hits = [r["cache_hit_rate"] for r in rows if r["online"] and r["cache_hit_rate"] is not None]
        mean_hit = sum(hits) / len(hits) if hits else None
        mean_hit = mean_hit if mean_hit is None or math.isfinite(mean_hit) else None  # an overflow: unknown
        fleet = {
            "devices": len(rows), "online": sum(r["online"] for r in rows),
            "offline": sum(not r["online"] for r in rows),
            "alerts_active": sum(len(r["alerts_active"]) + r["alerts_unseen"] for r in rows),
            "latency_p50_ms": None if p50 is None else p50 * 1000, "latency_p95_ms": None if p95 is None else p95 * 1000,
            "latency_p99_ms": None if p99 is None else p99 * 1000, "latency_count": merged.count,
            "latency_window_s": 600, "cache_hit_rate_mean": mean_hit,
            "ingest": stats, "anomalies": analytics.fleet_anomalies(rows) + [
                a for a in self.analytics["anomalies"] if a["scope"] != "fleet"],
            "questions_per_day": self.analytics["fleet"].get("questions_per_day"),
        }
        return rows, fleet, sketches

    # -- output ----------------------------------------------------------------------------
    def render(self, now: float | None = None, all_pages: bool = False) -> dict[str, float]:
        now = time.time() if now is None else now
        t0 = time.perf_counter()
        try:
            self.state.flush()  # pages read history (alerts, series) from LMDB: make it current first
        except Exception as exc:  # boundary: a failing commit (retried by the loop) must not stop the dashboard
            log.warning("rendering from memory: commit failed (%s)", exc)
        self._remove_forgotten()
        rows, fleet, _ = self.model(now)
        doc = {"generated_at": now, "devices": rows, "fleet": fleet, "broker": self.broker_state()}
        if self.instance is not None:
            doc["rendered_by"] = {k: v for k, v in self.instance.items() if k != "tag"}
        # index.html first: whoever polls fleet.json then finds the page of the same render
        self.write(self.out / "index.html", self.index_html(rows, fleet, now).encode())
        self.write(self.out / "fleet.json", self._json(doc))
        t1 = time.perf_counter()
        with self.state.lock:
            urgent, touched = set(self.state.urgent), set(self.state.touched)
            self.state.urgent.clear()
        due = {r["id"] for r in rows if all_pages or r["id"] in urgent or r["id"] not in self._page_at
               or (r["id"] in touched and now - self._page_at[r["id"]] >= self.page_interval)}
        for r in rows:
            if r["id"] in due:
                try:
                    self.device_page(r, now)
                except Exception:  # boundary: one page must not stop the others (retried next render)
                    self._failed(f"page of device {r['id']!r} not written")
                    continue
                self._page_at[r["id"]] = now
                with self.state.lock:
                    self.state.touched.discard(r["id"])
        return {"index_s": t1 - t0, "pages": float(len(due)), "pages_s": time.perf_counter() - t1}

    def status_flips(self, since: float, now: float) -> bool:
        """Whether a device went silent past ``offline_after_s`` between two renders."""
        if self.offline_after <= 0:
            return False
        with self.state.lock:
            return any(st.online and st.last_seen is not None and since < st.last_seen + self.offline_after <= now
                       for st in self.state.devices.values())

    def _remove_forgotten(self) -> None:
        with self.state.lock:
            gone, self.state.forgotten = self.state.forgotten, set()
        for dev in gone:
            self._page_at.pop(dev, None)
            (self.out / "devices" / H.page_name(dev)).unlink(missing_ok=True)

    def run_analytics(self, now: float | None = None, report: bool = False) -> dict[str, Any]:
        now = time.time() if now is None else now
        rows, fleet, _ = self.model(now)
        self.analytics = analytics.run(self.state.store, rows, now)
        with self.state.lock:
            events = {st.id: list(st.history) for st in self.state.devices.values()}
        self.trends = fleet_trends(self.state.store, [r["id"] for r in rows], events, now)
        if report:
            fleet["anomalies"] = self.analytics["anomalies"]
            analytics.write_report(self.out, self.analytics, rows, fleet, self.write)
        return self.analytics

    def broker_state(self) -> dict[str, Any] | None:
        return self.broker() if self.broker is not None else None

    def index_html(self, rows: list[dict[str, Any]], fleet: dict[str, Any], now: float) -> str:
        return overview_html(self, rows, fleet, now)

    def device_page(self, r: dict[str, Any], now: float) -> None:
        from nic_edge.fleet.aggregator.device_page import device_html  # noqa: PLC0415 - keeps modules small
        text = device_html(self, r, now)
        self.write(self.out / "devices" / H.page_name(r["id"]), text.encode())

    def write(self, path: Path, data: bytes) -> None:
        try:
            write_atomic(path, data, self.tag)
        except FileNotFoundError:
            # the output folder was removed under us (an operator's rm -rf, a tmpfs remount):
            # make it again rather than stop the dashboard for good
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, self.tag)

    def _json(self, doc: dict[str, Any]) -> bytes:
        """fleet.json is strict JSON: a non-finite number (from an overflow in derived values, or a
        record stored by an older version) becomes null instead of failing the render."""
        try:
            return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
        except ValueError:
            self._failed("fleet.json held non-finite numbers; written as null")
            return json.dumps(_finite(doc), separators=(",", ":"), allow_nan=False).encode()

    def _failed(self, what: str) -> None:
        """Log a render problem with its traceback the first times, then only count it."""
        self.failures += 1
        if self.failures <= 10 or self.failures % 1000 == 0:
            log.error("render: %s (%d problems so far)", what, self.failures, exc_info=True)


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v
