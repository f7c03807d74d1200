"""HttpService: the stdlib HTTP server with bounded workers and per-connection deadlines.

Connection flow, chosen so that no client can hang a worker or grow the thread count:
1. The service thread (``nic-http``) accepts connections and parks them in a selector until the
   client has sent something, so idle sockets (slowloris) cost no worker and /healthz keeps
   answering. Parked connections are dropped after ``http.request_timeout_s``.
2. Readable connections go to a queue served by exactly ``http.workers`` worker threads.
   A connection carries one request (``Connection: close``) so a worker never idles on keep-alive.
3. While a worker still reads the request, the service thread enforces an overall deadline (a
   client dripping one byte at a time is cut off, not just one that goes silent).
4. After the response the socket "lingers" in the selector until the client closes it, so a
   response sent before reading the body (413, 401) is not destroyed by a TCP reset.
Open connections are capped; beyond the cap a new connection gets an immediate 503 + Retry-After.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Callable

from nic_edge.core.config import HttpConfig
from nic_edge.core.lifecycle import Service
from nic_edge.errors import NicEdgeError
from nic_edge.http.app_protocol import AppProtocol
from nic_edge.http.handler import RequestHandler

log = logging.getLogger(__name__)

LINGER_S = 2.0                # how long a finished connection may take to close
LINGER_MAX_BYTES = 1 << 20    # unread request bytes discarded before giving up on a graceful close
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 56\r\n\r\n"
         b'{"error": "server busy, retry shortly", "reason": "busy"}')


@dataclass
class _Parked:
    kind: str          # "listen" | "wake" | "pending" | "linger"
    addr: tuple = ()
    deadline: float = 0.0
    drained: int = 0


class _Server(ThreadingHTTPServer):
    """Listening socket and handler plumbing; the accept loop lives in HttpService."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128   # the kernel backlog absorbs bursts; the selector drains it quickly

    def __init__(self, address: tuple[str, int], app: AppProtocol, cfg: HttpConfig,
                 service: "HttpService") -> None:
        self.app = app
        self.cfg = cfg
        self.service = service
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall for seconds on a box without DNS
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def request_read(self, sock: socket.socket) -> None:
        """Called by the handler once the request is read: ends the overall read deadline and
        gives the response phase the full per-operation timeout again."""
        self.service._reading_done(sock)
        try:
            sock.settimeout(self.cfg.request_timeout_s)
        except OSError:
            pass  # already closed; the write that follows reports it


class HttpService(Service):
    """The local HTTP surface. ``HttpService(app, cfg.http)``; after ``start()``, ``.port`` holds
    the bound port (useful with ``http.port = 0``) and ``.url`` the base URL."""

    name = "http"

    def __init__(self, app: AppProtocol, http_cfg: HttpConfig | None = None, *,
                 max_connections: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.app = app
        self.cfg = http_cfg or HttpConfig()
        self.max_connections = max_connections or max(64, self.cfg.workers * 16)
        self.port: int | None = None
        self._clock = clock
        self._server: _Server | None = None
        self._sel: selectors.BaseSelector | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._handoff: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._reading: dict[socket.socket, float] = {}
        self._active: set[socket.socket] = set()
        self._open = 0
        self._mu = threading.Lock()

    @property
    def url(self) -> str:
        host = self.cfg.bind
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return self._open

    # ---- lifecycle -------------------------------------------------------------------------
    def on_start(self) -> None:
        try:
            self._server = _Server((self.cfg.bind, self.cfg.port), self.app, self.cfg, self)
        except OSError as exc:
            raise NicEdgeError(
                f"cannot listen on {self.cfg.bind}:{self.cfg.port}: {exc.strerror or exc}",
                hint="choose another port (--port or http.port) or stop the process using it") from exc
        self._server.socket.setblocking(False)
        self.port = self._server.server_address[1]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._server.socket, selectors.EVENT_READ, _Parked("listen"))
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, _Parked("wake"))
        self._queue = queue.SimpleQueue()
        self._handoff = queue.SimpleQueue()
        self._workers = [threading.Thread(target=self._worker, name=f"nic-http-worker-{i}", daemon=True)
                         for i in range(self.cfg.workers)]
        for t in self._workers:
            t.start()
        log.info("HTTP on %s (%d workers)", self.url, self.cfg.workers)

    def run(self) -> None:
        sel = self._sel
        assert sel is not None
        while not self._stop.is_set():
            for key, _ in sel.select(0.25):
                parked: _Parked = key.data
                if parked.kind == "listen":
                    self._accept()
                elif parked.kind == "wake":
                    self._drain_wake()
                elif parked.kind == "pending":
                    sel.unregister(key.fileobj)
                    self._queue.put((key.fileobj, parked.addr, parked.deadline))
                else:
                    self._linger_read(key.fileobj, parked)  # type: ignore[arg-type]
            self._take_handoffs()
            self._expire()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake()  # the select loop notices the stop now instead of after its poll interval
        super().stop(timeout)

    def on_stop(self) -> None:
        with self._mu:
            active = list(self._active)
        for sock in active:  # unblock workers stuck in a read
            _shutdown(sock, socket.SHUT_RDWR)
        for _ in self._workers:
            self._queue.put(None)
        deadline = time.monotonic() + 2.0
        for t in self._workers:
            t.join(max(0.0, deadline - time.monotonic()))
        self._workers = []
        if self._sel is not None:
            for key in list(self._sel.get_map().values()):
                if key.data.kind in ("pending", "linger"):
                    _close(key.fileobj)  # type: ignore[arg-type]
            self._sel.close()
            self._sel = None
        while True:  # connections queued but never served
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                _close(item[0])
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._wake_r = self._wake_w = None
        if self._server is not None:
            self._server.server_close()
            self._server = None
        self._open = 0
        log.info("HTTP stopped")

    # ---- service thread --------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._server is not None and self._sel is not None
        for _ in range(64):  # bounded so expiry checks still run under a connection flood
            try:
                sock, addr = self._server.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: back off until the next select round
                log.warning("accept failed: %s", exc)
                return
            with self._mu:
                full = self._open >= self.max_connections
                if not full:
                    self._open += 1
            if full:
                log.warning("HTTP connection limit (%d) reached; answering 503", self.max_connections)
                _reject_busy(sock)
                continue
            sock.setblocking(False)
            deadline = self._clock() + self.cfg.request_timeout_s
            self._sel.register(sock, selectors.EVENT_READ, _Parked("pending", addr, deadline))

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _take_handoffs(self) -> None:
        assert self._sel is not None
        while True:
            try:
                sock = self._handoff.get_nowait()
            except queue.Empty:
                return
            try:
                sock.setblocking(False)
                self._sel.register(sock, selectors.EVENT_READ,
                                   _Parked("linger", deadline=self._clock() + LINGER_S))
            except (OSError, ValueError):  # already closed by the peer side
                self._finish(sock)

    def _linger_read(self, sock: socket.socket, parked: _Parked) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        parked.drained += len(data)
        if not data or parked.drained > LINGER_MAX_BYTES:
            self._unpark(sock)

    def _expire(self) -> None:
        assert self._sel is not None
        now = self._clock()
        for key in list(self._sel.get_map().values()):
            parked: _Parked = key.data
            if parked.kind in ("pending", "linger") and now >= parked.deadline:
                if parked.kind == "pending":
                    log.debug("closing idle connection from %s", parked.addr[0] if parked.addr else "?")
                self._unpark(key.fileobj)  # type: ignore[arg-type]
        with self._mu:
            late = [s for s, d in self._reading.items() if now >= d]
            for s in late:
                del self._reading[s]
        for sock in late:
            # the worker is blocked reading a request that is taking too long: cut it off
            log.info("request not received within %.1fs of connecting; closing connection",
                     self.cfg.request_timeout_s)
            _shutdown(sock, socket.SHUT_RDWR)

    def _unpark(self, sock: socket.socket) -> None:
        assert self._sel is not None
        self._sel.unregister(sock)
        self._finish(sock)

    def _finish(self, sock: socket.socket) -> None:
        _close(sock)
        with self._mu:
            self._open = max(0, self._open - 1)

    # ---- workers ---------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._serve(*item)

    def _serve(self, sock: socket.socket, addr: tuple, deadline: float) -> None:
        """Handle one connection; ``deadline`` (from accept time) bounds receiving the request."""
        server = self._server
        timeout = self.cfg.request_timeout_s
        # a request that waited in the queue under load already sits in the socket buffer: give it
        # a short grace instead of cutting it off for a deadline it could not meet
        deadline = max(deadline, self._clock() + min(1.0, timeout))
        with self._mu:
            self._reading[sock] = deadline
            self._active.add(sock)
        try:
            if server is None or self._stop.is_set():
                return
            sock.settimeout(max(0.05, min(timeout, deadline - self._clock())))
            server.finish_request(sock, addr)
        except (OSError, ValueError) as exc:  # peer vanished, timed out, or was cut off
            log.debug("connection from %s ended: %s", addr[0] if addr else "?", exc)
        except Exception:  # boundary: the handler catches app errors; this is a bug in it
            log.exception("unexpected error serving %s", addr[0] if addr else "?")
        finally:
            with self._mu:
                self._reading.pop(sock, None)
                self._active.discard(sock)
            self._after(sock)

    def _after(self, sock: socket.socket) -> None:
        """Half-close and let the service thread linger until the client closes."""
        _shutdown(sock, socket.SHUT_WR)
        if self._stop.is_set() or self._wake_w is None:
            self._finish(sock)
            return
        self._handoff.put(sock)
        self._wake()

    def _wake(self) -> None:
        wake = self._wake_w
        if wake is None:
            return
        try:
            wake.send(b"x")
        except (BlockingIOError, InterruptedError, OSError):
            pass  # the wake pipe is full or closed: the service thread is awake anyway

    def _reading_done(self, sock: socket.socket) -> None:
        with self._mu:
            self._reading.pop(sock, None)


def _reject_busy(sock: socket.socket) -> None:
    try:
        sock.settimeout(0.5)
        sock.sendall(_BUSY)
    except OSError:
        pass  # the client gave up already; nothing to tell it
    _close(sock)


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # not connected any more


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass  # closing twice / already reset
