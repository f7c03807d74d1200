"""Connection plumbing of the HTTP server: the listening socket, the handler that reads what the
service thread collected, per-connection state and the canned replies sent without a worker."""

from __future__ import annotations

import io
import logging
import socket
from collections import OrderedDict
import socketserver
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from nic_edge.core.config import HttpConfig
from nic_edge.http import wire
from nic_edge.http.app_protocol import AppProtocol
from nic_edge.http.handler import RequestHandler

log = logging.getLogger(__name__)

LINGER_S = 2.0                # how long a finished connection may take to close
LINGER_MAX_BYTES = 1 << 20    # unread request bytes discarded before giving up on a graceful close
BUSY_LOG_S = 30.0
# A connection younger than this is a busy client, not a slow one: many clients behind one address
# (NAT, wrk -c100) may exceed the per-address cap for a moment, up to BURST_FACTOR times it.
SLOW_AFTER_S = 0.5
BURST_FACTOR = 8             # one "connection limit" warning per this many seconds, with a count
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 56\r\n\r\n"
         b'{"error": "server busy, retry shortly", "reason": "busy"}')
TOO_BIG = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: 61\r\n\r\n"
            b'{"error": "request head too large", "reason": "bad_request"}')


@dataclass(eq=False)
class Parked:
    kind: str          # "listen" | "wake" | "arriving" | "linger"
    addr: tuple = ()
    deadline: float = 0.0
    drained: int = 0
    buf: bytearray = field(default_factory=bytearray)
    need: int = -1     # total bytes (head + body) to collect; -1 while the head is incomplete
    extra: bytes = b""  # appended for the handler (a blank line after a headerless request line)


class Server(ThreadingHTTPServer):
    """Listening socket and handler plumbing; the accept loop lives in HttpService."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128   # the kernel backlog absorbs bursts; the selector drains it quickly

    def __init__(self, address: tuple[str, int], app: AppProtocol, cfg: HttpConfig,
                 service: Any) -> None:
        self.app = app
        self.cfg = cfg
        self.service = service
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall for seconds on a box without DNS
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def request_read(self, sock: socket.socket) -> None:
        """Called by the handler once the request is read: ends the read deadline and gives the
        response phase the full per-operation timeout again."""
        self.service._reading_done(sock)
        try:
            sock.settimeout(self.cfg.request_timeout_s)
        except OSError:
            pass  # already closed; the write that follows reports it


class Handler(RequestHandler):
    """Reads the request from what the service thread collected, then (rarely) the socket."""

    def setup(self) -> None:
        super().setup()
        data = self.server.service._take_head(self.connection)  # type: ignore[attr-defined]
        if data is not None:
            self.rfile.close()  # the makefile() reader would keep the socket open after close()
            self.rfile = io.BufferedReader(wire.Prefixed(data, self.connection))


class Arriving:
    """Connections whose request is still arriving, per client address, oldest first, with the
    time each was accepted."""

    def __init__(self) -> None:
        self._by_host: dict[str, OrderedDict[socket.socket, float]] = {}

    def add(self, host: str, sock: socket.socket, since: float) -> None:
        self._by_host.setdefault(host, OrderedDict())[sock] = since

    def count(self, host: str) -> int:
        return len(self._by_host.get(host, ()))

    def oldest(self, host: str | None = None) -> tuple[socket.socket, float] | None:
        """(socket, accepted at) of the oldest of ``host``, or (None) of the address holding the most."""
        if host is None:
            if not self._by_host:
                return None
            host = max(self._by_host, key=lambda h: len(self._by_host[h]))
        mine = self._by_host.get(host)
        return next(iter(mine.items())) if mine else None

    def discard(self, host: str, sock: socket.socket) -> None:
        mine = self._by_host.get(host)
        if mine is not None:
            mine.pop(sock, None)
            if not mine:
                del self._by_host[host]

    def clear(self) -> None:
        self._by_host.clear()


class BusyLog:
    """One "connection limit" warning per ``every_s`` with the count since: a flood of 503s must
    not become a flood of log lines."""

    def __init__(self, every_s: float = BUSY_LOG_S) -> None:
        self.every = every_s
        self._at = -1e18
        self._unlogged = 0

    def note(self, now: float, cap: int) -> None:
        self._unlogged += 1
        if now - self._at >= self.every:
            log.warning("HTTP connection limit (%d) reached: answered 503 to %d connection(s) in the last "
                        "%.0fs", cap, self._unlogged, self.every)
            self._at, self._unlogged = now, 0


def host_of(parked: "Parked") -> str:
    return str(parked.addr[0]) if parked.addr else "?"


def recv_ready(sock: socket.socket) -> bytes | None:
    """What a readable non-blocking socket holds: b"" at EOF or on an error, None if nothing yet."""
    try:
        return sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""  # reset: treated as closed


def reject(sock: socket.socket, reply: bytes) -> None:
    try:
        sock.setblocking(False)  # never wait on a client that does not read: best effort
        sock.send(reply)
    except OSError:
        pass  # the client gave up already; nothing to tell it


def shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # not connected any more


def close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass  # closing twice / already reset
