"""``nic-edge serve``: compose the device services and run until SIGTERM/SIGINT.

Start order: HTTP first (so ``/healthz`` answers 503 "starting" at once), then the profiler,
alert evaluator, MQTT publisher and telemetry, and the systemd watchdog; then the sample manual
is indexed if the index is empty, and the device reports ready. Stop order is the reverse.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from nic_edge.app.device import DeviceApp
from nic_edge.comms.schema import light_entry
from nic_edge.core.config import Config, data_dir, file_in_config
from nic_edge.core.lifecycle import Runtime
from nic_edge.core.resources import SAMPLE_MANUAL, data_file
from nic_edge.core.sdnotify import Notifier, WatchdogService
from nic_edge.errors import IndexStoreError, NicEdgeError
from nic_edge.http.addresses import serving_text
from nic_edge.http.server import HttpService
from nic_edge.telemetry.alerts import AlertService
from nic_edge.telemetry.profiler import ResourceSampler

log = logging.getLogger(__name__)


def _flatten(section: dict[str, Any]) -> dict[str, float]:
    """Counters {name: value | {labels: value}} -> {"name" | "name{labels}": value}."""
    out: dict[str, float] = {}
    for name, v in section.items():
        if isinstance(v, dict):
            for labels, x in v.items():
                if isinstance(x, (int, float)):
                    out[f"{name}{{{labels}}}" if labels else name] = x
        elif isinstance(v, (int, float)):
            out[name] = v
    return out


def metrics_snapshot(app: DeviceApp, sampler: ResourceSampler | None,
                     spool: dict[str, Any] | None = None) -> dict[str, Any]:
    """The MQTT metrics body (schema.build_metrics adds seq/device/replayed/drops)."""
    snap = app.metrics.snapshot(reset_interval=True)
    res = dict(sampler.latest() if sampler is not None else {})
    res["memory_budget_bytes"] = app.profile.memory_budget_bytes
    res["memory_state"] = app.budget.state()["state"]
    cache = app.cache.stats() if app.cache is not None else {}
    ans = snap["latency"]["answer"]
    rss = res.get("rss_bytes")
    values = app.metrics.alert_values()
    return {
        "ts": time.time(), "tier": app.decision.name, "mode": app.engine.mode,
        "latency": {"answer": ans,
                    "stages": {k: light_entry(v) for k, v in snap["latency"]["stages"].items()},
                    "outcomes": {k: light_entry(v) for k, v in snap["latency"]["outcomes"].items()}},
        "cache": {k: v for k, v in cache.items() if isinstance(v, (int, float, str, bool)) or v is None},
        "resources": {k: v for k, v in res.items() if isinstance(v, (int, float, str, bool)) or v is None},
        "counters": _flatten(snap["counters"]),
        "spool": {"backlog": (spool or {}).get("backlog", 0)},
        "summary": {
            "latency_p50_ms": None if not ans.get("count") else ans["p50"] * 1000.0,
            "latency_p95_ms": None if not ans.get("count") else ans["p95"] * 1000.0,
            "cache_hit_rate": values.get("cache_hit_rate"),
            "memory_mib": None if rss is None else rss / 1048576.0,
            "cpu_temp_c": res.get("cpu_temp_c"), "cpu_percent": res.get("cpu_percent"),
            "alerts_active": len(app.alert_evaluator.active()),
        },
    }


def _index_bytes(path: Path) -> float | None:
    try:
        return float(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()))
    except OSError:
        return None


class Device:
    """Everything ``serve`` runs; tests build one directly to drive it in-process."""

    def __init__(self, cfg: Config, data: Path, bind: str | None = None, port: int | None = None,
                 env: dict[str, str] | None = None, hardware: Any = None) -> None:
        self.cfg = cfg
        self.app = DeviceApp(cfg, data, hardware=hardware, env=env)
        app = self.app
        http_cfg = cfg.http
        if bind is not None:
            http_cfg = dataclasses.replace(http_cfg, bind=bind)
        if port is not None:
            http_cfg = dataclasses.replace(http_cfg, port=port)
        self.runtime = Runtime()
        self.http = self.runtime.add(HttpService(app, http_cfg))
        self.sampler = self.runtime.add(ResourceSampler(
            data, interval_s=5.0, on_sample=app.on_resources,
            extras={"model_load_s": lambda: getattr(app.embedder, "load_seconds", None),
                    "index_bytes": lambda: _index_bytes(data / "index")}))
        self.publisher = None
        self.outbox_opener = None
        self.telemetry = None
        self.overrides = None
        self.content = None
        if cfg.mqtt.host:
            self._setup_mqtt(data)
        self.alerts = self.runtime.add(AlertService(app.alert_evaluator, app.metrics.alert_values,
                                                    cfg.alerts.eval_interval_s, on_event=self._on_alert))
        if not cfg.alerts.enabled:
            self.alerts.threaded = False
        self.notifier = Notifier()
        # The ping proves the HTTP surface is still up, not merely that a thread runs.
        self.watchdog = self.runtime.add(WatchdogService(
            self.notifier, health=lambda: self.http.running,
            status=lambda: f"serving on {self.where()}" if self.app.started else None))

    def _setup_mqtt(self, data: Path) -> None:
        from nic_edge.comms.outbox import Outbox
        from nic_edge.comms.outbox_opener import OutboxOpener
        from nic_edge.comms.overrides import Applied, OverrideManager, load_device_key
        from nic_edge.comms.publisher import MqttPublisher
        from nic_edge.comms.telemetry_service import TelemetryService

        app, cfg = self.app, self.cfg
        key = load_device_key(file_in_config(cfg, cfg.fleet.key_file) if cfg.fleet.key_file else None)

        def audit(action: str, details: dict[str, Any], ok: bool) -> None:
            app.audit_action(action, "fleet", details, ok)

        self.overrides = OverrideManager(
            app.device_id, key, data,
            apply=lambda tier: Applied(*(lambda d: (d.name, d.source))(app.apply_tier(tier, "fleet"))),
            current=lambda: Applied(app.decision.name, app.decision.source),
            max_age_s=cfg.fleet.max_age_s, max_future_s=cfg.fleet.max_future_s, audit=audit)
        # A full or read-only disk: answer on, MQTT connected (status, info, reports), metrics
        # counted as dropped, alerts held in memory, and the outbox retried until it opens.
        opener = self.outbox_opener = OutboxOpener(lambda: Outbox(data / "outbox", cfg.mqtt.spool_max_bytes))
        outbox = opener.try_open()
        problem = opener.problem
        self.publisher = MqttPublisher(cfg, outbox, info_fn=app.info, on_desired=self._on_desired,
                                       storage_error=problem)
        self.publisher.set_reported(self.overrides.reported_on_connect())
        self.runtime.add(self.publisher)
        opener.on_open, opener.on_fail = self._outbox_opened, self.publisher.outbox_off
        opener.threaded = outbox is None
        self.runtime.add(opener)  # after the publisher: stopped before it
        from nic_edge.app.content import make_updater

        self.content = self.runtime.add(make_updater(cfg, app, data, self.publisher, audit,
                                                     on_device_keys=self.overrides.adopt_wrapped))
        interval = lambda: cfg.mqtt.metrics_interval_s or float(app.profile.metrics_interval_s)  # noqa: E731
        self.telemetry = self.runtime.add(TelemetryService(
            self.publisher, lambda: metrics_snapshot(app, self.sampler, self.publisher.status()), interval))
        app.mqtt_status = self.publisher.status
        app.outbox_error = lambda: self.publisher.storage_error if self.publisher is not None else None
        if problem:
            app.writes.note("outbox", problem)  # /healthz says so from the first request on
        app.on_tier_change.append(lambda d: self.publisher.refresh_info())

    def _outbox_opened(self, outbox: Any) -> None:
        assert self.publisher is not None
        self.publisher.attach_outbox(outbox)
        self.app.writes.clear("outbox")  # /healthz: no longer degraded for it

    def _on_desired(self, payload: bytes) -> None:
        assert self.overrides is not None and self.publisher is not None
        self.publisher.set_reported(self.overrides.handle(payload))

    def _on_alert(self, event: dict[str, Any]) -> None:
        self.app.metrics.alerts_firing.set(len(self.app.alert_evaluator.active()))
        # Guarded: on a full disk the audit write fails, and the alert saying so must still go out.
        self.app.audit_action("alert_" + event["state"], "system",
                              {"rule": event["rule"], "alert_id": event["alert_id"]})
        if self.publisher is not None:
            self.publisher.submit_alert(event)

    def start(self) -> None:
        self.runtime.start()
        # READY as soon as HTTP answers (503 "starting" until prepared): indexing the sample
        # manual on a Pi Zero can outlast systemd's start timeout.
        self.notifier.ready(f"starting on {self.where()}")
        try:
            self.prepare()
        except IndexStoreError as exc:
            # A damaged index: serve on. /healthz says "degraded" with the index problem until
            # `nic-edge index` rebuilds it, which the engine picks up live; "starting" would
            # stay 503 even after that repair, until a restart.
            log.error("%s", exc)
        except Exception as exc:  # boundary: serve on (degraded) and say why on /healthz
            self.app.start_error = f"startup failed: {exc}"
            log.exception("startup failed")
            if not self._answers_anyway():
                return  # nothing to answer from: /healthz stays 503 with the reason
        self.app.started = True
        where = self.where()
        self.watchdog.refresh_status()  # STATUS=serving on ...; re-sent by the watchdog when it changes
        if self.publisher is not None:
            self.publisher.refresh_info()
        log.info("nic-edge %s serving on %s (tier %s)", self.app.device_id, where, self.app.decision.name)

    def _answers_anyway(self) -> bool:
        """Start-up indexing failed (e.g. a full disk) but an index is there: the box answers
        from it, so it is up and degraded, not "starting" for ever (which also reads as a
        failed start to a health check such as the updater's)."""
        try:
            return bool(self.app.engine.manuals())
        except (NicEdgeError, OSError):
            return False

    def where(self) -> str:
        """The address a technician uses: with a wildcard bind, the box's LAN address(es), not
        the loopback URL this host itself would use (``self.http.url``)."""
        return serving_text(self.http.cfg.bind, self.http.port)

    def prepare(self) -> None:
        """Apply a content bundle flashed with the config (``<data_dir>/content/flashed.nicb``,
        docs/PROVISIONING.md): a prebuilt index that then owns the manual set. Else index the
        manuals in ``<data_dir>/manuals`` that are not indexed yet (where first boot puts flashed
        manuals; unchanged files are skipped by their hash). Only when that folder is empty or
        missing and nothing is indexed, index the bundled sample manual."""
        from nic_edge.app.content import apply_flashed, bundle_applied, make_updater
        from nic_edge.engine.indexer import expand

        content = self.app.data_dir / "content"
        updater = self.content
        if updater is None and content.is_dir():
            # No MQTT: no pushed bundles, but a flashed one is applied, and /api/status shows it.
            app = self.app

            def record(action: str, details: dict[str, Any], ok: bool) -> None:
                app.audit_action(action, "fleet", details, ok)
            updater = make_updater(self.cfg, self.app, self.app.data_dir, None, record)
        if updater is not None:
            apply_flashed(updater, self.app.data_dir)
        folder = self.app.data_dir / "manuals"
        other: dict[str, int] = {}
        files = expand([folder], None, other) if folder.is_dir() else []
        if other:
            log.warning("%s holds %d file(s) that are not of a manual type, not indexed: %s", folder,
                        sum(other.values()), ", ".join(f"{k} x{v}" for k, v in sorted(other.items())))
        if files and bundle_applied(self.app.data_dir):
            # A pushed bundle replaced the manual set (docs/CONTENT_UPDATES.md): the flashed
            # folder must not come back on top of it at every start.
            log.info("a pushed content bundle owns the manual set: %s is not indexed at start", folder)
            files = []
        if files:
            log.info("indexing %d file(s) from %s that are not indexed yet", len(files), folder)
            report = self.app.engine.index_paths(files)
            log.info("%s", report)
            for path, why in report.skipped:
                log.warning("skipped %s: %s", path, why)
            for w in report.warnings:
                log.warning("%s", w)
        elif not self.app.engine.manuals():
            sample = data_file(SAMPLE_MANUAL)
            log.info("no manuals indexed: indexing the bundled sample manual %s", sample.name)
            report = self.app.engine.index_paths([sample])
            log.info("%s", report)

    def stop(self) -> None:
        self.notifier.stopping()
        self.runtime.stop()
        self.app.close()


def serve(args: argparse.Namespace, cfg: Config) -> int:
    device = Device(cfg, data_dir(cfg, args.data_dir), bind=args.bind, port=args.port)
    restore = device.runtime.install_signal_handlers()
    try:
        device.start()
        print(f"nic-edge serving on {device.http.url} (Ctrl-C to stop)", flush=True)
        device.runtime.wait()
    finally:
        device.stop()
        restore()
    return 0
