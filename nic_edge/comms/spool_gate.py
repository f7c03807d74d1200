"""The publisher's way into its outbox, including while there is none.

The outbox may fail to open at start (a full or read-only disk); the runtime keeps retrying
(``outbox_opener``) and attaches it here once it opens. Meanwhile a metrics snapshot or alert
cannot be kept anywhere: it is counted as dropped, as the outbox itself counts a record it
cannot store, and on attach the count goes into the outbox's drop counters (the next metrics
record carries it in ``drops``) with a seq gap of the same size, so a subscriber sees both.
Alerts are few and the one that says the disk is full is raised exactly then: the last
``HELD_ALERTS`` are held in memory and stored first on attach (sent flagged ``replayed``, with
their own ``ts``); only older ones beyond that bound count as dropped.

Held alerts are also written to ``held_path`` when there is one: a file in memory-backed storage
that outlives the process but not the boot (systemd's ``RuntimeDirectory``, kept across a
service restart by ``RuntimeDirectoryPreserve=restart``: ``held_file``). A watchdog restart
while the disk is still full then holds them on (the new process reads the file back) instead
of losing them. Without such a directory (a run outside systemd) held alerts die with the
process, counted nowhere but the log. The file is replaced whole (written aside, then renamed)
and removed once its alerts are stored in an outbox.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

from nic_edge.comms.outbox import Outbox
from nic_edge.errors import StorageError

log = logging.getLogger(__name__)

HELD_ALERTS = 32  # alerts kept in memory while there is no outbox (older ones count as dropped)
HELD_FILE = "held-alerts.json"


def held_file(env: dict[str, str] | None = None) -> Path | None:
    """Where held alerts outlive a restart: the first of systemd's ``RUNTIME_DIRECTORY`` (a tmpfs
    under /run), None when the process runs without one."""
    first = (os.environ if env is None else env).get("RUNTIME_DIRECTORY", "").split(":")[0]
    return Path(first) / HELD_FILE if first and Path(first).is_dir() else None


class SpoolGate:
    """Thread-safe: producers ``enqueue``, the runtime's opener thread ``attach``es."""

    def __init__(self, outbox: Outbox | None, problem: str | None = None,
                 held_path: Path | None = None) -> None:
        self.outbox = outbox
        self.problem = problem  # why the last record was not stored (disk full, no outbox), or None
        self.attached_upto = -1  # the outbox's last seq when attached: that backlog is replayed
        self._lock = threading.Lock()
        self._unstored = {"metrics": 0, "alerts": 0}  # produced with no outbox, not yet counted in one
        self._held: deque[tuple[str, dict[str, Any]]] = deque()  # alerts waiting for an outbox
        self._held_path = held_path
        self._held.extend(self._read_held())
        if self._held and outbox is not None:
            with self._lock:
                self._count_unstored(outbox)   # an earlier process's held alerts go first

    def enqueue(self, kind: str, body: dict[str, Any]) -> int | None:
        """The record's seq; None when it was not stored (counted as dropped either way: here
        with no outbox, by the outbox on a write failure) and ``problem`` says why."""
        outbox = self.outbox
        if outbox is None or any(self._unstored.values()) or self._held:
            with self._lock:
                outbox = self.outbox  # attached meanwhile?
                if outbox is None:
                    if kind == "alerts":
                        self._held.append((kind, body))
                        if len(self._held) > HELD_ALERTS:
                            self._held.popleft()
                            self._unstored["alerts"] += 1
                        self._write_held()
                    else:
                        self._unstored[kind] += 1
                    return None
                self._count_unstored(outbox)
        try:
            seq = outbox.enqueue(kind, body)
        except StorageError as exc:  # boundary: telemetry must never break the caller
            if self.problem != str(exc):
                log.error("mqtt outbox: %s", exc)
            self.problem = str(exc)
            return None
        self.problem = None
        return seq

    def off(self, problem: str) -> None:
        """No outbox yet, and ``problem`` says why (e.g. the last attempt to open it failed)."""
        if self.outbox is None:
            self.problem = problem

    def attach(self, outbox: Outbox) -> None:
        with self._lock:
            self._count_unstored(outbox)
            self.attached_upto = outbox.last_seq  # held alerts stored above go out as replayed
            self.outbox = outbox
            self.problem = None

    def unstored(self) -> dict[str, int]:
        """Dropped for want of an outbox and not yet in an outbox's counters."""
        return dict(self._unstored)

    def held(self) -> int:
        """Alerts held in memory for want of an outbox."""
        return len(self._held)

    def _count_unstored(self, outbox: Outbox) -> None:
        """Caller holds the lock. On a write failure the counts stay here for the next record."""
        lost = self._unstored
        if any(lost.values()):
            try:
                outbox.add_drops(lost["metrics"], lost["alerts"])
            except StorageError as exc:
                log.error("mqtt outbox: %s", exc)
                return
            self._unstored = {kind: 0 for kind in lost}
        stored = False
        while self._held:
            kind, body = self._held[0]
            try:
                outbox.enqueue(kind, body)
            except StorageError as exc:  # stays held for the next record or attach
                log.error("mqtt outbox: %s", exc)
                break
            self._held.popleft()
            stored = True
        if stored:
            self._write_held()

    def _read_held(self) -> list[tuple[str, dict[str, Any]]]:
        """Alerts an earlier process held in ``held_path`` (the newest ``HELD_ALERTS``); none
        when there is no file or it cannot be read (logged; the next held alert replaces it)."""
        if self._held_path is None or not self._held_path.exists():
            return []
        try:
            items = json.loads(self._held_path.read_text(encoding="utf-8"))
            held = [("alerts", body) for kind, body in items if kind == "alerts" and isinstance(body, dict)]
        except (OSError, ValueError, TypeError) as exc:
            log.error("held alerts file %s unreadable, ignored: %s", self._held_path, exc)
            return []
        if held:
            log.warning("%d alert(s) held by the previous process, stored when the outbox opens", len(held))
        return held[-HELD_ALERTS:]

    def _write_held(self) -> None:
        """Caller holds the lock (or is the constructor). Replace ``held_path`` with the held
        alerts, or remove it when none are left; a failure is logged and the alerts stay held
        in memory."""
        path = self._held_path
        if path is None:
            return
        try:
            if not self._held:
                path.unlink(missing_ok=True)
                return
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(list(self._held)), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.error("cannot keep held alerts in %s: %s", path, exc)
