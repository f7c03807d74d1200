"""systemd notifications (sd_notify) over ``$NOTIFY_SOCKET``, stdlib only.

``Type=notify`` units learn the runtime is ready from ``READY=1`` and that it is alive from
``WATCHDOG=1`` sent at least every ``WatchdogSec``. Outside systemd (no ``$NOTIFY_SOCKET``)
every call is a cheap no-op, so the runtime calls these unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Callable, Mapping

from nic_edge.core.lifecycle import Service

log = logging.getLogger(__name__)


class Notifier:
    """Send datagrams to the socket named by ``NOTIFY_SOCKET`` (``@name`` = abstract namespace)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address: str | bytes | None = self._address(env.get("NOTIFY_SOCKET", ""))

    @staticmethod
    def _address(raw: str) -> str | bytes | None:
        if not raw:
            return None
        if raw.startswith("@"):
            return b"\0" + raw[1:].encode("utf-8")  # Linux abstract socket
        if raw.startswith("/"):
            return raw
        log.warning("NOTIFY_SOCKET=%r is not a unix socket path; notifications disabled", raw)
        return None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; True when sent, False when disabled/failed."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(message)
            return True
        except OSError as exc:
            # systemd being restarted or the socket gone must not take the runtime down.
            log.warning("sd_notify failed: %s", exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings: half of ``WATCHDOG_USEC``; None when no watchdog is asked for.

    ``WATCHDOG_PID``, when set, must be this process (systemd sets it for the main process).
    """
    env = os.environ if env is None else env
    raw = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not raw:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; watchdog pings disabled", raw)
        return None
    return usec / 2e6 if usec > 0 else None


class WatchdogService(Service):
    """Pings the systemd watchdog every ``WATCHDOG_USEC/2`` while ``health()`` returns True.

    A wedged or unhealthy runtime stops pinging, so systemd restarts it (``Restart=on-failure``).
    Not started when the unit has no watchdog. ``status()``, when given, is asked at each ping
    and a changed text is sent as ``STATUS=``: the LAN address a wildcard bind is reachable on
    often arrives (DHCP) after the runtime said it was serving.
    """

    name = "sd-watchdog"

    def __init__(self, notifier: Notifier | None = None, health: Callable[[], bool] | None = None,
                 interval_s: float | None = None, env: Mapping[str, str] | None = None,
                 status: Callable[[], str | None] | None = None) -> None:
        super().__init__()
        self.notifier = notifier or Notifier(env)
        self.health = health
        self.status = status
        self.last_status: str | None = None
        self.interval_s = interval_s if interval_s is not None else watchdog_interval(env)
        self.pings = 0
        self.skipped = 0
        self.threaded = bool(self.notifier.enabled and self.interval_s)

    def ping_once(self) -> bool:
        """One watchdog cycle; True when a ping was sent."""
        if self.health is not None:
            try:
                healthy = bool(self.health())
            except Exception:  # boundary: a crashing health check means unhealthy, not a dead thread
                log.exception("health check failed; withholding watchdog ping")
                healthy = False
            if not healthy:
                self.skipped += 1
                return False
        self.refresh_status()
        if self.notifier.watchdog():
            self.pings += 1
            return True
        return False

    def refresh_status(self) -> None:
        if self.status is None:
            return
        text = self.status()
        if text and text != self.last_status and self.notifier.status(text):
            self.last_status = text

    def run(self) -> None:
        assert self.interval_s
        while True:
            self.ping_once()
            if self.wait(self.interval_s):
                return
