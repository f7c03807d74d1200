"""Which aggregator this is, when several run at once (active-active, docs/FLEET_HA.md).

Each aggregator is a full copy of the fleet: its own MQTT session (client id), its own state dir
(LMDB), and it may render into an output dir shared with the others. So that two of them never
fight over one thing:

* the client id: ``--client-id`` > ``mqtt.client_id`` > ``nic-aggregator-<hostname>``. Two
  processes with the same id take the session from each other at every reconnect (MQTT's
  session take-over), which the MQTT service reports as such;
* the state dir is locked (``flock`` on ``instance.lock``, released by the kernel when the
  process dies, even by kill -9): a second aggregator on the same dir stops with a hint instead
  of both writing one LMDB with different in-memory de-dup windows;
* temp files of the atomic dashboard writes carry the instance's tag, so each instance clears
  only its own leftovers (a kill -9 mid-write) and never a file the other is writing.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any

from nic_edge.core.config import Config
from nic_edge.errors import StorageError

log = logging.getLogger(__name__)

LOCK_NAME = "instance.lock"
_TAG_BAD = re.compile(r"[^A-Za-z0-9_-]")


def client_id(args: argparse.Namespace | None, cfg: Config) -> str:
    return (getattr(args, "client_id", None) or cfg.mqtt.client_id
            or f"nic-aggregator-{socket.gethostname()}")


def tag_of(client: str) -> str:
    """A file-name-safe form of the client id (at most 40 characters)."""
    return _TAG_BAD.sub("_", client)[:40] or "agg"


class InstanceLock:
    """An exclusive ``flock`` on ``<state dir>/instance.lock`` held while the aggregator serves."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, client: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise StorageError(f"state dir {self.path.parent} is in use by another aggregator "
                               f"({holder or 'unknown'})",
                               hint="give each aggregator its own aggregator.data_dir or --state-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{client} pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def clear_leftovers(out: Path, tag: str) -> int:
    """Remove this instance's temp files left by a kill -9 mid-write (never another's)."""
    n = 0
    for d in (out, out / "devices"):
        for p in d.glob(f".*~{tag}~*.tmp") if d.is_dir() else ():
            p.unlink(missing_ok=True)
            n += 1
    if n:
        log.info("removed %d temp file(s) an earlier run of %s left in %s", n, tag, out)
    return n
