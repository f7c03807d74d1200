"""WriteGuard: audit, cache and outbox writes that fail (a full disk) never cost an answer.

A failed write is counted (``nic_edge_storage_write_failures_total{store}``, which the default
``storage_write_failing`` alert rule watches), logged once per store and problem, and reported by
``/healthz`` as ``degraded`` for ``window_s`` after the last failure. Cache and outbox catch their
own storage errors (they count them); ``poll`` turns those counts into the same signal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from nic_edge.errors import StorageError

log = logging.getLogger(__name__)


class WriteGuard:
    def __init__(self, record: Callable[[str], None], clock: Callable[[], float] = time.time,
                 window_s: float = 300.0) -> None:
        self._record = record
        self._clock = clock
        self.window_s = window_s
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, str]] = {}  # store -> (when, what failed)
        self.counts: dict[str, int] = {}
        self._cache_errors = 0
        self._watched: dict[str, tuple[Path, tuple[int, int] | None]] = {}

    def run(self, store: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Call ``fn``; an OSError/StorageError is noted, not raised (the caller has an answer)."""
        try:
            fn(*args, **kw)
        except (OSError, StorageError) as exc:
            self.note(store, str(exc))

    def note(self, store: str, message: str) -> None:
        with self._lock:
            first = self._last.get(store, (0.0, ""))[1] != message
            self._last[store] = (self._clock(), message)
            self.counts[store] = self.counts.get(store, 0) + 1
        self._record(store)
        if first:  # a full disk fails every write: log the problem once, count the rest
            log.error("%s write failed: %s (answers go on; /healthz reports degraded)", store, message)

    def clear(self, store: str) -> None:
        """The condition behind ``store``'s failures is over (e.g. the outbox that could not be
        opened now is): stop reporting it at once rather than at the end of the window."""
        with self._lock:
            self._last.pop(store, None)

    def watch(self, store: str, directory: Path) -> None:
        """Check at every ``poll`` that ``directory`` is still the one there now. Removed or
        replaced under a running process (``rm -rf``, a restore without stopping serve), the
        stores in it go on writing into files no longer on disk: lost at the next restart."""
        self._watched[store] = (directory, _dir_id(directory))

    def poll(self, cache: Any = None, outbox_error: Callable[[], str | None] | None = None) -> None:
        """Periodic check of the stores that count their own failures, and of watched dirs."""
        for store, (directory, ident) in self._watched.items():
            if _dir_id(directory) != ident:
                self.note(store, f"{directory} was removed or replaced while running: the answer "
                                 "cache, audit log and telemetry written since are lost; put it back "
                                 "and restart nic-edge serve")
        errors = getattr(cache, "write_errors", 0) if cache is not None else 0
        if errors > self._cache_errors:
            self.note("cache", f"{errors - self._cache_errors} answer cache write(s) failed")
        self._cache_errors = errors
        problem = outbox_error() if outbox_error is not None else None
        if problem:
            self.note("outbox", problem)
            if not outbox_error():  # the outbox opened (and its note was cleared) meanwhile
                self.clear("outbox")

    def problems(self) -> dict[str, str]:
        """Stores whose last failure is within the window: store -> message."""
        now = self._clock()
        with self._lock:
            return {s: m for s, (t, m) in self._last.items() if now - t <= self.window_s}


def _dir_id(directory: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
