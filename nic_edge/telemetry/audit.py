"""Audit log: one JSON line per question and per admin/fleet action, in ``<data>/audit.jsonl``.

Rotation by size: ``audit.jsonl`` -> ``audit.jsonl.1`` -> ... -> ``audit.jsonl.<backups>``
(the oldest is deleted), so the log never holds more than ``(backups + 1) * max_bytes``.

Durability, chosen for SD cards: each line is appended through a buffered file and flushed (one
``write(2)`` per line, so another process or a crash of *this* process loses nothing written),
but never fsync'ed per question. An fsync per question would cost an SD-card flash erase-block
write each time (latency spikes of tens of ms and card wear); on power loss the page cache may
drop the last seconds of lines, which is acceptable for an audit trail of questions. At worst a
line is cut short; ``read_records`` skips lines that do not parse.

Question text is stored only when ``log_question_text`` is on; the SHA-256 of the question is
always stored so repeated questions can be counted without keeping what was asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

log = logging.getLogger(__name__)

FILE_NAME = "audit.jsonl"


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Thread-safe, size-rotated JSONL audit log."""

    def __init__(self, path_dir: str | os.PathLike[str], max_bytes: int = 1024 * 1024, backups: int = 3,
                 log_question_text: bool = False, clock: Callable[[], float] = time.time) -> None:
        if max_bytes < 256:
            raise ValueError("max_bytes must be at least 256")
        if backups < 0:
            raise ValueError("backups must be >= 0")
        self.dir = Path(path_dir)
        self.path = self.dir / FILE_NAME
        self.max_bytes = max_bytes
        self.backups = backups
        self.log_question_text = log_question_text
        self._clock = clock
        self._lock = threading.Lock()
        self._fh: TextIO | None = None
        self._size = 0

    def _open(self) -> TextIO:
        if self._fh is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8", newline="\n")
            self._size = self._fh.tell()
            if self._size and not _ends_with_newline(self.path):
                # A crash cut the last line short: end it so the next record stays readable.
                self._fh.write("\n")
                self._fh.flush()
                self._size += 1
        return self._fh

    def _drop(self) -> None:
        """Close the handle and forget it even when closing fails: after a full disk refused a
        flush, ``close`` raises again (the lines still buffered are lost, the caller counts
        it), and a kept closed handle made every later write a ValueError, for good."""
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()

    def _rotate(self) -> None:
        self._drop()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self.backups - 1, 0, -1):
            src = self.dir / f"{FILE_NAME}.{i}"
            if src.exists():
                os.replace(src, self.dir / f"{FILE_NAME}.{i + 1}")
        if self.path.exists():
            os.replace(self.path, self.dir / f"{FILE_NAME}.1")

    def _follow(self, fh: TextIO) -> TextIO:
        """Another process on the same data dir (serve and `nic-edge ask`) may have rotated the
        file or written to it: write to the file now at ``path`` and count its real size, so
        the bound of (backups + 1) x max_bytes holds for both (two stats a record)."""
        try:
            mine, now = os.fstat(fh.fileno()), os.stat(self.path)
        except FileNotFoundError:  # renamed away, the new one not created yet
            mine = now = None
        if mine is None or (mine.st_ino, mine.st_dev) != (now.st_ino, now.st_dev):
            self._drop()
            fh = self._open()
        else:
            self._size = mine.st_size
        return fh

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (a JSON object) as one line, rotating first if it would not fit."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        size = len(line.encode("utf-8"))
        with self._lock:
            fh = self._follow(self._open())
            if self._size and self._size + size > self.max_bytes:
                self._rotate()
                fh = self._open()
            fh.write(line)
            fh.flush()  # one write(2) per line; no fsync (see module docstring)
            self._size += size

    def question(self, answer: dict[str, Any], question: str | None = None, surface: str | None = None) -> None:
        """Log one answered (or abstained/invalid) question from its Answer dict (DESIGN.md)."""
        q = question if question is not None else answer.get("question")
        q_text = q if isinstance(q, str) else ("" if q is None else repr(q))
        record: dict[str, Any] = {
            "type": "question", "id": answer.get("id"), "time": iso_utc(self._clock()),
            "question_sha256": hashlib.sha256(q_text.encode("utf-8", "surrogatepass")).hexdigest(),
        }
        if self.log_question_text:
            record["question"] = q_text
        record.update({
            "latency_ms": answer.get("latency_ms"), "cached": answer.get("cached"),
            "confidence": answer.get("confidence"), "abstained": answer.get("abstained"),
            "reason": answer.get("reason"),
            "chunks": [c.get("chunk_id") for c in answer.get("citations") or [] if isinstance(c, dict)],
            "tier": answer.get("tier"), "mode": answer.get("mode"),
        })
        if surface:
            record["surface"] = surface
        self.write(record)

    def action(self, action: str, actor: str, details: dict[str, Any] | None = None, ok: bool = True) -> None:
        """Log an admin or fleet action (cache clear, tier override applied/rejected, ...)."""
        self.write({"type": "action", "time": iso_utc(self._clock()), "action": action, "actor": actor,
                    "details": details or {}, "ok": bool(ok)})

    def files(self) -> list[Path]:
        """Existing log files, oldest first."""
        rotated = [self.dir / f"{FILE_NAME}.{i}" for i in range(self.backups, 0, -1)]
        return [p for p in rotated + [self.path] if p.exists()]

    def close(self) -> None:
        with self._lock:
            self._drop()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def read_records(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Records from the given files in order; lines cut short by a crash are skipped."""
    for p in paths:
        try:
            fh = open(p, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue  # rotated away while we were reading
        with fh:
            for n, line in enumerate(fh, 1):
                try:
                    rec = json.loads(line)
                except ValueError:
                    log.debug("%s:%d: skipping unreadable line", p, n)
                    continue
                if isinstance(rec, dict):
                    yield rec
