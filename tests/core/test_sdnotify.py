"""sd_notify against a real Unix datagram socket (path and abstract namespace)."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from nic_edge.core.sdnotify import Notifier, WatchdogService, watchdog_interval


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    s.bind(path)
    s.settimeout(5)
    yield s, path
    s.close()


def recv(s: socket.socket) -> str:
    return s.recv(4096).decode()


def test_ready_status_watchdog_stopping(sock_path: tuple[socket.socket, str]) -> None:
    s, path = sock_path
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready("serving on\n127.0.0.1:8080")
    assert recv(s) == "READY=1\nSTATUS=serving on 127.0.0.1:8080"
    assert n.watchdog() and recv(s) == "WATCHDOG=1"
    assert n.status("indexing 3/10") and recv(s) == "STATUS=indexing 3/10"
    assert n.stopping() and recv(s) == "STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = "nic-edge-test-" + uuid.uuid4().hex
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert recv(s) == "READY=1"
    finally:
        s.close()


def test_noop_without_socket_and_when_socket_is_gone(tmp_path: Path) -> None:
    assert not Notifier({}).enabled
    assert Notifier({}).ready() is False
    assert Notifier({"NOTIFY_SOCKET": "relative"}).enabled is False
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")}).watchdog() is False  # logged, no raise


def test_reads_process_environment(sock_path: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch) -> None:
    s, path = sock_path
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert Notifier().watchdog() and recv(s) == "WATCHDOG=1"


def test_watchdog_interval() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_watchdog_service_pings_only_while_healthy(sock_path: tuple[socket.socket, str]) -> None:
    s, path = sock_path
    healthy = threading.Event()
    healthy.set()
    svc = WatchdogService(Notifier({"NOTIFY_SOCKET": path}), health=healthy.is_set, interval_s=3600)
    assert svc.ping_once() and recv(s) == "WATCHDOG=1"
    healthy.clear()
    assert svc.ping_once() is False and svc.skipped == 1
    s.settimeout(0.05)
    with pytest.raises(TimeoutError):
        s.recv(100)

    def broken() -> bool:
        raise RuntimeError("boom")
    svc.health = broken
    assert svc.ping_once() is False and svc.skipped == 2


def test_watchdog_service_thread_pings_on_start_and_stops(sock_path: tuple[socket.socket, str]) -> None:
    s, path = sock_path
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(3600 * 10**6)}
    svc = WatchdogService(env=env)
    assert svc.threaded and svc.interval_s == 1800
    svc.start()
    try:
        assert recv(s) == "WATCHDOG=1"  # first ping right away, then every interval
    finally:
        svc.stop()
        svc.stop()  # twice is harmless
    assert not svc.running


def test_watchdog_service_inert_without_watchdog() -> None:
    svc = WatchdogService(env={})
    assert not svc.threaded
    svc.start()
    svc.stop()


def test_watchdog_sends_a_changed_status(sock_path: tuple[socket.socket, str]) -> None:
    """A LAN address that arrives after start (DHCP) reaches systemd's STATUS= line."""
    s, path = sock_path
    texts = iter(["serving on port 8080 (no LAN address yet)", "serving on port 8080 (no LAN address yet)",
                  "serving on http://192.0.2.15:8080"])
    w = WatchdogService(Notifier({"NOTIFY_SOCKET": path}), interval_s=30.0, status=lambda: next(texts))
    got = []
    for _ in range(3):
        assert w.ping_once()
        got.append(recv(s))
        while True:  # drain what this cycle sent (STATUS only when changed, then WATCHDOG)
            if got[-1] == "WATCHDOG=1":
                break
            got.append(recv(s))
    assert got == ["STATUS=serving on port 8080 (no LAN address yet)", "WATCHDOG=1", "WATCHDOG=1",
                   "STATUS=serving on http://192.0.2.15:8080", "WATCHDOG=1"]
