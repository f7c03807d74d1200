"""A small static file server for bundles (``nic-fleet content serve DIR``), with HTTP Range.

Serves the regular files directly inside one folder (no listing, no sub-folders, no dot files),
GET and HEAD, a single ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range (206), 416 for a range
that starts past the end. Counts the body bytes it sends (``bytes_served``) so a push can be
measured. Any static server with Range support works as well (nginx, caddy); this one exists
so the fleet box needs nothing else.
"""

from __future__ import annotations

import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nic_edge.core.lifecycle import Service

log = logging.getLogger(__name__)

BLOCK = 256 * 1024


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """(start, end inclusive), None for no/ignored range, "unsatisfiable" for a 416."""
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            n = int(last)
            return (max(0, size - n), size - 1) if n > 0 and size else "unsatisfiable"
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or start < 0:
        return "unsatisfiable"
    return start, min(end, size - 1)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"
    server_version = "nic-fleet-content/1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def _file(self) -> Path | None:
        name = self.path.split("?", 1)[0].lstrip("/")
        if not name or "/" in name or name.startswith(".") or "\\" in name:
            return None
        path = self.server.root / name
        return path if path.is_file() else None

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        path = self._file()
        if path is None:
            self.send_error(404, "not found")
            return
        size = path.stat().st_size
        rng = parse_range(self.headers.get("Range", ""), size)
        if rng == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = rng if isinstance(rng, tuple) else (0, size - 1)
        length = max(0, end - start + 1)
        self.send_response(206 if isinstance(rng, tuple) else 200)
        if isinstance(rng, tuple):
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not body:
            return
        with open(path, "rb") as fh:
            fh.seek(start)
            left = length
            while left > 0:
                block = fh.read(min(BLOCK, left))
                if not block:
                    break
                try:
                    self.wfile.write(block)
                except (BrokenPipeError, ConnectionResetError):
                    break  # the client went away (e.g. killed); it resumes with Range
                left -= len(block)
                self.server.count(len(block))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], root: Path) -> None:
        super().__init__(addr, _Handler)
        self.root = root
        self._lock = threading.Lock()
        self.bytes_served = 0
        self.requests = 0

    def count(self, n: int) -> None:
        with self._lock:
            self.bytes_served += n


class BundleServer(Service):
    """``start()`` binds (port 0 = any free port; see ``url``); ``stop()`` closes."""

    name = "content-http"

    def __init__(self, root: Path, bind: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.root = Path(root)
        self._addr = (bind, port)
        self._server: _Server | None = None

    def on_start(self) -> None:
        if not self.root.is_dir():
            os.makedirs(self.root, exist_ok=True)
        self._server = _Server(self._addr, self.root)

    def run(self) -> None:
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.2)

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.server_close()

    def stop(self, timeout: float = 10.0) -> None:
        # shutdown() waits for serve_forever to leave: only ask while it runs (stop twice is harmless).
        if self._server is not None and self.running:
            self._server.shutdown()
        super().stop(timeout)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    @property
    def bytes_served(self) -> int:
        return self._server.bytes_served if self._server is not None else 0
