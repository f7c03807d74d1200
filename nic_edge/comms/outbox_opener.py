"""Open the telemetry outbox, and keep trying while it cannot be (a full or read-only disk).

Before, an outbox that failed to open at start left MQTT telemetry off until someone restarted
the service, although freeing disk space is all the technician should have to do. Now the
runtime retries on this service's thread - after ``first_s`` seconds, then doubling up to
``max_s`` (30 s and 60 s: a retry is one mkdir and one LMDB open, cheap on an SD card) - and
hands the outbox to ``on_open`` when it opens; the thread then ends.
"""

from __future__ import annotations

import logging
from typing import Callable

from nic_edge.comms.outbox import Outbox
from nic_edge.core.lifecycle import Service
from nic_edge.errors import StorageError

log = logging.getLogger(__name__)

RETRY_FIRST_S = 30.0
RETRY_MAX_S = 60.0


class OutboxOpener(Service):
    """``try_open()`` once at construction time; ``start()`` retries until it opens or stops."""

    name = "outbox-open"

    def __init__(self, open_fn: Callable[[], Outbox], *, first_s: float = RETRY_FIRST_S,
                 max_s: float = RETRY_MAX_S) -> None:
        super().__init__()
        self._open = open_fn
        self.first_s = first_s
        self.max_s = max_s
        self.on_open: Callable[[Outbox], None] = lambda outbox: None
        self.on_fail: Callable[[str], None] = lambda problem: None
        self.outbox: Outbox | None = None
        self.problem: str | None = None  # why it is not open, and that it will be retried
        self.attempts = 0

    def delay(self, attempt: int) -> float:
        """Seconds before retry ``attempt`` (0-based)."""
        return min(self.max_s, self.first_s * 2.0 ** min(attempt, 30))

    def try_open(self) -> Outbox | None:
        self.attempts += 1
        try:
            outbox = self._open()
        except StorageError as exc:
            again = self.delay(max(0, self.attempts - 1))
            problem = (f"MQTT telemetry spool off: {exc}; retrying every {again:g} s (metrics "
                       "meanwhile are counted as dropped, alerts held in memory)")
            if problem != self.problem:
                log.error("%s", problem)
            self.problem = problem
            return None
        if self.attempts > 1:
            log.info("outbox %s opened at attempt %d: MQTT telemetry spool back on", outbox.path,
                     self.attempts)
        self.outbox, self.problem = outbox, None
        return outbox

    def run(self) -> None:
        attempt = 0
        while self.outbox is None and not self.wait(self.delay(attempt)):
            attempt += 1
            outbox = self.try_open()
            if outbox is not None:
                self.on_open(outbox)
            elif self.problem is not None:
                self.on_fail(self.problem)
