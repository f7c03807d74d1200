"""Composition root of ``nic-aggregator``: store, state, renderer, notifier, MQTT, Prometheus.

Start order: the loop service (flush/render/analytics/report), notifier, Prometheus endpoint,
then MQTT last so nothing arrives before its consumers run; stop order is the reverse, then a
final flush and render. ``--once`` renders from the stored state and exits (no broker needed).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge.core.config import Config, file_in_config, read_secret
from nic_edge.core.lifecycle import Runtime, Service
from nic_edge.errors import ConfigError
from nic_edge.fleet.aggregator import instance
from nic_edge.fleet.aggregator.render import Renderer
from nic_edge.fleet.aggregator.series import SeriesStore
from nic_edge.fleet.aggregator.state import FleetState

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.5   # the loop's tick; aggregator.commit_interval_s (default 0.5) spaces the commits
MIN_RENDER_GAP_S = 1.0   # "render on change" is rate-limited to this
PRUNE_INTERVAL_S = 600.0
HEARTBEAT_S = 300.0      # an idle fleet is re-rendered this often ("last seen" ages), not every interval


class AggregatorLoop(Service):
    """One thread: flush to LMDB, render on change (checked every interval), analytics, report,
    prune and expiry of unknown ids. An idle fleet is re-rendered only every ``HEARTBEAT_S`` or when
    a device goes stale, so it costs no CPU and no SD-card writes in between.

    Every step is guarded (``_guarded``): an error in one (a record it cannot render, a full disk,
    an output folder removed) is logged and the step runs again at its next turn. The loop itself
    never ends before ``stop()``: it is the only writer and renderer, and a dead loop in a live
    process is an outage no supervisor sees (held PUBACKs would never be released either)."""

    name = "aggregator-loop"

    def __init__(self, state: FleetState, renderer: Renderer, render_interval_s: float,
                 report_interval_s: float, analytics_interval_s: float | None = None,
                 commit_interval_s: float = FLUSH_INTERVAL_S) -> None:
        super().__init__()
        self.state, self.renderer = state, renderer
        self.commit_interval = commit_interval_s
        self.commit_failures = 0  # consecutive failed commits (retried every tick)
        self.render_interval = render_interval_s
        self.report_interval = report_interval_s
        self.analytics_interval = analytics_interval_s or max(60.0, render_interval_s)
        self.renders = 0
        self.failures: dict[str, int] = {}  # step -> consecutive failures

    def run(self) -> None:
        mono = time.monotonic
        last_render = last_analytics = last_prune = last_commit = -1e18
        last_report = mono()  # the first report comes one interval after start (and on --once)
        rendered_version = -1
        while not self.wait(min(FLUSH_INTERVAL_S, self.commit_interval)):
            now = mono()
            if now - last_commit >= self.commit_interval or self.commit_failures:
                if self._commit():
                    last_commit = now
                elif now - last_render < self.render_interval:
                    continue  # retried next tick; the dashboard is still rendered each interval below
            if now - last_analytics >= self.analytics_interval:
                report = now - last_report >= self.report_interval
                last_analytics = now  # a failing step waits its interval too: no retry storm
                if report:
                    last_report = now
                self._guarded("analytics", lambda: self.renderer.run_analytics(report=report))
            changed = self.state.changed.is_set() and now - last_render >= MIN_RENDER_GAP_S
            due = now - last_render >= self.render_interval and (
                self.state.version != rendered_version or now - last_render >= HEARTBEAT_S
                or self.renderer.status_flips(time.time() - (now - last_render), time.time()))
            if changed or due:  # nothing new, no render: an idle fleet costs no CPU and no writes
                self.state.changed.clear()
                rendered_version = self.state.version
                last_render = now
                ok, timing = self._guarded("render", self.renderer.render)
                if ok:
                    self.renders += 1
                    log.debug("rendered: %s", timing)
            if now - last_prune >= PRUNE_INTERVAL_S:
                last_prune = now
                self._guarded("prune", self._prune)

    def cycle(self) -> None:
        self.state.flush()

    def _prune(self) -> None:
        self.state.expire()
        log.debug("pruned %d old buckets", self.state.prune())

    def _guarded(self, step: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run one step; an error is logged (with its traceback the first times, then counted)
        and the step is tried again at its next turn instead of ending the loop."""
        try:
            result = fn()
        except Exception:  # boundary: one bad record or I/O error must not stop the aggregator
            n = self.failures[step] = self.failures.get(step, 0) + 1
            if n in (1, 10, 100) or n % 1000 == 0:
                log.exception("aggregator %s failed (%d in a row); trying again at its next turn", step, n)
            return False, None
        if self.failures.pop(step, 0):
            log.warning("aggregator %s works again", step)
        return True, result

    def _commit(self) -> bool:
        """One commit; an error (disk full, I/O) is logged and retried at the next tick instead of
        ending the loop. Ingestion goes on in memory meanwhile, and with ack_after_commit the
        broker keeps what is not acknowledged yet."""
        try:
            self.cycle()
        except Exception:  # boundary: LMDB/OS errors must not kill the aggregator's only writer
            self.commit_failures += 1
            if self.commit_failures in (1, 10, 100) or self.commit_failures % 1000 == 0:
                log.exception("aggregator commit failed (%d in a row); retrying", self.commit_failures)
            return False
        if self.commit_failures:
            log.warning("aggregator commit works again after %d failures", self.commit_failures)
            self.commit_failures = 0
        return True

    def on_stop(self) -> None:
        # the last commit and render: each on its own, so a failing render still commits
        self._guarded("final commit", self.state.flush)
        self._guarded("final render", self.renderer.render)


def paths(args: argparse.Namespace, cfg: Config) -> tuple[Path, Path]:
    out_s = getattr(args, "out", None) or cfg.aggregator.out_dir
    if not out_s:
        raise ConfigError([("aggregator.out_dir", "no output directory: pass --out DIR or set aggregator.out_dir")],
                          cfg.source)
    out = Path(out_s) if getattr(args, "out", None) else file_in_config(cfg, out_s)
    if getattr(args, "state_dir", None):
        return out, Path(args.state_dir)
    data = file_in_config(cfg, cfg.aggregator.data_dir) if cfg.aggregator.data_dir else out / ".state"
    return out, data


def run_aggregator(args: argparse.Namespace, cfg: Config) -> int:
    out, data = paths(args, cfg)
    a = cfg.aggregator
    once = getattr(args, "once", False)
    client = instance.client_id(args, cfg)
    ident = {"id": client, "host": socket.gethostname(), "pid": os.getpid(), "tag": instance.tag_of(client)}
    # one state dir per serving aggregator (--once only reads it and may run beside one)
    with instance.InstanceLock(data) as lock:
        if not once:
            lock.acquire(client)
        store = SeriesStore(data)
        try:
            state = FleetState(store, max_devices=a.max_devices, unknown_expire_s=a.unknown_expire_s)
            renderer = Renderer(state, out, a.render_interval_s, a.offline_after_s,
                                instance=None if once else ident)
            if once:
                renderer.run_analytics(report=True)
                renderer.render(all_pages=True)
                print(f"rendered {len(state.devices)} devices into {out}")
                return 0
            instance.clear_leftovers(out, ident["tag"])
            return _serve(cfg, state, renderer, client)
        finally:
            store.close()


def _serve(cfg: Config, state: FleetState, renderer: Renderer, client_id: str) -> int:
    from nic_edge.fleet.aggregator.ingest import Ingestor, MqttIngest  # noqa: PLC0415 - paho only when serving
    from nic_edge.fleet.aggregator.notify import Notifier  # noqa: PLC0415
    from nic_edge.fleet.aggregator.prom import MetricsServer  # noqa: PLC0415

    if not cfg.mqtt.host:
        raise ConfigError([("mqtt.host", "not set; the aggregator subscribes to the fleet's broker")], cfg.source)
    a = cfg.aggregator
    notifier = Notifier.from_config(cfg)
    ingestor = Ingestor(state, cfg.mqtt.topic_prefix, on_alert=notifier.submit if notifier else None)
    runtime = Runtime()
    runtime.add(AggregatorLoop(state, renderer, a.render_interval_s, a.report_interval_s,
                               commit_interval_s=a.commit_interval_s))
    if notifier is not None:
        runtime.add(notifier)
    if a.metrics_port:
        runtime.add(MetricsServer(a.metrics_bind, a.metrics_port, renderer.model))
    if a.remote_write_url:
        from nic_edge.fleet.aggregator.remote_write import RemoteWriter  # noqa: PLC0415
        token = read_secret(cfg, "aggregator.remote_write_bearer_token_file") \
            if a.remote_write_bearer_token_file else None
        runtime.add(RemoteWriter(a.remote_write_url, renderer.model, client_id, a.remote_write_interval_s,
                                 a.remote_write_timeout_s, a.remote_write_queue, token))
    mqtt = runtime.add(MqttIngest(cfg, ingestor, client_id=client_id))
    renderer.broker = lambda: mqtt.broker  # the dashboard shows the connection's state
    restore = runtime.install_signal_handlers()
    try:
        runtime.start()
        log.info("aggregator running: %s -> %s", mqtt.filters, renderer.out)
        runtime.wait()
    finally:
        runtime.stop()
        restore()
    return 0
