"""HttpService: the stdlib HTTP server with bounded workers and per-connection deadlines.

Connection flow, chosen so that no client can hang a worker or grow the thread count:
1. The service thread (``nic-http``) accepts connections and reads each request head (and a body
   with a plain Content-Length within ``http.max_body_bytes``) itself, without blocking, so an
   idle or dripping socket (slowloris, slow POST) never holds a worker. A head must arrive within
   ``http.header_timeout_s``, its body within ``http.body_timeout_s``, or the connection is closed.
2. Only complete requests go to a queue served by exactly ``http.workers`` worker threads.
   One request per connection (``Connection: close``): a worker never idles on keep-alive.
   The service thread answers ``Expect: 100-continue`` too, so no worker waits for a body (a
   worker still reading anyway is cut off at the body deadline: a safety net).
3. After the response the socket "lingers" in the selector until the client closes it, so a
   response sent before reading the body (413, 401) is not destroyed by a TCP reset.
Limits, as nginx/HAProxy apply them: per client address at most ``http.max_pending_per_client``
requests may still be arriving; beyond, that address's *oldest* arriving one goes once it is
``SLOW_AFTER_S`` old (bursts may reach ``BURST_FACTOR`` x the cap), never one whose request arrived.
At the overall cap a lingering, then the oldest arriving connection makes room; only when all are
being served does a new one get 503 + Retry-After (logged at most once per ``BUSY_LOG_S``).
"""

from __future__ import annotations

import errno
import logging
import queue
import selectors
import socket
import threading
import time
from collections import OrderedDict
from typing import Callable

from nic_edge.core.config import HttpConfig
from nic_edge.core.lifecycle import Service
from nic_edge.errors import NicEdgeError
from nic_edge.http import wire
from nic_edge.http.app_protocol import AppProtocol
from nic_edge.http.conn import (BURST_FACTOR, BUSY, LINGER_MAX_BYTES, LINGER_S, SLOW_AFTER_S, TOO_BIG, Arriving,
                                BusyLog, Parked, Server, close, host_of, recv_ready, reject, shutdown)

log = logging.getLogger(__name__)

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
        self.max_connections = max_connections or max(128, self.cfg.workers * 32)
        self.header_timeout = min(self.cfg.header_timeout_s, self.cfg.request_timeout_s)
        self.body_timeout = min(self.cfg.body_timeout_s, self.cfg.request_timeout_s)
        self.port: int | None = None
        self.dropped = {"busy": 0, "per_client": 0, "evicted": 0, "timeout": 0}
        self._clock = clock
        self._server: Server | None = None
        self._sel: selectors.BaseSelector | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._handoff: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._reading: dict[socket.socket, float] = {}
        self._active: set[socket.socket] = set()
        self._heads: dict[socket.socket, bytes] = {}
        # service thread only: still-arriving requests per address; lingering connections, oldest first
        self._arriving = Arriving()
        self._lingering: OrderedDict[socket.socket, None] = OrderedDict()
        self._busy_log = BusyLog()
        self._open = 0
        self._mu = threading.Lock()

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.cfg.bind, self.cfg.bind)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return self._open

    # ---- lifecycle -------------------------------------------------------------------------
    def on_start(self) -> None:
        try:
            self._server = Server((self.cfg.bind, self.cfg.port), self.app, self.cfg, self)
        except OSError as exc:
            if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
                hint = ("http.bind (or --bind) must be an address of this box: 127.0.0.1, 0.0.0.0 "
                        "for the LAN, ::1, :: or one of its interface addresses")
            else:
                hint = "choose another port (--port or http.port) or stop the process using it"
            raise NicEdgeError(f"cannot listen on {self.cfg.bind}:{self.cfg.port}: {exc.strerror or exc}",
                               hint=hint) from exc
        self._server.socket.setblocking(False)
        self.port = self._server.server_address[1]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._server.socket, selectors.EVENT_READ, Parked("listen"))
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, Parked("wake"))
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
        next_expiry = 0.0
        while not self._stop.is_set():
            for key, _ in sel.select(0.25):
                parked: Parked = key.data
                if parked.kind == "listen":
                    self._accept()
                elif parked.kind == "wake":
                    self._drain_wake()
                elif parked.kind == "arriving":
                    self._arrive(key.fileobj, parked)  # type: ignore[arg-type]
                else:
                    self._linger_read(key.fileobj, parked)  # type: ignore[arg-type]
            self._take_handoffs()
            now = self._clock()
            if now >= next_expiry:  # a scan of every connection: not on every event under a flood
                self._expire(now)
                next_expiry = now + 0.1

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake()  # the select loop notices the stop now instead of after its poll interval
        super().stop(timeout)

    def on_stop(self) -> None:
        with self._mu:
            active = list(self._active)
        for sock in active:  # unblock workers stuck in a read
            shutdown(sock, socket.SHUT_RDWR)
        for _ in self._workers:
            self._queue.put(None)
        deadline = time.monotonic() + 2.0
        for t in self._workers:
            t.join(max(0.0, deadline - time.monotonic()))
        self._workers = []
        if self._sel is not None:
            for key in list(self._sel.get_map().values()):
                if key.data.kind in ("arriving", "linger"):
                    close(key.fileobj)  # type: ignore[arg-type]
            self._sel.close()
            self._sel = None
        while True:  # connections queued but never served
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                close(item[0])
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._wake_r = self._wake_w = None
        if self._server is not None:
            self._server.server_close()
            self._server = None
        self._arriving.clear()
        self._lingering.clear()
        self._heads.clear()
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
            if self._open >= self.max_connections and not self._make_room():
                self.dropped["busy"] += 1
                self._busy_log.note(self._clock(), self.max_connections)
                reject(sock, BUSY)
                close(sock)
                continue
            now = self._clock()
            parked = Parked("arriving", addr, now + self.header_timeout)
            host = host_of(parked)
            self._trim(host, now)
            with self._mu:
                self._open += 1
            sock.setblocking(False)
            self._sel.register(sock, selectors.EVENT_READ, parked)
            self._arriving.add(host, sock, now)
            self._arrive(sock, parked)  # the request is often in the buffer with the connection

    def _trim(self, host: str, now: float) -> None:
        """Make room for one more arriving request of ``host``: one address holding many half-sent
        requests (slowloris) loses its oldest, so it cannot starve anyone and a real client of that
        address still gets in. A burst of fresh connections is let through up to BURST_FACTOR x."""
        cap = self.cfg.max_pending_per_client
        while self._arriving.count(host) >= cap:
            sock, since = self._arriving.oldest(host)  # type: ignore[misc]
            if now - since < SLOW_AFTER_S and self._arriving.count(host) < BURST_FACTOR * cap:
                return
            self.dropped["per_client"] += 1
            before = self._arriving.count(host)
            self._unpark(sock)
            if self._arriving.count(host) >= before:  # not ours any more: never spin on it
                self._arriving.discard(host, sock)

    def _make_room(self) -> bool:
        """At the overall cap: close a lingering connection (already answered), else the oldest
        still-arriving request of the address with the most of them. False if all are served."""
        oldest = self._arriving.oldest()
        victim = next(iter(self._lingering), None) or (oldest[0] if oldest else None)
        if victim is None:
            return False
        self.dropped["evicted"] += 1
        self._unpark(victim)
        return True

    def _arrive(self, sock: socket.socket, parked: Parked) -> None:
        """Read what arrived; once the request is complete, queue it for a worker."""
        data = recv_ready(sock)
        if data is None:
            return
        buf = parked.buf
        if not data:  # the client closed (or half-closed) before finishing its request
            if buf:
                self._dispatch(sock, parked)  # the handler answers what it can (400 short body...)
            else:
                self._unpark(sock)
            return
        buf += data
        if parked.need < 0:
            end = wire.head_end(buf)
            if end is None:
                if len(buf) > wire.MAX_HEAD:
                    self._unpark(sock, TOO_BIG)
                return
            head_len, headerless = end
            parked.extra = b"\r\n" if headerless else b""
            limit = self.cfg.max_body_bytes
            body, expect = (0, False) if headerless else wire.body_wanted(buf[:head_len], limit)
            if expect and body:
                # the go-ahead comes from here, so a client that then drips its body holds no worker
                reject(sock, wire.CONTINUE)
                buf, head_len = wire.drop_expect(buf, head_len)
                parked.buf = buf
            parked.need = head_len + body
            parked.deadline = self._clock() + self.body_timeout if body else parked.deadline
        if len(buf) >= parked.need:
            self._dispatch(sock, parked)

    def _dispatch(self, sock: socket.socket, parked: Parked) -> None:
        assert self._sel is not None
        self._sel.unregister(sock)
        self._arriving.discard(host_of(parked), sock)
        with self._mu:
            self._heads[sock] = bytes(parked.buf) + parked.extra
        self._queue.put((sock, parked.addr))

    def _take_head(self, sock: socket.socket) -> bytes | None:
        with self._mu:
            return self._heads.pop(sock, None)

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
                                   Parked("linger", deadline=self._clock() + LINGER_S))
                self._lingering[sock] = None
            except (OSError, ValueError):  # already closed by the peer side
                self._finish(sock)

    def _linger_read(self, sock: socket.socket, parked: Parked) -> None:
        data = recv_ready(sock)
        if data is None:
            return
        parked.drained += len(data)
        if not data or parked.drained > LINGER_MAX_BYTES:
            self._unpark(sock)

    def _expire(self, now: float) -> None:
        assert self._sel is not None
        for key in list(self._sel.get_map().values()):
            parked: Parked = key.data
            if parked.kind in ("arriving", "linger") and now >= parked.deadline:
                if parked.kind == "arriving":
                    self.dropped["timeout"] += 1
                    log.debug("request from %s not received in time; closing",
                              parked.addr[0] if parked.addr else "?")
                self._unpark(key.fileobj)  # type: ignore[arg-type]
        with self._mu:
            late = [s for s, d in self._reading.items() if now >= d]
            for s in late:
                del self._reading[s]
        for sock in late:
            # a worker is blocked reading a body (after 100 Continue) that takes too long
            log.info("request body not received within %.1fs; closing connection", self.body_timeout)
            shutdown(sock, socket.SHUT_RDWR)

    def _unpark(self, sock: socket.socket, reply: bytes = b"") -> None:
        assert self._sel is not None
        try:
            parked: Parked = self._sel.get_key(sock).data
        except (KeyError, ValueError):
            self._lingering.pop(sock, None)  # already gone: forget it everywhere
            return
        self._sel.unregister(sock)
        if parked.kind == "arriving":
            self._arriving.discard(host_of(parked), sock)
        else:
            self._lingering.pop(sock, None)
        if reply:
            reject(sock, reply)
        self._finish(sock)

    def _finish(self, sock: socket.socket) -> None:
        close(sock)
        with self._mu:
            self._open = max(0, self._open - 1)

    # ---- workers ---------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._serve(*item)

    def _serve(self, sock: socket.socket, addr: tuple) -> None:
        """Handle one connection whose request arrived; a body still to read (after ``Expect:
        100-continue``) must come within ``body_timeout``."""
        server = self._server
        with self._mu:
            self._reading[sock] = self._clock() + self.body_timeout
            self._active.add(sock)
        try:
            if server is None or self._stop.is_set():
                return
            sock.setblocking(True)
            sock.settimeout(self.body_timeout)
            server.finish_request(sock, addr)
        except (OSError, ValueError) as exc:  # peer vanished, timed out, or was cut off
            log.debug("connection from %s ended: %s", addr[0] if addr else "?", exc)
        except Exception:  # boundary: the handler catches app errors; this is a bug in it
            log.exception("unexpected error serving %s", addr[0] if addr else "?")
        finally:
            with self._mu:
                self._reading.pop(sock, None)
                self._active.discard(sock)
                self._heads.pop(sock, None)
            self._after(sock)

    def _after(self, sock: socket.socket) -> None:
        """Half-close and let the service thread linger until the client closes."""
        shutdown(sock, socket.SHUT_WR)
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
