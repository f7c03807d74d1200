"""Resumable, rate-capped HTTP download of one bundle into a ``.part`` file (stdlib urllib).

A ``.part`` file left by an interrupted attempt (or a killed process) is continued with an
HTTP Range request; a server that ignores Range (200) restarts the file. A server that holds
fewer bytes than announced answers 416 to the resume: that is permanent (``DownloadError``
with ``permanent=True``), as are 404 and a body larger than announced. Everything else
(connection reset, timeout, 5xx, short body) is transient: the caller retries with backoff.
The rate cap is a token bucket that waits on the caller's stop event, so stop() is prompt.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from nic_edge.errors import NicEdgeError

log = logging.getLogger(__name__)

BLOCK = 64 * 1024


class DownloadError(NicEdgeError):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message, "check the bundle URL and that the fleet box serves it")
        self.permanent = permanent


class Downloader:
    """``fetch(url, part, size)``; ``bytes_received`` counts every byte read off the network."""

    def __init__(self, stop: threading.Event, rate_bytes_per_s: int = 0, timeout_s: float = 30.0,
                 fault: Callable[[str], None] | None = None) -> None:
        self._stop = stop
        self.rate = int(rate_bytes_per_s)
        self.timeout = timeout_s
        self._fault = fault or (lambda step: None)
        self.bytes_received = 0

    def _throttle(self, started: float, sent: int) -> None:
        if self.rate <= 0:
            return
        ahead = sent / self.rate - (time.monotonic() - started)
        if ahead > 0:
            self._stop.wait(ahead)

    def fetch(self, url: str, part: Path, size: int) -> None:
        """Make ``part`` hold the first ``size`` bytes of ``url``; raises DownloadError."""
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have == size:
            return
        req = urllib.request.Request(url, headers={"User-Agent": "nic-edge-content/1"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310 (http(s) checked by the schema)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:
                raise DownloadError(f"truncated download: the server holds fewer than the announced {size} bytes "
                                    f"(have {have})", permanent=True) from exc
            raise DownloadError(f"HTTP {exc.code} from {url}", permanent=exc.code in (403, 404, 410)) from exc
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            raise DownloadError(f"cannot fetch {url}: {getattr(exc, 'reason', exc)}") from exc
        with resp:
            if have and resp.status == 206:
                start = _range_start(resp.headers.get("Content-Range", ""))
                if start != have:
                    raise DownloadError(f"server resumed at byte {start}, asked for {have}")
                mode = "ab"
            else:
                have, mode = 0, "wb"  # 200: the server sent the whole file
            self._copy(resp, part, mode, have, size)

    def _copy(self, resp: object, part: Path, mode: str, have: int, size: int) -> None:
        started, got = time.monotonic(), 0
        with open(part, mode) as fh:
            while not self._stop.is_set():
                want = min(BLOCK, size - have + 1)  # one byte extra reveals an oversized body
                try:
                    block = resp.read(want)  # type: ignore[attr-defined]
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    raise DownloadError(f"connection lost after {have} bytes: {exc}") from exc
                if not block:
                    break
                if have + len(block) > size:
                    fh.truncate(0)
                    raise DownloadError(f"the server sent more than the announced {size} bytes", permanent=True)
                fh.write(block)
                have += len(block)
                got += len(block)
                self.bytes_received += len(block)
                self._fault("download")
                self._throttle(started, got)
            fh.flush()
            os.fsync(fh.fileno())
        if self._stop.is_set():
            raise DownloadError("stopped")
        if have < size:
            raise DownloadError(f"connection closed after {have} of {size} bytes")


def _range_start(header: str) -> int | None:
    # "bytes 100-199/200"
    try:
        unit, rest = header.split(" ", 1)
        return int(rest.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None
