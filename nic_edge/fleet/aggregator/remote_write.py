"""Push the fleet's series to Prometheus by remote write (``aggregator.remote_write_url``).

Off by default: the static dashboard needs nothing else. When a fleet wants history in
Prometheus/Grafana, every ``remote_write_interval_s`` this service samples the renderer's model
(the numbers fleet.json shows) into one batch: the series of ``/metrics`` (prom.py: fleet and
per-device gauges, among them ``nic_fleet_answer_latency_seconds{quantile="0.95"}``, the
aggregator's own fleet p95) plus the fleet's merged latency histogram over the same 10-minute
window as ``nic_fleet_answer_latency_window_seconds_bucket{le}``, so that
``histogram_quantile(0.95, sum by (le) (...))`` can combine several aggregator shards. Every
series carries ``aggregator="<client id>"``: two aggregators of an active-active pair write two
series, never two values into one (``max without (aggregator)`` joins them in PromQL).

One thread samples and sends; ingestion never waits for it (sampling takes the state lock as a
render does). Batches wait in a bounded queue (``remote_write_queue``; the oldest go first when
it is full) while Prometheus is unreachable; sends are retried with backoff doubling from 1 s up
to 60 s, oldest first; a 4xx other than 429 drops the batch (the receiver will never take it,
e.g. samples too old), as the remote-write spec says.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections import deque
from typing import Any, Callable

from nic_edge.core.lifecycle import Service
from nic_edge.core.sketch import LatencySketch
from nic_edge.fleet.aggregator import promwire
from nic_edge.fleet.aggregator.prom import families

log = logging.getLogger(__name__)

Model = Callable[[float], tuple[list[dict[str, Any]], dict[str, Any], dict[str, LatencySketch]]]
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 60.0
HIST = "nic_fleet_answer_latency_window_seconds"


def fleet_histogram(rows: list[dict[str, Any]], sketches: dict[str, LatencySketch]) -> list[tuple[str, float]]:
    """Cumulative (le, count) of the online devices' merged sketch: bucket k of the sketch holds
    (gamma**(k-1), gamma**k], so its upper bound is the ``le``; values at or below the sketch's
    ``tiny`` form the first bucket."""
    merged = LatencySketch()
    for r in rows:
        if r["online"] and r["id"] in sketches:
            merged.merge(sketches[r["id"]])
    if not merged.count:
        return []
    out, cum = [], merged.zero
    if merged.zero:
        out.append((repr(merged.tiny), float(cum)))
    for k in sorted(merged.bins):
        cum += merged.bins[k]
        out.append((repr(merged.gamma ** k), float(cum)))
    out.append(("+Inf", float(merged.count)))
    return out


def batch(rows: list[dict[str, Any]], fleet: dict[str, Any], sketches: dict[str, LatencySketch],
          ts_ms: int, labels: dict[str, str]) -> list[promwire.Series]:
    series: list[promwire.Series] = []
    for name, _doc, _kind, samples in families(rows, fleet):
        for lab, v in samples:
            series.append(({"__name__": name, **labels, **lab}, [(float(v), ts_ms)]))
    hist = fleet_histogram(rows, sketches)
    for le, c in hist:
        series.append(({"__name__": HIST + "_bucket", **labels, "le": le}, [(c, ts_ms)]))
    if hist:
        series.append(({"__name__": HIST + "_count", **labels}, [(hist[-1][1], ts_ms)]))
    return series


class RemoteWriter(Service):
    name = "aggregator-remote-write"

    def __init__(self, url: str, model: Model, instance: str, interval_s: float = 30.0,
                 timeout_s: float = 10.0, queue: int = 120, token: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.url, self.model, self.interval, self.timeout = url, model, interval_s, timeout_s
        self.labels = {"aggregator": instance}
        self.token = token
        self.clock = clock
        self.queue: deque[bytes] = deque(maxlen=queue)  # encoded, compressed bodies, oldest first
        self.stats = {"sampled": 0, "sent": 0, "failed": 0, "rejected": 0, "dropped": 0}
        self._backoff = 0.0
        self._retry_at = 0.0
        self._logged: str | None = None

    def sample(self) -> None:
        now = self.clock()
        rows, fleet, sketches = self.model(now)
        body = promwire.compressed_write_request(batch(rows, fleet, sketches, int(now * 1000), self.labels))
        if len(self.queue) == self.queue.maxlen:
            self.stats["dropped"] += 1  # deque drops the oldest on append
        self.queue.append(body)
        self.stats["sampled"] += 1

    def run(self) -> None:
        mono = time.monotonic
        next_sample = mono()
        while not self._stop.is_set():
            now = mono()
            if now >= next_sample:
                next_sample = now + self.interval
                try:
                    self.sample()
                except Exception:  # boundary: a bad sample must not end the history feed
                    log.exception("remote write: sampling the fleet failed; next try in %.0f s", self.interval)
            if self.queue and now >= self._retry_at:
                self.drain()
            wake = next_sample if not self.queue else min(next_sample, max(self._retry_at, mono()))
            if self.wait(max(0.05, wake - mono())):
                break

    def drain(self, final: bool = False) -> None:
        """Send queued batches oldest first until the queue is empty or a send fails (or a stop
        is asked, unless this is the ``final`` drain)."""
        while self.queue and (final or not self._stop.is_set()):
            status = self._post(self.queue[0])
            if status is None or status == 429 or status >= 500:  # retry later, in order
                self.stats["failed"] += 1
                self._backoff = min(BACKOFF_MAX_S, max(BACKOFF_MIN_S, self._backoff * 2))
                self._retry_at = time.monotonic() + self._backoff
                return
            self.queue.popleft()
            if status >= 400:
                self.stats["rejected"] += 1
            else:
                self.stats["sent"] += 1
            if self._backoff:
                log.info("remote write to %s works again", self.url)
            self._backoff, self._logged = 0.0, None

    def _post(self, body: bytes) -> int | None:
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": "nic-aggregator"})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                resp.read()
                return resp.status
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip()
            exc.close()
            self._log_once(f"remote write to {self.url}: HTTP {exc.code} {detail}")
            return exc.code
        except (OSError, ValueError) as exc:  # refused, timeout, DNS, bad response
            self._log_once(f"remote write to {self.url} failed: {exc}; {len(self.queue)} batch(es) queued, retrying")
            return None

    def _log_once(self, msg: str) -> None:
        if msg != self._logged:
            self._logged = msg
            log.warning("%s", msg)

    def on_stop(self) -> None:
        if self.queue and not self._backoff:  # a clean stop loses nothing a reachable Prometheus takes
            self.drain(final=True)
        log.info("remote write: %s", self.stats)
