"""Slow, idle and dripping clients (issue 22): nobody else waits for them, and the log stays quiet."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from nic_edge.core.config import HttpConfig
from nic_edge.http.server import HttpService
from tests.http.client import raw, statuses
from tests.http.fakes import FakeApp

ATTACKER = "127.0.0.2"  # the whole 127/8 is loopback on Linux: a second client address


def _open(port: int, source: str = "127.0.0.1", first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    if first:
        sock.sendall(first)
    return sock


def _timed_get(port: int, path: str = "/healthz", timeout: float = 3.0) -> tuple[int | None, float]:
    t0 = time.perf_counter()
    try:
        codes = statuses(raw(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), timeout=timeout))
    except OSError:
        codes = []
    return (codes[0] if codes else None), time.perf_counter() - t0


def _closed_by_server(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_200_slowloris_sockets_from_one_address_do_not_deny_service(make_server) -> None:
    svc = make_server(workers=2, request_timeout_s=10.0)
    attack: list[socket.socket] = []
    stop = threading.Event()

    def drip() -> None:  # slowloris: many connections, each sending a header line now and then
        for i in range(200):
            try:
                attack.append(_open(svc.port, ATTACKER, b"GET / HTTP/1.1\r\nHost: x\r\n"))
            except OSError:
                pass
        while not stop.wait(0.5):
            for s in list(attack):
                try:
                    s.send(b"X-a: b\r\n")
                except OSError:
                    pass

    t = threading.Thread(target=drip)
    t.start()
    try:
        time.sleep(0.5)
        results = [_timed_get(svc.port) for _ in range(21)]
        same_address = [_timed_get(svc.port) for _ in range(1)]  # nginx-style: oldest half-sent go first
    finally:
        stop.set()
        t.join()
        for s in attack:
            s.close()
    assert [c for c, _ in results] == [200] * 21, results
    assert max(d for _, d in results) < 2.0
    assert same_address[0][0] == 200


def test_per_address_cap_drops_that_address_oldest_half_sent_connections(make_server) -> None:
    svc = make_server(workers=2, request_timeout_s=10.0, max_pending_per_client=4)
    socks = [_open(svc.port, ATTACKER, b"GET / HTTP/1.1\r\n") for _ in range(6)]  # a burst: all kept
    time.sleep(0.8)  # now they are slow, not merely new
    socks += [_open(svc.port, ATTACKER, b"GET / HTTP/1.1\r\n") for _ in range(4)]
    time.sleep(0.3)
    try:
        assert all(_closed_by_server(s, 2.0) for s in socks[:6])      # the oldest went
        assert not any(_closed_by_server(s, 0.2) for s in socks[6:])  # the newest 4 stay
        # another address is not affected by that cap
        others = [_open(svc.port, "127.0.0.1", b"GET / HTTP/1.1\r\n") for _ in range(4)]
        assert not any(_closed_by_server(s, 0.2) for s in others)
        for s in others:
            s.close()
    finally:
        for s in socks:
            s.close()


def test_a_client_whose_request_arrived_is_never_dropped_for_its_address(make_server, app: FakeApp) -> None:
    app.ask_delay_s = 1.0
    svc = make_server(app, workers=1, request_timeout_s=10.0, max_pending_per_client=2)
    body = b'{"question": "q"}'
    served = _open(svc.port, ATTACKER, b"POST /api/ask HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    time.sleep(0.2)
    idle = [_open(svc.port, ATTACKER, b"GET / HT") for _ in range(10)]
    try:
        served.settimeout(5)
        reply = b""
        while chunk := served.recv(65536):
            reply += chunk
        assert statuses(reply) == [200]
    finally:
        served.close()
        for s in idle:
            s.close()


def test_dripping_client_does_not_hold_the_only_worker(make_server) -> None:
    svc = make_server(workers=1, request_timeout_s=10.0)
    dripper = _open(svc.port, ATTACKER, b"G")
    stop = threading.Event()

    def drip() -> None:
        for ch in b"ET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1":
            if stop.wait(0.1):
                return
            try:
                dripper.send(bytes([ch]))
            except OSError:
                return

    t = threading.Thread(target=drip)
    t.start()
    try:
        time.sleep(0.3)
        code, took = _timed_get(svc.port, timeout=5)
        assert code == 200 and took < 1.0, took
    finally:
        stop.set()
        t.join()
        dripper.close()


def test_slow_body_after_100_continue_does_not_hold_the_only_worker(make_server) -> None:
    svc = make_server(workers=1, request_timeout_s=10.0)
    slow = _open(svc.port, ATTACKER, b"POST /api/ask HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n")
    try:
        slow.settimeout(3)
        assert slow.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        slow.sendall(b'{"question": ')  # ... and the rest never comes
        code, took = _timed_get(svc.port, timeout=5)
        assert code == 200 and took < 1.0, took
    finally:
        slow.close()


def test_slow_head_and_slow_body_time_out_early(make_server) -> None:
    svc = make_server(workers=2, request_timeout_s=30.0, header_timeout_s=0.5, body_timeout_s=0.5)
    head = _open(svc.port, first=b"GET / HTTP/1.1\r\n")
    body = _open(svc.port, first=b"POST /api/ask HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    try:
        t0 = time.perf_counter()
        assert _closed_by_server(head, 3.0) and _closed_by_server(body, 3.0)
        assert time.perf_counter() - t0 < 2.5
    finally:
        head.close()
        body.close()


def test_http09_request_is_answered_at_once(make_server) -> None:
    svc = make_server(request_timeout_s=10.0)
    t0 = time.perf_counter()
    reply = raw(svc.port, b"GET /\r\n", timeout=3, half_close=False)
    assert statuses(reply) == [200] and time.perf_counter() - t0 < 1.5


def test_busy_503s_are_logged_once_not_per_connection(caplog: pytest.LogCaptureFixture, app: FakeApp) -> None:
    app.ask_delay_s = 2.0
    svc = HttpService(app, HttpConfig(port=0, workers=1, request_timeout_s=5.0), max_connections=1)
    svc.start()
    busy = _open(svc.port, first=b'POST /api/ask HTTP/1.1\r\nContent-Length: 17\r\n\r\n{"question": "q"}')
    try:
        time.sleep(0.3)
        with caplog.at_level(logging.WARNING, logger="nic_edge.http.server"):
            codes = [statuses(raw(svc.port, b"GET /healthz HTTP/1.1\r\n\r\n", timeout=3)) for _ in range(30)]
        assert codes == [[503]] * 30
        assert len([r for r in caplog.records if "connection limit" in r.getMessage()]) == 1
        assert svc.dropped["busy"] == 30
    finally:
        busy.close()
        svc.stop()
