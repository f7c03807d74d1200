"""Resource limits: bounded workers, slow clients, connection cap, lifecycle."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from nic_edge.core.config import HttpConfig
from nic_edge.errors import NicEdgeError
from nic_edge.http.server import HttpService
from tests.http.client import raw, request, statuses
from tests.http.fakes import FakeApp


def _idle(port: int, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock



def test_slowloris_idle_connections_do_not_starve_workers(make_server) -> None:
    svc = make_server(workers=2, request_timeout_s=1.0)
    socks = [_idle(svc.port) for _ in range(svc.cfg.workers + 5)]
    try:
        # while the idle connections are open, /healthz is still answered
        assert request(svc.port, "GET", "/healthz", timeout=5).status == 200
        # the server drops them after request_timeout_s (recv sees EOF well before its 10 s timeout)
        for sock in socks:
            assert sock.recv(1024) == b""
        assert request(svc.port, "GET", "/healthz", timeout=5).status == 200
    finally:
        for sock in socks:
            sock.close()


def test_slow_drip_requests_are_cut_off(make_server) -> None:
    svc = make_server(workers=2, request_timeout_s=1.0)
    # each connection sent part of a request line and then stalls: the workers are busy reading
    socks = [_idle(svc.port, b"GET /healthz HT") for _ in range(svc.cfg.workers + 3)]
    try:
        # queued behind the stalled ones, yet answered once their deadline (from connect) passes
        assert request(svc.port, "GET", "/healthz", timeout=5).status == 200
        for sock in socks:  # cut off after the deadline: EOF (or a reset) instead of hanging
            try:
                assert sock.recv(1024) == b""
            except ConnectionResetError:
                pass
        assert request(svc.port, "GET", "/healthz", timeout=5).status == 200
    finally:
        for sock in socks:
            sock.close()


def test_connection_cap_answers_503_only_when_every_connection_is_served(app: FakeApp) -> None:
    app.ask_delay_s = 1.5
    svc = HttpService(app, HttpConfig(port=0, workers=1, request_timeout_s=5.0), max_connections=3)
    svc.start()
    ask = b'POST /api/ask HTTP/1.1\r\nContent-Length: 17\r\n\r\n{"question": "q"}'
    busy = [_idle(svc.port, ask) for _ in range(3)]  # their requests arrived: served or queued
    try:
        time.sleep(0.3)
        reply = raw(svc.port, b"GET /healthz HTTP/1.1\r\n\r\n", timeout=5)
        assert statuses(reply) == [503] and b"Retry-After: 1" in reply
    finally:
        for sock in busy:
            sock.close()
        svc.stop()


def test_idle_connections_make_room_at_the_cap() -> None:
    svc = HttpService(FakeApp(), HttpConfig(port=0, workers=1, request_timeout_s=5.0), max_connections=3)
    svc.start()
    socks = [_idle(svc.port) for _ in range(3)]
    try:
        assert statuses(raw(svc.port, b"GET /healthz HTTP/1.1\r\n\r\n", timeout=5)) == [200]
    finally:
        for sock in socks:
            sock.close()
        svc.stop()


def test_thread_count_is_bounded_under_load(make_server, app: FakeApp) -> None:
    app.ask_delay_s = 0.02
    svc = make_server(app, workers=4)
    before = threading.active_count()

    def one(i: int) -> int:
        return request(svc.port, "POST", "/api/ask", {"question": f"q {i}"}).status

    peak = [before]

    def watch(stop: threading.Event) -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], threading.active_count())

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,))
    watcher.start()
    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(one, range(200)))
    stop.set()
    watcher.join()
    assert codes == [200] * 200
    # the client pool (40) and the watcher are ours; the server added no thread per connection
    assert peak[0] <= before + 40 + 1


def test_stop_twice_and_restart(app: FakeApp) -> None:
    svc = HttpService(app, HttpConfig(port=0))
    svc.start()
    assert request(svc.port, "GET", "/healthz").status == 200
    svc.stop()
    svc.stop()
    svc.start()
    assert request(svc.port, "GET", "/healthz").status == 200
    svc.stop()
    names = {t.name for t in threading.enumerate()}
    assert not any(n.startswith("nic-http") for n in names), names


def test_port_in_use_is_a_clear_error(make_server) -> None:
    svc = make_server()
    other = HttpService(FakeApp(), HttpConfig(port=svc.port))
    with pytest.raises(NicEdgeError) as err:
        other.start()
    assert str(svc.port) in err.value.message and err.value.hint
    assert not other.running


def test_url_for_wildcard_bind() -> None:
    svc = HttpService(FakeApp(), HttpConfig(bind="0.0.0.0", port=0))
    svc.start()
    try:
        assert svc.url == f"http://127.0.0.1:{svc.port}"
        assert request(svc.port, "GET", "/healthz").status == 200
    finally:
        svc.stop()


@pytest.mark.parametrize("bind, hint", [("not an address", "http.bind"), ("192.0.2.77", "http.bind")])
def test_an_address_the_box_does_not_have_names_http_bind(bind: str, hint: str) -> None:
    svc = HttpService(FakeApp(), HttpConfig(bind=bind, port=0))
    with pytest.raises(NicEdgeError) as err:
        svc.on_start()
    assert hint in str(err.value) and "another port" not in str(err.value)


def test_a_port_in_use_says_so() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        svc = HttpService(FakeApp(), HttpConfig(port=taken.getsockname()[1]))
        with pytest.raises(NicEdgeError) as err:
            svc.on_start()
        assert "another port" in str(err.value)
    finally:
        taken.close()
