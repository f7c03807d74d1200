"""Services and the composition root.

A service owns at most one named thread; its loop waits on ``self._stop`` (never
``time.sleep``) so ``stop()`` returns promptly. ``stop()`` twice is harmless. The runtime starts
services in order and stops them in reverse.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Callable

log = logging.getLogger(__name__)


class Service:
    """Base class: override ``run()`` for a threaded service, or ``on_start``/``on_stop``."""

    name = "service"
    threaded = True

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._started and not self._stop.is_set()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._stop.clear()
            self.on_start()
            if self.threaded:
                self._thread = threading.Thread(target=self._main, name=f"nic-{self.name}", daemon=True)
                self._thread.start()
            self._started = True

    def _main(self) -> None:
        try:
            self.run()
        except Exception:  # boundary: a crashed service must be logged, not vanish silently
            log.exception("service %s crashed", self.name)

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            if not self._started:
                return
            self._stop.set()
            thread = self._thread
            self._thread = None
            self._started = False
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("service %s did not stop within %.1fs", self.name, timeout)
        self.on_stop()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True when stop was requested."""
        return self._stop.wait(seconds)

    def on_start(self) -> None:
        """Called before the thread starts (set up resources)."""

    def run(self) -> None:
        """The thread body; loop until ``self._stop`` is set."""

    def on_stop(self) -> None:
        """Called after the thread ended (release resources)."""


class Runtime:
    """Composition root: starts services in order, stops them in reverse."""

    def __init__(self) -> None:
        self.services: list[Service] = []
        self._stopped = threading.Event()
        self._started: list[Service] = []

    def add(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def start(self) -> None:
        for svc in self.services:
            log.debug("starting %s", svc.name)
            try:
                svc.start()
            except BaseException:
                self.stop()
                raise
            self._started.append(svc)

    def stop(self) -> None:
        for svc in reversed(self._started):
            log.debug("stopping %s", svc.name)
            try:
                svc.stop()
            except Exception:  # boundary: keep stopping the others
                log.exception("stopping %s failed", svc.name)
        self._started.clear()
        self._stopped.set()

    def request_stop(self) -> None:
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def install_signal_handlers(self) -> Callable[[], None]:
        """SIGTERM/SIGINT ask the runtime to stop; returns a function restoring the old ones."""
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            self.request_stop()
        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(s, h) for s, h in old.items()] and None
