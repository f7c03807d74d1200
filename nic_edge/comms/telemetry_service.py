"""Every metrics interval: take a snapshot through a callback and hand it to the publisher.

The interval is read each period (a callable), so a live tier switch changes it without a
restart. Scheduling is against a monotonic deadline, so a slow snapshot does not drift the
cadence. Alerts do not wait for the interval: ``submit_alert`` forwards at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Protocol

from nic_edge.comms.schema import SchemaError
from nic_edge.core.lifecycle import Service

log = logging.getLogger(__name__)


class Sink(Protocol):
    def submit_metrics(self, snapshot: dict[str, Any]) -> int | None: ...
    def submit_alert(self, event: dict[str, Any]) -> int | None: ...


class TelemetryService(Service):
    name = "telemetry"

    def __init__(self, sink: Sink, snapshot_fn: Callable[[], dict[str, Any]],
                 interval_s: float | Callable[[], float],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.sink = sink
        self.snapshot_fn = snapshot_fn
        self._interval = interval_s if callable(interval_s) else (lambda: float(interval_s))
        self._monotonic = monotonic
        self.submitted = 0
        self.failed = 0

    @property
    def interval_s(self) -> float:
        return max(0.01, float(self._interval()))

    def set_interval(self, interval_s: float | Callable[[], float]) -> None:
        self._interval = interval_s if callable(interval_s) else (lambda: float(interval_s))

    def submit_alert(self, event: dict[str, Any]) -> int | None:
        """Forward an alert event (AlertEvent dict) to the outbox right away."""
        return self.sink.submit_alert(event)

    def tick(self) -> int | None:
        """Take and submit one snapshot (also used by tests and shutdown paths)."""
        try:
            seq = self.sink.submit_metrics(self.snapshot_fn())
        except SchemaError as exc:  # boundary: a bad snapshot is logged, the next one may be fine
            self.failed += 1
            log.error("telemetry snapshot rejected: %s", exc)
            return None
        self.submitted += 1
        return seq

    def run(self) -> None:
        due = self._monotonic() + self.interval_s
        while not self.wait(max(0.0, due - self._monotonic())):
            try:
                self.tick()
            except Exception:  # boundary: keep the cadence even if a snapshot source breaks
                self.failed += 1
                log.exception("telemetry snapshot failed")
            due += self.interval_s
            now = self._monotonic()
            if due < now:  # fell behind (suspend, slow disk): skip missed ticks, don't burst
                due = now + self.interval_s
